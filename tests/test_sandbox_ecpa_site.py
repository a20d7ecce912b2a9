"""The sandbox eCPA and its e-learning relying party, served by uvicorn over real HTTPS.

The card side of the login is played as the sandbox SAM and the card agent would: H_Sign is
the SAM key's signature, the password is EnCrypt'ed with the card number and the Taipei date.
"""

from __future__ import annotations

import asyncio
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

from nhicard.agent.encrypt import encrypt_password
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


def challenge(client: httpx.Client, sites: Sites) -> str:
    reply = client.post(f"{sites.ecpa_url}/webform/api/GetNHIChallenge", json={}).json()
    assert reply["result"] == "0000" and len(reply["random"]) == 16 and reply["random"].isdigit()
    return str(reply["random"])


def nhi_login(
    client: httpx.Client,
    sites: Sites,
    password: str = PASSWORD,
    *,
    return_url: str | None = None,
    card: str = CARD,
    basic: str = BASIC,
) -> dict[str, Any]:
    """The NHI-card column's chain, as the page script runs it."""
    page = client.get(f"{sites.ecpa_url}/webform/clogin.aspx")
    assert page.status_code == 200
    random = challenge(client, sites)
    body = {
        "basic": basic,
        "version": VERSION,
        "random": random,
        "sign": sign_h_sign(sites.ctx.keys.sam_private_key, card, VERSION + random),
        "password": encrypt_password(card, password, sites.clock.taipei_date),
        "returnUrl": return_url,
    }
    reply = client.post(f"{sites.ecpa_url}/webform/api/NHICardLogin", json=body)
    assert reply.status_code == 200
    result: dict[str, Any] = reply.json()
    return result


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def test_login_page_has_the_four_columns(sites: Sites) -> None:
    with sites.client() as client:
        page = client.get(f"{sites.ecpa_url}/webform/clogin.aspx?returnUrl={quote(sites.sso_url)}")
    assert page.status_code == 200
    assert "ECPA_SessionId" in page.cookies
    html = soup(page)
    for column, title in (
        ("colAccount", "帳號"),
        ("colCitizenCert", "自然人憑證"),
        ("colAgencyCert", "機關憑證"),
        ("colNhiCard", "健保卡"),
    ):
        assert title in html.select_one(f"#{column} h2").get_text()
    assert html.select_one("#pinCode")["type"] == "password"
    assert html.select_one("#nhiPassword")["maxlength"] == "12"
    assert html.select_one("#hidReturnUrl")["value"] == sites.sso_url
    assert html.select_one("#form1")["data-agent-url"] == sites.ctx.settings.agent_url
    with sites.client() as client:
        script = client.get(f"{sites.ecpa_url}/webform/js/ecpa_login.js")
    assert script.status_code == 200 and "NHICardLogin" in script.text


def test_old_address_and_root_lead_to_login(sites: Sites) -> None:
    with sites.client() as client:
        for path in ("/", "/uIAM/clogin.asp?destid=CrossHRD"):
            reply = client.get(sites.ecpa_url + path)
            assert reply.status_code == 302
            assert reply.headers["location"] == "/webform/clogin.aspx"


def test_happy_path_lands_on_home_with_name(sites: Sites) -> None:
    with sites.client() as client:
        before = client.get(f"{sites.ecpa_url}/webform/home.aspx")
        assert before.status_code == 302
        old_sid = client.cookies.get("ECPA_SessionId")
        reply = nhi_login(client, sites)
        assert reply == {
            "result": "0000",
            "name": NAME,
            "next": "/webform/home.aspx",
            "returnUrl": None,
        }
        assert client.cookies.get("ECPA_SessionId") != old_sid  # renewed at login
        home = client.get(sites.ecpa_url + reply["next"])
        assert home.status_code == 200
        assert soup(home).select_one("#lblUserName").get_text() == NAME
        assert f"{NAME} 您好" in soup(home).select_one("#welcome").get_text()
        client.get(f"{sites.ecpa_url}/webform/logout.aspx")
        assert client.get(f"{sites.ecpa_url}/webform/home.aspx").status_code == 302


def test_wrong_password_counts_down_then_locks(sites: Sites) -> None:
    with sites.client() as client:
        first = nhi_login(client, sites, "Wrong123")
        assert (first["result"], first["reason"], first["attempts_left"]) == (
            "1006",
            "wrong-password",
            2,
        )
        assert "2" in first["message_zh"] and "2 attempt(s) left" in first["message_en"]
        second = nhi_login(client, sites, "Wrong123")
        assert second["attempts_left"] == 1
        third = nhi_login(client, sites, "Wrong123")
        assert (third["result"], third["reason"], third["attempts_left"]) == ("1007", "locked", 0)
        until = datetime.fromisoformat(third["locked_until"])
        assert until == sites.clock.now + timedelta(minutes=10)
        assert until.utcoffset() == timedelta(hours=8)
        assert until.strftime("%Y-%m-%d %H:%M:%S") in third["message_zh"]
        # the right password does not open a locked card
        locked = nhi_login(client, sites)
        assert locked["result"] == "1007"
        sites.clock.advance(minutes=10, seconds=1)
        assert nhi_login(client, sites)["result"] == "0000"


def test_three_locks_revoke(sites: Sites) -> None:
    with sites.client() as client:
        for _ in range(2):
            for _ in range(3):
                nhi_login(client, sites, "Wrong123")
            sites.clock.advance(minutes=11)
        results = [nhi_login(client, sites, "Wrong123")["result"] for _ in range(3)]
        assert results == ["1006", "1006", "1008"]
        revoked = nhi_login(client, sites)
        assert (revoked["result"], revoked["reason"]) == ("1008", "revoked")
        assert "register again" in revoked["message_en"]


def test_sso_to_relying_party_and_replay_refused(sites: Sites) -> None:
    with sites.client() as client:
        start = client.get(sites.elearn_url + "/")
        assert soup(start).select_one("#loginState")["data-state"] == "anonymous"
        login_link = soup(start).select_one("#lnkEcpaLogin")["href"]
        assert login_link == (
            f"{sites.ecpa_url}/webform/clogin.aspx?returnUrl={quote(sites.sso_url, safe='')}"
        )
        reply = nhi_login(client, sites, return_url=sites.sso_url)
        assert reply["result"] == "0000" and reply["returnUrl"] == sites.sso_url
        ticket = client.post(
            f"{sites.ecpa_url}/webform/api/GetApTicket", json={"returnUrl": reply["returnUrl"]}
        ).json()
        assert ticket["result"] == "0000" and ticket["action"] == sites.sso_url
        token = ticket["APReqEncodedData"]
        landed = client.post(ticket["action"], data={"APReqEncodedData": token})
        assert landed.status_code == 200
        state = soup(landed).select_one("#loginState")
        assert state["data-state"] == "logged-in"
        assert soup(landed).select_one("#userName").get_text() == NAME
        assert f"Logged in as {NAME}" in state.get_text()
        assert "ELEARN_PHPSESSID" in landed.cookies
        again = client.get(sites.elearn_url + "/")
        assert soup(again).select_one("#loginState")["data-state"] == "logged-in"
    with sites.client() as thief:
        replay = thief.post(sites.sso_url, data={"APReqEncodedData": token})
        assert replay.status_code == 403
        assert soup(replay).select_one("#ssoError")["data-reason"] == "replayed"
        assert soup(replay).select_one("#loginState")["data-state"] == "anonymous"


def test_relying_party_refuses_missing_forged_and_expired_tokens(sites: Sites) -> None:
    with sites.client() as client:
        missing = client.get(sites.sso_url)
        assert missing.status_code == 400
        assert soup(missing).select_one("#ssoError")["data-reason"] == "missing"
        forged = client.post(sites.sso_url, data={"APReqEncodedData": "v1.e30.AAAA"})
        assert soup(forged).select_one("#ssoError")["data-reason"] == "bad-signature"
        nhi_login(client, sites)
        ticket = client.post(
            f"{sites.ecpa_url}/webform/api/GetApTicket", json={"returnUrl": sites.sso_url}
        ).json()
        sites.clock.advance(minutes=3)
        late = client.post(sites.sso_url, data={"APReqEncodedData": ticket["APReqEncodedData"]})
        assert late.status_code == 403
        assert soup(late).select_one("#ssoError")["data-reason"] == "expired"


def test_signed_in_visitor_is_posted_straight_on(sites: Sites) -> None:
    with sites.client() as client:
        assert nhi_login(client, sites)["result"] == "0000"
        page = client.get(
            f"{sites.ecpa_url}/webform/clogin.aspx", params={"returnUrl": sites.sso_url}
        )
        form = soup(page).select_one("#ssoForm")
        assert form["action"] == sites.sso_url
        token = form.select_one("input[name=APReqEncodedData]")["value"]
        landed = client.post(sites.sso_url, data={"APReqEncodedData": token})
        assert soup(landed).select_one("#userName").get_text() == NAME


def test_unregistered_return_url_is_not_served(sites: Sites) -> None:
    evil = "https://evil.example/sso_verify.php"
    with sites.client() as client:
        page = client.get(f"{sites.ecpa_url}/webform/clogin.aspx", params={"returnUrl": evil})
        assert soup(page).select_one("#hidReturnUrl")["value"] == ""
        assert "not a registered application" in soup(page).select_one("#loginMessage").text
        reply = nhi_login(client, sites, return_url=evil)
        assert reply["result"] == "0000" and reply["returnUrl"] is None
        ticket = client.post(
            f"{sites.ecpa_url}/webform/api/GetApTicket", json={"returnUrl": evil}
        ).json()
        assert (ticket["result"], ticket["reason"]) == ("1010", "return-url-not-allowed")


def test_ticket_needs_a_signed_in_session(sites: Sites) -> None:
    with sites.client() as client:
        reply = client.post(
            f"{sites.ecpa_url}/webform/api/GetApTicket", json={"returnUrl": sites.sso_url}
        ).json()
    assert (reply["result"], reply["reason"]) == ("9902", "not-signed-in")


def test_challenge_is_single_use_and_bound_to_the_session(sites: Sites) -> None:
    with sites.client() as client:
        client.get(f"{sites.ecpa_url}/webform/clogin.aspx")
        random = challenge(client, sites)
        body = {
            "basic": BASIC,
            "version": VERSION,
            "random": random,
            "sign": sign_h_sign(sites.ctx.keys.sam_private_key, CARD, VERSION + random),
            "password": encrypt_password(CARD, PASSWORD, sites.clock.taipei_date),
        }
        with sites.client() as other:
            stolen = other.post(f"{sites.ecpa_url}/webform/api/NHICardLogin", json=body).json()
            assert stolen["result"] == "1002"
        url = f"{sites.ecpa_url}/webform/api/NHICardLogin"
        assert client.post(url, json=body).json()["result"] == "0000"
        replay = client.post(url, json=body).json()
        assert (replay["result"], replay["reason"]) == ("1002", "bad-challenge")
        random = challenge(client, sites)
        sites.clock.advance(minutes=5, seconds=1)
        body["random"] = random
        body["sign"] = sign_h_sign(sites.ctx.keys.sam_private_key, CARD, VERSION + random)
        body["password"] = encrypt_password(CARD, PASSWORD, sites.clock.taipei_date)
        assert client.post(url, json=body).json()["result"] == "1002"


def test_signature_card_and_password_checks(sites: Sites) -> None:
    with sites.client() as client:
        client.get(f"{sites.ecpa_url}/webform/clogin.aspx")
        url = f"{sites.ecpa_url}/webform/api/NHICardLogin"

        def attempt(**change: str) -> dict[str, Any]:
            random = challenge(client, sites)
            body = {
                "basic": BASIC,
                "version": VERSION,
                "random": random,
                "sign": sign_h_sign(sites.ctx.keys.sam_private_key, CARD, VERSION + random),
                "password": encrypt_password(CARD, PASSWORD, sites.clock.taipei_date),
            }
            body.update(change)
            return dict(client.post(url, json=body).json())

        assert attempt(sign="0" * 256)["reason"] == "bad-signature"
        # signed for another card than the one presented
        other = "000023456789"
        assert attempt(basic=f"{other},F126112341,林峯,0770315,M,0")["reason"] == "bad-signature"
        random = challenge(client, sites)
        unregistered = client.post(
            url,
            json={
                "basic": f"{other},F126112341,林峯,0770315,M,0",
                "version": VERSION,
                "random": random,
                "sign": sign_h_sign(sites.ctx.keys.sam_private_key, other, VERSION + random),
                "password": encrypt_password(other, PASSWORD, sites.clock.taipei_date),
            },
        ).json()
        assert (unregistered["result"], unregistered["reason"]) == ("1004", "not-registered")
        mismatch = attempt(basic=f"{CARD},B123456780,{NAME},0640101,M,0")
        assert (mismatch["result"], mismatch["reason"]) == ("1009", "card-mismatch")
        yesterday = sites.clock.taipei_date - timedelta(days=1)
        stale = attempt(
            password=encrypt_password(CARD, PASSWORD, yesterday, rng=lambda n: b"\0" * n)
        )
        assert stale["result"] in ("1005", "1006")  # the computer's date decides the key
        assert stale["result"] == "1005" or stale["attempts_left"] == 2
        assert attempt()["result"] == "0000"


def test_malformed_and_foreign_requests(sites: Sites) -> None:
    with sites.client() as client:
        url = f"{sites.ecpa_url}/webform/api/NHICardLogin"
        not_json = client.post(url, content=b"{nope", headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and not_json.json()["result"] == "1001"
        short = client.post(url, json={"basic": "1,2", "version": "1", "random": "2"})
        assert short.json()["reason"] == "bad-request"
        foreign = client.post(url, json={}, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and foreign.json()["reason"] == "foreign-origin"


@pytest.mark.parametrize("method", ["account", "citizen", "agency"])
def test_other_columns_are_not_offered(sites: Sites, method: str) -> None:
    with sites.client() as client:
        reply = client.post(f"{sites.ecpa_url}/webform/api/GetUID", json={"method": method})
    body = reply.json()
    assert (body["result"], body["reason"], body["method"]) == ("9901", "not-available", method)
    assert (
        body["message"]
        == "沙盒不提供此登入方式。 / This login method is not available in the sandbox."
    )


def page_state(page: httpx.Response) -> dict[str, str]:
    html = soup(page)
    return {
        str(i["name"]): str(i.get("value", "")) for i in html.select("#form1 input[type=hidden]")
    }


def test_postback_without_script_answers_with_a_message(sites: Sites) -> None:
    url = f"{sites.ecpa_url}/webform/clogin.aspx"
    with sites.client() as client:
        state = page_state(client.get(url))
        assert set(state) >= {
            "__EVENTTARGET",
            "__EVENTARGUMENT",
            "__VIEWSTATE",
            "__VIEWSTATEGENERATOR",
            "__EVENTVALIDATION",
        }
        page = client.post(
            url,
            data={**state, "txtAccount": "someone", "txtPassword": "x", "btnAccountLogin": "登入"},
        )
        assert page.status_code == 200
        assert "沙盒不提供此登入方式" in soup(page).select_one("#loginMessage").text
        nhi = client.post(url, data={**page_state(page), "btnNhiLogin": "登入"})
        assert "JavaScript" in soup(nhi).select_one("#loginMessage").text


def test_postback_with_forged_or_foreign_state_is_refused(sites: Sites) -> None:
    url = f"{sites.ecpa_url}/webform/clogin.aspx"
    with sites.client() as client, sites.client() as other:
        state = page_state(client.get(url))
        other.get(url)
        foreign = other.post(url, data={**state, "btnAccountLogin": "登入"})
        assert foreign.status_code == 500
        assert "Validation of viewstate MAC failed." in foreign.text
        bad_value = client.post(url, data={**state, "btnAgencyLogin": "Go"})
        assert bad_value.status_code == 500
        assert "Invalid postback or callback argument." in bad_value.text
        tampered = {**state, "__VIEWSTATE": state["__VIEWSTATE"][:-4] + "AAA="}
        assert client.post(url, data={**tampered, "btnAccountLogin": "登入"}).status_code == 500
