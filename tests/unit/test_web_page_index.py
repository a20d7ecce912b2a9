"""What pages and forms compute once per parsed page (the visible text, the form index) gives
exactly what computing it afresh gave, and a change of the tree made through a form is seen
by every later lookup."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from nhicard.web.form import Form
from nhicard.web.page import Page, parse_html

URL = "https://site.example/app/page.aspx"

PAGES = [
    "<html><head><title>標題</title><style>p {color: red}</style>"
    "<script>var a = '不要';</script></head><body><p>第一 段</p>"
    "<noscript><div>請開啟 <b>JavaScript</b></div></noscript>"
    "<template><span>範本</span></template><!-- 註解 --><![CDATA[資料]]>"
    "<table><tr><th>系統訊息</th><td> 錯誤\n\t訊息 </td></tr></table>"
    "<textarea name=t>原本的字</textarea></body></html>",
    "純文字,沒有標籤",
    "",
    "<div><script>x</script>a<style>y</style>b</div><NOSCRIPT>c</NOSCRIPT>d",
]


def fresh_visible_text(text: str) -> str:
    """How Page.visible_text was computed before: a second parse, hidden elements removed."""
    soup = parse_html(text)
    for el in soup.find_all(["script", "style", "noscript", "template"]):
        el.decompose()
    return " ".join(soup.get_text(" ").split())


@pytest.mark.parametrize("text", PAGES)
def test_visible_text_is_what_a_second_parse_gave(text: str) -> None:
    expected = fresh_visible_text(text)
    assert Page(URL, 200, text).visible_text == expected
    page = Page(URL, 200, text)
    page.soup  # noqa: B018 - parse first, then read the text
    assert page.visible_text == expected


def test_visible_text_is_the_page_as_received_even_after_a_form_is_filled() -> None:
    text = "<form><label for=t>備註</label><textarea id=t name=t>原本</textarea></form>"
    page = Page(URL, 200, text)
    page.form()["備註"] = "改過的內容"
    assert page.visible_text == fresh_visible_text(text) == "備註 原本"


FORM = (
    "<html><body>"
    "<form id=f method=post action=go>"
    "<table><tr><th>姓名</th><td><input name=name></td></tr>"
    "<tr><th>備註</th><td><textarea name=note>舊</textarea></td></tr></table>"
    "<label for=mail>電子郵件</label><input id=mail name=mail>"
    "<span id=lab>手機</span><input name=mobile aria-labelledby=lab>"
    "<input type=submit name=ok value=送出>"
    "</form>"
    "<input name=outside id=outside form=f><label for=outside>外部欄位</label>"
    "</body></html>"
)


def test_lookups_through_the_index_match_a_fresh_form() -> None:
    page = Page(URL, 200, FORM)
    cached = page.form()
    cached.controls()  # fills the index
    other = Form(
        BeautifulSoup(FORM, "html.parser").find("form"),
        page_url=URL,  # type: ignore[arg-type]
    )
    assert [c.labels for c in cached.controls()] == [c.labels for c in other.controls()]
    assert [c.name for c in cached.controls()] == [
        "name",
        "note",
        "mail",
        "mobile",
        "ok",
        "outside",
    ]
    for label in ("姓名", "電子郵件", "手機", "外部欄位", "送出"):
        assert [e.get("name") for e in cached.find(label)] == [
            e.get("name") for e in other.find(label)
        ]


def test_an_added_field_is_seen_by_every_form_of_the_page() -> None:
    page = Page(URL, 200, FORM)
    first, second = page.form(), page.form()
    assert not second.has("__EVENTTARGET")
    first.ensure_field("__EVENTTARGET", "btn")
    assert second.has("__EVENTTARGET")
    assert ("__EVENTTARGET", "btn") in second.submission().pairs


def test_a_scoped_form_shares_the_page_index() -> None:
    page = Page(URL, 200, FORM)
    form = page.form()
    table = page.soup.find("table")
    assert table is not None
    scoped = form.scoped(table)
    assert [c.name for c in form.controls()] == [c.name for c in scoped.controls()]
    scoped["姓名"] = "王小明"
    assert form["name"] == "王小明"
    assert not scoped.has("電子郵件") and form.has("電子郵件")
