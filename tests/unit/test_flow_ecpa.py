"""Unit tests of the eCPA login flow: a scripted eCPA (httpx.MockTransport) and a scripted
card agent. They fix the exact call chain of both columns as the sandbox profile describes
it (form-urlencoded, X-Requested-With, plain-text replies), that a refused password is sent
once, how each refusal maps to an exit code, and what the flow does with answers the sandbox
never gives (an HTML page instead of a reply, a page without the name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import AuthRefused, NhicardError, SiteChanged, SiteRejected, UsageError
from nhicard.flows.base import FlowSettings, open_flow
from nhicard.flows.ecpa import EcpaLoginResult, ecpa_login, origin_of, refusal_error
from nhicard.sites.loader import resolve_profile
from nhicard.sites.model import ChainCall, SiteProfile
from tests.support.agents import ScriptedAgent
from tests.support.profiles import write_sandbox

ECPA = "https://127.0.0.1:18441"
ELEARN = "https://127.0.0.1:18442"
PASSWORD = "Pw-246810"
RANDOM = "1234567890123456"
TICKET = "6E8203" + "AB" * 40
ACCOUNT = "ming.wang"

LOGIN_PAGE = """<!DOCTYPE html><html><head><title>人事服務網 eCPA - 登入</title></head><body>
<h1>人事服務網eCPA</h1><form id="form1">
<input type="hidden" name="hidReturnUrl" id="hidReturnUrl" value="{ret}">
<div id="loginMessage">{message}</div>
<section id="colAccount"><h2>帳號</h2><input type="text" name="txtAccount" id="txtAccount">
<input type="password" name="txtPassword" id="txtPassword">
<button type="button" name="btnAccountLogin" value="登入">登入</button></section>
<section id="colNhiCard"><h2>健保卡 <span>NHI Card</span></h2>
<label for="nhiPassword">密碼:</label><input type="password" name="nhiPassword" id="nhiPassword">
<button type="button" name="btnNhiLogin" id="btnNhiLogin" value="登入">登入</button></section>
</form></body></html>"""
HOME_PAGE = '<html><body><p><span id="lblUserName">王小明</span> 您好</p></body></html>'
ELEARN_PAGE = (
    '<html><body><p id="loginState">已登入:<span id="userName">王小明</span></p></body></html>'
)


class FakeEcpa:
    """eCPA and e-learning as a MockTransport handler; replies can be replaced per test."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.login_page = LOGIN_PAGE.format(ret="", message="")
        self.replies: dict[str, tuple[int, str]] = {
            "GetUID": (200, "A123456789"),
            "GetApTicketV2": (200, TICKET),
            "GetNHIRandom": (200, RANDOM),
            "GetApTicketNHI": (200, TICKET),
            "EnterTwoWayLog": (200, "0"),
            "EnterApplicationTwoWay": (200, "0"),
        }
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
        if path.startswith("/Home/"):
            status, text = self.replies[path.removeprefix("/Home/")]
            return httpx.Response(status, text=text, headers=html)
        if path == "/webform/home.aspx":
            return httpx.Response(200, text=self.home, headers=html)
        if request.url.port == 18442 and path == "/sso_verify.php":
            status, text = self.relying_party
            if status == 200:
                return httpx.Response(302, headers={"location": "sso_home.php?ssoid=7"})
            return httpx.Response(status, text=text, headers=html)
        if request.url.port == 18442 and path == "/sso_home.php":
            return httpx.Response(302, headers={"location": "/mooc/index.php"})
        if request.url.port == 18442 and path == "/mooc/index.php":
            return httpx.Response(200, text=self.relying_party[1], headers=html)
        return httpx.Response(404, text="not found")

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def form(self, path: str) -> list[tuple[str, str]]:
        (found,) = [r for r in self.requests if r.url.path == path]
        from urllib.parse import parse_qsl

        return parse_qsl(found.content.decode("ascii"), keep_blank_values=True)

    def request(self, path: str) -> httpx.Request:
        (found,) = [r for r in self.requests if r.url.path == path]
        return found


@pytest.fixture
def profile(tmp_path: Path) -> SiteProfile:
    return resolve_profile("sandbox", sandbox_dir=write_sandbox(tmp_path / "sb"))


Runner = Callable[..., EcpaLoginResult]


@pytest.fixture
def site() -> FakeEcpa:
    return FakeEcpa()


@pytest.fixture
def agent() -> ScriptedAgent:
    return ScriptedAgent()


def make_runner(
    profile: SiteProfile, site: FakeEcpa, agent: ScriptedAgent, tmp_path: Path
) -> Runner:
    def run(
        password: str = PASSWORD, return_url: str | None = None, account: str | None = None
    ) -> EcpaLoginResult:
        flow = FlowSettings(
            transport=httpx.MockTransport(site),
            agent_factory=lambda s, p: agent,  # type: ignore[arg-type,return-value]
            state_dir=tmp_path / "state",
            sleep=lambda s: None,
        )
        with open_flow(flow, profile=profile) as env:
            return ecpa_login(env, password, return_url, account=account)

    return run


@pytest.fixture
def login(profile: SiteProfile, site: FakeEcpa, agent: ScriptedAgent, tmp_path: Path) -> Runner:
    return make_runner(profile, site, agent, tmp_path)


BASIC = "000012345678,A123456789,王小明,0640101,M,0"


def test_nhi_chain_in_order_with_the_agents_values(
    login: Runner, site: FakeEcpa, agent: ScriptedAgent
) -> None:
    result = login()
    assert result == EcpaLoginResult(name="王小明", url=f"{ECPA}/webform/home.aspx")
    assert site.paths() == [
        "GET /webform/clogin.aspx",
        "POST /Home/GetNHIRandom",
        "POST /Home/GetApTicketNHI",
        "POST /Home/EnterTwoWayLog",
        "POST /Home/EnterApplicationTwoWay",
        "GET /webform/home.aspx",
    ]
    assert agent.calls == [
        "GetBasic", "GetVersion", f"H_Sign?Random=0001{RANDOM}", "EnCrypt", "close",
    ]  # fmt: skip
    assert site.form("/Home/GetApTicketNHI") == [
        ("basic", BASIC), ("version", "0001"), ("random", RANDOM), ("sign", "AB" * 128),
        ("password", "0123456789ABCDEF" * 2), ("ApID", "CrossHRD"), ("loginType", "3"),
    ]  # fmt: skip
    assert site.form("/Home/EnterTwoWayLog") == [
        ("account", "A123456789"), ("loginType", "3"), ("sn", "000012345678"), ("ticket", ""),
        ("appId", "CrossHRD"),
    ]  # fmt: skip
    call = site.request("/Home/GetNHIRandom")
    assert call.headers["x-requested-with"] == "XMLHttpRequest"
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert call.headers["origin"] == ECPA


def test_account_chain_exactly_as_recorded_and_no_card(
    login: Runner, site: FakeEcpa, agent: ScriptedAgent
) -> None:
    result = login(password="Ecpa-135790", account=ACCOUNT)
    assert result.name == "王小明"
    assert site.paths() == [
        "GET /webform/clogin.aspx",
        "POST /Home/GetUID",
        "POST /Home/GetApTicketV2",
        "POST /Home/EnterTwoWayLog",
        "POST /Home/EnterApplicationTwoWay",
        "GET /webform/home.aspx",
    ]
    assert site.form("/Home/GetUID") == [("account", ACCOUNT)]
    assert site.form("/Home/GetApTicketV2") == [
        ("account", ACCOUNT), ("password", "Ecpa-135790"), ("ApID", "CrossHRD"),
    ]  # fmt: skip
    assert site.form("/Home/EnterTwoWayLog") == [
        ("account", ACCOUNT), ("loginType", "0"), ("sn", ""), ("ticket", ""),
        ("appId", "CrossHRD"),
    ]  # fmt: skip
    assert site.form("/Home/EnterApplicationTwoWay") == [("appId", "CrossHRD")]
    assert agent.calls == []  # the card is never touched


def test_account_password_of_any_length_but_not_empty(login: Runner) -> None:
    assert login(password="abc", account=ACCOUNT).name == "王小明"
    with pytest.raises(UsageError):
        login(password="", account=ACCOUNT)


def test_wrong_password_is_sent_once(login: Runner, site: FakeEcpa) -> None:
    site.replies["GetApTicketNHI"] = (
        200,
        "健保卡密碼錯誤,您還可以再嘗試 2 次;連續錯誤 3 次將鎖定 10 分鐘。 / Wrong NHI card "
        "password; 2 attempt(s) left.",
    )
    with pytest.raises(AuthRefused) as caught:
        login()
    assert exit_code_for(caught.value) == 9
    assert caught.value.reason == "wrong-password"
    assert caught.value.data["attempts_left"] == 2
    assert "2 attempt(s) left" in caught.value.message.en
    assert "您還可以再嘗試 2 次" in caught.value.message.zh
    assert caught.value.hint is not None and "never retries" in caught.value.hint.en
    assert site.paths().count("POST /Home/GetApTicketNHI") == 1
    assert "POST /Home/EnterTwoWayLog" not in site.paths()


@pytest.mark.parametrize("reply", ["", "0", " 0\r\n"])
def test_get_ap_ticket_v2_empty_or_0_is_a_refused_password_exit_9_never_retried(
    login: Runner, site: FakeEcpa, reply: str
) -> None:
    """As recorded, a wrong password makes GetApTicketV2 answer an empty body or ``0``."""
    site.replies["GetApTicketV2"] = (200, reply)
    with pytest.raises(AuthRefused) as caught:
        login(account=ACCOUNT)
    assert exit_code_for(caught.value) == 9
    assert caught.value.reason == "wrong-password"
    assert caught.value.data == {"step": "GetApTicketV2", "reply": reply.strip()}
    assert "wrong password, or the login is locked" in caught.value.message.en
    assert "密碼錯誤或登入已鎖定" in caught.value.message.zh
    said = ("an empty body", "空白") if not reply.strip() else ("'0'", "「0」")
    assert f"(the site answered {said[0]})" in caught.value.message.en
    assert f"(網站的回應為{said[1]})" in caught.value.message.zh
    hint = caught.value.hint
    assert hint is not None and "never retries" in hint.en and "10 minutes" in hint.en
    assert "不會自動重試" in hint.zh
    assert site.paths().count("POST /Home/GetApTicketV2") == 1
    assert "POST /Home/EnterTwoWayLog" not in site.paths()
    assert PASSWORD not in str(caught.value.data)


def test_card_password_refusals_state_the_whole_lockout_rule(login: Runner, site: FakeEcpa) -> None:
    site.replies["GetApTicketNHI"] = (200, "健保卡密碼錯誤 / Wrong NHI card password")
    with pytest.raises(AuthRefused) as caught:
        login()
    hint = caught.value.hint
    assert hint is not None
    for words in (
        "never retries",
        "Three wrong passwords lock it for 10 minutes",
        "clears the count of wrong passwords but not the count of locks",
        "three locks revoke 「健保卡網路服務報稅資格」",
    ):
        assert words in hint.en
    for words in (
        "不會自動重試",
        "連續輸錯 3 次會鎖定 10 分鐘",
        "不會清除鎖定次數",
        "「健保卡網路服務報稅資格」",
    ):
        assert words in hint.zh
    assert "never" not in hint.zh and "不會" not in hint.en  # each language on its own
    site.replies["GetApTicketNHI"] = (200, "已鎖定至 2026-03-01 10:20:00 / locked")
    with pytest.raises(AuthRefused) as locked:
        login()
    assert locked.value.reason == "locked"
    assert locked.value.hint is not None and "健保卡網路服務報稅資格" in locked.value.hint.en


def test_locked_says_until_when(login: Runner, site: FakeEcpa) -> None:
    site.replies["GetApTicketV2"] = (
        200,
        "密碼錯誤次數過多,已鎖定至 2026-03-01 10:20:00(臺北時間),請稍後再試。 / Too many wrong "
        "passwords: locked until 2026-03-01 10:20:00 (Taipei time).",
    )
    with pytest.raises(AuthRefused) as caught:
        login(account=ACCOUNT)
    assert caught.value.reason == "locked"
    assert caught.value.data["locked_until"] == "2026-03-01 10:20:00"
    assert "2026-03-01 10:20:00" in caught.value.message.en


@pytest.mark.parametrize(
    ("call", "reply", "error", "reason"),
    [
        ("GetApTicketNHI", "健保卡網路服務已因多次鎖定而失效 / revoked", AuthRefused, "revoked"),
        ("GetApTicketNHI", "此健保卡尚未完成健保卡網路服務註冊 / not registered", SiteRejected,
         "not-registered"),
        ("GetUID", "帳號不存在。 / No such account.", AuthRefused, "refused"),
        ("EnterTwoWayLog", "-1", SiteRejected, "site-message"),
        ("GetNHIRandom", "系統忙碌 / busy", SiteRejected, "site-message"),
    ],
)  # fmt: skip
def test_refusals_map_to_exit_codes(
    login: Runner,
    site: FakeEcpa,
    call: str,
    reply: str,
    error: type[NhicardError],
    reason: str,
) -> None:
    site.replies[call] = (200, reply)
    with pytest.raises(error) as caught:
        login(account=ACCOUNT if call == "GetUID" else None)
    assert caught.value.reason == reason
    assert caught.value.data["step"] == call
    assert reply.split(" / ")[0] in caught.value.message.zh


def test_clock_hint_for_an_undecryptable_password(login: Runner, site: FakeEcpa) -> None:
    site.replies["GetApTicketNHI"] = (
        200,
        "無法解開加密的密碼,請確認電腦的日期、時間與時區(臺北時間)正確。 / check the time zone",
    )
    with pytest.raises(AuthRefused) as caught:
        login()
    assert caught.value.hint is not None and "env check" in caught.value.hint.en


@pytest.mark.parametrize(
    "reply",
    [(500, "oops"), (404, "not found"), (200, "<!DOCTYPE html><html><body>error</body></html>")],
)
def test_a_reply_that_is_not_plain_text_is_a_site_change_with_the_page_saved(
    login: Runner, site: FakeEcpa, tmp_path: Path, reply: tuple[int, str]
) -> None:
    site.replies["GetNHIRandom"] = reply
    with pytest.raises((SiteChanged, NhicardError)) as caught:
        login()
    if reply[0] < 500:
        assert isinstance(caught.value, SiteChanged)
        assert caught.value.saved_page and Path(caught.value.saved_page).exists()
    else:
        assert exit_code_for(caught.value) == 7


def test_home_without_the_name_is_a_site_change(login: Runner, site: FakeEcpa) -> None:
    site.home = "<html><body><p>您好</p></body></html>"
    with pytest.raises(SiteChanged):
        login()


def test_login_page_without_the_nhi_column(login: Runner, site: FakeEcpa) -> None:
    site.login_page = (
        LOGIN_PAGE.format(ret="", message="")
        .replace("colNhiCard", "x")
        .replace("<h2>健保卡 <span>NHI Card</span></h2>", "<h2>其他</h2>")
    )
    with pytest.raises(SiteChanged):
        login()
    assert site.paths() == ["GET /webform/clogin.aspx"]


def test_single_sign_on_posts_login_type_and_the_ticket_and_follows_redirects(
    login: Runner, site: FakeEcpa
) -> None:
    result = login(return_url=f"{ELEARN}/sso_verify.php")
    assert result == EcpaLoginResult(
        name="王小明", url=f"{ELEARN}/mooc/index.php", relying_party=ELEARN
    )
    assert site.paths()[-3:] == [
        "POST /sso_verify.php", "GET /sso_home.php", "GET /mooc/index.php",
    ]  # fmt: skip
    assert site.form("/sso_verify.php") == [("loginType", "3"), ("APReqEncodedData", TICKET)]
    assert site.request("/sso_verify.php").headers["origin"] == ECPA


def test_account_single_sign_on_uses_login_type_0(login: Runner, site: FakeEcpa) -> None:
    login(password="Ecpa-135790", return_url=f"{ELEARN}/sso_verify.php", account=ACCOUNT)
    assert site.form("/sso_verify.php") == [("loginType", "0"), ("APReqEncodedData", TICKET)]


def test_relying_party_refusal_is_exit_9(login: Runner, site: FakeEcpa) -> None:
    site.relying_party = (
        403,
        '<html><body><div id="ssoError">單一登入憑證已過期。 The token has expired.</div></body></html>',
    )
    with pytest.raises(AuthRefused) as caught:
        login(return_url=f"{ELEARN}/sso_verify.php")
    assert caught.value.reason == "sso-refused"
    assert "expired" in caught.value.message.en


def test_return_url_dropped_by_the_login_page_stops_before_the_card(
    login: Runner, site: FakeEcpa, agent: ScriptedAgent
) -> None:
    site.echo_return = False
    site.login_page = LOGIN_PAGE.format(ret="", message="returnUrl 不是已登記的應用系統")
    with pytest.raises(SiteRejected) as caught:
        login(return_url="https://127.0.0.1:9/sso_verify.php")
    assert caught.value.reason == "return-url-refused"
    assert agent.calls == [] and site.paths() == ["GET /webform/clogin.aspx"]


def test_plain_http_return_url_refused_before_any_request(login: Runner, site: FakeEcpa) -> None:
    with pytest.raises(SiteRejected):
        login(return_url="http://127.0.0.1:18442/sso_verify.php")
    assert site.requests == []


def test_password_length_checked_first(login: Runner, site: FakeEcpa) -> None:
    with pytest.raises(NhicardError):
        login(password="short")
    assert site.requests == []


def test_real_profile_without_the_nhi_chain_exits_11(tmp_path: Path, site: FakeEcpa) -> None:
    runner = make_runner(resolve_profile("real"), site, ScriptedAgent(), tmp_path)
    with pytest.raises(SiteChanged) as caught:
        runner()
    assert exit_code_for(caught.value) == 11
    assert caught.value.reason == "ecpa-chain-unknown"
    assert "not public" in caught.value.message.en
    assert site.requests == []


CALL = ChainCall(name="GetApTicketV2", url=f"{ECPA}/Home/GetApTicketV2", fields=(), ok="0")


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_any_refusal_reply_becomes_exit_8_or_9(reply: str) -> None:
    profile = resolve_profile("real")
    error = refusal_error(reply, profile.ecpa, CALL)
    assert exit_code_for(error) in (8, 9)
    assert isinstance(error.message.zh, str) and isinstance(error.message.en, str)


@given(st.text(max_size=200))
def test_origin_of_never_raises(text: str) -> None:
    assert isinstance(origin_of(text), str)


def test_real_profile_account_chain_end_to_end_with_return_url(tmp_path: Path) -> None:
    """The recorded chain as real.toml describes it, against a scripted ecpa.dgpa.gov.tw and
    elearn.hrd.gov.tw: the same requests as the recorded session, in the same order."""
    seen: list[httpx.Request] = []
    replies = {
        "/Home/GetUID": "A123456789",
        "/Home/GetApTicketV2": TICKET,
        "/Home/EnterTwoWayLog": "0",
        "/Home/EnterApplicationTwoWay": "0",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        html = {"content-type": "text/html; charset=utf-8"}
        host, path = request.url.host, request.url.path
        if host == "ecpa.dgpa.gov.tw" and path == "/webform/clogin.aspx":
            return httpx.Response(200, text=LOGIN_PAGE.format(ret="", message=""), headers=html)
        if host == "ecpa.dgpa.gov.tw" and path in replies:
            return httpx.Response(200, text=replies[path], headers=html)
        if host == "elearn.hrd.gov.tw" and path == "/sso_verify.php":
            return httpx.Response(302, headers={"location": "sso_home.php?ssoid=42"})
        if host == "elearn.hrd.gov.tw" and path == "/sso_home.php":
            return httpx.Response(302, headers={"location": "/mooc/index.php"})
        if host == "elearn.hrd.gov.tw" and path == "/mooc/index.php":
            return httpx.Response(200, text="<html><body>e等公務園</body></html>", headers=html)
        return httpx.Response(404)

    flow = FlowSettings(
        transport=httpx.MockTransport(handler),
        agent_factory=lambda s, p: ScriptedAgent(),  # type: ignore[arg-type,return-value]
        state_dir=tmp_path / "state",
        sleep=lambda s: None,
    )
    sso = "https://elearn.hrd.gov.tw/sso_verify.php"
    with open_flow(flow, profile=resolve_profile("real")) as env:
        result = ecpa_login(env, "Ecpa-135790", sso, account=ACCOUNT)
    assert result.url == "https://elearn.hrd.gov.tw/mooc/index.php"
    assert result.name == ""  # the profile knows no name on that page; never the ID number
    assert [f"{r.method} {r.url.host}{r.url.path}" for r in seen] == [
        "GET ecpa.dgpa.gov.tw/webform/clogin.aspx",
        "POST ecpa.dgpa.gov.tw/Home/GetUID",
        "POST ecpa.dgpa.gov.tw/Home/GetApTicketV2",
        "POST ecpa.dgpa.gov.tw/Home/EnterTwoWayLog",
        "POST ecpa.dgpa.gov.tw/Home/EnterApplicationTwoWay",
        "POST elearn.hrd.gov.tw/sso_verify.php",
        "GET elearn.hrd.gov.tw/sso_home.php",
        "GET elearn.hrd.gov.tw/mooc/index.php",
    ]
    assert seen[0].url.params["returnUrl"] == sso
    assert seen[2].content == b"account=ming.wang&password=Ecpa-135790&ApID=CrossHRD"
    assert seen[3].content == b"account=ming.wang&loginType=0&sn=&ticket=&appId=CrossHRD"
    assert seen[5].content == f"loginType=0&APReqEncodedData={TICKET}".encode()
    assert seen[5].headers["origin"] == "https://ecpa.dgpa.gov.tw"
    for call in seen[1:5]:
        assert call.headers["x-requested-with"] == "XMLHttpRequest"


def test_a_chain_corrected_in_toml_is_followed_json_reply_included(
    tmp_path: Path, site: FakeEcpa, agent: ScriptedAgent
) -> None:
    """A user who learns that a call answers JSON, or that the chain is shorter, edits TOML:
    the flow does what the table says."""
    sandbox_dir = write_sandbox(tmp_path / "sb")
    path = tmp_path / "mine.toml"
    path.write_text(
        'extends = "sandbox"\n'
        "[ecpa.chains.account]\n"
        'source = "test"\nvars = { app_id = "OtherApp" }\n'
        "[[ecpa.chains.account.calls]]\n"
        'path = "Home/GetUID"\nfields = [["user", "{account}"]]\n'
        'reply = "json:uid"\nok = "[A-Z][0-9]{9}"\nsave = "uid"\n'
        "[[ecpa.chains.account.calls]]\n"
        'path = "Home/GetApTicketV2"\nsave = "ticket"\nok = "[0-9A-F]+"\n'
        'fields = [["uid", "{uid}"], ["pw", "{password}"], ["ApID", "{app_id}"]]\n',
        "utf-8",
    )
    profile = resolve_profile(str(path), sandbox_dir=sandbox_dir)
    site.replies["GetUID"] = (200, '{"uid": "A123456789"}')
    result = make_runner(profile, site, agent, tmp_path)(password="x-y-z", account=ACCOUNT)
    assert result.name == "王小明"
    assert [p for p in site.paths() if "/Home/" in p] == [
        "POST /Home/GetUID",
        "POST /Home/GetApTicketV2",
    ]
    assert site.form("/Home/GetUID") == [("user", ACCOUNT)]
    assert site.form("/Home/GetApTicketV2") == [
        ("uid", "A123456789"), ("pw", "x-y-z"), ("ApID", "OtherApp"),
    ]  # fmt: skip


def test_vv_trace_masks_the_card_data_and_shows_only_the_signatures_length(
    profile: SiteProfile, site: FakeEcpa, agent: ScriptedAgent, tmp_path: Path
) -> None:
    """The XHR form lines of ``-vv`` mask the card's personal data (birth date, ID, name, card
    number) and show the signature as NHI forms show hidSign: ``[256 chars]`` (issue 23)."""
    lines: list[str] = []
    flow = FlowSettings(
        transport=httpx.MockTransport(site),
        agent_factory=lambda s, p: agent,  # type: ignore[arg-type,return-value]
        state_dir=tmp_path / "state",
        sleep=lambda s: None,
        trace=lines.append,
    )
    with open_flow(flow, profile=profile) as env:
        ecpa_login(env, PASSWORD, None)
    (form,) = [line for line in lines if "form: basic=" in line]
    assert "sign=[256 chars]" in form
    assert "basic=*********678,A12****789,王*明,064****,M,0&" in form  # as a card read shows it
    trace = "\n".join(lines)
    for secret in ("0640101", "A123456789", "王小明", "000012345678", "AB" * 128, PASSWORD):
        assert secret not in trace, secret
