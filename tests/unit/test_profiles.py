"""Site profiles: the built-in ones, the sandbox's endpoints, user files, validation errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NetworkError
from nhicard.sites.loader import resolve_profile
from nhicard.sites.model import ProfileError
from nhicard.web.browser import policy_for
from nhicard.web.redact import redactor_for
from tests.support.profiles import WRAP, write_sandbox


def test_real_profile_has_the_known_facts() -> None:
    p = resolve_profile("real")
    assert p.name == "real" and not p.allow_http and p.ca_bundle is None
    assert p.nhi.url("login") == "https://cloudicweb.nhi.gov.tw/cloudic/system/mlogin.aspx"
    assert p.nhi.url("terms") == "https://cloudicweb.nhi.gov.tw/cloudic/system/UserAction.aspx"
    assert p.ecpa.url("login") == "https://ecpa.dgpa.gov.tw/webform/clogin.aspx"
    assert "首次登入請先申請" in p.nhi.page("login").control("register_link").labels
    assert p.nhi.page("apply").control("read_card").names == ("btnReadCard",)
    assert p.nhi.page("contact").control("submit").names == ("btnSubmit",)
    assert (p.sam.host, p.sam.port) == ("cloudicap.nhi.gov.tw", 443)
    assert p.sam.wrap_key == b"2725268641815652" + bytes(8)
    assert p.mail.link_label == "健保卡註冊認證作業"
    assert p.mail.link_allowed("https://cloudicweb.nhi.gov.tw/cloudic/system/x.aspx?t=1")
    assert not p.mail.link_allowed("https://cloudicweb.nhi.gov.tw.evil.example/x")
    assert not p.mail.link_allowed("http://cloudicweb.nhi.gov.tw/x")
    assert "hidBasic" in p.secret_fields()
    policy = policy_for(p, p.nhi)
    assert not policy.allow_http and "系統維護中" in policy.maintenance_markers
    # eCPA: the account column's recorded chain as data; the NHI-card chain is not public
    assert set(p.ecpa.chains) == {"account"}
    account = p.ecpa.chains["account"]
    assert not account.guess and "recorded" in account.source
    assert [c.url for c in account.calls] == [
        "https://ecpa.dgpa.gov.tw/Home/GetUID",
        "https://ecpa.dgpa.gov.tw/Home/GetApTicketV2",
        "https://ecpa.dgpa.gov.tw/Home/EnterTwoWayLog",
        "https://ecpa.dgpa.gov.tw/Home/EnterApplicationTwoWay",
    ]
    assert account.calls[1].fields == (
        ("account", "{account}"), ("password", "{password}"), ("ApID", "{app_id}"),
    )  # fmt: skip
    assert account.calls[2].fields == (
        ("account", "{account}"), ("loginType", "{login_type}"), ("sn", ""), ("ticket", ""),
        ("appId", "{app_id}"),
    )  # fmt: skip
    assert account.variables == {"app_id": "CrossHRD", "login_type": "0"}
    assert account.sso_fields == (("loginType", "{login_type}"), ("APReqEncodedData", "{ticket}"))
    assert p.ecpa.page("login").markers == ("人事服務網eCPA",)
    assert p.elearn.url("home") == "https://elearn.hrd.gov.tw/mooc/index.php"
    with pytest.raises(ProfileError):
        p.nhi.page("nope")
    with pytest.raises(ProfileError):
        p.nhi.url("apply")  # reached by navigation only


def test_sandbox_profile_fills_placeholders(tmp_path: Path) -> None:
    d = write_sandbox(tmp_path / "sb")
    p = resolve_profile("sandbox", sandbox_dir=d)
    assert p.nhi.url("login") == "https://127.0.0.1:18440/cloudic/system/mlogin.aspx"
    nhi = p.ecpa.chains["nhi_card"]
    assert nhi.guess and "guess" in nhi.source
    assert nhi.calls[1].url == "https://127.0.0.1:18441/Home/GetApTicketNHI"
    assert nhi.needs("sign") and nhi.needs("encrypted_password") and not nhi.needs("account")
    assert p.elearn.url("sso_verify") == "https://127.0.0.1:18442/sso_verify.php"
    assert p.ca_bundle == str(d / "ca.pem")
    assert (p.sam.host, p.sam.port, p.sam.wrap_key.hex()) == ("127.0.0.1", 18444, WRAP)
    assert p.agent_origin == "https://127.0.0.1:18440"
    assert p.sandbox["maildir"] == str(d / "maildir")
    assert p.mail.link_allowed("https://127.0.0.1:18440/cloudic/system/Verify.aspx?t=x")
    assert not p.mail.link_allowed("https://127.0.0.1:18440/elsewhere")


def test_sandbox_not_running(tmp_path: Path) -> None:
    with pytest.raises(NetworkError) as err:
        resolve_profile("sandbox", sandbox_dir=tmp_path / "absent")
    assert exit_code_for(err.value) == 7
    assert "sandbox not running: run `nhicard sandbox up`" in err.value.message.en
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    d = write_sandbox(tmp_path / "stale", pid=gone.pid)
    with pytest.raises(NetworkError) as err:
        resolve_profile("sandbox", sandbox_dir=d)
    assert err.value.reason == "sandbox-not-running" and "has exited" in (err.value.detail or "")
    d = write_sandbox(tmp_path / "broken")
    (d / "endpoints.json").write_text("{not json")
    with pytest.raises(NetworkError):
        resolve_profile("sandbox", sandbox_dir=d)


def test_user_profile_extends_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        'extends = "real"\nname = "mine"\n'
        '[nhi.pages.apply.controls]\nhousehold_id = { names = ["txtHouseholdNo"], labels = ["戶號"] }\n'
    )
    p = resolve_profile(str(f))
    assert p.name == "mine"
    assert p.nhi.page("apply").control("household_id").names == ("txtHouseholdNo",)
    assert p.nhi.page("apply").control("city").labels == ("縣市", "City/County")
    assert resolve_profile("real").nhi.page("apply").control("household_id").names == ()
    child = tmp_path / "child.toml"
    child.write_text('extends = "mine.toml"\nname = "child"\n')
    assert resolve_profile(str(child)).nhi.page("apply").control("household_id").names == (
        "txtHouseholdNo",
    )


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (
            "[nhi.pages.apply.controls]\ncity = { names = [], labels = [] }\n",
            "nhi.pages.apply.controls.city",
        ),
        ('[nhi]\nbase_url = "http://cloudicweb.nhi.gov.tw/"\n', "nhi.base_url"),
        ('[nhi]\nbase_url = "https://cloudicweb.nhi.gov.tw"\n', "nhi.base_url"),
        ('[sam]\nwrap_key = "abcd"\n', "sam.wrap_key"),
        ("[sam]\nport = 70000\n", "sam.port"),
        ("[sam]\nport = true\n", "sam.port"),
        ('[mail]\nlink_url_pattern = "(["\n', "mail.link_url_pattern"),
        ("[mail]\nsubject_contains = []\n", "mail.subject_contains"),
        ('[nhi]\nmessage_selectors = ["td[["]\n', "nhi.message_selectors"),
        (
            '[ecpa.markers]\nattempts_left_pattern = "no group"\n',
            "ecpa.markers.attempts_left_pattern",
        ),
        ('allow_http = "yes"\n', "allow_http"),
    ],
)
def test_validation_errors_name_the_key(tmp_path: Path, body: str, key: str) -> None:
    f = tmp_path / "p.toml"
    f.write_text('extends = "real"\n' + body)
    with pytest.raises(ProfileError) as err:
        resolve_profile(str(f))
    assert exit_code_for(err.value) == 2
    assert f"{key} " in err.value.message.en


def test_missing_required_control_and_page(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(
        (Path(__file__).resolve().parents[2] / "nhicard/sites/real.toml")
        .read_text()
        .replace('next = { labels = ["下一步", "Next"] }\n', "")
    )
    with pytest.raises(ProfileError) as err:
        resolve_profile(str(f))
    assert "nhi.pages.apply.controls.next is missing" in err.value.message.en
    f.write_text('name = "x"\n')
    with pytest.raises(ProfileError) as err:
        resolve_profile(str(f))
    assert err.value.message.en.endswith(": agent_origin is missing")


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as err:
        resolve_profile(str(tmp_path / "none.toml"))
    assert err.value.reason == "profile-missing"
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ProfileError) as err:
        resolve_profile(str(bad))
    assert "not valid TOML" in err.value.message.en
    loop = tmp_path / "loop.toml"
    loop.write_text('extends = "loop.toml"\n')
    with pytest.raises(ProfileError) as err:
        resolve_profile(str(loop))
    assert "loop" in err.value.message.en


def test_profile_redactor_hides_agent_fields() -> None:
    redactor = redactor_for(resolve_profile("real"))
    assert redactor.field_value("hidBasic", "000012345678,A123456789") == "[23 chars]"
    assert redactor.field_value("txtHouse", "F1234567") == "F1234567"


@pytest.mark.parametrize(
    ("chain", "words"),
    [
        ("calls = []", "calls"),
        ('calls = [{ path = "Home/X", ok = "0", fields = [["a", "{nope}"]] }]', "{nope}"),
        ('calls = [{ path = "Home/X", ok = "0", fields = [["s", "{sign}"]] }]', "{sign}"),
        ('calls = [{ path = "Home/X", ok = "(", fields = [] }]', "regex"),
        ('calls = [{ path = "Home/X", ok = "0", fields = ["a"] }]', "pairs"),
        ('calls = [{ path = "Home/X", ok = "0", refusal = "maybe" }]', "refusal"),
        ('calls = [{ path = "Home/X", ok = "0", reply = "xml" }]', "reply"),
    ],
)
def test_a_broken_chain_is_refused_naming_the_key(tmp_path: Path, chain: str, words: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f'extends = "real"\n[ecpa.chains.bad]\nsource = "test"\n{chain}\n', "utf-8")
    with pytest.raises(ProfileError) as caught:
        resolve_profile(str(path))
    assert "ecpa.chains.bad" in caught.value.message.en and words in caught.value.message.en


def test_a_user_profile_can_correct_a_chain_by_editing_toml(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'extends = "real"\n'
        "[ecpa.chains.nhi_card]\n"
        'source = "my own finding"\nguess = true\nvars = { t = "3" }\n'
        'sso_fields = [["loginType", "{t}"], ["APReqEncodedData", "{ticket}"]]\n'
        "[[ecpa.chains.nhi_card.calls]]\n"
        'path = "Home/R"\nfields = []\nok = "[0-9]{16}"\nsave = "random"\n'
        "[[ecpa.chains.nhi_card.calls]]\n"
        'path = "Home/T"\nreply = "json:t"\nsave = "ticket"\nok = "[0-9A-F]+"\n'
        'fields = [["b", "{basic}"], ["s", "{sign}"], ["p", "{encrypted_password}"]]\n',
        "utf-8",
    )
    p = resolve_profile(str(path))
    chain = p.ecpa.chains["nhi_card"]
    assert [c.name for c in chain.calls] == ["R", "T"]
    assert (chain.calls[1].reply, chain.calls[1].reply_key) == ("json", "t")
    assert set(p.ecpa.chains) == {"account", "nhi_card"}
