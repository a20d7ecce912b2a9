"""The web engine through the sandbox NHI site on real HTTPS: the sandbox profile's labels
and names, clicks, agent fields, cascading address postbacks with option matching, the
site's own messages, masked traces and redacted saved pages."""

from __future__ import annotations

import email
import email.message
import email.policy
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.web.browser import policy_for
from nhicard.web.redact import redactor_for

pytest.importorskip("uvicorn")

from nhicard.core.errors import NetworkError  # noqa: E402
from nhicard.core.i18n import T  # noqa: E402
from nhicard.sandbox.data import load_data  # noqa: E402
from nhicard.sites.loader import resolve_profile  # noqa: E402
from nhicard.sites.model import PageSpec, SiteProfile  # noqa: E402
from nhicard.web.aspnet import change_postback, page_messages  # noqa: E402
from nhicard.web.browser import Browser  # noqa: E402
from nhicard.web.errors import ControlNotFound, PageStateRejected  # noqa: E402
from nhicard.web.form import Form  # noqa: E402
from nhicard.web.matching import match_option  # noqa: E402
from nhicard.web.page import Page  # noqa: E402
from nhicard.web.pages import PageSaver  # noqa: E402
from tests.support.profiles import write_sandbox  # noqa: E402
from tests.support.sandbox_nhi_kit import NhiSandbox, data_with, nhi_sandbox  # noqa: E402

PASSWORD = "Pw-246810"
EMAIL = "ming@example.com"


def choose(browser: Browser, form: Form, spec: PageSpec, key: str, words: str, what: str) -> Form:
    """Pick an address option by the user's words and post back like AutoPostBack does."""
    control = spec.control(key)
    option = match_option(words, form.options(control), what=T(what, what))
    form[control] = option.value
    return browser.submit(change_postback(form, control)).form()


def to_apply_page(browser: Browser, profile: SiteProfile) -> Page:
    nhi = profile.nhi
    page = browser.open(nhi.url("login"))
    assert page.find_marker(nhi.page("login").markers)
    page = browser.click(page, nhi.page("login").control("register_link"))
    assert page.find_marker(nhi.page("terms").markers)
    page = browser.click(page, nhi.page("terms").control("agree"))
    assert page.find_marker(nhi.page("apply").markers)
    return page


def read_card(browser: Browser, page: Page, spec: PageSpec, sb: NhiSandbox) -> Page:
    agent = sb.agent(load_data(None).cards[0])
    form = page.form()
    version, random = agent.get_version(), agent.get_random()
    form[spec.control("hid_basic")] = agent.get_basic().to_wire()
    form[spec.control("hid_version")] = version
    form[spec.control("hid_random")] = random
    form[spec.control("hid_sign")] = agent.h_sign(version + random)
    return browser.submit(form.submission(spec.control("read_card")))


def verification_link(sb: NhiSandbox, profile: SiteProfile) -> str:
    """The 「健保卡註冊認證作業」 link of the one mail in the sandbox's Maildir."""
    (path,) = [p for p in sb.maildir.rglob("*") if p.is_file() and p.parent.name == "new"]
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    mail_page = Page("about:mail", 200, body.get_content())
    click = mail_page.click(profile.mail.link_label)
    assert profile.mail.link_allowed(click.url), click.url
    return click.url


@pytest.fixture
def sandbox(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    faults = getattr(request, "param", "")
    data = data_with(faults) if faults else None
    with nhi_sandbox(tmp_path / "kit", data) as sb:
        endpoints = write_sandbox(tmp_path / "ep", nhi_url=sb.url, ca_bundle=sb.ca_bundle)
        yield sb, resolve_profile("sandbox", sandbox_dir=endpoints)


def test_register_steps_one_to_four(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sb, profile = sandbox
    nhi = profile.nhi
    apply, contact = nhi.page("apply"), nhi.page("contact")
    redactor = redactor_for(profile)
    for value, kind in (("王小明", "name"), ("A123456789", "id"), (EMAIL, "email")):
        redactor.add_secret(value, kind)
    trace: list[str] = []
    saver = PageSaver(tmp_path / "pages", redactor)
    with Browser(policy_for(profile, nhi), trace=trace.append, redactor=redactor) as b:
        page = to_apply_page(b, profile)
        page = read_card(b, page, apply, sb)
        saver.save(page, "apply-read")
        form = page.form()
        assert form[apply.control("name")] == "王小明"
        form[apply.control("household_id")] = "F1234567"
        form = choose(b, form, apply, "city", "台北", "縣市")
        form = choose(b, form, apply, "district", "大安", "鄉鎮市區")
        form = choose(b, form, apply, "village", "龍門", "村里")
        form[apply.control("neighborhood")] = "5"
        assert form[apply.control("household_id")] == "F1234567"
        page = b.submit(form.submission(apply.control("next")))
        assert page.find_marker(contact.markers), page_messages(page.soup, nhi.message_selectors)
        form = page.form()
        form[contact.control("password")] = PASSWORD
        form[contact.control("password_confirm")] = PASSWORD
        form[contact.control("email")] = EMAIL
        form[contact.control("phone")] = "02-23456789"
        form[contact.control("mobile")] = "0912345678"
        page = b.submit(form.submission(contact.control("submit")))
        saver.save(page, "sent")
        assert page.find_marker(nhi.markers.success) == "認證通知信"
        # login GET, link GET, terms POST, read POST, 3 address postbacks, next, submit
        assert b.requests_made == 9
        link = verification_link(sb, profile)
        verify = nhi.page("verify")
        page = b.open(link)
        assert page.find_marker(verify.markers)
        page = read_card(b, page, verify, sb)
        page = b.submit(page.form().submission(verify.control("confirm")))
        saver.save(page, "done")
        assert page.find_marker(nhi.page("done").markers) == "密碼設定完成"
    joined = "\n".join(trace)
    assert PASSWORD not in joined and "王小明" not in joined and "A123456789" not in joined
    assert "txtPassword=***" in joined and "hidBasic=[" in joined
    for saved in (tmp_path / "pages").iterdir():
        text = saved.read_text("utf-8")
        for secret in (PASSWORD, "王小明", "A123456789", EMAIL):
            assert secret not in text, (saved.name, secret)


def test_household_mismatch_shows_the_sites_message(sandbox) -> None:  # type: ignore[no-untyped-def]
    sb, profile = sandbox
    nhi = profile.nhi
    apply = nhi.page("apply")
    with Browser(policy_for(profile, nhi)) as b:
        page = read_card(b, to_apply_page(b, profile), apply, sb)
        form = page.form()
        form[apply.control("household_id")] = "H7654321"
        form = choose(b, form, apply, "city", "臺北市", "縣市")
        form = choose(b, form, apply, "district", "大安區", "鄉鎮市區")
        form = choose(b, form, apply, "village", "龍門里", "村里")
        form[apply.control("neighborhood")] = "5"
        page = b.submit(form.submission(apply.control("next")))
        assert page.find_marker(apply.markers)
        messages = page_messages(page.soup, nhi.message_selectors)
        assert messages and "does not match" in messages[0]


@pytest.mark.parametrize("sandbox", ["[faults.nhi]\nmaintenance = true\n"], indirect=True)
def test_maintenance_page_is_a_network_error(sandbox) -> None:  # type: ignore[no-untyped-def]
    _, profile = sandbox
    sleeps: list[float] = []
    with Browser(policy_for(profile, profile.nhi), sleep=sleeps.append) as b:
        with pytest.raises(NetworkError) as err:
            b.open(profile.nhi.url("login"))
        assert err.value.reason == "maintenance" and exit_code_for(err.value) == 7
        assert "系統維護中,請稍後再試。" in err.value.message.zh
        assert sleeps == [] and b.requests_made == 1


@pytest.mark.parametrize(
    "sandbox",
    ['[faults.nhi]\nerror_step = "terms"\nerror_status = 503\nerror_times = 1\n'],
    indirect=True,
)
def test_a_passing_5xx_on_a_get_is_retried(sandbox) -> None:  # type: ignore[no-untyped-def]
    _, profile = sandbox
    sleeps: list[float] = []
    with Browser(policy_for(profile, profile.nhi), sleep=sleeps.append) as b:
        page = b.open(profile.nhi.url("login"))
        page = b.click(page, profile.nhi.page("login").control("register_link"))
        assert page.find_marker(profile.nhi.page("terms").markers)
        assert sleeps == [0.5] and b.requests_made == 3


@pytest.mark.parametrize(
    "sandbox",
    ['[faults.nhi]\nrename_controls = { btnReadCard = "btnFetch", btnSubmit = "btnGoOn" }\n'],
    indirect=True,
)
def test_renamed_controls_are_found_by_their_labels(sandbox) -> None:  # type: ignore[no-untyped-def]
    sb, profile = sandbox
    apply = profile.nhi.page("apply")
    with Browser(policy_for(profile, profile.nhi)) as b:
        page = read_card(b, to_apply_page(b, profile), apply, sb)
        form = page.form()
        assert form[apply.control("name")] == "王小明"
        assert form.submitter(apply.control("next"))["name"] == "btnGoOn"


@pytest.mark.parametrize(
    "sandbox", ['[faults.nhi]\nrelabel = { "下一步 Next" = "繼續 Continue" }\n'], indirect=True
)
def test_a_changed_caption_is_a_site_change(sandbox) -> None:  # type: ignore[no-untyped-def]
    _, profile = sandbox
    apply = profile.nhi.page("apply")
    with Browser(policy_for(profile, profile.nhi)) as b:
        form = to_apply_page(b, profile).form()
        with pytest.raises(ControlNotFound) as err:
            form.submitter(apply.control("next"))
        assert exit_code_for(err.value) == 11 and "下一步" in err.value.message.zh


def test_a_replayed_viewstate_is_a_page_state_rejection(sandbox) -> None:  # type: ignore[no-untyped-def]
    _, profile = sandbox
    nhi = profile.nhi
    with Browser(policy_for(profile, nhi)) as b:
        terms = b.click(b.open(nhi.url("login")), nhi.page("login").control("register_link"))
        replay = terms.form().submission(nhi.page("terms").control("agree"))
        b.click(terms, nhi.page("terms").control("agree"))
        with pytest.raises(PageStateRejected) as err:
            b.submit(replay, allow_stale=True)  # the old page's __VIEWSTATE, out of step
        assert b.requests_made == 4  # a refused POST is never retried
    assert exit_code_for(err.value) == 8 and err.value.reason == "page-state-rejected"
    assert err.value.detail == "HTTP 500: Validation of viewstate MAC failed"
    assert err.value.text.en == (
        "127.0.0.1 refused the page state: the form was stale or tampered with, and the site did"
        " not process this submission (HTTP 500: Validation of viewstate MAC failed)"
    )
    assert err.value.message.zh.startswith("127.0.0.1 拒絕了這一頁的表單狀態")
    assert err.value.hint is not None
    assert "重新執行" in err.value.hint.zh and "Run the command again" in err.value.hint.en


def test_a_postback_the_page_did_not_offer_is_a_page_state_rejection(sandbox) -> None:  # type: ignore[no-untyped-def]
    _, profile = sandbox
    with Browser(policy_for(profile, profile.nhi)) as b:
        form = to_apply_page(b, profile).form()
        with pytest.raises(PageStateRejected) as err:
            b.postback(form, "ctl00$NotOnThePage")  # outside __EVENTVALIDATION
    assert exit_code_for(err.value) == 8
    assert err.value.detail == "HTTP 500: Invalid postback or callback argument"


@pytest.mark.parametrize(
    "sandbox", ['[faults.nhi]\nerror_step = "apply"\nerror_status = 500\n'], indirect=True
)
def test_a_plain_500_stays_a_server_error(sandbox) -> None:  # type: ignore[no-untyped-def]
    _, profile = sandbox
    policy = policy_for(profile, profile.nhi)
    with Browser(policy, sleep=lambda _: None) as b, pytest.raises(NetworkError) as err:
        to_apply_page(b, profile)
    assert not isinstance(err.value, PageStateRejected)
    assert exit_code_for(err.value) == 7 and err.value.reason == "server-error"
