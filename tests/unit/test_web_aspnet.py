"""ASP.NET postbacks, the page's own messages, and what clicking links/buttons does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.web.aspnet import (
    PostBack,
    change_postback,
    control_postback,
    page_messages,
    parse_postback,
    postback,
    state_fields,
    state_rejection,
)
from nhicard.web.errors import ControlNotFound, FormNotFound
from nhicard.web.page import Page

URL = "https://nhi.example/cloudic/system/UserAction.aspx"
PAGE = """<html><body>
<form method="post" action="./UserAction.aspx" id="form1">
<div class="aspNetHidden">
<input type="hidden" name="__EVENTTARGET" id="__EVENTTARGET" value="">
<input type="hidden" name="__EVENTARGUMENT" id="__EVENTARGUMENT" value="">
<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="VS-PAGE-2">
</div>
<input type="hidden" name="__VIEWSTATEGENERATOR" value="GEN">
<input type="hidden" name="__EVENTVALIDATION" value="EV-PAGE-2">
<table>
<tr><th>系統訊息 System Message</th><td><span id="lblMsg">戶號與身分不符 Household ID mismatch</span></td></tr>
<tr><th>縣市</th><td><select name="ctl00$ddlCity" id="ddlCity"
  onchange="javascript:setTimeout(&#39;__doPostBack(\\&#39;ctl00$ddlCity\\&#39;,\\&#39;\\&#39;)&#39;, 0)">
<option value="">請選擇縣市(City/County)</option><option value="63">臺北市</option></select></td></tr>
<tr><th>鄉鎮</th><td><select name="ddlArea"><option value="">請選擇</option></select></td></tr>
</table>
<a id="lnkApply" href="javascript:__doPostBack('lnkApply','')">首次登入請先申請 Register for New Account</a>
<a id="lnkHelp" href="help.aspx">說明</a>
<input type="button" value="回登入頁 Back to Home" onclick="location.href='mlogin.aspx'">
<input type="submit" name="btnNext" value="下一步 Next"
  onclick="javascript:WebForm_DoPostBackWithOptions(new WebForm_PostBackOptions(&quot;btnNext&quot;, &quot;&quot;, true, &quot;&quot;, &quot;&quot;, false, false))">
<input type="button" name="btnTest" value="檢測IE環境" onclick="checkIE()">
</form>
<script>alert('請輸入戶號\\nPlease enter the household ID');</script>
</body></html>"""


def page(serial: int = 2) -> Page:
    return Page(URL, 200, PAGE, serial=serial)


def test_parse_postback_variants() -> None:
    assert parse_postback("javascript:__doPostBack('ctl00$lnk','arg')") == PostBack(
        "ctl00$lnk", "arg"
    )
    assert parse_postback("setTimeout('__doPostBack(\\'dd\\',\\'\\')', 0)") == PostBack("dd", "")
    assert parse_postback('__doPostBack("a","b")') == PostBack("a", "b")
    opts = parse_postback(
        'WebForm_DoPostBackWithOptions(new WebForm_PostBackOptions("b", "", true, "", "x.aspx", false, true))'
    )
    assert opts == PostBack("b", "", client_submit=True, action="x.aspx")
    assert parse_postback("checkIE()") is None
    assert parse_postback("") is None


def test_postback_sets_event_fields_and_sends_the_current_state_without_buttons() -> None:
    form = page().form()
    form["ctl00$ddlCity"] = "臺北市"
    sub = change_postback(form, "縣市")
    assert sub.method == "POST" and sub.url == URL
    assert sub.pairs == (
        ("__EVENTTARGET", "ctl00$ddlCity"),
        ("__EVENTARGUMENT", ""),
        ("__VIEWSTATE", "VS-PAGE-2"),
        ("__VIEWSTATEGENERATOR", "GEN"),
        ("__EVENTVALIDATION", "EV-PAGE-2"),
        ("ctl00$ddlCity", "63"),
        ("ddlArea", ""),
    )
    assert sub.page_serial == 2
    assert sub.body().startswith(
        b"__EVENTTARGET=ctl00%24ddlCity&__EVENTARGUMENT=&__VIEWSTATE=VS-PAGE-2"
    )


def test_postback_without_event_fields_adds_them_and_control_without_script_uses_its_name() -> None:
    html = '<form method="post"><input type="hidden" name="__VIEWSTATE" value="v"><select name="dd"><option>1</option></select></form>'
    form = Page(URL, 200, html).form()
    assert control_postback(form, "dd") is None
    assert change_postback(form, "dd").pairs == (
        ("__VIEWSTATE", "v"),
        ("dd", "1"),
        ("__EVENTTARGET", "dd"),
        ("__EVENTARGUMENT", ""),
    )
    assert postback(form, "x", "y").pairs[-2:] == (("__EVENTTARGET", "x"), ("__EVENTARGUMENT", "y"))


def test_state_is_read_from_each_page() -> None:
    first = page(1).form()
    second = Page(URL, 200, PAGE.replace("VS-PAGE-2", "VS-PAGE-3"), serial=3).form()
    assert state_fields(first)["__VIEWSTATE"] == "VS-PAGE-2"
    assert state_fields(second)["__VIEWSTATE"] == "VS-PAGE-3"
    assert postback(second, "t").page_serial == 3


def test_page_messages_by_selector_and_alerts() -> None:
    selectors = ['tr:has(> th:-soup-contains("系統訊息")) > td', "#missing", "bad[["]
    assert page_messages(page().soup, selectors) == [
        "戶號與身分不符 Household ID mismatch",
        "請輸入戶號\nPlease enter the household ID",
    ]
    assert page_messages(page().soup, ["#lblMsg"], alerts=False) == [
        "戶號與身分不符 Household ID mismatch"
    ]


def test_click_kinds() -> None:
    p = page()
    apply = p.click("首次登入請先申請")
    assert apply.kind == "postback" and apply.postback == PostBack("lnkApply", "")
    assert p.click("Register for New Account").element["id"] == "lnkApply"
    assert p.click("說明").url == "https://nhi.example/cloudic/system/help.aspx"
    assert p.click("回登入頁").url == "https://nhi.example/cloudic/system/mlogin.aspx"
    nxt = p.click("下一步")
    assert nxt.kind == "submit" and nxt.form is not None
    assert nxt.form.submission(nxt.element).pairs[-1] == ("btnNext", "下一步 Next")
    with pytest.raises(ControlNotFound) as err:
        p.click("檢測IE環境")
    assert err.value.reason == "script-only"
    with pytest.raises(ControlNotFound):
        p.click("不存在的按鈕")


def test_markers_are_compared_normalised() -> None:
    p = page()
    assert p.find_marker(["不在頁面", "台北市"]) == "台北市"
    assert p.find_marker(["Household ID  MISMATCH"]) == "Household ID  MISMATCH"
    assert p.find_marker(["checkIE"]) is None  # script text is not visible text


def test_form_selection() -> None:
    p = Page(
        URL,
        200,
        '<form id="a"></form><form name="b"><input type="hidden" name="__VIEWSTATE"></form>',
    )
    assert p.form().element.get("name") == "b"
    assert p.form("a").element.get("id") == "a"
    assert p.form(0).element.get("id") == "a"
    with pytest.raises(FormNotFound) as err:
        p.form("zzz")
    assert exit_code_for(err.value) == 11
    with pytest.raises(FormNotFound):
        Page(URL, 200, "<p>no form</p>").form()


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_postback_parser_never_raises(script: str) -> None:
    parsed = parse_postback("__doPostBack(" + script) or parse_postback(script)
    assert parsed is None or isinstance(parsed, PostBack)


@settings(max_examples=100)
@given(
    st.lists(
        st.sampled_from(["<script>", "alert('", "\\", "')", "</script>", "<td>", "x", "'"]),
        max_size=20,
    )
)
def test_messages_of_arbitrary_html_are_strings(pieces: list[str]) -> None:
    p = Page(URL, 200, "".join(pieces))
    assert all(isinstance(m, str) for m in page_messages(p.soup, ["td"]))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("<h2><i>Validation of viewstate MAC failed. If this application is hosted by a Web"
         " Farm…</i></h2>", "Validation of viewstate MAC failed"),
        ("<i>Invalid postback or callback argument.  Event validation is enabled…</i>",
         "Invalid postback or callback argument"),
        ("The state information is invalid for this page and might be corrupted.",
         "The state information is invalid for this page"),
        ("<h1>Server Error in '/' Application.</h1> Object reference not set", None),
        ("", None),
    ],
)  # fmt: skip
def test_state_rejection_reads_the_aspnet_error_page(text: str, found: str | None) -> None:
    assert state_rejection(text) == found
