"""nhicard.soupsieve_on_demand: soupsieve is imported when first used, not with bs4, and
works as before once it is. Each case runs in a fresh interpreter (sys.modules is the point)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def run_python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_web_and_mail_layers_parse_pages_without_loading_soupsieve() -> None:
    out = run_python(
        """
        import sys
        from nhicard.web.page import Page
        from nhicard.web.aspnet import page_messages
        import nhicard.mail
        page = Page("https://x.example/", 200, "<div id=lblMessage>請登入</div><form></form>")
        print(page.visible_text, page_messages(page.soup, ["#lblMessage"]), len(page.forms()))
        print("soupsieve.css_parser" in sys.modules)
        """
    )
    assert out.splitlines() == ["請登入 ['請登入'] 1", "False"]


def test_first_use_loads_the_real_soupsieve() -> None:
    out = run_python(
        """
        import sys
        from nhicard.web.page import Page
        soup = Page("https://x.example/", 200, "<p class=a>1</p><p>2</p>").soup
        print([p.get_text() for p in soup.select("p:not(.a)")])
        from soupsieve import SelectorSyntaxError
        import soupsieve, soupsieve.css_match
        print(sys.modules["soupsieve"].__name__, soupsieve.SelectorSyntaxError is SelectorSyntaxError)
        print(soupsieve.compile("p.a").match(soup.p), "soupsieve.css_parser" in sys.modules)
        """
    )
    assert out.splitlines() == ["['2']", "soupsieve True", "True True"]


def test_an_invalid_profile_selector_still_reports_soupsieves_error() -> None:
    out = run_python(
        """
        from nhicard.web.selectors import selector_error, select_valid
        from nhicard.web.page import Page
        error = selector_error("td >")
        print(type(error).__name__, select_valid(Page("https://x/", 200, "<td>").soup, "td >"))
        """
    )
    assert out.splitlines() == ["SelectorSyntaxError None"]


def test_nothing_is_replaced_when_soupsieve_or_bs4_came_first() -> None:
    out = run_python(
        """
        import sys
        import bs4
        real = sys.modules["soupsieve"]
        import nhicard.web.page
        print(sys.modules["soupsieve"] is real, type(real).__name__)
        """
    )
    assert out.splitlines() == ["True module"]
