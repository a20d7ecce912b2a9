"""The register flow and its shared pieces in-process: input normalisers (with property
tests), the run journal, the agent-field filling, page judging, and whole walks through the
sandbox NHI site (uvicorn on HTTPS in a thread, the in-process virtual card with the direct
agent and the sandbox SAM) — including a session that expires once, a journal resume, a final
submit that cannot be journalled durably, and the card's lock."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.agent.base import BasicData
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NetworkError, SiteChanged, SiteRejected, UsageError
from nhicard.flows.base import (
    FlowEnv,
    FlowSettings,
    fill_agent_fields,
    open_flow,
    site_message_text,
)
from nhicard.flows.errors import SessionExpired
from nhicard.flows.journal import FlowBusy, Journal, JournalUnwritable, flow_lock
from nhicard.flows.register import register
from nhicard.flows.register_input import (
    check_email,
    check_neighborhood,
    normalize_household_id,
    normalize_mobile,
    normalize_phone,
    parse_request,
)
from nhicard.sandbox.data import load_data
from nhicard.sites.loader import resolve_profile
from nhicard.sites.model import SiteProfile
from nhicard.web.page import Page
from tests.support.profiles import write_sandbox
from tests.support.sandbox_nhi_kit import NhiSandbox, nhi_sandbox

PASSWORD = "Pw-246810"


# -- inputs ------------------------------------------------------------------------------------
def test_normalisers() -> None:
    assert normalize_household_id(" f123 4567 ") == "F1234567"
    assert normalize_household_id("ｆ１２３４５６７") == "F1234567"
    assert normalize_phone("(02) 2345-6789 ext 12") == "02-23456789#12"
    assert normalize_phone("02-2345-6789#3") == "02-23456789#3"
    assert normalize_phone("0223456789") == "0223456789"
    assert normalize_phone("23456789") == "23456789"
    assert normalize_mobile("+886 912-345-678") == "0912345678"
    assert check_email(" a.b+c@example.com.tw ") == "a.b+c@example.com.tw"
    assert check_neighborhood("０５") == 5


@given(st.text(max_size=30))
def test_normalisers_raise_only_usage_errors(text: str) -> None:
    for check in (
        normalize_household_id,
        normalize_phone,
        normalize_mobile,
        check_email,
        check_neighborhood,
    ):
        try:
            check(text)
        except UsageError as err:
            assert exit_code_for(err) == 2 and err.reason


def test_parse_request_reports_the_first_bad_input() -> None:
    with pytest.raises(UsageError) as err:
        parse_request(
            household_id="F1234567", city="台北市", district="大安區", village="龍門里",
            neighborhood="5", email="x@y.tw", phone="02-23456789", mobile="0812345678",
        )  # fmt: skip
    assert err.value.reason == "bad-mobile"


# -- the journal -------------------------------------------------------------------------------
def test_journal_records_atomically_and_never_secrets(tmp_path: Path) -> None:
    journal = Journal.open("register", "000012345678", state_dir=tmp_path)
    assert not journal.done("submitted")
    journal.record("submitting")
    journal.record("submitted", email="a@b.tw")
    again = Journal.open("register", "000012345678", state_dir=tmp_path)
    assert again.done("submitted") and again.facts == {"email": "a@b.tw"}
    assert "000012345678" not in again.path.name
    raw = json.loads(again.path.read_text("utf-8"))
    assert raw["card"] == "000******678" and set(raw["steps"]) == {"submitting", "submitted"}
    assert oct(again.path.stat().st_mode & 0o777) == "0o600"
    assert list(again.path.parent.iterdir()) == [again.path]  # no temp files left
    with pytest.raises(ValueError):
        again.record("x", password="secret")
    again.forget("submitting")
    assert set(Journal.open("register", "000012345678", state_dir=tmp_path).steps) == {"submitted"}
    assert not Journal.open("register", "000099999999", state_dir=tmp_path).steps
    again.path.write_text("{broken")
    with pytest.raises(UsageError) as err:
        Journal.open("register", "000012345678", state_dir=tmp_path)
    assert err.value.reason == "journal-unreadable"


# -- agent fields and page judging ----------------------------------------------------------
class ScriptedAgent:
    """A card agent that answers from a script and records the calls."""

    def __init__(self, sign: str = "A" * 256) -> None:
        self.calls: list[str] = []
        self.sign = sign

    def get_basic(self) -> BasicData:
        self.calls.append("GetBasic")
        return BasicData("000012345678", "A123456789", "王小明", "0640101", "M", "0")

    def get_version(self) -> str:
        self.calls.append("GetVersion")
        return "0011"

    def get_random(self) -> str:
        self.calls.append("GetRandom")
        return "1234567890123456"

    def h_sign(self, value: str) -> str:
        self.calls.append(f"H_Sign?Random={value}")
        return self.sign

    def close(self) -> None:
        self.calls.append("close")


def apply_form_page(next_step: str) -> Page:
    html = (
        '<form method="post" id="form1"><input type="hidden" name="__VIEWSTATE" value="v">'
        f'<input type="hidden" name="hidNextStep" value="{next_step}">'
        + "".join(
            f'<input type="hidden" name="{n}" value="">'
            for n in ("hidBasic", "hidVersion", "hidRandom", "hidSign")
        )
        + "</form>"
    )
    return Page("https://x.test/", 200, html)


@pytest.fixture
def profile(tmp_path: Path) -> SiteProfile:
    import shutil

    import certifi

    directory = write_sandbox(tmp_path / "ep")
    shutil.copy(certifi.where(), directory / "ca.pem")  # any loadable bundle will do
    return resolve_profile("sandbox", sandbox_dir=directory)


def test_fill_agent_fields_follows_the_page_script(profile: SiteProfile) -> None:
    spec = profile.nhi.page("apply")
    agent = ScriptedAgent()
    form = apply_form_page("CONTACT").form()
    basic = fill_agent_fields(form, spec, agent)  # type: ignore[arg-type]
    assert basic.name == "王小明"
    assert agent.calls == [
        "GetBasic",
        "GetVersion",
        "GetRandom",
        "H_Sign?Random=00111234567890123456",
    ]
    assert form["hidVersion"] == "0011" and form["hidSign"] == "A" * 256
    end = ScriptedAgent()
    form = apply_form_page("END").form()
    fill_agent_fields(form, spec, end)  # type: ignore[arg-type]
    assert end.calls == ["GetBasic"] and form["hidSign"] == ""
    with pytest.raises(NetworkError) as err:
        fill_agent_fields(apply_form_page("X").form(), spec, ScriptedAgent("AB"))  # type: ignore[arg-type]
    assert "256" in err.value.message.en


def notice(title: str, message: str) -> Page:
    return Page(
        "https://x.test/",
        200,
        f'<html><title>{title}</title><body><h2>{title}</h2><span id="lblMessage">{message}'
        "</span></body></html>",
    )


def test_expect_classifies_unexpected_pages(profile: SiteProfile, tmp_path: Path) -> None:
    settings = FlowSettings(profile="sandbox", state_dir=tmp_path / "state")
    with open_flow(settings, profile=profile) as env:
        contact = profile.nhi.page("contact")
        ok = Page("https://x.test/", 200, "<p>註冊密碼 Password</p>")
        assert env.expect(ok, contact, "contact") is ok
        with pytest.raises(SessionExpired):
            env.expect(notice("連線逾時", "連線逾時,請重新操作。"), contact, "contact")
        with pytest.raises(SiteRejected) as rejected:
            env.expect(notice("申請", "電子郵件格式錯誤。 The e-mail is bad."), contact, "x")
        assert rejected.value.data["messages"] == ["電子郵件格式錯誤。 The e-mail is bad."]
        assert rejected.value.message.en.endswith("The e-mail is bad.")
        with pytest.raises(SiteChanged) as changed:
            env.expect(Page("https://x.test/", 200, "<p>王小明 hello</p>"), contact, "contact")
        env.add_secret("王小明", "name")
    saved = Path(str(changed.value.saved_page))
    assert saved.parent == tmp_path / "state" / "pages"
    assert "hello" in saved.read_text("utf-8")


def test_site_messages_are_split_or_translated() -> None:
    both = site_message_text("密碼錯誤,您還有2次機會。 Wrong password; 2 attempt(s) left.")
    assert (both.zh, both.en) == ("密碼錯誤,您還有2次機會。", "Wrong password; 2 attempt(s) left.")
    known = site_message_text("電子郵件格式錯誤")
    assert known.en == "The e-mail address is not valid."
    other = site_message_text("其他訊息")
    assert other.zh == other.en == "其他訊息"


# -- whole walks in-process --------------------------------------------------------------------
@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[NhiSandbox, SiteProfile]]:
    with nhi_sandbox(tmp_path / "kit") as sb:
        ep = write_sandbox(tmp_path / "ep", nhi_url=sb.url, ca_bundle=sb.ca_bundle)
        yield sb, resolve_profile("sandbox", sandbox_dir=ep)


def request() -> Any:
    return parse_request(
        household_id="F1234567", city="台北", district="大安", village="龍門",
        neighborhood=5, email="ming@example.com", phone="02-23456789", mobile="0912345678",
    )  # fmt: skip


def settings_for(sb: NhiSandbox, tmp_path: Path, agent_factory: Any = None, **kw: Any) -> Any:
    card = load_data(None).cards[0]
    log: list[str] = []
    settings = FlowSettings(
        profile="sandbox",
        log=lambda text: log.append(text.en),
        agent_factory=agent_factory or (lambda s, p: sb.agent(card)),
        state_dir=tmp_path / "state",
        clock=sb.clock,
        **kw,
    )
    return settings, log


def test_walk_submits_and_confirm_sees_the_summary(site: Any, tmp_path: Path) -> None:
    sb, profile = site
    settings, log = settings_for(sb, tmp_path)
    seen: list[Any] = []
    with open_flow(settings, profile=profile) as env:
        outcome = register(env, request(), PASSWORD, confirm=lambda s: seen.append(s) or True)
    assert (outcome.status, outcome.resumed, outcome.requests) == ("submitted", False, 9)
    (summary,) = seen
    assert summary.name_masked == "王*明" and summary.address == "臺北市大安區龍門里 5鄰"
    assert sb.ctx.store.get_application("000012345678") is not None
    assert "reading the NHI card" in log


def test_declining_the_confirmation_sends_nothing(site: Any, tmp_path: Path) -> None:
    sb, profile = site
    settings, _ = settings_for(sb, tmp_path)
    with open_flow(settings, profile=profile) as env, pytest.raises(Exception) as err:
        register(env, request(), PASSWORD, confirm=lambda s: False)
    assert getattr(err.value, "reason", None) == "cancelled"
    assert sb.ctx.store.get_application("000012345678") is None


def test_a_session_expiring_once_restarts_from_the_login_page(site: Any, tmp_path: Path) -> None:
    sb, profile = site
    card = load_data(None).cards[0]
    faults = sb.ctx.faults.nhi
    reads: list[int] = []

    class FlakyWindow:
        """Expire the session at 'contact' during the first walk only."""

        def __init__(self) -> None:
            self.inner = sb.agent(card)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def get_basic(self) -> BasicData:
            reads.append(1)
            faults.expire_session_at = "contact" if len(reads) == 1 else None
            return self.inner.get_basic()

    settings, log = settings_for(sb, tmp_path, agent_factory=lambda s, p: FlakyWindow())
    with open_flow(settings, profile=profile) as env:
        outcome = register(env, request(), PASSWORD)
    assert outcome.status == "submitted" and len(reads) == 2
    assert log.count("opening the login page") == 2
    assert "the site's session expired; starting again from the login page" in log


def test_unknown_outcome_is_not_resubmitted_without_resend(site: Any, tmp_path: Path) -> None:
    sb, profile = site
    journal = Journal.open("register", "000012345678", state_dir=tmp_path / "state")
    journal.record("submitting", email="ming@example.com")
    warned: list[str] = []
    settings, log = settings_for(sb, tmp_path, warn=lambda text: warned.append(text.en))
    with open_flow(settings, profile=profile) as env:
        outcome = register(env, request(), PASSWORD)
    assert (outcome.status, outcome.resumed, outcome.email) == (
        "submitted",
        True,
        "ming@example.com",
    )
    assert sb.ctx.store.get_application("000012345678") is None  # nothing was sent
    (said,) = warned
    assert "got no answer to its final submit" in said and "add --resend" in said
    with open_flow(settings, profile=profile) as env:
        again = register(env, request(), PASSWORD, resend=True)
    assert (again.status, again.resumed) == ("submitted", False)
    assert sb.ctx.store.get_application("000012345678") is not None
    assert any("applying again as asked (--resend)" in line for line in log)


def test_submitting_that_cannot_be_recorded_durably_sends_nothing(
    site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, profile = site
    import nhicard.flows.journal as journal_module

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module, "write_private", full_disk)
    warned: list[str] = []
    settings, _ = settings_for(sb, tmp_path, warn=lambda text: warned.append(text.en))
    with open_flow(settings, profile=profile) as env, pytest.raises(JournalUnwritable) as err:
        register(env, request(), PASSWORD)
    assert "cannot record “submitting” durably" in err.value.text.en
    assert "No space left on device" in err.value.text.en
    assert err.value.reason == "journal-unwritable"
    assert sb.ctx.store.get_application("000012345678") is None


def test_the_lock_refuses_a_second_holder_and_frees_on_exit(tmp_path: Path) -> None:
    waits: list[str] = []
    with flow_lock("register", "000012345678", "nhi.example", state_dir=tmp_path):
        with (
            pytest.raises(FlowBusy) as err,
            flow_lock(
                "register", "000012345678", "nhi.example", state_dir=tmp_path,
                sleep=lambda s: None, on_wait=lambda: waits.append("waiting"),
            ),
        ):  # fmt: skip
            pass
        assert err.value.reason == "flow-busy" and waits == ["waiting"]
        # another card, or the same card on another site, is not held
        with flow_lock("register", "000012345679", "nhi.example", state_dir=tmp_path):
            pass
        with flow_lock("register", "000012345678", "other.example", state_dir=tmp_path):
            pass
    with flow_lock("register", "000012345678", "nhi.example", state_dir=tmp_path, wait=0):
        pass  # released when the first holder left
    assert all("000012345678" not in p.name for p in (tmp_path / "journal").iterdir())


def test_env_opens_the_agent_lazily_and_closes_it(profile: SiteProfile, tmp_path: Path) -> None:
    agents: list[ScriptedAgent] = []

    def factory(settings: FlowSettings, p: SiteProfile) -> ScriptedAgent:
        agents.append(ScriptedAgent())
        return agents[-1]

    settings = FlowSettings(profile="sandbox", agent_factory=factory)  # type: ignore[arg-type]
    with open_flow(settings, profile=profile) as env:
        assert agents == []
        assert isinstance(env, FlowEnv) and env.agent is env.agent
    assert len(agents) == 1 and agents[0].calls == ["close"]
