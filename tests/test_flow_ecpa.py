"""Unit tests of the eCPA login flow: a scripted eCPA (httpx.MockTransport) and a scripted
card agent. They fix the exact call chain, that a refused password is sent once, how each
refusal maps to an exit code, and what the flow does with answers the sandbox never gives
(a ticket for another site, non-JSON answers, a page without the name)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.agent.base import AgentSelection, BasicData
from nhicard.errors import AuthRefused, NhicardError, NotAvailable, SiteChanged, SiteRejected
from nhicard.flows.base import FlowSettings, open_flow
from nhicard.flows.ecpa import EcpaLoginResult, ecpa_login, origin_of, refusal_error
from nhicard.i18n import T
from nhicard.web.profile import SiteProfile, resolve_profile
from tests.test_profiles import write_sandbox

ECPA = "https://127.0.0.1:18441"
ELEARN = "https://127.0.0.1:18442"
PASSWORD = "Pw-246810"
RANDOM = "1234567890123456"

LOGIN_PAGE = """<!DOCTYPE html><html><head><title>人事服務網 eCPA - 登入</title></head><body>
<form method="post" action="/webform/clogin.aspx" id="form1">
<input type="hidden" name="__VIEWSTATE" value="x">
<input type="hidden" name="hidReturnUrl" id="hidReturnUrl" value="{ret}">
<div id="loginMessage">{message}</div>
<section id="colAccount"><h2>帳號</h2><input type="password" name="txtPassword">
<button type="submit" name="btnAccountLogin" value="登入">登入</button></section>
<section id="colNhiCard"><h2>健保卡 <span>NHI Card</span></h2>
<label for="nhiPassword">密碼:</label><input type="password" name="nhiPassword" id="nhiPassword">
<button type="submit" name="btnNhiLogin" id="btnNhiLogin" value="登入">登入</button></section>
</form></body></html>"""
HOME_PAGE = '<html><body><p><span id="lblUserName">王小明</span> 您好</p></body></html>'
ELEARN_PAGE = (
    '<html><body><p id="loginState">已登入:<span id="userName">王小明</span></p></body></html>'
)


class FakeAgent:
    """A scripted card agent recording its calls."""

    selection = AgentSelection("direct", T("測試", "test"))

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_version(self) -> str:
        self.calls.append("GetVersion")
        return "0001"

    def get_random(self) -> str:
        self.calls.append("GetRandom")
        return "0" * 16

    def get_basic(self) -> BasicData:
        self.calls.append("GetBasic")
        return BasicData("000012345678", "A123456789", "王小明", "0640101", "M", "0")

    def h_sign(self, version_plus_random: str) -> str:
        self.calls.append(f"H_Sign?Random={version_plus_random}")
        return "AB" * 128

    def encrypt_password(self, pwd: str) -> str:
        self.calls.append("EnCrypt")
        return "0123456789ABCDEF" * 2

    def secure_get_basic(self, pwd: str) -> str:
        raise AssertionError("not used")

    def close(self) -> None:
        self.calls.append("close")

    def __enter__(self) -> FakeAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeEcpa:
    """eCPA and e-learning as a MockTransport handler; replies can be replaced per test."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.login_page = LOGIN_PAGE.format(ret="", message="")
        self.challenge: Any = {"result": "0000", "random": RANDOM}
        self.login_reply: Any = {
            "result": "0000", "name": "王小明", "next": "/webform/home.aspx", "returnUrl": None,
        }  # fmt: skip
        self.ticket: Any = None
        self.home = HOME_PAGE
        self.relying_party: tuple[int, str] = (200, ELEARN_PAGE)
        self.echo_return = True  # the login page keeps a registered returnUrl

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        html = {"content-type": "text/html; charset=utf-8"}
        if request.method == "GET" and path == "/webform/clogin.aspx":
            kept = request.url.params.get("returnUrl", "") if self.echo_return else ""
            page = self.login_page.replace(
                'id="hidReturnUrl" value=""', f'id="hidReturnUrl" value="{kept}"'
            )
            return httpx.Response(200, text=page, headers=html)
        if path == "/webform/api/GetNHIChallenge":
            return self.json(self.challenge)
        if path == "/webform/api/NHICardLogin":
            return self.json(self.login_reply)
        if path == "/webform/api/GetApTicket":
            return self.json(self.ticket)
        if path == "/webform/home.aspx":
            return httpx.Response(200, text=self.home, headers=html)
        if request.url.port == 18442 and path == "/sso_verify.php":
            status, text = self.relying_party
            return httpx.Response(status, text=text, headers=html)
        return httpx.Response(404, text="not found")

    @staticmethod
    def json(value: Any) -> httpx.Response:
        if isinstance(value, str):
            return httpx.Response(200, text=value, headers={"content-type": "text/html"})
        return httpx.Response(200, json=value)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def body(self, path: str) -> Any:
        (found,) = [r for r in self.requests if r.url.path == path]
        return json.loads(found.content)


@pytest.fixture
def profile(tmp_path: Path) -> SiteProfile:
    return resolve_profile("sandbox", sandbox_dir=write_sandbox(tmp_path / "sb"))


Runner = Callable[..., EcpaLoginResult]


@pytest.fixture
def site() -> FakeEcpa:
    return FakeEcpa()


@pytest.fixture
def agent() -> FakeAgent:
    return FakeAgent()


@pytest.fixture
def login(profile: SiteProfile, site: FakeEcpa, agent: FakeAgent, tmp_path: Path) -> Runner:
    def run(password: str = PASSWORD, return_url: str | None = None) -> EcpaLoginResult:
        flow = FlowSettings(
            transport=httpx.MockTransport(site),
            agent_factory=lambda s, p: agent,  # type: ignore[arg-type,return-value]
            state_dir=tmp_path / "state",
            sleep=lambda s: None,
        )
        with open_flow(flow, profile=profile) as env:
            return ecpa_login(env, password, return_url)

    return run


def test_chain_in_order_with_the_agents_values(
    login: Runner, site: FakeEcpa, agent: FakeAgent
) -> None:
    result = login()
    assert result.to_dict() == {
        "status": "logged-in",
        "name": "王小明",
        "url": f"{ECPA}/webform/home.aspx",
    }
    assert site.paths() == [
        "GET /webform/clogin.aspx",
        "POST /webform/api/GetNHIChallenge",
        "POST /webform/api/NHICardLogin",
        "GET /webform/home.aspx",
    ]
    assert agent.calls == ["GetBasic", "GetVersion", f"H_Sign?Random=0001{RANDOM}", "EnCrypt",
                           "close"]  # fmt: skip
    assert site.body("/webform/api/NHICardLogin") == {
        "basic": "000012345678,A123456789,王小明,0640101,M,0",
        "version": "0001",
        "random": RANDOM,
        "sign": "AB" * 128,
        "password": "0123456789ABCDEF" * 2,
        "returnUrl": "",
    }
    api = [r for r in site.requests if "/api/" in r.url.path]
    assert {r.headers["origin"] for r in api} == {ECPA}
    assert all(PASSWORD.encode() not in r.content for r in site.requests)


def test_wrong_password_is_sent_once(login: Runner, site: FakeEcpa) -> None:
    site.login_reply = {
        "result": "1006", "reason": "wrong-password", "attempts_left": 2,
        "message_zh": "健保卡密碼錯誤,您還可以再嘗試 2 次", "message_en": "Wrong password; 2 left",
    }  # fmt: skip
    with pytest.raises(AuthRefused) as err:
        login()
    assert err.value.exit_code == 9 and err.value.reason == "wrong-password"
    assert err.value.data["attempts_left"] == 2
    assert "2 left" in err.value.message.en and "再嘗試 2 次" in err.value.message.zh
    assert err.value.hint is not None and "never retries" in err.value.hint.en
    assert site.paths().count("POST /webform/api/NHICardLogin") == 1
    assert site.paths()[-1] == "POST /webform/api/NHICardLogin"


def test_locked_says_until_when(login: Runner, site: FakeEcpa) -> None:
    site.login_reply = {
        "result": "1007", "reason": "locked", "attempts_left": 0,
        "locked_until": "2025-03-01T10:10:00+08:00",
        "message_zh": "已鎖定至 2025-03-01 10:10:00", "message_en": "locked until 2025-03-01 10:10:00",
    }  # fmt: skip
    with pytest.raises(AuthRefused) as err:
        login()
    assert err.value.reason == "locked"
    assert err.value.data["locked_until"] == "2025-03-01T10:10:00+08:00"
    assert "locked until 2025-03-01 10:10:00" in err.value.message.en


@pytest.mark.parametrize(
    ("reply", "kind", "reason"),
    [
        ({"result": "1008", "reason": "revoked", "message": "失效 / revoked"}, AuthRefused,
         "revoked"),
        ({"result": "1003", "reason": "bad-signature", "message": "驗簽失敗 / bad"}, AuthRefused,
         "bad-signature"),
        ({"result": "1009", "reason": "card-mismatch", "message": "不符 / mismatch"}, AuthRefused,
         "card-mismatch"),
        ({"result": "1005", "reason": "undecryptable-password", "message": "日期 / date"},
         AuthRefused, "undecryptable-password"),
        ({"result": "1004", "reason": "not-registered", "message": "未註冊 / not registered"},
         SiteRejected, "not-registered"),
        ({"result": "1002", "reason": "bad-challenge", "message": "逾時 / expired"}, SiteRejected,
         "bad-challenge"),
        # the real site's refusals may carry only a message: the profile's markers decide
        ({"result": "E1", "message": "密碼錯誤"}, AuthRefused, "wrong-password"),
        ({"result": "E2", "message": "系統忙碌"}, SiteRejected, "site-message"),
    ],
)  # fmt: skip
def test_refusals_map_to_exit_codes(
    login: Runner, site: FakeEcpa, reply: dict[str, Any], kind: type, reason: str
) -> None:
    site.login_reply = reply
    with pytest.raises(kind) as err:
        login()
    assert err.value.reason == reason
    assert err.value.exit_code == (9 if kind is AuthRefused else 8)


def test_clock_hint_for_an_undecryptable_password(login: Runner, site: FakeEcpa) -> None:
    site.login_reply = {"result": "1005", "reason": "undecryptable-password", "message": "x / y"}
    with pytest.raises(AuthRefused) as err:
        login()
    assert err.value.hint is not None and "env check" in err.value.hint.en


def test_challenge_not_json_is_a_site_change_with_the_page_saved(
    login: Runner, site: FakeEcpa
) -> None:
    site.challenge = "<html><body>Runtime Error</body></html>"
    with pytest.raises(SiteChanged) as err:
        login()
    assert err.value.exit_code == 11
    assert err.value.saved_page and Path(err.value.saved_page).is_file()


def test_bad_random_is_a_site_change(login: Runner, site: FakeEcpa, agent: FakeAgent) -> None:
    site.challenge = {"result": "0000", "random": "12ab"}
    with pytest.raises(SiteChanged):
        login()
    assert agent.calls == []  # the card is not touched


def test_home_without_the_name_is_a_site_change(login: Runner, site: FakeEcpa) -> None:
    site.home = "<html><body><p>您好</p></body></html>"
    with pytest.raises(SiteChanged) as err:
        login()
    assert "lblUserName" in err.value.message.en


def test_login_page_without_the_nhi_column(login: Runner, site: FakeEcpa) -> None:
    site.login_page = site.login_page.replace(
        '<section id="colNhiCard"><h2>健保卡 <span>NHI Card</span></h2>',
        '<p>健保卡登入暫停</p><section id="colOther"><h2>其他</h2>',
    )
    with pytest.raises(SiteChanged):
        login()
    assert site.paths() == ["GET /webform/clogin.aspx"]


def sso_ready(site: FakeEcpa, action: str = f"{ELEARN}/sso_verify.php") -> None:
    site.login_reply = dict(site.login_reply, returnUrl=f"{ELEARN}/sso_verify.php")
    site.ticket = {"result": "0000", "action": action, "APReqEncodedData": "v1.token.sig"}


def test_single_sign_on_posts_the_ticket_and_reads_the_relying_party(
    login: Runner, site: FakeEcpa
) -> None:
    sso_ready(site)
    result = login(return_url=f"{ELEARN}/sso_verify.php")
    assert result.to_dict() == {
        "status": "logged-in", "name": "王小明", "url": f"{ELEARN}/sso_verify.php",
    }  # fmt: skip
    assert result.relying_party == ELEARN
    assert site.paths()[-2:] == ["POST /webform/api/GetApTicket", "POST /sso_verify.php"]
    assert site.requests[0].url.params["returnUrl"] == f"{ELEARN}/sso_verify.php"
    assert site.requests[-1].content == b"APReqEncodedData=v1.token.sig"
    assert site.body("/webform/api/GetApTicket") == {"returnUrl": f"{ELEARN}/sso_verify.php"}


def test_a_ticket_for_another_site_is_not_posted(login: Runner, site: FakeEcpa) -> None:
    sso_ready(site, action="https://evil.example/steal")
    with pytest.raises(SiteRejected) as err:
        login(return_url=f"{ELEARN}/sso_verify.php")
    assert err.value.reason == "return-url-mismatch"
    assert all(r.url.host != "evil.example" for r in site.requests)


def test_relying_party_refusal_is_exit_9(login: Runner, site: FakeEcpa) -> None:
    sso_ready(site)
    site.relying_party = (
        403,
        '<div id="ssoError" data-reason="expired">單一登入資料已過期 The token expired</div>',
    )
    with pytest.raises(AuthRefused) as err:
        login(return_url=f"{ELEARN}/sso_verify.php")
    assert err.value.reason == "sso-refused" and err.value.data["status"] == 403
    assert "The token expired" in err.value.message.en


def test_return_url_dropped_by_the_login_page_stops_before_the_card(
    login: Runner, site: FakeEcpa, agent: FakeAgent
) -> None:
    site.login_page = LOGIN_PAGE.format(ret="", message="returnUrl 不是已登記的應用系統")
    site.echo_return = False
    with pytest.raises(SiteRejected) as err:
        login(return_url=f"{ELEARN}/other.php")
    assert err.value.reason == "return-url-refused"
    assert "不是已登記的應用系統" in err.value.message.zh
    assert agent.calls == [] and site.paths() == ["GET /webform/clogin.aspx"]


def test_plain_http_return_url_refused_before_any_request(login: Runner, site: FakeEcpa) -> None:
    with pytest.raises(SiteRejected) as err:
        login(return_url="http://127.0.0.1:18442/sso_verify.php")
    assert err.value.reason == "bad-return-url" and site.requests == []


def test_password_length_checked_first(login: Runner, site: FakeEcpa) -> None:
    with pytest.raises(NhicardError) as err:
        login(password="12345")
    assert err.value.exit_code == 2 and site.requests == []


def test_profile_without_the_chain(tmp_path: Path, site: FakeEcpa) -> None:
    flow = FlowSettings(transport=httpx.MockTransport(site), state_dir=tmp_path)
    with (
        pytest.raises(NotAvailable) as err,
        open_flow(flow, profile=resolve_profile("real")) as env,
    ):
        ecpa_login(env, PASSWORD)
    assert err.value.reason == "ecpa-chain-unknown" and site.requests == []


# -- properties -------------------------------------------------------------------------------
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
KEYS = st.sampled_from(
    ["result", "reason", "message", "message_zh", "message_en", "attempts_left", "locked_until"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS | st.text(max_size=6), JSONISH, max_size=7))
def test_any_refusal_reply_becomes_exit_8_or_9(reply: dict[str, Any]) -> None:
    profile = resolve_profile("real")
    error = refusal_error(reply, profile.ecpa, "login")
    assert isinstance(error, (AuthRefused, SiteRejected))
    assert error.exit_code in (8, 9)
    assert error.message.zh and error.message.en


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_origin_of_never_raises(text: str) -> None:
    origin = origin_of(text)
    assert origin == "" or "://" in origin
