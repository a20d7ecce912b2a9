"""nhicard.web.selectors: the profiles' CSS selectors matched without soupsieve's compile,
with exactly soupsieve's results (it is the reference here), and everything else handed to
soupsieve unchanged."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest
import soupsieve
from bs4 import BeautifulSoup

from nhicard.web.selectors import parse, select, select_valid, selector_error

PAGE = """<!DOCTYPE html>
<html><head><title>系統訊息</title><script>var s = "系統訊息";</script></head>
<body>
<div id="lblMessage" class="msg system-message">請先登入 <b>一次</b></div>
<span id="lblSystemMessage"></span>
<p class="system-message other">第二則</p>
<table>
  <tr><th>系統訊息</th><td>資料錯誤</td><td>第二格</td></tr>
  <tr><td>系統訊息</td><td>驗證碼錯誤</td></tr>
  <tr><td>系統<!-- 訊息 -->訊息</td><td>註解不算</td></tr>
  <tr><td>其他</td><td>系統訊息在右邊</td></tr>
  <tr><th><template>系統訊息</template></th><td>範本內不算</td></tr>
  <tr><th><iframe>系統訊息</iframe></th><td>框架</td></tr>
  <tr><th>外層<table><tr><td>系統訊息</td></tr></table></th><td>巢狀</td></tr>
</table>
<div class="outer"><section><span id="userName">王小明</span></section></div>
<DIV ID="Upper" CLASS="Mixed">大小寫</DIV>
<form id="ssoForm"><input id="lblUserName" value="x"></form>
<template><div class="system-message">範本</div><table><tr><td>系統訊息</td><td>x</td></tr></table></template>
</body></html>"""

SUPPORTED = [
    "#lblMessage",
    "#lblSystemMessage",
    ".system-message",
    ".system-message.other",
    "div.msg#lblMessage",
    "p, #lblMessage",
    "#userName",
    "div #userName",
    ".outer > section > span",
    ".outer > span",
    "div span",
    "DIV",
    "div#Upper",
    ".Mixed",
    ".mixed",
    "#upper",
    "tr > td",
    "table td",
    'td:not(:-soup-contains("系統訊息"))',
    'tr:has(> th:-soup-contains("系統訊息")) > td',
    'tr:has(> td:-soup-contains("系統訊息")) > td:not(:-soup-contains("系統訊息"))',
    "tr:has(td:-soup-contains('系統訊息', '其他')) td",
    'tr:has(> th, > td:-soup-contains("其他")) > td',
    "template",
    "template td",
    ":has(> template)",
    "tr:has(> td:-soup-contains('範本'))",
    "th:-soup-contains('系統訊息')",
    "td:-soup-contains('系統訊息'):-soup-contains('右邊')",
    "title:-soup-contains('系統')",
    "script:-soup-contains('系統訊息')",
    ":not(td)",
    "body > :not(table, div)",
    "#ssoForm",
    "#lblUserName",
    "  td  >  b ",
    ":not(.x) td",
    ":not(tr) > td",
    "td:not(tr > td)",
    ":not(html) > body",
]

UNSUPPORTED = [
    "input[name=x]",
    "td:first-child",
    "td + td",
    "td ~ td",
    "*",
    "div *",
    "td:contains('系統')",
    "td:-soup-contains(系統訊息)",
    'td:-soup-contains("a\\"b")',
    "#\\31 23",
    "#名字",
    "td/* comment */",
    "td:-soup-contains-own('系統')",
    "a:hover",
    "tr:has(> th td) > td",
    "tr:has(th td)",
]

INVALID = ["td >", "> td", "#", "td:has()", "..x", "td,", "td:not(", "tr > > td", "#1a"]


@pytest.fixture(scope="module")
def soup() -> BeautifulSoup:
    return BeautifulSoup(PAGE, "html.parser")


@pytest.mark.parametrize("selector", SUPPORTED)
def test_supported_selectors_match_what_soupsieve_matches(
    soup: BeautifulSoup, selector: str
) -> None:
    assert parse(selector) is not None
    ours = select(soup, selector)
    theirs = soup.select(selector)
    assert [id(el) for el in ours] == [id(el) for el in theirs]


def test_select_below_an_element_sees_only_its_descendants(soup: BeautifulSoup) -> None:
    template = soup.find_all("template")[-1]
    for root in (soup.find("table"), template, template.find("table")):
        assert root is not None
        for selector in ("td", "table td", 'tr:has(> th:-soup-contains("系統訊息")) > td', "div"):
            assert [id(e) for e in select(root, selector)] == [id(e) for e in root.select(selector)]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # soupsieve's, for :contains()
@pytest.mark.parametrize("selector", UNSUPPORTED)
def test_other_css_goes_to_soupsieve_with_the_same_results(
    soup: BeautifulSoup, selector: str
) -> None:
    assert parse(selector) is None
    try:
        theirs = [id(el) for el in soup.select(selector)]
    except soupsieve.SelectorSyntaxError:
        with pytest.raises(soupsieve.SelectorSyntaxError):
            select(soup, selector)
        return
    assert [id(el) for el in select(soup, selector)] == theirs


@pytest.mark.parametrize("selector", INVALID)
def test_invalid_css_raises_soupsieves_error(soup: BeautifulSoup, selector: str) -> None:
    assert parse(selector) is None
    assert isinstance(selector_error(selector), soupsieve.SelectorSyntaxError)
    assert select_valid(soup, selector) is None
    with pytest.raises(soupsieve.SelectorSyntaxError):
        select(soup, selector)


def test_every_builtin_profile_selector_is_matched_without_soupsieve() -> None:
    for name in ("real", "sandbox"):
        text = resources.files("nhicard.profiles").joinpath(f"{name}.toml").read_text("utf-8")
        data = tomllib.loads(text)
        for site in data.values():
            if not isinstance(site, dict):
                continue
            for key in ("message_selectors", "name_selectors"):
                for selector in site.get(key, []):
                    assert parse(selector) is not None, (name, key, selector)
                    soupsieve.compile(selector)  # and soupsieve agrees that it is valid
