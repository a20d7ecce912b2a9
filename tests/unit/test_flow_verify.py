"""Unit tests of the verify-email flow: a scripted verification page (httpx.MockTransport), a
scripted card agent, local mail sources in temp dirs. They fix the postbacks sent (讀取 as the
page's script does it, then 確定), how each outcome of the site maps to an exit code, the
link checks (property-tested), and picking the mail (newest, waiting)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import AuthRefused, SiteChanged, SiteRejected
from nhicard.flows.base import FlowSettings, open_flow
from nhicard.flows.verify_email import (
    MailSourceSpec,
    VerifyResult,
    check_link,
    find_link,
    verify_link,
)
from nhicard.mail import ForeignLink, MailNotFound
from nhicard.sites.loader import resolve_profile
from nhicard.sites.model import SiteProfile
from tests.support.agents import ScriptedAgent
from tests.support.mail_samples import sample_mail, write_maildir
from tests.support.profiles import write_sandbox

NHI = "https://127.0.0.1:18440"
LINK = f"{NHI}/cloudic/system/Verify.aspx?token=Tok-123"

VERIFY_PAGE = """<!DOCTYPE html><html><head><title>健保卡註冊認證作業</title></head><body>
<form method="post" action="./Verify.aspx?token=Tok-123" id="form1">
<input type="hidden" name="__EVENTTARGET" id="__EVENTTARGET" value="">
<input type="hidden" name="__EVENTARGUMENT" id="__EVENTARGUMENT" value="">
<input type="hidden" name="__VIEWSTATE" id="__VIEWSTATE" value="vs{n}">
<input type="hidden" name="hidStep" id="hidStep" value="VERIFY">
<input type="hidden" name="hidNextStep" id="hidNextStep" value="DONE">
<input type="hidden" name="hidBasic" id="hidBasic" value="">
<input type="hidden" name="hidVersion" id="hidVersion" value="">
<input type="hidden" name="hidRandom" id="hidRandom" value="">
<input type="hidden" name="hidSign" id="hidSign" value="">
<h2>健保卡註冊認證作業 NHI Card Registration Verification</h2>
<table class="form">
<tr><th>系統訊息 System Message</th><td><span id="lblMessage">{message}</span></td></tr>
<tr><th><label for="txtName">姓名 Name</label></th>
<td><input type="text" name="txtName" id="txtName" value="{name}" readonly="readonly">
<input type="submit" name="btnReadCard" id="btnReadCard" value="讀取 Read"
 onclick="return NhiPage.read(this);"></td></tr>
</table>
<input type="submit" name="btnSubmit" id="btnSubmit" value="確定 OK">
</form></body></html>"""
NOTICE = """<html><head><title>健保卡註冊認證作業</title></head><body><h2>健保卡註冊認證作業</h2>
<table class="form"><tr><th>系統訊息 System Message</th><td><span id="lblMessage">{message}</span>
</td></tr></table><p><a href="UserAction.aspx">重新申請 Start Again</a></p></body></html>"""
DONE = """<html><head><title>密碼設定完成</title></head><body><h2>密碼設定完成 Password Set</h2>
<table class="form"><tr><th>系統訊息 System Message</th><td><span id="lblMessage">密碼設定完成
Your password is set</span></td></tr></table></body></html>"""

READ_OK = "健保卡讀取成功,請按『確定』完成認證。 The NHI card was read."
WRONG_CARD = (
    "讀取的健保卡與申請註冊的健保卡不同。 This is not the NHI card the registration was made with."
)
EXPIRED = "認證連結已過期,請重新申請。 This verification link has expired. Please apply again."
USED = "此認證連結已使用過。 This verification link has already been used."
UNKNOWN = "認證連結無效。 This verification link is not valid."


def page(message: str = "", name: str = "", n: int = 1) -> str:
    return VERIFY_PAGE.format(message=message, name=name, n=n)


class FakeNhi:
    """The verification page: GET answer, the answer to 讀取 and to 確定 (scripted)."""

    def __init__(self) -> None:
        self.first = page()
        self.after_read = page(READ_OK, "王小明", 2)
        self.after_confirm = DONE
        self.posts: list[dict[str, str]] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        html = {"content-type": "text/html; charset=utf-8"}
        if request.method == "GET":
            return httpx.Response(200, text=self.first, headers=html)
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.posts.append(form)
        text = self.after_confirm if "btnSubmit" in form else self.after_read
        return httpx.Response(200, text=text, headers=html)


@pytest.fixture
def profile(tmp_path: Path) -> SiteProfile:
    return resolve_profile("sandbox", sandbox_dir=write_sandbox(tmp_path / "sb"))


@pytest.fixture
def site() -> FakeNhi:
    return FakeNhi()


@pytest.fixture
def agent() -> ScriptedAgent:
    return ScriptedAgent()


@pytest.fixture
def verify(
    profile: SiteProfile, site: FakeNhi, agent: ScriptedAgent, tmp_path: Path
) -> Callable[[str], VerifyResult]:
    def run(link: str = LINK) -> VerifyResult:
        flow = FlowSettings(
            transport=httpx.MockTransport(site),
            agent_factory=lambda s, p: agent,  # type: ignore[arg-type,return-value]
            state_dir=tmp_path / "state",
        )
        with open_flow(flow, profile=profile) as env:
            return verify_link(env, link)

    return run


def test_read_as_the_script_does_then_confirm(
    verify: Callable[[str], VerifyResult], site: FakeNhi, agent: ScriptedAgent
) -> None:
    assert verify(LINK).to_dict() == {"status": "verified"}
    read, confirm = site.posts
    assert read["__EVENTTARGET"] == "btnReadCard" and "btnReadCard" not in read
    assert read["hidBasic"] == "000012345678,A123456789,王小明,0640101,M,0"
    assert (read["hidVersion"], read["hidRandom"]) == ("0001", "0" * 16)
    assert read["hidSign"] == "AB" * 128 and read["__VIEWSTATE"] == "vs1"
    assert confirm["btnSubmit"] == "確定 OK" and confirm["__VIEWSTATE"] == "vs2"
    assert confirm["__EVENTTARGET"] == ""
    assert agent.calls == ["GetBasic", "GetVersion", "GetRandom", "H_Sign?Random=0001" + "0" * 16,
                           "close"]  # fmt: skip
    assert str(site.requests[1].url) == LINK


@pytest.mark.parametrize(
    ("message", "reason"),
    [(EXPIRED, "link-expired"), (USED, "link-used"), (UNKNOWN, "link-invalid")],
)
def test_link_refusals_are_exit_8_without_touching_the_card(
    verify: Callable[[str], VerifyResult],
    site: FakeNhi,
    agent: ScriptedAgent,
    message: str,
    reason: str,
) -> None:
    site.first = NOTICE.format(message=message)
    with pytest.raises(SiteRejected) as err:
        verify(LINK)
    assert exit_code_for(err.value) == 8 and err.value.reason == reason
    assert message.split(" ")[0] in err.value.message.zh
    assert agent.calls == [] and site.posts == []


def test_wrong_card_is_exit_9_and_not_confirmed(
    verify: Callable[[str], VerifyResult], site: FakeNhi
) -> None:
    site.after_read = page(WRONG_CARD, "", 2)
    with pytest.raises(AuthRefused) as err:
        verify(LINK)
    assert exit_code_for(err.value) == 9 and err.value.reason == "wrong-card"
    assert "not the NHI card" in err.value.message.en
    assert len(site.posts) == 1


def test_card_not_verified_is_exit_8(verify: Callable[[str], VerifyResult], site: FakeNhi) -> None:
    site.after_read = page("健保卡驗證失敗,請重新讀取。 The NHI card could not be verified.", "", 2)
    with pytest.raises(SiteRejected) as err:
        verify(LINK)
    assert err.value.reason == "site-message" and len(site.posts) == 1
    assert "could not be verified" in err.value.message.en


def test_confirm_refused_is_exit_8(verify: Callable[[str], VerifyResult], site: FakeNhi) -> None:
    site.after_confirm = page("請先插入健保卡並按『讀取』。 Please click Read first.", "", 3)
    with pytest.raises(SiteRejected) as err:
        verify(LINK)
    assert "Please click Read first" in err.value.message.en


def test_link_used_between_read_and_confirm(
    verify: Callable[[str], VerifyResult], site: FakeNhi
) -> None:
    site.after_confirm = NOTICE.format(message=USED)
    with pytest.raises(SiteRejected) as err:
        verify(LINK)
    assert err.value.reason == "link-used"


def test_unknown_final_page_is_a_site_change(
    verify: Callable[[str], VerifyResult], site: FakeNhi
) -> None:
    site.after_confirm = "<html><body><p>OK</p></body></html>"
    with pytest.raises(SiteChanged) as err:
        verify(LINK)
    assert err.value.saved_page and Path(err.value.saved_page).is_file()
    assert "王小明" not in Path(err.value.saved_page).read_text("utf-8")


def test_foreign_link_never_opened(verify: Callable[[str], VerifyResult], site: FakeNhi) -> None:
    with pytest.raises(ForeignLink):
        verify("https://evil.example/cloudic/system/Verify.aspx?token=x")
    assert site.requests == []


# -- the link check -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "link",
    [
        "https://127.0.0.1:18441/cloudic/system/Verify.aspx?token=x",  # eCPA's port
        "http://127.0.0.1:18440/cloudic/system/Verify.aspx?token=x",  # plain http
        "https://127.0.0.2:18440/cloudic/system/Verify.aspx?token=x",  # another host
        "https://127.0.0.1:18440/elsewhere/Verify.aspx?token=x",  # not the site's path
        "https://127.0.0.1.evil.example:18440/cloudic/system/Verify.aspx",
        "javascript:alert(1)",
        "https://[::1/cloudic/system/",
    ],
)
def test_check_link_refuses(profile: SiteProfile, link: str) -> None:
    with pytest.raises(ForeignLink) as err:
        check_link(profile, link)
    assert exit_code_for(err.value) == 8
    assert "token=x" not in err.value.message.en


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_check_link_accepts_the_site(profile: SiteProfile, host: str) -> None:
    link = f"https://{host}:18440/cloudic/system/Verify.aspx?token=x"
    assert check_link(profile, link) == link


@settings(max_examples=400)
@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda scheme, host, port, path: f"{scheme}://{host}:{port}/{path}",
            st.sampled_from(["https", "http", "ftp", "HTTPS"]),
            st.sampled_from(["127.0.0.1", "localhost", "evil.example", "[::1]", "127.0.0.1@x"]),
            st.integers(0, 70000),
            st.text(max_size=30),
        ),
    )
)
def test_check_link_only_accepts_or_refuses(link: str) -> None:
    profile = PROFILE
    try:
        assert check_link(profile, link) == link
    except ForeignLink:
        return
    assert link.lower().startswith("https://") and ":18440/cloudic/system/" in link


# -- choosing the mail ----------------------------------------------------------------------
def test_newest_mail_wins_and_older_than_since_skipped(
    profile: SiteProfile, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    links = [f"{NHI}/cloudic/system/Verify.aspx?token=t{i}" for i in range(3)]
    mails = [
        sample_mail(links[0], date=now - timedelta(hours=3)),
        sample_mail(links[1], date=now - timedelta(minutes=1)),
        sample_mail(links[2], date=now - timedelta(minutes=30)),
    ]
    write_maildir(tmp_path / "md", [m.as_bytes() for m in mails])
    source = MailSourceSpec("maildir", str(tmp_path / "md"))
    assert find_link(source, profile).link == links[1]
    with pytest.raises(MailNotFound):
        find_link(source, profile, since=now)


def test_wait_polls_until_the_mail_arrives(profile: SiteProfile, tmp_path: Path) -> None:
    root = tmp_path / "md"
    write_maildir(root, [])
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            write_maildir(root, [sample_mail(LINK, date=datetime.now(UTC)).as_bytes()])

    ticks: list[Any] = []
    mail = find_link(
        MailSourceSpec("maildir", str(root)),
        profile,
        wait=60,
        on_tick=ticks.append,
        sleep=sleep,
    )
    assert mail.link == LINK and slept == [2.0, 2.0] and len(ticks) == 2


def test_a_mail_whose_link_is_on_another_port_is_refused(
    profile: SiteProfile, tmp_path: Path
) -> None:
    other = LINK.replace(":18440/", ":18441/")
    write_maildir(tmp_path / "md", [sample_mail(other, date=datetime.now(UTC)).as_bytes()])
    with pytest.raises(ForeignLink):
        find_link(MailSourceSpec("maildir", str(tmp_path / "md")), profile)


def _profile_for_properties() -> SiteProfile:
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="nhicard-flow-verify-"))
    return resolve_profile("sandbox", sandbox_dir=write_sandbox(directory / "sb"))


PROFILE = _profile_for_properties()


def test_the_links_token_stays_out_of_traces_and_saved_pages(
    profile: SiteProfile, site: FakeNhi, agent: ScriptedAgent, tmp_path: Path
) -> None:
    trace: list[str] = []
    flow = FlowSettings(
        transport=httpx.MockTransport(site),
        agent_factory=lambda s, p: agent,  # type: ignore[arg-type,return-value]
        trace=trace.append,
        save_pages=tmp_path / "pages",
    )
    with open_flow(flow, profile=profile) as env:
        verify_link(env, LINK)
    saved = [p.read_text("utf-8") for p in (tmp_path / "pages").iterdir()]
    assert len(saved) == 3 and trace
    assert all("Tok-123" not in text for text in [*saved, *trace])
