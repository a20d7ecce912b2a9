"""The profiles against the sandbox's own page templates: every control the flows need is
found, by the sandbox's names and by the real profile's labels alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhicard.sites.loader import resolve_profile
from nhicard.web.errors import ControlAmbiguous
from nhicard.web.page import Page
from tests.support.profiles import write_sandbox

jinja2 = pytest.importorskip("jinja2")
TEMPLATES = Path(__file__).resolve().parents[2] / "nhicard" / "sandbox" / "templates"


def render(name: str, **context: object) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    return env.get_template(name).render(**context)


def ecpa_login_page() -> Page:
    html = render(
        "ecpa_login.html",
        form_action="/webform/clogin.aspx",
        agent_url="wss://127.0.0.1:7777/echo",
        hidden_fields=[("__VIEWSTATE", "vs"), ("__EVENTVALIDATION", "ev")],
        return_url="",
        message=None,
        sso=None,
    )
    return Page("https://127.0.0.1:18441/webform/clogin.aspx", 200, html, serial=1)


def test_sandbox_profile_finds_the_ecpa_nhi_column(tmp_path: Path) -> None:
    profile = resolve_profile("sandbox", sandbox_dir=write_sandbox(tmp_path / "sb"))
    spec = profile.ecpa.page("login")
    page = ecpa_login_page()
    assert page.find_marker(spec.markers) == "人事服務網eCPA"
    column = page.region(spec.control("nhi_column"))
    assert column.get("id") == "colNhiCard"
    form = page.form().scoped(column)
    # the login runs as the page script's XHR chain: the flow checks the column's controls
    # are there (as flows/ecpa.py does), it posts no form
    assert form.find(spec.control("password"))[0]["name"] == "nhiPassword"
    (button,) = form.find(spec.control("login"), buttons=True)
    assert button["name"] == "btnNhiLogin" and button.get("type") == "button"
    assert page.form().submission(None).secret_names >= {"nhiPassword", "txtPassword", "pinCode"}


def test_real_profile_labels_alone_find_the_same_controls() -> None:
    spec = resolve_profile("real").ecpa.page("login")
    page = ecpa_login_page()
    with pytest.raises(ControlAmbiguous):
        page.form().find(spec.control("password"))  # four columns each have 密碼
    form = page.form().scoped(page.region(spec.control("nhi_column")))
    assert form.find(spec.control("password"))[0]["name"] == "nhiPassword"
    assert form.find(spec.control("login"), buttons=True)[0]["name"] == "btnNhiLogin"


def test_elearn_page_selectors(tmp_path: Path) -> None:
    profile = resolve_profile("sandbox", sandbox_dir=write_sandbox(tmp_path / "sb"))
    html = render("elearn_page.html", user={"name": "王小明"}, error=None, login_url="")
    page = Page("https://127.0.0.1:18442/", 200, html)
    (name,) = [el.get_text() for s in profile.elearn.name_selectors for el in page.soup.select(s)]
    assert name == "王小明"
    assert page.find_marker(profile.elearn.markers.success) == "已登入"
