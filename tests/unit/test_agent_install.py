"""``agent install`` / ``uninstall`` / ``status`` (issue 12, item 3).

Linux through the real parts: NSS databases made and read with Debian's ``certutil``, a hosts
file in a temp dir, the CLI as a subprocess. The systemd, launchd and Task Scheduler steps and
the macOS keychain and Windows Root store with a scripted runner: the commands built, their
outputs parsed, a failing step rolled back."""

from __future__ import annotations

import json
import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest

from nhicard.agent.serve import install as inst
from nhicard.agent.serve.install import HOSTS_LINE, NICKNAME, InstallFailed, Machine, Result
from nhicard.platform import linux, macos, windows
from tests.support.cli import run_nhicard
from tests.support.install_kit import SERVE, Script, machine

needs_certutil = pytest.mark.skipif(
    shutil.which("certutil") is None, reason="certutil (libnss3-tools) is not installed"
)


def certutil(*args: str) -> str:
    return subprocess.run(["certutil", *args], check=True, capture_output=True, text=True).stdout


def new_nssdb(path: Path) -> Path:
    path.mkdir(parents=True)
    certutil("-N", "--empty-password", "-d", f"sql:{path}")
    return path


def listing(db: Path) -> str:
    return certutil("-L", "-d", f"sql:{db}")


def service_file(m: Machine) -> Path:
    path = inst.login_service(m).file
    assert path is not None
    return path


# -- Linux, real certutil ---------------------------------------------------------------------------


@needs_certutil
def test_linux_round_trip_with_real_nss_databases(tmp_path: Path) -> None:
    home = tmp_path / "home"
    chromium = new_nssdb(home / ".pki" / "nssdb")
    firefox = new_nssdb(home / ".mozilla" / "firefox" / "abcd.default-release")
    other = tmp_path / "other-ca.pem"  # something of the user's that must survive
    other.write_bytes(_some_ca_pem())
    certutil("-A", "-d", f"sql:{chromium}", "-n", "someone else", "-t", "C,,", "-i", str(other))
    before = {db: listing(db) for db in (chromium, firefox)}
    m = machine(tmp_path, home=home, run=inst.run_command, which=shutil.which)
    hosts_before = m.hosts_file.read_bytes()

    assert linux.find_nssdbs(home) == [chromium, firefox]
    changes = inst.install(m, service=False)
    assert [c.kind for c in changes] == ["certificate", "nssdb", "nssdb", "hosts"]
    for db in (chromium, firefox):
        assert NICKNAME in listing(db) and "C,," in listing(db)
    assert m.hosts_file.read_text().splitlines()[-1] == HOSTS_LINE
    assert (tmp_path / "hosts.nhicard-backup").read_bytes() == hosts_before
    doc = inst.status(m, probe=lambda: (True, "0011", None))
    assert doc["installed"] and doc["certificate"]["name_constrained"]
    assert [(t["target"], t["trusted"], t["current"]) for t in doc["trust"]] == [
        (str(chromium), True, True),
        (str(firefox), True, True),
    ]
    assert doc["hosts"]["ours"] and doc["hosts"]["ok"]
    assert doc["answers"] == {"ok": True, "version": "0011", "error": None}

    inst.install(m, service=False)  # twice: harmless, nothing doubled
    assert m.hosts_file.read_text().count("iccert.nhi.gov.tw") == 1
    pem = certutil("-L", "-d", f"sql:{chromium}", "-n", NICKNAME, "-a")
    assert pem.count("BEGIN CERTIFICATE") == 1

    removed = inst.uninstall(m)
    assert {c.kind for c in removed} == {"nssdb", "hosts"}
    assert {db: listing(db) for db in (chromium, firefox)} == before
    assert m.hosts_file.read_bytes() == hosts_before
    assert not (tmp_path / "hosts.nhicard-backup").exists()
    assert not (tmp_path / "state" / inst.STATE_FILE).exists()
    inst.uninstall(m)  # twice: harmless
    assert m.hosts_file.read_bytes() == hosts_before
    doc = inst.status(m)
    assert not doc["installed"] and not doc["hosts"]["ours"]
    assert [t["trusted"] for t in doc["trust"]] == [False, False]


def _some_ca_pem() -> bytes:
    import datetime as dt

    from nhicard.net import certs

    now = dt.datetime.now(dt.UTC)
    key = certs.new_key()
    return certs.certificate_pem(
        certs.make_ca(
            key, certs.name("someone else"), valid_from=now, valid_until=now + dt.timedelta(days=1)
        )  # fmt: skip
    )


@needs_certutil
def test_renewed_certificate_replaces_the_old_ca(tmp_path: Path) -> None:
    db = new_nssdb(tmp_path / "db")
    m = machine(tmp_path, nssdbs=[db], run=inst.run_command, which=shutil.which)
    inst.install(m, service=False)
    first = certutil("-L", "-d", f"sql:{db}", "-n", NICKNAME, "-a")
    (m.tls_dir / "server.pem").unlink()  # as when the certificate is renewed: a new CA
    from nhicard.agent.serve.tls import ensure_server_certificate

    ensure_server_certificate(m.tls_dir)
    stale = inst.status(m)["trust"][0]
    assert (stale["trusted"], stale["current"]) == (True, False)  # status says: install again
    inst.install(m, service=False)
    second = certutil("-L", "-d", f"sql:{db}", "-n", NICKNAME, "-a")
    assert second != first and second.count("BEGIN CERTIFICATE") == 1
    assert inst.status(m)["trust"][0]["current"] is True
    inst.uninstall(m)
    assert NICKNAME not in listing(db)


@needs_certutil
def test_failed_step_rolls_back(tmp_path: Path) -> None:
    db = new_nssdb(tmp_path / "db")
    before = listing(db)
    (tmp_path / "hosts").write_text("10.1.2.3 iccert.nhi.gov.tw\n")
    m = machine(tmp_path, nssdbs=[db], run=inst.run_command, which=shutil.which)
    with pytest.raises(InstallFailed) as info:
        inst.install(m, service=False)
    assert info.value.reason == "hosts-conflict" and "10.1.2.3" in str(info.value)
    assert listing(db) == before  # the CA added before the hosts step was taken out again
    assert (tmp_path / "hosts").read_text() == "10.1.2.3 iccert.nhi.gov.tw\n"
    assert not (tmp_path / "state" / inst.STATE_FILE).exists()

    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    # the machine's own systemctl (Debian 13 has one) is never asked: no user bus runs here
    script = (
        Script(fallback=inst.run_command)
        .on(["systemctl", "--user", "daemon-reload"], Result(0, "", ""))
        .on(["systemctl", "--user", "enable"], Result(1, "", "Failed to connect to bus"))
    )
    m = machine(tmp_path, nssdbs=[db], run=script, which=shutil.which)
    with pytest.raises(InstallFailed) as info:
        inst.install(m, service=True)
    assert "Failed to connect to bus" in (info.value.detail or "")
    assert listing(db) == before
    assert (tmp_path / "hosts").read_text() == "127.0.0.1 localhost\n"
    assert not service_file(m).exists()


def test_missing_certutil_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    m = machine(tmp_path, nssdbs=[db], which=lambda tool: None)
    with pytest.raises(InstallFailed) as info:
        inst.install(m, service=False)
    assert info.value.reason == "tool-missing"
    assert info.value.hint is not None and "libnss3-tools" in info.value.hint.en
    assert "libnss3-tools" in info.value.hint.zh


def test_unwritable_hosts_file_says_it_needs_privileges(tmp_path: Path) -> None:
    m = machine(tmp_path, nssdbs=[])
    real_open = open

    def denied(*a: object, **k: object):  # type: ignore[no-untyped-def]
        if a and str(a[0]) == str(m.hosts_file) and "r+b" in a[1:2]:
            raise PermissionError(13, "Permission denied")
        return real_open(*a, **k)  # type: ignore[call-overload]

    import builtins

    builtins_open = builtins.open
    builtins.open = denied  # type: ignore[assignment]
    try:
        with pytest.raises(InstallFailed) as info:
            inst.install(m, service=False)
    finally:
        builtins.open = builtins_open
    assert info.value.reason == "needs-privileges"
    assert info.value.hint is not None
    assert f"echo '{HOSTS_LINE}' | sudo tee -a {m.hosts_file}" in info.value.hint.en
    assert "自行加入" in info.value.hint.zh
    assert HOSTS_LINE not in m.hosts_file.read_text()

    # the person adds the line with sudo as told; install then recognises it
    with m.hosts_file.open("a") as fh:
        fh.write(HOSTS_LINE + "\n")
    builtins.open = denied  # type: ignore[assignment]
    try:
        changes = inst.install(m, service=False)
        assert [c.kind for c in changes] == ["certificate", "hosts"]
        with pytest.raises(InstallFailed) as info:
            inst.uninstall(m)
    finally:
        builtins.open = builtins_open
    assert info.value.hint is not None and "sudo sed -i.bak" in info.value.hint.en
    assert (tmp_path / "state" / inst.STATE_FILE).exists()  # not forgotten: rerun later
    inst.uninstall(m)
    assert HOSTS_LINE not in m.hosts_file.read_text()


@needs_certutil
def test_cli_install_status_uninstall(tmp_path: Path) -> None:
    db = new_nssdb(tmp_path / "db")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    env = {"NHICARD_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path / "home")}
    where = ["--hosts-file", str(hosts), "--nssdb", str(db)]

    dry = run_nhicard("--lang", "en", "agent", "install", "--dry-run", "--no-service", *where,
                      "--json", env=env)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["status"] == "dry-run"
    assert "would: add '127.0.0.1 iccert.nhi.gov.tw" in dry.stderr
    assert hosts.read_text() == "127.0.0.1 localhost\n" and NICKNAME not in listing(db)
    assert not (tmp_path / "state").exists()

    done = run_nhicard("agent", "install", "--no-service", *where, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert [c["kind"] for c in json.loads(done.stdout)["changes"]] == [
        "certificate", "nssdb", "hosts",
    ]  # fmt: skip
    assert "完成" in done.stderr  # zh-TW by default

    st = run_nhicard("--agent-url", "wss://127.0.0.1:1/echo", "agent", "status", *where,
                     "--format", "json", env=env)  # fmt: skip
    assert st.returncode == 0, st.stderr
    doc = json.loads(st.stdout)
    assert doc["installed"] and doc["trust"][0]["current"] and doc["hosts"]["ours"]
    assert doc["hosts"]["ok"] and doc["hosts"]["resolves_to"] == ["127.0.0.1"]  # from the file
    assert doc["answers"]["ok"] is False and doc["answers"]["url"] == "wss://127.0.0.1:1/echo"
    table = run_nhicard("--lang", "en", "--agent-url", "wss://127.0.0.1:1/echo", "agent",
                        "status", *where, "--format", "csv", env=env)  # fmt: skip
    assert table.stdout.splitlines()[0] == "item,ok,detail"
    assert "trust (nssdb)" in table.stdout

    gone = run_nhicard("agent", "uninstall", *where, "--json", env=env)
    assert gone.returncode == 0, gone.stderr
    assert hosts.read_text() == "127.0.0.1 localhost\n" and NICKNAME not in listing(db)
    again = run_nhicard("agent", "uninstall", *where, "--json", env=env)
    assert again.returncode == 0, again.stderr


def test_cli_conflict_message_in_both_languages(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.9.9.9 iccert.nhi.gov.tw\n")
    env = {"NHICARD_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path / "home")}
    args = ["agent", "install", "--no-service", "--hosts-file", str(hosts), "--nssdb",
            str(tmp_path)]  # fmt: skip
    en = run_nhicard("--lang", "en", *args, env=env)
    assert en.returncode == 1 and "already maps iccert.nhi.gov.tw to 10.9.9.9" in en.stderr
    zh = run_nhicard("--lang", "zh-TW", *args, env=env)
    assert zh.returncode == 1 and "已把 iccert.nhi.gov.tw 指向 10.9.9.9" in zh.stderr
    assert hosts.read_text() == "10.9.9.9 iccert.nhi.gov.tw\n"


# -- Linux service, scripted ---------------------------------------------------------------------


def test_linux_service_unit_and_commands(tmp_path: Path) -> None:
    script = Script()
    m = machine(tmp_path, nssdbs=[], run=script)
    inst.install(m, service=True)
    unit = service_file(m).read_text()
    assert "ExecStart=/opt/nhicard/bin/nhicard agent serve\n" in unit
    assert "WantedBy=default.target" in unit
    assert ["systemctl", "--user", "daemon-reload"] in script.calls
    assert ["systemctl", "--user", "enable", "--now", "nhicard-agent.service"] in script.calls
    script.on(["systemctl", "--user", "is-active"], Result(0, "active\n"))
    assert inst.status(m)["service"]["running"] is True
    inst.uninstall(m)
    assert ["systemctl", "--user", "disable", "--now", "nhicard-agent.service"] in script.calls
    assert not service_file(m).exists()
    assert linux.systemd_unit("d", ["/a b/nhicard", "agent"]).count('"/a b/nhicard"') == 1


# -- macOS, scripted -----------------------------------------------------------------------------

FIND_CERT = """keychain: "/Users/wang/Library/Keychains/login.keychain-db"
version: 512
class: 0x80001000
SHA-256 hash: 0C5D3E...
SHA-1 hash: {sha1}
attributes:
    "labl"<blob>="nhicard local agent CA"
"""
LAUNCHCTL_PRINT = """gui/501/tw.nhicard.agent = {
	active count = 1
	path = /Users/wang/Library/LaunchAgents/tw.nhicard.agent.plist
	state = running
	program = /opt/nhicard/bin/nhicard
}
"""


def test_macos_steps(tmp_path: Path) -> None:
    script = Script()
    m = machine(tmp_path, system="macos", run=script)
    changes = inst.install(m, service=True)
    assert [c.kind for c in changes] == ["certificate", "keychain", "hosts", "service"]
    keychain = str(tmp_path / "home" / "Library" / "Keychains" / "login.keychain-db")
    assert ["security", "add-trusted-cert", "-r", "trustRoot", "-k", keychain,
            str(m.ca_file)] in script.calls  # fmt: skip
    plist_path = macos.launchd_plist_path(m.home, inst.LAUNCHD_LABEL)
    plist = plistlib.loads(plist_path.read_bytes())
    assert plist["Label"] == "tw.nhicard.agent" and plist["ProgramArguments"] == SERVE
    assert plist["RunAtLoad"] is True
    assert ["launchctl", "bootstrap", "gui/501", str(plist_path)] in script.calls

    sha1 = inst.sha1_of(m.ca_file)
    script.on(["security", "find-certificate"], Result(0, FIND_CERT.format(sha1=sha1)))
    script.on(["launchctl", "print"], Result(0, LAUNCHCTL_PRINT))
    doc = inst.status(m)
    assert doc["trust"] == [
        {"store": "keychain", "target": keychain, "trusted": True, "current": True}
    ]
    assert doc["service"]["running"] is True
    assert macos.parse_keychain_hashes(FIND_CERT.format(sha1=sha1.lower())) == [sha1]
    assert macos.parse_launchd_state("nothing") is None

    inst.uninstall(m)
    assert ["security", "delete-certificate", "-Z", sha1, keychain] in script.calls
    assert ["launchctl", "bootout", "gui/501/tw.nhicard.agent"] in script.calls
    assert not plist_path.exists()


def test_macos_keychain_refusal_rolls_back(tmp_path: Path) -> None:
    script = Script().on(
        ["security", "add-trusted-cert"],
        Result(1, "", "SecTrustSettingsSetTrustSettings: The authorization was denied"),
    )
    m = machine(tmp_path, system="macos", run=script)
    hosts_before = m.hosts_file.read_text()
    with pytest.raises(InstallFailed):
        inst.install(m, service=True)
    assert m.hosts_file.read_text() == hosts_before
    assert not macos.launchd_plist_path(m.home, inst.LAUNCHD_LABEL).exists()


# -- Windows, scripted ---------------------------------------------------------------------------

CERTUTIL_STORE = """Root "Trusted Root Certification Authorities"
================ Certificate 0 ================
Serial Number: 4f1b
Issuer: CN=nhicard local agent CA, O=nhicard (this computer only)
Subject: CN=nhicard local agent CA, O=nhicard (this computer only)
Cert Hash(sha1): {spaced}
CertUtil: -store command completed successfully.
"""
SCHTASKS_LIST = """
Folder: \\
HostName:      PC-WANG
TaskName:      \\nhicard-agent
Next Run Time: N/A
Status:        Running
Logon Mode:    Interactive only
"""


def test_windows_steps(tmp_path: Path) -> None:
    script = Script()
    exe = [r"C:\Program Files\nhicard\nhicard.exe", "agent", "serve"]
    m = machine(tmp_path, system="windows", run=script, serve_command=exe)
    changes = inst.install(m, service=True)
    assert [c.kind for c in changes] == ["certificate", "windows-root", "hosts", "service"]
    assert ["certutil", "-user", "-f", "-addstore", "Root", str(m.ca_file)] in script.calls
    assert ["schtasks", "/Create", "/F", "/SC", "ONLOGON", "/RL", "LIMITED", "/TN",
            "nhicard-agent", "/TR", '"C:\\Program Files\\nhicard\\nhicard.exe" agent serve'
            ] in script.calls  # fmt: skip
    assert ["schtasks", "/Run", "/TN", "nhicard-agent"] in script.calls

    sha1 = inst.sha1_of(m.ca_file)
    spaced = " ".join(sha1[i : i + 2].lower() for i in range(0, 40, 2))
    assert windows.parse_certutil_hashes(CERTUTIL_STORE.format(spaced=spaced)) == [sha1]
    assert windows.parse_certutil_hashes(CERTUTIL_STORE.format(spaced=sha1.lower())) == [sha1]
    script.on(["certutil", "-user", "-store"], Result(0, CERTUTIL_STORE.format(spaced=spaced)))
    script.on(["schtasks", "/Query"], Result(0, SCHTASKS_LIST))
    doc = inst.status(m)
    assert doc["trust"][0] == {
        "store": "windows-root", "target": "CurrentUser\\Root", "trusted": True, "current": True,
    }  # fmt: skip
    assert doc["service"] == {
        "kind": "task-scheduler", "file": "nhicard-agent", "installed": True, "running": True,
    }  # fmt: skip
    assert windows.parse_schtasks_status("狀態:        執行中\n") == "執行中"

    inst.uninstall(m)
    assert ["certutil", "-user", "-delstore", "Root", sha1] in script.calls
    assert ["schtasks", "/End", "/TN", "nhicard-agent"] in script.calls
    assert ["schtasks", "/Delete", "/F", "/TN", "nhicard-agent"] in script.calls
    assert HOSTS_LINE not in m.hosts_file.read_text()


def test_windows_access_denied_says_administrator(tmp_path: Path) -> None:
    script = Script().on(["schtasks", "/Create"], Result(1, "", "ERROR: Access is denied."))
    m = machine(tmp_path, system="windows", run=script)
    with pytest.raises(InstallFailed) as info:
        inst.install(m, service=True)
    assert info.value.reason == "needs-privileges"
    assert info.value.hint is not None and "administrator" in info.value.hint.en
    assert ["certutil", "-user", "-delstore", "Root", inst.sha1_of(m.ca_file)] in script.calls or (
        # rolled back: the CA step's undo queried the store first
        ["certutil", "-user", "-store", "Root", inst.sha1_of(m.ca_file)] in script.calls
    )
    assert HOSTS_LINE not in m.hosts_file.read_text()


def test_nss_databases_found_for_every_browser_install(tmp_path: Path) -> None:
    home = tmp_path / "home"
    places = [
        home / ".pki" / "nssdb",
        home / ".mozilla" / "firefox" / "a1.default-release",
        home / "snap" / "firefox" / "common" / ".mozilla" / "firefox" / "b2.default",
        home / ".var" / "app" / "org.mozilla.firefox" / ".mozilla" / "firefox" / "c3.default",
        home / "snap" / "chromium" / "current" / ".pki" / "nssdb",
    ]
    for place in places:
        place.mkdir(parents=True)
        (place / "cert9.db").write_bytes(b"")
    (home / ".mozilla" / "firefox" / "no-db").mkdir()  # a profile never started: no cert9.db
    assert linux.find_nssdbs(home) == places
    assert linux.find_nssdbs(tmp_path / "nobody") == []


def test_machine_of_this_computer(tmp_path: Path) -> None:
    m = Machine.current(tmp_path, nssdbs=[tmp_path])
    assert m.system == "linux" and m.hosts_file == Path("/etc/hosts") and m.hosts_is_system
    assert m.nssdbs == [tmp_path] and m.serve_command[-2:] == ["agent", "serve"]
    other = Machine.current(tmp_path, hosts_file=tmp_path / "hosts")
    assert not other.hosts_is_system and other.nssdbs is None


# -- a Windows hosts file as Notepad saves it (Big5, CRLF) ---------------------------------------


def test_big5_crlf_hosts_file_round_trip(tmp_path: Path) -> None:
    from tests.support.hosts_samples import BIG5_CRLF

    (tmp_path / "hosts").write_bytes(BIG5_CRLF)
    m = machine(tmp_path, system="windows", run=Script())
    changes = inst.install(m, service=False)
    assert [c.kind for c in changes] == ["certificate", "windows-root", "hosts"]
    assert m.hosts_file.read_bytes() == BIG5_CRLF + HOSTS_LINE.encode() + b"\r\n"
    assert (tmp_path / "hosts.nhicard-backup").read_bytes() == BIG5_CRLF
    doc = inst.status(m)
    assert doc["hosts"]["ours"] and doc["hosts"]["entry"] == ["127.0.0.1"]

    inst.uninstall(m)
    assert m.hosts_file.read_bytes() == BIG5_CRLF  # the same bytes, line endings and all
    assert not (tmp_path / "hosts.nhicard-backup").exists()  # the file is back: not needed


def test_a_backup_that_differs_from_the_result_is_kept(tmp_path: Path) -> None:
    m = machine(tmp_path, nssdbs=[], run=Script())
    inst.install(m, service=False)
    with m.hosts_file.open("ab") as fh:
        fh.write(b"10.0.0.5 nas\n")  # the person edits the file while our line is in
    inst.uninstall(m)
    assert m.hosts_file.read_bytes().endswith(b"ip6-localhost\n10.0.0.5 nas\n")
    assert (tmp_path / "hosts.nhicard-backup").exists()


# -- pcsc-lite 2 with polkit ---------------------------------------------------------------------


def polkit_machine(tmp_path: Path, **kw: object) -> Machine:
    return machine(
        tmp_path,
        nssdbs=[],
        run=Script(),
        pcsc_polkit=True,
        polkit_rules_dir=tmp_path / "rules.d",
        user="wang",
        **kw,
    )


def test_as_root_install_adds_the_polkit_rule_and_uninstall_removes_it(tmp_path: Path) -> None:
    from nhicard.pcsc import polkit

    m = polkit_machine(tmp_path, is_root=True)
    changes = inst.install(m, service=True)
    assert [c.kind for c in changes] == ["certificate", "hosts", "polkit-rule", "service"]
    rule = tmp_path / "rules.d" / polkit.RULES_FILE
    assert rule.read_text() == polkit.rule_text("wang")
    assert (rule.stat().st_mode & 0o777) == 0o644  # polkitd reads it
    assert inst.notices(m) == []
    again = inst.install(m, service=True)  # granted already: no step, and still recorded
    assert "polkit-rule" not in [c.kind for c in again]
    inst.uninstall(m)
    assert not rule.exists()
    assert not service_file(m).exists()


def test_without_root_install_says_what_an_administrator_must_add(tmp_path: Path) -> None:
    from nhicard.pcsc import polkit

    m = polkit_machine(tmp_path, is_root=False)
    changes = inst.install(m, service=True)
    assert [c.kind for c in changes] == ["certificate", "hosts", "service"]
    assert not (tmp_path / "rules.d").exists()
    [notice] = inst.notices(m)
    rule_path = str(tmp_path / "rules.d" / polkit.RULES_FILE)
    for text in (notice.zh, notice.en):
        assert rule_path in text and "0x8010006A" in text and "nhicard agent serve" in text
        assert polkit.rule_text("wang").rstrip("\n") in text
    assert notice.render("en") == notice.en  # the rule's braces survive rendering
    assert inst.notices(m, service=False) == []  # no service: nothing polkit refuses

    (tmp_path / "rules.d").mkdir()
    (tmp_path / "rules.d" / polkit.RULES_FILE).write_text(polkit.rule_text("wang"))
    assert inst.notices(m) == []  # an administrator added it


def test_no_polkit_no_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.d"
    m = machine(
        tmp_path, nssdbs=[], run=Script(), is_root=True, user="wang", polkit_rules_dir=rules
    )
    assert [c.kind for c in inst.install(m, service=True)] == ["certificate", "hosts", "service"]
    assert inst.notices(m) == [] and not rules.exists()


def test_a_polkit_rule_that_cannot_be_written_rolls_back(tmp_path: Path) -> None:
    (tmp_path / "rules.d").write_text("not a directory")
    m = polkit_machine(tmp_path, is_root=True)
    hosts_before = m.hosts_file.read_bytes()
    with pytest.raises(InstallFailed) as info:
        inst.install(m, service=True)
    assert info.value.reason == "needs-privileges"
    assert "polkit" in info.value.message.en and "polkit" in info.value.message.zh
    assert m.hosts_file.read_bytes() == hosts_before
    assert not service_file(m).exists()


def test_cli_install_prints_the_polkit_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a pcscd that asks polkit, run without root: the rule is printed and in the JSON."""
    from click.testing import CliRunner

    from nhicard.cli.main import cli
    from nhicard.pcsc import polkit

    monkeypatch.setattr(linux, "pcsc_asks_polkit", lambda root=None: True)
    monkeypatch.setattr(polkit, "current_user", lambda: "wang")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("NHICARD_STATE_DIR", str(tmp_path / "state"))
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    args = ["--lang", "en", "agent", "install", "--dry-run", "--hosts-file", str(hosts),
            "--nssdb", str(tmp_path), "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [notice] = doc["notices"]
    assert "an administrator saves the rule below as /etc/polkit-1/rules.d/" in notice.lower()
    assert 'subject.user == "wang"' in notice and notice in result.stderr
    assert hosts.read_text() == "127.0.0.1 localhost\n"  # a dry run
