"""The sandbox NHI registration site through real HTTPS, with the real card agent (virtual
card + direct backend + sandbox SAM server) and a real SMTP sink writing a Maildir."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from nhicard.sandbox import nhi_messages as msg
from nhicard.sandbox.data import CardRecord
from tests.support.sandbox_nhi_kit import (
    BASE,
    NhiSandbox,
    Page,
    data_with,
    nhi_sandbox,
    read_card,
    submit,
)

MORE_PEOPLE = """
[[card]]
card_number = "000045678901"
name = "陳大文"
id_number = "B120000007"
birth_date = "1980-05-05"
sex = "M"
issue_date = "2020-01-01"
auth_key = "0102030405060708090a0b0c0d0e0f10"

[[household]]
household_id = "K7000002"
city = "臺北市"
district = "中正區"
village = "中正里"
neighborhood = 8
members = ["B120000007"]
"""
TAIPEI = ZoneInfo("Asia/Taipei")
WANG = "000012345678"
LIN = "000023456789"
CHEN = "000045678901"
WANG_HOME = {
    "city": "臺北市",
    "district": "大安區",
    "village": "龍門里",
    "hh": "F1234567",
    "n": "5",
}
CHEN_HOME = {
    "city": "台北市",
    "district": "中正區",
    "village": "中正里",
    "hh": "k700 0002",
    "n": "8",
}
CONTACT = {
    "txtPassword": "Abc12345",
    "txtPasswordConfirm": "Abc12345",
    "txtEmail": "wang@example.com",
    "txtPhone": "02-12345678",
    "txtMobile": "0912-345678",
}


def text(message: object) -> str:
    return f"{message.zh} {message.en}"  # type: ignore[attr-defined]


def build(tmp_path: Path, extra: str = "") -> Iterator[NhiSandbox]:
    with nhi_sandbox(tmp_path, data_with(MORE_PEOPLE + extra)) as sandbox:
        yield sandbox


@pytest.fixture
def sb(tmp_path: Path) -> Iterator[NhiSandbox]:
    yield from build(tmp_path)


@pytest.fixture
def client(sb: NhiSandbox) -> Iterator[httpx.Client]:
    with sb.client() as c:
        yield c


def card(sb: NhiSandbox, number: str) -> CardRecord:
    found = sb.ctx.data.card(number)
    assert found is not None
    return found


def open_apply(client: httpx.Client) -> Page:
    terms = Page(client.get(BASE + "UserAction.aspx"))
    assert "全民健康保險網路服務註冊管理作業要點" in terms.text
    return submit(client, terms, button="btnAgree")


def choose_address(client: httpx.Client, page: Page, home: dict[str, str]) -> Page:
    city = "臺" + home["city"][1:] if home["city"].startswith("台") else home["city"]
    page = submit(client, page, target="ddlCity", ddlCity=page.option_value("ddlCity", city))
    code = page.option_value("ddlDistrict", home["district"])
    page = submit(client, page, target="ddlDistrict", ddlDistrict=code)
    code = page.option_value("ddlVillage", home["village"])
    return submit(client, page, target="ddlVillage", ddlVillage=code)


def to_contact(sb: NhiSandbox, client: httpx.Client, number: str, home: dict[str, str]) -> Page:
    page = read_card(client, open_apply(client), sb.agent(card(sb, number)))
    assert page.message == text(msg.READ_OK)
    page = choose_address(client, page, home)
    page = submit(client, page, button="btnSubmit", txtHouseholdId=home["hh"],
                  txtNeighborhood=home["n"])  # fmt: skip
    assert "註冊密碼" in page.text, page.message
    return page


def newest_mail_link(sb: NhiSandbox) -> str:
    box = mailbox.Maildir(str(sb.maildir), factory=None, create=False)
    raw = max((box.get_bytes(k) for k in box.iterkeys()), key=len)
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    body = parsed.get_body(("plain",)).get_content()
    return next(w for w in body.split() if w.startswith("https://"))


def register(sb: NhiSandbox, client: httpx.Client, number: str, home: dict[str, str]) -> str:
    page = submit(client, to_contact(sb, client, number, home), button="btnSubmit", **CONTACT)
    assert "認證通知信已寄出" in page.text, page.message
    return newest_mail_link(sb)


def verify(sb: NhiSandbox, client: httpx.Client, link: str, number: str) -> Page:
    page = Page(client.get(link.removeprefix(sb.url)))
    assert "健保卡註冊認證作業" in page.text
    page = read_card(client, page, sb.agent(card(sb, number)))
    assert page.message == text(msg.VERIFY_READ_OK)
    return submit(client, page, button="btnSubmit")


def login(sb: NhiSandbox, client: httpx.Client, number: str, password: str) -> Page:
    agent = sb.agent(card(sb, number))
    page = Page(client.get(BASE + "mlogin.aspx"))
    encrypted = agent.encrypt_password(password)
    return read_card(client, page, agent, target="btnLogin", random_alone=True, hidEncPwd=encrypted)


# -- the whole job --------------------------------------------------------------------------
def test_register_verify_and_log_in(sb: NhiSandbox, client: httpx.Client) -> None:
    start = Page(client.get("/"))
    assert start.response.url.path == BASE + "mlogin.aspx"
    assert "首次登入請先申請 Register for New Account" in start.text
    assert client.cookies.get("ASP.NET_SessionId")
    link = register(sb, client, WANG, WANG_HOME)
    assert link.startswith(sb.url + BASE + "Verify.aspx?token=")
    pending = sb.ctx.store.get_application(WANG)
    assert pending is not None and not pending.verified and pending.mobile == "0912345678"
    done = verify(sb, client, link, WANG)
    assert done.response.status_code == 200 and "密碼設定完成" in done.text
    assert sb.ctx.store.is_registered(WANG)
    landed = login(sb, client, WANG, "Abc12345")
    assert landed.response.url.path == BASE + "Main.aspx"
    assert landed.soup.select_one("#lblUserName").get_text() == "王小明"


def test_pages_carry_webforms_state_and_agent_fields(sb: NhiSandbox, client: httpx.Client) -> None:
    page = open_apply(client)
    form = page.soup.select_one("form#form1[method=post]")
    assert form is not None and form["data-agent-url"] == "wss://127.0.0.1:7777/echo"
    names = {el["name"] for el in form.select("input[name]")}
    assert {"__VIEWSTATE", "__VIEWSTATEGENERATOR", "__EVENTVALIDATION", "__EVENTTARGET",
            "__EVENTARGUMENT", "hidBasic", "hidVersion", "hidRandom", "hidSign", "hidStep",
            "hidNextStep", "btnReadCard", "btnSubmit", "btnBack"} <= names  # fmt: skip
    assert "function __doPostBack(eventTarget, eventArgument)" in page.text
    assert "__doPostBack(\\'ddlCity\\'" in page.text
    cities = [o.get_text() for o in page.soup.select("select[name=ddlCity] option")][1:]
    assert len(cities) == 22 and cities[0] == "臺北市"
    assert "7bd0cbd294519a231ee847e3fc001cc3" in page.text and "檢測健保卡認證" in page.text
    script = client.get(BASE + "js/nhi_agent.js")
    assert script.status_code == 200 and "請檢查元件是否已正確安裝且啟動。" in script.text
    assert "H_Sign?Random=" in script.text


# -- the site's rules ------------------------------------------------------------------------
def test_apply_rules_and_messages(sb: NhiSandbox, client: httpx.Client) -> None:
    page = open_apply(client)
    page = submit(client, page, button="btnSubmit", txtHouseholdId="F1234567")
    assert page.message == text(msg.NOT_READ)
    page = read_card(client, page, sb.agent(card(sb, WANG)))
    assert page.soup.select_one("#txtName")["value"] == "王小明"
    cases = [
        ({"txtHouseholdId": ""}, msg.HOUSEHOLD_REQUIRED),
        ({"txtHouseholdId": "F12-4567"}, msg.HOUSEHOLD_FORMAT),
        ({"txtHouseholdId": "F1234567"}, msg.ADDRESS_REQUIRED),
    ]
    for changes, expected in cases:
        page = submit(client, page, button="btnSubmit", **changes)
        assert page.message == text(expected)
    page = choose_address(client, page, WANG_HOME)
    for n, expected in (("0", msg.NEIGHBORHOOD_FORMAT), ("5a", msg.NEIGHBORHOOD_FORMAT),
                        ("6", msg.HOUSEHOLD_MISMATCH)):  # fmt: skip
        page = submit(client, page, button="btnSubmit", txtHouseholdId="F1234567",
                      txtNeighborhood=n)  # fmt: skip
        assert page.message == text(expected)
    page = submit(client, page, button="btnSubmit", txtHouseholdId="H7654321", txtNeighborhood="5")
    assert page.message == text(msg.HOUSEHOLD_MISMATCH)  # somebody else's household
    near = page.option_value("ddlVillage", "龍坡里")
    page = submit(client, page, target="ddlVillage", ddlVillage=near)
    page = submit(client, page, button="btnSubmit", txtHouseholdId="F1234567", txtNeighborhood="5")
    assert page.message == text(msg.HOUSEHOLD_MISMATCH)


def test_near_duplicate_village_is_a_mismatch(sb: NhiSandbox, client: httpx.Client) -> None:
    page = read_card(client, open_apply(client), sb.agent(card(sb, CHEN)))
    page = choose_address(client, page, CHEN_HOME | {"village": "中興里"})
    page = submit(client, page, button="btnSubmit", txtHouseholdId="K7000002", txtNeighborhood="8")
    assert page.message == text(msg.HOUSEHOLD_MISMATCH)
    page = submit(client, page, target="ddlVillage",
                  ddlVillage=page.option_value("ddlVillage", "中正里"))  # fmt: skip
    page = submit(
        client, page, button="btnSubmit", txtHouseholdId=" k7000002 ", txtNeighborhood="8"
    )
    assert "註冊密碼" in page.text


def test_city_change_resets_the_lower_drop_downs(sb: NhiSandbox, client: httpx.Client) -> None:
    page = choose_address(client, open_apply(client), WANG_HOME)
    assert page.soup.select_one("select[name=ddlVillage] option[selected]").get_text() == "龍門里"
    page = submit(client, page, target="ddlCity", ddlCity=page.option_value("ddlCity", "臺中市"))
    assert page.fields()["ddlDistrict"] == "" and page.fields()["ddlVillage"] == ""
    districts = [o.get_text() for o in page.soup.select("select[name=ddlDistrict] option")]
    assert "西屯區" in districts and "大安區" in districts and "中正區" not in districts


def test_contact_rules_and_messages(sb: NhiSandbox, client: httpx.Client) -> None:
    page = to_contact(sb, client, WANG, WANG_HOME)
    cases = [
        ({"txtPassword": "abc12", "txtPasswordConfirm": "abc12"}, msg.PASSWORD_LENGTH),
        ({"txtPassword": "a" * 13, "txtPasswordConfirm": "a" * 13}, msg.PASSWORD_LENGTH),
        ({"txtPassword": "abc 1234", "txtPasswordConfirm": "abc 1234"}, msg.PASSWORD_CHARS),
        ({"txtPasswordConfirm": "Abc12346"}, msg.PASSWORD_CONFIRM),
        ({"txtEmail": "wang@example"}, msg.EMAIL_FORMAT),
        ({"txtPhone": "12345"}, msg.PHONE_FORMAT),
        ({"txtMobile": "0812345678"}, msg.MOBILE_FORMAT),
    ]
    for changes, expected in cases:
        page = submit(client, page, button="btnSubmit", **(CONTACT | changes))
        assert page.message == text(expected), changes
        assert 'value="Abc12345"' not in page.text  # passwords are never echoed
    assert sb.ctx.store.get_application(WANG) is None
    assert not list((sb.maildir / "new").iterdir())


def test_already_registered_card(sb: NhiSandbox, client: httpx.Client) -> None:
    verify(sb, client, register(sb, client, WANG, WANG_HOME), WANG)
    again = read_card(client, open_apply(client), sb.agent(card(sb, WANG)))
    assert again.message == text(msg.ALREADY_REGISTERED)
    assert "已完成註冊" in again.message


def test_agent_fields_are_verified(sb: NhiSandbox, client: httpx.Client) -> None:
    agent = sb.agent(card(sb, WANG))
    basic, version, random = agent.get_basic().to_wire(), agent.get_version(), agent.get_random()
    sign = agent.h_sign(version + random)
    page = open_apply(client)
    fields = {"hidBasic": basic, "hidVersion": version, "hidRandom": random, "hidSign": sign}
    forged = fields | {"hidSign": ("0" if sign[0] != "0" else "1") + sign[1:]}
    page = submit(client, page, target="btnReadCard", **forged)
    assert page.message == text(msg.CARD_NOT_VERIFIED)
    other = fields | {"hidBasic": basic.replace(WANG, LIN, 1)}  # signed for another card
    page = submit(client, page, target="btnReadCard", **other)
    assert page.message == text(msg.CARD_NOT_VERIFIED)
    page = submit(client, page, target="btnReadCard", **fields)
    assert page.message == text(msg.READ_OK)
    page = submit(client, page, target="btnReadCard", **fields)  # the random again
    assert page.message == text(msg.CARD_NOT_VERIFIED)


# -- WebForms state ---------------------------------------------------------------------------
def test_tampered_viewstate_is_refused(sb: NhiSandbox, client: httpx.Client) -> None:
    page = open_apply(client)
    vs = page.fields()["__VIEWSTATE"]
    bad = vs[:10] + ("A" if vs[10] != "A" else "B") + vs[11:]
    refused = submit(client, page, target="ddlCity", __VIEWSTATE=bad, ddlCity="01")
    assert refused.response.status_code == 500
    assert "Validation of viewstate MAC failed." in refused.text


def test_replayed_older_step_is_refused(sb: NhiSandbox, client: httpx.Client) -> None:
    terms = Page(client.get(BASE + "UserAction.aspx"))
    submit(client, terms, button="btnAgree")
    replay = submit(client, terms, button="btnAgree")
    assert replay.response.status_code == 500
    assert "Validation of viewstate MAC failed." in replay.text


def test_viewstate_of_another_session_is_refused(sb: NhiSandbox, client: httpx.Client) -> None:
    page = open_apply(client)
    with sb.client() as other:
        open_apply(other)
        values = page.fields() | {"__EVENTTARGET": "ddlCity", "ddlCity": "01"}
        refused = other.post(BASE + "UserAction.aspx", data=values)
    assert refused.status_code == 500 and "Validation of viewstate MAC failed." in refused.text


def test_unoffered_value_is_an_invalid_postback(sb: NhiSandbox, client: httpx.Client) -> None:
    page = open_apply(client)
    refused = submit(client, page, target="ddlCity", ddlCity="99")
    assert refused.response.status_code == 500
    assert "Invalid postback or callback argument." in refused.text
    page = submit(client, page, target="ddlCity", ddlCity="01")
    refused = submit(client, page, target="ddlVillage", ddlVillage="0105001")  # not offered yet
    assert "Invalid postback or callback argument." in refused.text


def test_session_times_out(sb: NhiSandbox, client: httpx.Client) -> None:
    page = open_apply(client)
    sb.clock.advance(minutes=21)
    late = submit(client, page, target="ddlCity", ddlCity="01")
    assert late.response.status_code == 200
    assert late.message == text(msg.SESSION_EXPIRED) and "逾時" in late.text
    assert late.soup.select_one("#lnkRestart")["href"] == BASE + "UserAction.aspx"


# -- the verification link ----------------------------------------------------------------------
def test_link_is_single_use(sb: NhiSandbox, client: httpx.Client) -> None:
    link = register(sb, client, WANG, WANG_HOME)
    assert "密碼設定完成" in verify(sb, client, link, WANG).text
    again = Page(client.get(link.removeprefix(sb.url)))
    assert again.message == text(msg.LINK_USED)
    bogus = Page(client.get(BASE + "Verify.aspx?token=nope"))
    assert bogus.message == text(msg.LINK_UNKNOWN)


def test_link_expires_after_24_hours(sb: NhiSandbox, client: httpx.Client) -> None:
    link = register(sb, client, WANG, WANG_HOME)
    page = Page(client.get(link.removeprefix(sb.url)))
    page = read_card(client, page, sb.agent(card(sb, WANG)))
    sb.clock.advance(hours=24)
    with sb.client() as fresh:
        late = Page(fresh.get(link.removeprefix(sb.url)))
    assert late.message == text(msg.LINK_EXPIRED)
    assert not sb.ctx.store.is_registered(WANG)


def test_link_ttl_from_settings(tmp_path: Path) -> None:
    for sandbox in build(tmp_path, "\n[settings]\nlink_ttl_hours = 1\n"):
        with sandbox.client() as c:
            link = register(sandbox, c, WANG, WANG_HOME)
            sandbox.clock.advance(minutes=61)
            assert Page(c.get(link.removeprefix(sandbox.url))).message == text(msg.LINK_EXPIRED)


def test_verification_needs_the_registered_card(sb: NhiSandbox, client: httpx.Client) -> None:
    link = register(sb, client, WANG, WANG_HOME)
    page = Page(client.get(link.removeprefix(sb.url)))
    page = submit(client, page, button="btnSubmit")
    assert page.message == text(msg.NOT_READ)
    page = read_card(client, page, sb.agent(card(sb, LIN)))
    assert page.message == text(msg.WRONG_CARD)
    page = submit(client, page, button="btnSubmit")
    assert page.message == text(msg.NOT_READ)
    assert not sb.ctx.store.is_registered(WANG)


def test_mail_is_sent_to_the_sink(sb: NhiSandbox, client: httpx.Client) -> None:
    register(sb, client, WANG, WANG_HOME)
    box = mailbox.Maildir(str(sb.maildir), factory=None, create=False)
    (raw,) = [box.get_bytes(k) for k in box.iterkeys()]
    assert b"Subject: =?utf-8?b?" in raw
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == "健保卡網路服務註冊認證通知信"
    assert (
        parsed["To"] == "wang@example.com" and parsed.get_content_type() == "multipart/alternative"
    )
    assert ">健保卡註冊認證作業</a>" in parsed.get_body(("html",)).get_content()


# -- login and the lockout -----------------------------------------------------------------------
def test_login_lockout_and_revocation(sb: NhiSandbox, client: httpx.Client) -> None:
    unregistered = login(sb, client, WANG, "Abc12345")
    assert unregistered.message == text(msg.NOT_REGISTERED)
    verify(sb, client, register(sb, client, WANG, WANG_HOME), WANG)
    for lock in range(3):
        assert login(sb, client, WANG, "wrong-1").message == text(
            msg.WRONG_PASSWORD.format(attempts=2)
        )
        login(sb, client, WANG, "wrong-2")
        third = login(sb, client, WANG, "wrong-3")
        if lock < 2:
            until = (sb.clock.now + timedelta(minutes=10)).astimezone(TAIPEI)
            until_text = until.strftime("%Y/%m/%d %H:%M:%S")
            assert third.message == text(msg.LOCKED.format(until=until_text))
            assert "鎖定" in third.message
            assert login(sb, client, WANG, "Abc12345").message == third.message
            sb.clock.advance(minutes=10)
    assert third.message == text(msg.REVOKED)
    sb.clock.advance(days=1)
    assert login(sb, client, WANG, "Abc12345").message == text(msg.REVOKED)


def test_login_signs_the_random_alone_and_accepts_version_plus_random_too(
    sb: NhiSandbox, client: httpx.Client
) -> None:
    """The card + password login: the page has only the 16-digit random signed (the official
    InnerAuthHC path, nhi-agent.md); a version + random signature is accepted as well (the
    real server's answer to it is not known); a posted signature is single-use, also under
    another hidVersion."""
    verify(sb, client, register(sb, client, WANG, WANG_HOME), WANG)
    agent = sb.agent(card(sb, WANG))
    basic, version, random = agent.get_basic().to_wire(), agent.get_version(), agent.get_random()
    alone = {"hidBasic": basic, "hidVersion": version, "hidRandom": random,
             "hidSign": agent.h_sign(random)}  # fmt: skip
    alone["hidEncPwd"] = agent.encrypt_password("Abc12345")
    page = Page(client.get(BASE + "mlogin.aspx"))
    landed = submit(client, page, target="btnLogin", **alone)
    assert landed.response.url.path == BASE + "Main.aspx", landed.message
    page = Page(client.get(BASE + "mlogin.aspx?logout=1"))
    other_version = "0001" if version != "0001" else "0011"
    replayed = submit(client, page, target="btnLogin", **(alone | {"hidVersion": other_version}))
    assert replayed.message == text(msg.CARD_NOT_VERIFIED)
    both = login_with_version_plus_random(sb, client, WANG, "Abc12345")
    assert both.response.url.path == BASE + "Main.aspx", both.message


def login_with_version_plus_random(
    sb: NhiSandbox, client: httpx.Client, number: str, password: str
) -> Page:
    agent = sb.agent(card(sb, number))
    page = Page(client.get(BASE + "mlogin.aspx?logout=1"))
    encrypted = agent.encrypt_password(password)
    return read_card(client, page, agent, target="btnLogin", hidEncPwd=encrypted)


def test_download_section_offers_the_2024_component(client: httpx.Client) -> None:
    """Besides the 2021 manual's installers: the 2024 Linux package, the update check and the
    test page (nhi-agent.md)."""
    page = open_apply(client)
    links = {a.get("id"): a.get("href") for a in page.soup.select("#divSetup a")}
    smc = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/"
    assert links["lnkLinux2024"] == smc + "CMS_mNHIICC_Setup.Linux.zip"
    assert links["lnkEventesting"] == smc + "Eventesting.aspx"
    assert (
        links["lnkSampleY"]
        == "https://cloudicweb.nhi.gov.tw/cloudic/system/webtesting/SampleY.aspx"
    )
    row = page.soup.select_one("#trSetup2024").get_text(" ")
    assert "GetVersion:0011" in row and "nhi-localhost-ca" in row and "localhost" in row


def test_next_posts_the_fields_the_script_filled_without_a_read_postback(
    sb: NhiSandbox, client: httpx.Client
) -> None:
    """The real script fills the agent fields after 讀取 but does not post (its
    btnSubmit.click() is commented out): the person's 下一步 carries them, and is judged."""
    agent = sb.agent(card(sb, WANG))
    basic, version, random = agent.get_basic().to_wire(), agent.get_version(), agent.get_random()
    fields = {"hidBasic": basic, "hidVersion": version, "hidRandom": random,
              "hidSign": agent.h_sign(version + random)}  # fmt: skip
    page = choose_address(client, open_apply(client), WANG_HOME)
    forged = fields | {
        "hidSign": ("0" if fields["hidSign"][0] != "0" else "1") + fields["hidSign"][1:]
    }
    refused = submit(client, page, button="btnSubmit", txtHouseholdId=WANG_HOME["hh"],
                     txtNeighborhood=WANG_HOME["n"], **forged)  # fmt: skip
    assert refused.message == text(msg.CARD_NOT_VERIFIED)
    page = submit(client, refused, button="btnSubmit", txtHouseholdId=WANG_HOME["hh"],
                  txtNeighborhood=WANG_HOME["n"], **fields)  # fmt: skip
    assert "註冊密碼" in page.text, page.message
