"""The sandbox eCPA and its e-learning relying party, served by uvicorn over real HTTPS, on
the recorded shape: /Home/* XHR calls, form-urlencoded in, plain text out; the ticket posted
with loginType to sso_verify.php → 302 sso_home.php?ssoid= → 302 /mooc/index.php.

The card side of the NHI-card column is played as the sandbox SAM and the card agent would:
H_Sign is the SAM key's signature, the password is EnCrypt'ed with the card number and the
Taipei date.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from bs4 import BeautifulSoup

from nhicard.agent.sam.encrypt import encrypt_password
from nhicard.sandbox.context import SandboxContext
from nhicard.sandbox.ecpa_site import build_ecpa_app
from nhicard.sandbox.elearn_site import build_elearn_app
from nhicard.sandbox.keys import sign_h_sign
from nhicard.sandbox.server import HttpsSite, bind_listener
from nhicard.sandbox.store import RegistrationStore
from nhicard.sandbox.tls import ensure_tls

TAIPEI = timezone(timedelta(hours=8))
CARD = "000012345678"
ID_NUMBER = "A123456789"
NAME = "王小明"
PASSWORD = "Secret123"
BASIC = f"{CARD},{ID_NUMBER},{NAME},0640101,M,0"
VERSION = "0001"
ACCOUNT, ACCOUNT_PASSWORD = "ming.wang", "Ecpa-135790"  # the built-in sandbox data
XHR = {"X-Requested-With": "XMLHttpRequest"}
HEX_TICKET = re.compile(r"(?:[0-9A-F]{2}){64,}")


class Clock:
    def __init__(self) -> None:
        # 23:30 UTC = 07:30 the next day in Taipei: the date EnCrypt uses is Taipei's
        self.now = datetime(2024, 5, 1, 23, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)

    @property
    def taipei_date(self) -> Any:
        return self.now.astimezone(TAIPEI).date()


@dataclass
class Sites:
    ctx: SandboxContext
    clock: Clock
    ecpa_url: str
    elearn_url: str
    verify: Any

    def client(self) -> httpx.Client:
        return httpx.Client(verify=self.verify, timeout=10)

    @property
    def sso_url(self) -> str:
        return f"{self.elearn_url}/sso_verify.php"


class LoopThread:
    """An asyncio loop in a thread, serving the HTTPS sites."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=20)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def register(store: RegistrationStore, now: datetime) -> None:
    store.apply(
        card_number=CARD,
        id_number=ID_NUMBER,
        name=NAME,
        password=PASSWORD,
        email="wang@example.test",
        phone="02-23456789",
        mobile="0912345678",
        now=now,
    )
    store.complete_verification(store.issue_link(CARD, now), now)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """eCPA and e-learning on free ports for the whole module."""
    base = tmp_path_factory.mktemp("ecpa")
    socks = [bind_listener("127.0.0.1", 0) for _ in range(2)]
    ecpa_url, elearn_url = (f"https://127.0.0.1:{s.getsockname()[1]}" for s in socks)
    clock = Clock()
    ctx = SandboxContext.open(
        base,
        endpoints={"ecpa_url": ecpa_url, "elearn_url": elearn_url},
        clock=clock,
        store=RegistrationStore.open(base, scrypt_n=2**10),
    )
    tls = ensure_tls(base)
    served = [
        HttpsSite("ecpa", build_ecpa_app(ctx), socks[0], tls.server_cert, tls.server_key),
        HttpsSite("elearn", build_elearn_app(ctx), socks[1], tls.server_cert, tls.server_key),
    ]
    loop = LoopThread()
    for site in served:
        loop.run(site.start())
    try:
        yield Sites(ctx, clock, ecpa_url, elearn_url, tls.client_context())
    finally:
        for site in served:
            loop.run(site.stop())
        loop.close()
        ctx.close()


@pytest.fixture
def sites(served: Sites, tmp_path: Path) -> Iterator[Sites]:
    """The served sites with a fresh registration store (王小明 registered) and clock."""
    served.clock.now = Clock().now
    old = served.ctx.store
    store = RegistrationStore.open(tmp_path, scrypt_n=2**10)
    register(store, served.clock.now)
    served.ctx.store = store
    try:
        yield served
    finally:
        served.ctx.store = old
        store.close()


def call(client: httpx.Client, sites: Sites, name: str, **fields: str) -> httpx.Response:
    """One XHR call of the page script (form-urlencoded, X-Requested-With)."""
    reply = client.post(f"{sites.ecpa_url}/Home/{name}", data=fields, headers=XHR)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/html")
    return reply


def open_login(client: httpx.Client, sites: Sites, return_url: str | None = None) -> None:
    params = {"returnUrl": return_url} if return_url else {}
    assert client.get(f"{sites.ecpa_url}/webform/clogin.aspx", params=params).status_code == 200


def account_login(
    client: httpx.Client,
    sites: Sites,
    password: str = ACCOUNT_PASSWORD,
    *,
    return_url: str | None = None,
) -> str:
    """The account column's recorded chain; the ticket (or the refusal text)."""
    open_login(client, sites, return_url)
    assert call(client, sites, "GetUID", account=ACCOUNT).text == ID_NUMBER
    ticket = call(
        client, sites, "GetApTicketV2", account=ACCOUNT, password=password, ApID="CrossHRD"
    ).text
    if not HEX_TICKET.fullmatch(ticket):
        return ticket
    assert (
        call(
            client, sites, "EnterTwoWayLog",
            account=ACCOUNT, loginType="0", sn="", ticket="", appId="CrossHRD",
        ).text
        == "0"
    )  # fmt: skip
    assert call(client, sites, "EnterApplicationTwoWay", appId="CrossHRD").text == "0"
    return ticket


def nhi_ticket(
    client: httpx.Client,
    sites: Sites,
    password: str = PASSWORD,
    *,
    return_url: str | None = None,
    card: str = CARD,
    basic: str = BASIC,
    random: str | None = None,
) -> str:
    """The NHI-card column's chain (our guess) up to the ticket; the ticket or the refusal."""
    open_login(client, sites, return_url)
    fresh = call(client, sites, "GetNHIRandom").text
    assert re.fullmatch(r"\d{16}", fresh)
    random = random or fresh
    return call(
        client, sites, "GetApTicketNHI",
        basic=basic, version=VERSION, random=random,
        sign=sign_h_sign(sites.ctx.keys.sam_private_key, card, VERSION + random),
        password=encrypt_password(card, password, sites.clock.taipei_date),
        ApID="CrossHRD", loginType="3",
    ).text  # fmt: skip


def nhi_login(client: httpx.Client, sites: Sites, password: str = PASSWORD, **kw: Any) -> str:
    ticket = nhi_ticket(client, sites, password, **kw)
    if not HEX_TICKET.fullmatch(ticket):
        return ticket
    two_way = call(
        client, sites, "EnterTwoWayLog",
        account=ID_NUMBER, loginType="3", sn=CARD, ticket="", appId="CrossHRD",
    )  # fmt: skip
    assert two_way.text == "0"
    assert call(client, sites, "EnterApplicationTwoWay", appId="CrossHRD").text == "0"
    return ticket


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def test_login_page_has_the_four_columns(sites: Sites) -> None:
    with sites.client() as client:
        page = client.get(
            f"{sites.ecpa_url}/webform/clogin.aspx",
            params={"returnUrl": sites.sso_url, "Naminglogo": "x", "showecpa": "Y"},
        )
    assert page.status_code == 200
    assert "ECPA_SessionId" in page.cookies
    html = soup(page)
    assert html.title.get_text() == "人事服務網eCPA"
    assert "__VIEWSTATE" not in page.text  # not a WebForms postback
    for column, title in (
        ("colAccount", "帳號"),
        ("colCitizenCert", "自然人憑證"),
        ("colAgencyCert", "機關憑證"),
        ("colNhiCard", "健保卡"),
    ):
        assert title in html.select_one(f"#{column} h2").get_text()
    assert html.select_one("#txtAccount") and html.select_one("#txtPassword")["type"] == "password"
    assert html.select_one("#pinCode")["type"] == "password"
    assert html.select_one("#nhiPassword")["maxlength"] == "12"
    assert html.select_one("#hidReturnUrl")["value"] == sites.sso_url
    assert html.select_one("#form1")["data-agent-url"] == sites.ctx.settings.agent_url
    with sites.client() as client:
        script = client.get(f"{sites.ecpa_url}/webform/js/ecpa_login.js")
    assert script.status_code == 200
    for name in ("GetUID", "GetApTicketV2", "EnterTwoWayLog", "EnterApplicationTwoWay"):
        assert name in script.text
    assert "X-Requested-With" in script.text


def test_old_address_without_destid_and_root_lead_to_login(sites: Sites) -> None:
    with sites.client() as client:
        for path in ("/", "/uIAM/clogin.asp"):
            reply = client.get(sites.ecpa_url + path)
            assert reply.status_code == 302
            assert reply.headers["location"] == "/webform/clogin.aspx"


def test_login_page_has_the_five_columns(sites: Sites) -> None:
    with sites.client() as client:
        soup = BeautifulSoup(
            client.get(f"{sites.ecpa_url}/webform/clogin.aspx").text, "html.parser"
        )
    headings = [
        " ".join(h.get_text(" ", strip=True).split()) for h in soup.select(".login-column h2")
    ]
    assert [h.split()[0] for h in headings] == [
        "帳號", "自然人憑證", "機關憑證", "行動自然人憑證", "健保卡",
    ]  # fmt: skip
    assert "Mobile Citizen Certificate" in headings[3]


def legacy_login(client: httpx.Client, sites: Sites, password: str = ACCOUNT_PASSWORD) -> Any:
    """The old uIAM/clogin.asp form: #username, #password, a button named submit."""
    url = f"{sites.ecpa_url}/uIAM/clogin.asp?destid=CrossHRD"
    page = client.get(url)
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.select_one("#username") and soup.select_one("#password")
    assert soup.select_one("button[name=submit]")
    reply = client.post(url, data={"username": ACCOUNT, "password": password, "submit": "登入"})
    assert reply.headers["referrer-policy"] == "no-referrer-when-downgrade"
    return url, BeautifulSoup(reply.text, "html.parser")


def test_relying_party_refuses_tickets_that_came_through_the_old_login_page(sites: Sites) -> None:
    with sites.client() as client:
        old_page, soup = legacy_login(client, sites)
        form = soup.select_one("#ssoForm")
        assert form is not None and form["action"] == sites.sso_url
        fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
        assert HEX_TICKET.fullmatch(fields["APReqEncodedData"]) and fields["loginType"] == "0"
        # posted as the browser does from that page: its full address is the Referer
        refused = client.post(sites.sso_url, data=fields, headers={"Referer": old_page})
        assert refused.status_code == 403
        error = BeautifulSoup(refused.text, "html.parser").select_one("#ssoError")
        assert error is not None and error["data-reason"] == "legacy-login"
        assert "uIAM/clogin.asp" in error.get_text()
        # a ticket of the current page (Referer: eCPA's origin, the browser default) is taken
        ticket = account_login(client, sites, return_url=sites.sso_url)
        taken = client.post(
            sites.sso_url,
            data={"loginType": "0", "APReqEncodedData": ticket},
            headers={"Referer": sites.ecpa_url + "/"},
        )
        assert taken.status_code == 302


def test_old_login_page_refuses_a_wrong_password_without_a_ticket(sites: Sites) -> None:
    with sites.client() as client:
        _, soup = legacy_login(client, sites, "Wrong123")
    assert soup.select_one("#ssoForm") is None
    assert "Wrong account or password" in soup.select_one("#loginMessage").get_text()


@pytest.mark.parametrize("column", ["account", "nhi"])
def test_happy_path_lands_on_home_with_name(sites: Sites, column: str) -> None:
    with sites.client() as client:
        before = client.get(f"{sites.ecpa_url}/webform/home.aspx")
        assert before.status_code == 302
        open_login(client, sites)
        old_sid = client.cookies.get("ECPA_SessionId")
        ticket = account_login(client, sites) if column == "account" else nhi_login(client, sites)
        assert HEX_TICKET.fullmatch(ticket), ticket
        assert client.cookies.get("ECPA_SessionId") != old_sid  # renewed at login
        home = client.get(f"{sites.ecpa_url}/webform/home.aspx")
        assert home.status_code == 200
        assert soup(home).select_one("#lblUserName").get_text() == NAME
        assert f"{NAME} 您好" in soup(home).select_one("#welcome").get_text()
        client.get(f"{sites.ecpa_url}/webform/logout.aspx")
        assert client.get(f"{sites.ecpa_url}/webform/home.aspx").status_code == 302


def test_nhi_wrong_password_counts_down_then_locks(sites: Sites) -> None:
    with sites.client() as client:
        first = nhi_login(client, sites, "Wrong123")
        assert "您還可以再嘗試 2 次" in first and "2 attempt(s) left" in first
        assert "您還可以再嘗試 1 次" in nhi_login(client, sites, "Wrong123")
        third = nhi_login(client, sites, "Wrong123")
        until = (sites.clock.now + timedelta(minutes=10)).astimezone(TAIPEI)
        assert f"已鎖定至 {until:%Y-%m-%d %H:%M:%S}" in third
        assert "locked until" in third
        assert "鎖定至" in nhi_login(client, sites)  # the right password, while locked
        sites.clock.advance(minutes=10, seconds=1)
        assert HEX_TICKET.fullmatch(nhi_login(client, sites))


def test_account_wrong_password_is_an_empty_body_or_0_then_locks(sites: Sites) -> None:
    """As recorded, GetApTicketV2 answers a refused password with no words: an empty body
    (a wrong password here) or ``0`` (here: locked, after the third wrong one)."""
    with sites.client() as client:
        assert account_login(client, sites, "Wrong123") == ""
        assert account_login(client, sites, "Wrong123") == ""
        assert account_login(client, sites, "Wrong123") == "0"
        assert account_login(client, sites) == "0"  # the right password, while locked
        sites.clock.advance(minutes=10, seconds=1)
        assert HEX_TICKET.fullmatch(account_login(client, sites))


def test_three_locks_revoke(sites: Sites) -> None:
    with sites.client() as client:
        for _ in range(2):
            for _ in range(3):
                nhi_login(client, sites, "Wrong123")
            sites.clock.advance(minutes=11)
        results = [nhi_login(client, sites, "Wrong123") for _ in range(3)]
        assert "已因多次鎖定而失效" in results[2]
        assert "register again" in nhi_login(client, sites)


@pytest.mark.parametrize("column", ["account", "nhi"])
def test_sso_to_relying_party_redirects_and_replay_refused(sites: Sites, column: str) -> None:
    with sites.client() as client:
        start = client.get(sites.elearn_url + "/")
        assert soup(start).select_one("#loginState")["data-state"] == "anonymous"
        login_link = soup(start).select_one("#lnkEcpaLogin")["href"]
        assert login_link == (
            f"{sites.ecpa_url}/webform/clogin.aspx?returnUrl={quote(sites.sso_url, safe='')}"
        )
        login = account_login if column == "account" else nhi_login
        token = login(client, sites, return_url=sites.sso_url)
        login_type = "0" if column == "account" else "3"
        posted = client.post(
            sites.sso_url,
            data={"loginType": login_type, "APReqEncodedData": token},
            headers={"Origin": sites.ecpa_url},
        )
        assert posted.status_code == 302
        assert re.fullmatch(r"sso_home\.php\?ssoid=\d+", posted.headers["location"])
        assert "ELEARN_PHPSESSID" in posted.cookies
        hop = client.get(f"{sites.elearn_url}/{posted.headers['location']}")
        assert (hop.status_code, hop.headers["location"]) == (302, "/mooc/index.php")
        landed = client.get(sites.elearn_url + "/mooc/index.php")
        state = soup(landed).select_one("#loginState")
        assert state["data-state"] == "logged-in"
        assert soup(landed).select_one("#userName").get_text() == NAME
        assert f"Logged in as {NAME}" in state.get_text()
        again = client.get(sites.elearn_url + "/")
        assert soup(again).select_one("#loginState")["data-state"] == "logged-in"
    with sites.client() as thief:
        replay = thief.post(sites.sso_url, data={"loginType": "0", "APReqEncodedData": token})
        assert replay.status_code == 403
        assert soup(replay).select_one("#ssoError")["data-reason"] == "replayed"
        hop = thief.get(f"{sites.elearn_url}/sso_home.php?ssoid=1")
        assert hop.status_code == 403  # not this session's sign-on


def test_relying_party_refuses_missing_forged_and_expired_tokens(sites: Sites) -> None:
    with sites.client() as client:
        missing = client.get(sites.sso_url)
        assert missing.status_code == 400
        assert soup(missing).select_one("#ssoError")["data-reason"] == "missing"
        forged = client.post(sites.sso_url, data={"APReqEncodedData": "AB" * 40})
        assert soup(forged).select_one("#ssoError")["data-reason"] == "malformed"
        forged = b"v1.e30.AAAA".hex().upper()
        bad = client.post(sites.sso_url, data={"APReqEncodedData": forged})
        assert soup(bad).select_one("#ssoError")["data-reason"] == "bad-signature"
        token = account_login(client, sites, return_url=sites.sso_url)
        sites.clock.advance(minutes=3)
        late = client.post(sites.sso_url, data={"loginType": "0", "APReqEncodedData": token})
        assert late.status_code == 403
        assert soup(late).select_one("#ssoError")["data-reason"] == "expired"


def test_ticket_without_a_return_url_is_for_the_app_id(sites: Sites) -> None:
    """ApID CrossHRD is the e-learning platform: its ticket is good there."""
    with sites.client() as client:
        token = account_login(client, sites)
        landed = client.post(sites.sso_url, data={"loginType": "0", "APReqEncodedData": token})
        assert landed.status_code == 302
        unknown = call(
            client, sites, "GetApTicketV2", account=ACCOUNT, password=ACCOUNT_PASSWORD, ApID="X"
        )
        assert "Unknown application id" in unknown.text


def test_signed_in_visitor_is_posted_straight_on(sites: Sites) -> None:
    with sites.client() as client:
        assert HEX_TICKET.fullmatch(nhi_login(client, sites))
        page = client.get(
            f"{sites.ecpa_url}/webform/clogin.aspx", params={"returnUrl": sites.sso_url}
        )
        form = soup(page).select_one("#ssoForm")
        assert form["action"] == sites.sso_url
        assert form.select_one("input[name=loginType]")["value"] == "3"
        token = form.select_one("input[name=APReqEncodedData]")["value"]
        landed = client.post(sites.sso_url, data={"loginType": "3", "APReqEncodedData": token})
        assert landed.status_code == 302


def test_unregistered_return_url_is_not_served(sites: Sites) -> None:
    evil = "https://evil.example/sso_verify.php"
    with sites.client() as client:
        page = client.get(f"{sites.ecpa_url}/webform/clogin.aspx", params={"returnUrl": evil})
        assert soup(page).select_one("#hidReturnUrl")["value"] == ""
        assert "not a registered application" in soup(page).select_one("#loginMessage").text


def test_two_way_calls_need_a_signed_in_session(sites: Sites) -> None:
    with sites.client() as client:
        open_login(client, sites)
        two_way = call(
            client, sites, "EnterTwoWayLog",
            account=ACCOUNT, loginType="0", sn="", ticket="", appId="CrossHRD",
        )  # fmt: skip
        assert "Not signed in" in two_way.text
        assert (
            "Not signed in" in call(client, sites, "EnterApplicationTwoWay", appId="CrossHRD").text
        )


def post_ticket(client: httpx.Client, sites: Sites, random: str) -> str:
    """GetApTicketNHI with ``random`` as it is (no fresh GetNHIRandom before it)."""
    return call(
        client, sites, "GetApTicketNHI",
        basic=BASIC, version=VERSION, random=random,
        sign=sign_h_sign(sites.ctx.keys.sam_private_key, CARD, VERSION + random),
        password=encrypt_password(CARD, PASSWORD, sites.clock.taipei_date),
        ApID="CrossHRD", loginType="3",
    ).text  # fmt: skip


def test_challenge_is_single_use_bound_to_the_session_and_expires(sites: Sites) -> None:
    with sites.client() as client, sites.client() as other:
        open_login(client, sites)
        open_login(other, sites)
        random = call(client, sites, "GetNHIRandom").text
        assert "challenge" in post_ticket(other, sites, random)  # another session's random
        assert HEX_TICKET.fullmatch(post_ticket(client, sites, random))
        assert "challenge" in post_ticket(client, sites, random)  # used once already
        late = call(client, sites, "GetNHIRandom").text
        sites.clock.advance(minutes=5, seconds=1)
        assert "challenge" in post_ticket(client, sites, late)


def test_signature_card_and_password_checks(sites: Sites) -> None:
    with sites.client() as client:
        other_card = "000023456789"
        assert "signature" in nhi_ticket(client, sites, card=other_card)
        stranger = f"{other_card},F126112341,林峯,0770315,M,0"
        assert "not registered" in nhi_ticket(client, sites, card=other_card, basic=stranger)
        wrong_id = f"{CARD},B223456789,{NAME},0640101,M,0"
        assert "does not match" in nhi_ticket(client, sites, basic=wrong_id)
        open_login(client, sites)
        random = call(client, sites, "GetNHIRandom").text
        garbled = call(
            client, sites, "GetApTicketNHI",
            basic=BASIC, version=VERSION, random=random,
            sign=sign_h_sign(sites.ctx.keys.sam_private_key, CARD, VERSION + random),
            password="00" * 16, ApID="CrossHRD", loginType="3",
        ).text  # fmt: skip
        assert "time zone" in garbled


def test_malformed_and_foreign_requests(sites: Sites) -> None:
    with sites.client() as client:
        url = f"{sites.ecpa_url}/Home/GetUID"
        assert client.post(url, data={"account": ACCOUNT}).status_code == 400  # no XHR header
        as_json = client.post(url, json={"account": ACCOUNT}, headers=XHR)
        assert as_json.status_code == 400  # not form-urlencoded
        foreign = client.post(
            url, data={"account": ACCOUNT}, headers={**XHR, "Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert client.get(url).status_code == 405
        open_login(client, sites)
        assert "malformed" in call(client, sites, "GetApTicketNHI", basic="x").text
        assert "No such account" in call(client, sites, "GetUID", account="nobody").text
