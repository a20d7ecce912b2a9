"""Form: browser-exact encoding, control lookup by name/id/label, value validation."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NhicardError
from nhicard.sites.model import ControlSpec
from nhicard.web.encoding import urlencode_pairs
from nhicard.web.errors import ChoiceRejected, ControlAmbiguous, ControlNotFound, UnsupportedForm
from nhicard.web.page import Page

URL = "https://site.example/app/page.aspx?x=1"


def form_of(body: str, url: str = URL, attrs: str = 'method="post" action="submit.aspx"'):
    page = Page(url, 200, f"<html><body><form {attrs}>{body}</form></body></html>", serial=1)
    return page.form()


def test_fields_in_document_order_with_repeated_names() -> None:
    form = form_of(
        '<input name="b" value="2"><textarea name="a">x</textarea>'
        '<input type="hidden" name="b" value="3"><input name="c">'
    )
    sub = form.submission()
    assert sub.pairs == (("b", "2"), ("a", "x"), ("b", "3"), ("c", ""))
    assert sub.method == "POST"
    assert sub.url == "https://site.example/app/submit.aspx"
    assert sub.body() == b"b=2&a=x&b=3&c="


def test_disabled_controls_and_disabled_fieldsets_are_skipped() -> None:
    form = form_of(
        '<input name="a" value="1" disabled>'
        '<fieldset disabled><legend><input name="in_legend" value="L"></legend>'
        '<input name="in_set" value="S"></fieldset>'
        '<select name="s" disabled><option>x</option></select>'
        '<input name="ok" value="yes">'
    )
    assert form.submission().pairs == (("in_legend", "L"), ("ok", "yes"))


def test_only_the_chosen_submit_button_is_sent() -> None:
    form = form_of(
        '<input name="q" value="1">'
        '<input type="submit" name="go" value="Go">'
        '<button name="other" value="o">Other</button>'
        '<input type="button" name="js" value="JS"><input type="reset" name="r">'
    )
    assert form.submission().pairs == (("q", "1"),)
    assert form.submission("go").pairs == (("q", "1"), ("go", "Go"))
    assert form.submission("Other").pairs == (("q", "1"), ("other", "o"))
    with pytest.raises(UnsupportedForm):
        form.submission("js")


def test_image_button_sends_coordinates() -> None:
    form = form_of('<input type="image" name="img" alt="Send" src="x.png">')
    assert form.submission("img").pairs == (("img.x", "0"), ("img.y", "0"))


def test_checkbox_and_radio_only_when_checked_value_default_on() -> None:
    form = form_of(
        '<input type="checkbox" name="agree" checked>'
        '<input type="checkbox" name="news" value="yes">'
        '<input type="radio" name="sex" value="M">'
        '<input type="radio" name="sex" value="F" checked>'
    )
    assert form.submission().pairs == (("agree", "on"), ("sex", "F"))
    form["news"] = True
    form["sex"] = "M"
    form["agree"] = False
    assert form.submission().pairs == (("news", "yes"), ("sex", "M"))
    with pytest.raises(ChoiceRejected) as err:
        form["sex"] = "X"
    assert err.value.candidates == ["M", "F"]
    assert exit_code_for(err.value) == 8


def test_select_first_option_when_none_selected_and_multiple() -> None:
    form = form_of(
        '<select name="one"><option disabled>d</option><option value="1">One</option>'
        '<option value="2">Two</option></select>'
        '<select name="picked"><option value="a" selected>A</option>'
        '<option value="b" selected>B</option></select>'
        '<select name="many" multiple><option value="x" selected>X</option><option>Y</option>'
        '<option value="z" selected>Z</option></select>'
        '<select name="none" multiple><option>n</option></select>'
        '<select name="empty"></select>'
        '<select name="text"><option>  spaced   text </option></select>'
    )
    assert form.submission().pairs == (
        ("one", "1"),
        ("picked", "b"),
        ("many", "x"),
        ("many", "z"),
        ("text", "spaced text"),
    )
    form["many"] = ["Y", "z"]
    form["one"] = "Two"  # by visible text
    assert ("one", "2") in form.submission().pairs
    assert [p for p in form.submission().pairs if p[0] == "many"] == [("many", "Y"), ("many", "z")]


def test_select_value_must_be_an_option_error_lists_them() -> None:
    form = form_of(
        '<select name="city"><option value="">請選擇</option><option>臺北市</option></select>'
    )
    with pytest.raises(ChoiceRejected) as err:
        form["city"] = "高雄市"
    assert err.value.candidates == ["請選擇", "臺北市"]
    assert "高雄市" in str(err.value) and "臺北市" in str(err.value)
    form["city"] = "台北市"  # 台/臺 equivalent on visible text
    assert form["city"] == "臺北市"


def test_textarea_leading_newline_and_crlf_normalisation() -> None:
    form = form_of('<textarea name="t">\nline1\nline2</textarea>')
    assert form.submission().pairs == (("t", "line1\nline2"),)
    assert form.submission().body() == b"t=line1%0D%0Aline2"
    form["t"] = "a\rb"
    assert form.submission().body() == b"t=a%0D%0Ab"


def test_formaction_and_formmethod_on_the_button() -> None:
    form = form_of(
        '<input name="q" value="臺 北">'
        '<button name="alt" value="1" formaction="/other?drop=1" formmethod="get">Alt</button>',
    )
    sub = form.submission("alt")
    assert sub.method == "GET"
    assert sub.url == "https://site.example/other?q=%E8%87%BA+%E5%8C%97&alt=1"
    assert sub.body() == b""


def test_get_form_replaces_the_query_and_missing_action_is_the_page_url() -> None:
    form = form_of('<input name="a" value="1 2">', attrs='method="get"')
    assert form.submission().url == "https://site.example/app/page.aspx?a=1+2"
    form = form_of('<input name="a" value="1">', attrs="")
    assert form.submission().method == "GET"


def test_base_href_resolves_action() -> None:
    page = Page(
        URL,
        200,
        '<html><head><base href="https://other.example/dir/"></head>'
        '<body><form method="post" action="go"><input name="a"></form></body></html>',
    )
    assert page.form().submission().url == "https://other.example/dir/go"


def test_form_attribute_associates_outside_controls_in_document_order() -> None:
    page = Page(
        URL,
        200,
        '<input name="before" form="f1" value="0"><form id="f1" method="post">'
        '<input name="inside" value="1"></form><input name="after" form="f1" value="2">'
        '<input name="stranger" value="3">',
    )
    assert page.form("f1").submission().pairs == (("before", "0"), ("inside", "1"), ("after", "2"))


def test_charset_field_and_line_inputs_drop_newlines() -> None:
    form = form_of('<input type="hidden" name="_charset_"><input name="t" value="">')
    form["t"] = "a\nb"
    assert form.submission().pairs == (("_charset_", "UTF-8"), ("t", "ab"))


def test_password_field_names_are_reported_as_secret() -> None:
    form = form_of('<input type="password" name="pwd"><input name="user">')
    form["pwd"] = "s3cret!"
    sub = form.submission()
    assert sub.secret_names == frozenset({"pwd"})
    assert ("pwd", "s3cret!") in sub.pairs


def test_urlencode_matches_the_browser_serializer() -> None:
    assert urlencode_pairs([("a b", "*-._~!'()"), ("臺", "&=+")]) == (
        "a+b=*-._%7E%21%27%28%29&%E8%87%BA=%26%3D%2B"
    )


# -- lookup by label -------------------------------------------------------------------------
def test_label_for_wrapping_label_and_table_row() -> None:
    form = form_of(
        '<label for="e">電子郵件 E-mail</label><input id="e" name="ctl00$mail">'
        '<label><input type="checkbox" name="agree"> 我同意 I agree</label>'
        "<table><tr><th>* 戶號<br>Household ID number</th>"
        '<td><input name="txtHouse"> 參考戶口名簿封面左上角的號碼</td></tr>'
        '<tr><td>聯絡電話：</td><td><input name="txtTel"></td></tr></table>'
    )
    assert form.find("電子郵件")[0]["name"] == "ctl00$mail"
    assert form.find("e-mail")[0]["name"] == "ctl00$mail"
    assert form.find("我同意")[0]["name"] == "agree"
    assert form.find("戶號")[0]["name"] == "txtHouse"
    assert form.find("Household ID number")[0]["name"] == "txtHouse"
    assert form.find("聯絡電話")[0]["name"] == "txtTel"
    form["戶號"] = "F1234567"
    assert form["txtHouse"] == "F1234567"


def test_label_lookup_tai_variants_width_and_whitespace() -> None:
    form = form_of(
        "<table><tr><th>臺灣　地址</th><td><input name='addr'></td></tr>"
        "<tr><th>ＮＡＭＥ</th><td><input name='nm'></td></tr></table>"
    )
    assert form.find("台灣 地址")[0]["name"] == "addr"
    assert form.find("name")[0]["name"] == "nm"


def test_select_placeholder_option_and_adjacent_text_label_the_address_row() -> None:
    form = form_of(
        "<table><tr><th>★ 戶籍鄉鎮里鄰 Household Registration Address</th><td>"
        '<select name="ddlCity"><option value="">請選擇縣市(City/County)</option></select>'
        '<select name="ddlArea"><option value="">請選擇鄉鎮市區(District/Township)</option></select>'
        '<input name="txtLin" size="3">鄰(Neighborhood)</td></tr></table>'
    )
    assert form.find("縣市")[0]["name"] == "ddlCity"
    assert form.find("District/Township")[0]["name"] == "ddlArea"
    assert form.find("鄰")[0]["name"] == "txtLin"
    assert form.find("Neighborhood")[0]["name"] == "txtLin"
    with pytest.raises(ControlAmbiguous):
        form.find("戶籍鄉鎮里鄰")


def test_control_spec_names_first_then_labels_and_missing_is_site_changed() -> None:
    form = form_of('<input name="x" id="idx"><label for="y">密碼</label><input id="y" name="y">')
    assert form.find(ControlSpec(names=("nope", "idx"), labels=("密碼",)))[0]["name"] == "x"
    assert form.find(ControlSpec(names=("nope",), labels=("密碼",)))[0]["name"] == "y"
    with pytest.raises(ControlNotFound) as err:
        form.find(ControlSpec(names=("nope",), labels=("不存在",)))
    assert exit_code_for(err.value) == 11
    assert "nope / 不存在" in str(err.value)


def test_buttons_do_not_take_the_row_label_and_hidden_inputs_have_none() -> None:
    form = form_of(
        "<table><tr><th>姓名 Name</th><td>"
        '<input type="hidden" name="hidBasic"><span id="lblName"></span>'
        '<input type="button" name="btnReadCard" value="讀取 Read"></td></tr></table>'
    )
    assert form.find("讀取")[0]["name"] == "btnReadCard"
    assert form.find_all("姓名") is None


def test_setting_a_disabled_control_is_refused() -> None:
    form = form_of('<select name="area" disabled><option>x</option></select>')
    with pytest.raises(ControlNotFound) as err:
        form["area"] = "x"
    assert err.value.reason == "control-disabled"


def test_controls_listing_describes_labels_and_options() -> None:
    form = form_of(
        '<label for="c">縣市</label><select id="c" name="city"><option value="1">臺北市</option></select>'
    )
    (info,) = form.controls()
    assert (info.name, info.type, info.labels, info.value) == ("city", "select", ("縣市",), "1")
    assert info.options[0].text == "臺北市" and info.options[0].selected


# -- malformed HTML never crashes the parser ---------------------------------------------------
_TAGS = st.sampled_from(
    [
        "<form method=post>",
        "</form>",
        "<input name=a value=1>",
        "<select name=s>",
        "<option>",
        "</select>",
        "<textarea name=t>",
        "</textarea>",
        "<label for=a>",
        "</label>",
        "<table>",
        "<tr>",
        "<td>",
        "<th>",
        "<button>",
        "<fieldset disabled>",
        "<legend>",
        "<!--",
        "<![CDATA[",
        "<input type=checkbox checked name=c>",
        "<input type=radio name=r value=x>",
        "&#xffffff;",
        "<",
    ]
)


@settings(max_examples=150)
@given(st.lists(st.one_of(_TAGS, st.text(max_size=8)), max_size=30))
def test_malformed_html_gives_a_result_or_our_typed_error(pieces: list[str]) -> None:
    page = Page(URL, 200, "".join(pieces))
    try:
        for form in page.forms():
            form.controls()
            form.submission()
            form.find_all("a")
            if form.has("s"):
                with contextlib.suppress(NhicardError):
                    form["s"] = "x"
    except NhicardError:
        pass
