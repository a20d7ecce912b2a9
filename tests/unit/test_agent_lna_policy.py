"""``agent install --browser-policy`` (issue 22, item 1): the managed policy
``LocalNetworkAccessAllowedForUrls`` per OS, written and removed exactly.

Linux's policy directories and macOS's managed-preferences plist in a temp dir; Windows'
``reg.exe`` with a scripted runner keeping a model of the key. The real Chromium reading the
policy: tests/e2e/test_e2e_browser_lna_policy.py."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from nhicard.agent.serve import install as inst
from nhicard.agent.serve import lna_policy
from nhicard.agent.serve.install import Result
from nhicard.platform import linux, macos, windows
from nhicard.platform.base import PolicyPlace
from tests.support.cli import nhicard_executable
from tests.support.install_kit import Script, machine

SITES = ["https://cloudicweb.nhi.gov.tw", "https://eservice.nhi.gov.tw", "https://ecpa.dgpa.gov.tw"]


@pytest.mark.parametrize(
    ("pattern", "origin", "allowed"),
    [
        ("https://cloudicweb.nhi.gov.tw", "https://cloudicweb.nhi.gov.tw", True),
        ("https://cloudicweb.nhi.gov.tw", "https://cloudicweb.nhi.gov.tw:443", True),
        ("https://cloudicweb.nhi.gov.tw", "http://cloudicweb.nhi.gov.tw", False),
        ("https://cloudicweb.nhi.gov.tw", "https://cloudicweb.nhi.gov.tw:8443", False),
        ("https://cloudicweb.nhi.gov.tw", "https://evil.cloudicweb.nhi.gov.tw", False),
        ("[*.]nhi.gov.tw", "https://cloudicweb.nhi.gov.tw", True),
        ("[*.]nhi.gov.tw", "https://nhi.gov.tw", True),
        ("[*.]nhi.gov.tw", "https://evilnhi.gov.tw", False),
        ("https://[*.]gov.tw:*", "https://cloudicweb.nhi.gov.tw:8443", True),
        ("cloudicweb.nhi.gov.tw", "https://cloudicweb.nhi.gov.tw", True),
        ("*://cloudicweb.nhi.gov.tw/cloudic/*", "https://cloudicweb.nhi.gov.tw", True),
        ("*", "https://anything.example", True),
        ("https://127.0.0.1:4443", "https://127.0.0.1:4443", True),
        ("https://printer.example", "https://cloudicweb.nhi.gov.tw", False),
        ("not a pattern at all", "https://cloudicweb.nhi.gov.tw", False),
    ],
)
def test_pattern_allows(pattern: str, origin: str, allowed: bool) -> None:
    assert lna_policy.pattern_allows(pattern, origin) is allowed


# -- Linux: our file in each browser's directory ------------------------------------------------


def linux_places(root: Path) -> list[PolicyPlace]:
    """The three browsers' places under ``root``; Chromium and Edge installed, Chrome not."""
    (root / "usr-bin-chromium").write_text("")
    (root / "opt-msedge").mkdir()
    return [
        PolicyPlace("chromium", "json-dir", str(root / "etc/chromium/policies/managed"),
                    (str(root / "usr-bin-chromium"),)),
        PolicyPlace("chrome", "json-dir", str(root / "etc/opt/chrome/policies/managed"),
                    (str(root / "opt-google-chrome"),)),
        PolicyPlace("edge", "json-dir", str(root / "etc/opt/edge/policies/managed"),
                    (str(root / "opt-msedge"),)),
    ]  # fmt: skip


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}  # fmt: skip


def test_linux_writes_each_installed_browser_and_uninstall_restores(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    places = linux_places(root)
    managed = Path(places[0].location)
    managed.mkdir(parents=True)  # Chromium's directory exists, with an office policy in it
    office = b'{"LocalNetworkAccessAllowedForUrls": ["https://printer.example"], "X": 1}\n'
    (managed / "office.json").write_bytes(office)
    before = snapshot(root)
    m = machine(tmp_path, is_root=True, policy_places=places)

    changes = inst.install(m, service=False, browser_policy=True)
    ours = [c for c in changes if c.kind == "browser-policy"]
    assert [c.target for c in ours] == [
        str(managed / linux.POLICY_FILE),
        str(root / "etc/opt/edge/policies/managed" / linux.POLICY_FILE),
    ]  # Chrome is not installed: nothing for it
    assert not (root / "etc/opt/chrome").exists()
    chromium = json.loads((managed / linux.POLICY_FILE).read_text())
    assert chromium == {"LocalNetworkAccessAllowedForUrls": ["https://printer.example", *SITES]}
    edge = json.loads(Path(ours[1].target).read_text())
    assert edge == {"LocalNetworkAccessAllowedForUrls": SITES}
    assert (managed / "office.json").read_bytes() == office
    # our file sorts after the others: Chromium takes a policy set twice from the last file
    assert sorted(p.name for p in managed.iterdir())[-1] == linux.POLICY_FILE

    status = {p["browser"]: p for p in inst.status(m)["browser_policy"]}
    assert set(status) == {"chromium", "edge"}
    assert status["chromium"]["ours"] and status["chromium"]["allows_nhi"]
    assert "https://printer.example" in status["chromium"]["patterns"]

    inst.install(m, service=False, browser_policy=True)  # again: harmless
    removed = inst.uninstall(m)
    assert {c.target for c in removed if c.kind == "browser-policy"} == {c.target for c in ours}
    assert snapshot(root) == before  # created directories gone, the office file byte for byte
    status = {p["browser"]: p for p in inst.status(m)["browser_policy"]}
    assert not status["chromium"]["ours"] and not status["chromium"]["allows_nhi"]


def test_linux_refuses_without_root_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    m = machine(tmp_path, is_root=False, policy_places=linux_places(root))
    before, hosts = snapshot(root), m.hosts_file.read_bytes()
    with pytest.raises(lna_policy.PolicyFailed) as info:
        inst.install(m, service=False, browser_policy=True)
    assert info.value.reason == "needs-privileges"
    assert "root/administrator" in info.value.message.en and "系統管理員" in info.value.message.zh
    assert info.value.hint is not None and "sudo" in info.value.hint.en
    assert snapshot(root) == before and m.hosts_file.read_bytes() == hosts
    # a dry run shows the plan without rights
    dry = inst.install(m, service=False, browser_policy=True, dry_run=True)
    assert [c.kind for c in dry].count("browser-policy") == 2


def test_linux_foreign_file_of_our_name_is_refused_and_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    places = linux_places(root)[:1]
    managed = Path(places[0].location)
    managed.mkdir(parents=True)
    (managed / linux.POLICY_FILE).write_bytes(b"{}")
    m = machine(tmp_path, is_root=True, policy_places=places)
    with pytest.raises(lna_policy.PolicyFailed) as info:
        inst.install(m, service=False, browser_policy=True)
    assert info.value.reason == "policy-conflict"
    assert (managed / linux.POLICY_FILE).read_bytes() == b"{}"
    assert inst.uninstall(m) is not None and (managed / linux.POLICY_FILE).read_bytes() == b"{}"


def test_linux_real_places() -> None:
    assert [p.location for p in linux.browser_policy_places()] == [
        "/etc/chromium/policies/managed",
        "/etc/opt/chrome/policies/managed",
        "/etc/opt/edge/policies/managed",
    ]


# -- Windows: values of the list keys, through reg.exe ------------------------------------------


class Registry:
    """reg.exe over a model: {key: {name: data}}; ``deny`` makes writes fail as non-admin."""

    def __init__(self, keys: dict[str, dict[str, str]], deny: bool = False) -> None:
        self.keys = keys
        self.deny = deny
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> Result:
        argv = list(argv)
        self.calls.append(argv)
        if argv[0] != "reg":
            return Result(0, "")
        op, key = argv[1], argv[2]
        if op == "query":
            if key not in self.keys:
                return Result(
                    1,
                    "",
                    "ERROR: The system was unable to find the specified registry key or value.",
                )
            lines = [f"    {n}    REG_SZ    {d}" for n, d in self.keys[key].items()]
            return Result(0, "\n" + key + "\n" + "\n".join(lines) + "\n\n")
        if self.deny:
            return Result(1, "", "ERROR: Access is denied.")
        if op == "add":
            self.keys.setdefault(key, {})[argv[4]] = argv[8]
        elif op == "delete" and "/v" in argv:
            del self.keys[key][argv[4]]
        elif op == "delete":
            del self.keys[key]
        return Result(0, "The operation completed successfully.")


CHROME_LIST = windows.CHROME_POLICY_KEY + "\\LocalNetworkAccessAllowedForUrls"
EDGE_LIST = windows.EDGE_POLICY_KEY + "\\LocalNetworkAccessAllowedForUrls"


def test_windows_adds_list_entries_and_removes_exactly_them(tmp_path: Path) -> None:
    reg = Registry({CHROME_LIST: {"1": "https://printer.example", "2": "https://ecpa.dgpa.gov.tw"}})
    m = machine(tmp_path, system="windows", is_root=True, run=reg)
    changes = inst.install(m, service=False, browser_policy=True)
    assert [c.target for c in changes if c.kind == "browser-policy"] == [CHROME_LIST, EDGE_LIST]
    assert reg.keys[CHROME_LIST] == {
        "1": "https://printer.example", "2": "https://ecpa.dgpa.gov.tw",
        "3": "https://cloudicweb.nhi.gov.tw", "4": "https://eservice.nhi.gov.tw",
    }  # fmt: skip
    assert reg.keys[EDGE_LIST] == {"1": SITES[0], "2": SITES[1], "3": SITES[2]}
    assert ["reg", "add", CHROME_LIST, "/v", "3", "/t", "REG_SZ", "/d", SITES[0], "/f"] in reg.calls
    status = {p["browser"]: p for p in inst.status(m)["browser_policy"]}
    assert status["chrome"]["allows_nhi"] and status["edge"]["ours"]

    inst.uninstall(m)
    # the entries that were there stay (also the eCPA one we did not add); Edge's key was ours
    assert reg.keys == {
        CHROME_LIST: {"1": "https://printer.example", "2": "https://ecpa.dgpa.gov.tw"}
    }


def test_windows_without_administrator(tmp_path: Path) -> None:
    reg = Registry({}, deny=True)
    m = machine(tmp_path, system="windows", is_root=False, run=reg)
    with pytest.raises(lna_policy.PolicyFailed) as info:
        inst.install(m, service=False, browser_policy=True)
    assert info.value.reason == "needs-privileges" and reg.keys == {}
    # were the check wrong, reg.exe's own refusal says the same and nothing is left
    m = machine(tmp_path, system="windows", is_root=True, run=reg)
    with pytest.raises(lna_policy.PolicyFailed) as info:
        inst.install(m, service=False, browser_policy=True)
    assert info.value.reason == "needs-privileges" and reg.keys == {}


def test_parse_reg_query() -> None:
    out = ("\nHKEY_LOCAL_MACHINE\\Software\\Policies\\Google\\Chrome\\LocalNetworkAccessAllowedForUrls\n"
           "    1    REG_SZ    https://cloudicweb.nhi.gov.tw\n    2    REG_SZ    [*.]gov.tw\n\n")  # fmt: skip
    assert windows.parse_reg_query(out) == {"1": "https://cloudicweb.nhi.gov.tw", "2": "[*.]gov.tw"}


# -- macOS: the managed-preferences plist ---------------------------------------------------------


def test_macos_plist_entries_added_and_removed_byte_for_byte(tmp_path: Path) -> None:
    prefs = tmp_path / "Managed Preferences"
    prefs.mkdir()
    chrome = prefs / "com.google.Chrome.plist"
    original = plistlib.dumps({"HomepageLocation": "https://intranet.example",
                               "LocalNetworkAccessAllowedForUrls": ["https://printer.example"]})  # fmt: skip
    chrome.write_bytes(original)
    places = [
        PolicyPlace("chrome", "plist", str(chrome)),
        PolicyPlace("edge", "plist", str(prefs / "com.microsoft.Edge.plist")),
    ]
    m = machine(tmp_path, system="macos", is_root=True, policy_places=places, run=Script())
    inst.install(m, service=False, browser_policy=True)
    doc = plistlib.loads(chrome.read_bytes())
    assert doc["LocalNetworkAccessAllowedForUrls"] == ["https://printer.example", *SITES]
    assert doc["HomepageLocation"] == "https://intranet.example"
    edge = plistlib.loads((prefs / "com.microsoft.Edge.plist").read_bytes())
    assert edge == {"LocalNetworkAccessAllowedForUrls": SITES}
    inst.uninstall(m)
    assert chrome.read_bytes() == original
    assert sorted(p.name for p in prefs.iterdir()) == ["com.google.Chrome.plist"]


def test_macos_real_places() -> None:
    assert [p.location for p in macos.browser_policy_places()] == [
        "/Library/Managed Preferences/com.google.Chrome.plist",
        "/Library/Managed Preferences/com.microsoft.Edge.plist",
    ]


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_browser_policy_without_root(tmp_path: Path) -> None:
    """The real CLI run as an unprivileged user: a clear message in both languages, exit 1
    (as the other install refusals), nothing changed (the check comes before any step)."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root")
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    prefix = as_user if os.geteuid() == 0 else []
    work = Path(tempfile.mkdtemp(prefix="nhicard-lna-"))
    work.chmod(0o777)
    try:
        hosts = work / "hosts"
        hosts.write_text("127.0.0.1 localhost\n")
        env = {**os.environ, "NHICARD_STATE_DIR": str(work / "state"), "HOME": str(work),
               "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}  # fmt: skip
        env.pop("NHICARD_LANG", None)
        args = ["agent", "install", "--no-service", "--browser-policy", "--hosts-file",
                str(hosts)]  # fmt: skip
        runs = {
            lang: subprocess.run(
                [*prefix, nhicard_executable(), "--lang", lang, *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )  # fmt: skip
            for lang in ("en", "zh-TW")
        }
        assert runs["en"].returncode == 1, runs["en"].stderr
        assert (
            "LocalNetworkAccessAllowedForUrls needs root/administrator rights" in runs["en"].stderr
        )
        assert "sudo" in runs["en"].stderr
        assert runs["zh-TW"].returncode == 1
        assert "需要 root/系統管理員權限" in runs["zh-TW"].stderr
        assert hosts.read_text() == "127.0.0.1 localhost\n" and not (work / "state").exists()
    finally:
        shutil.rmtree(work)
