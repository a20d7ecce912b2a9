"""``agent.browser-lna``: Chrome/Chromium ≥ 142 (fetch) and ≥ 147 (WebSockets) and Edge ≥ 143
ask before the NHI page may reach this computer; warned with both fixes unless a managed
policy allows the NHI site. Fake browser versions; policy files in temporary directories,
written by ``agent install --browser-policy``'s own writer or by someone else."""

from __future__ import annotations

import json
import plistlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from nhicard.agent.serve.lna_policy import Writer
from nhicard.agent.serve.origins import CARD_SITES
from nhicard.envcheck import PASS, SKIP, WARN, CheckEnv, CheckResult, browser_lna, run_checks
from nhicard.envcheck.plan import all_check_ids
from nhicard.platform import linux as platform_linux
from nhicard.platform.base import PolicyPlace, Result
from nhicard.platform.browsers import BrowserInstall

CHROMIUM_156 = BrowserInstall("chromium", "156.0.8078.129", "/usr/bin/chromium")


def no_tools(argv: Sequence[str]) -> Result:
    raise AssertionError(f"no tool should run: {argv}")


def run(
    found: list[BrowserInstall], places: tuple[PolicyPlace, ...] = (), **kw: object
) -> CheckResult:
    env = CheckEnv(
        platform=platform_linux,
        environ={},
        browsers=lambda: found,
        browser_policy_places=places,
        run_tool=kw.pop("run_tool", no_tools),  # type: ignore[arg-type]
    )
    [result] = run_checks(browser_lna.checks(), env, budget=20)
    return result


def chromium_dir(tmp_path: Path) -> tuple[Path, tuple[PolicyPlace, ...]]:
    managed = tmp_path / "etc" / "chromium" / "policies" / "managed"
    return managed, (PolicyPlace("chromium", "json-dir", str(managed)),)


def test_the_check_is_part_of_env_check() -> None:
    ids = all_check_ids()
    assert "agent.browser-lna" in ids and "agent.official-ca" in ids
    assert ids.index("agent.browser-lna") > ids.index("agent.exposed")


def test_chromium_156_without_policy_warns_with_both_fixes(tmp_path: Path) -> None:
    _, places = chromium_dir(tmp_path)
    r = run([CHROMIUM_156], places)
    assert r.status == WARN
    assert r.summary.en.startswith(
        "Chromium 156.0.8078.129 asks before a web site may reach this computer (Local "
        "Network Access) and no policy allows https://cloudicweb.nhi.gov.tw"
    )
    assert "「讀取」 on the NHI page does nothing" in r.summary.en
    assert "區域網路存取權" in r.summary.zh and "「讀取」沒有反應" in r.summary.zh
    assert r.fix is not None
    for text in (r.fix.en, r.fix.zh):
        assert "nhicard agent install --browser-policy" in text
        assert "LocalNetworkAccessAllowedForUrls" in text
        assert "cloudicweb.nhi.gov.tw" in text
    assert "choose Allow" in r.fix.en and "Site settings" in r.fix.en
    assert "「允許」" in r.fix.zh and "網站設定" in r.fix.zh
    assert r.detail == (
        "Chromium 156.0.8078.129 (/usr/bin/chromium): asks for fetch and WebSockets; "
        "no LocalNetworkAccessAllowedForUrls policy"
    )


def test_the_policy_agent_install_writes_makes_it_pass(tmp_path: Path) -> None:
    managed, places = chromium_dir(tmp_path)
    Writer(no_tools).write(places[0], CARD_SITES, {})
    r = run([CHROMIUM_156], places)
    assert r.status == PASS, r
    assert r.summary.en == (
        "Chromium 156.0.8078.129: a managed policy allows https://cloudicweb.nhi.gov.tw to "
        "reach this computer"
    )
    assert "受管理政策允許" in r.summary.zh
    assert f"policy {managed}/zz-nhicard-local-network-access.json: allows" in r.detail


@pytest.mark.parametrize(
    ("patterns", "status"),
    [
        (["https://cloudicweb.nhi.gov.tw"], PASS),
        (["[*.]nhi.gov.tw"], PASS),
        (["https://[*.]gov.tw:443"], PASS),
        (["*"], PASS),
        (["https://eservice.nhi.gov.tw"], WARN),  # another NHI site only
        (["http://cloudicweb.nhi.gov.tw"], WARN),  # wrong scheme
        ([], WARN),
    ],
)
def test_someone_elses_policy_is_read_too(tmp_path: Path, patterns: list[str], status: str) -> None:
    managed, places = chromium_dir(tmp_path)
    managed.mkdir(parents=True)
    doc = {
        "HomepageLocation": "https://intranet.example",
        "LocalNetworkAccessAllowedForUrls": patterns,
    }
    (managed / "office.json").write_text(json.dumps(doc))
    assert run([CHROMIUM_156], places).status == status


def test_the_last_file_by_name_is_the_one_chromium_applies(tmp_path: Path) -> None:
    managed, places = chromium_dir(tmp_path)
    managed.mkdir(parents=True)
    (managed / "a-nhi.json").write_text('{"LocalNetworkAccessAllowedForUrls": ["[*.]nhi.gov.tw"]}')
    (managed / "b-office.json").write_text(
        '{"LocalNetworkAccessAllowedForUrls": ["https://printer.example"]}'
    )
    (managed / "c-other.json").write_text('{"HomepageLocation": "https://intranet.example"}')
    (managed / "d-broken.json").write_text("{ not json")
    r = run([CHROMIUM_156], places)
    assert r.status == WARN  # b-office.json replaces a-nhi.json's list
    assert f"policy {managed}/b-office.json: does not allow" in r.detail


@pytest.mark.parametrize(
    ("install", "status", "what"),
    [
        (BrowserInstall("chrome", "141.0.7390.122", "p"), PASS, "does not ask yet (fetch from 142)"),
        (BrowserInstall("chrome", "142.0.7444.59", "p"), WARN, "asks for fetch (WebSockets from 147)"),
        (BrowserInstall("chrome", "147.0.7600.1", "p"), WARN, "asks for fetch and WebSockets"),
        (BrowserInstall("edge", "142.0.3595.94", "p"), PASS, "does not ask yet (fetch from 143)"),
        (BrowserInstall("edge", "143.0.3650.66", "p"), WARN, "asks for fetch (WebSockets from 147)"),
        (BrowserInstall("chromium", None, "p"), WARN, "version unknown: may ask"),
    ],
)  # fmt: skip
def test_which_versions_ask(install: BrowserInstall, status: str, what: str) -> None:
    r = run([install])
    assert r.status == status
    assert what in r.detail
    if status == PASS:
        assert r.summary.en.endswith("this version does not ask for Local Network Access yet")
        assert "還不會詢問" in r.summary.zh


def test_one_browser_allowed_and_another_not(tmp_path: Path) -> None:
    managed, places = chromium_dir(tmp_path)
    Writer(no_tools).write(places[0], CARD_SITES, {})
    edge = BrowserInstall("edge", "144.0.1.2", "/usr/bin/microsoft-edge-stable")
    r = run([CHROMIUM_156, edge], places + (PolicyPlace("edge", "json-dir", str(tmp_path / "e")),))
    assert r.status == WARN
    assert r.summary.en.startswith("Microsoft Edge 144.0.1.2 asks before")
    assert "Chromium" not in r.summary.en


def test_no_chromium_family_browser_is_a_skip() -> None:
    r = run([])
    assert r.status == SKIP
    assert r.summary.en == "no Chrome, Chromium or Edge found (no Local Network Access to check)"
    assert "Chrome、Chromium 或 Edge" in r.summary.zh


def test_windows_registry_policy(tmp_path: Path) -> None:
    key = r"HKLM\SOFTWARE\Policies\Google\Chrome"
    place = PolicyPlace("chrome", "registry", key)
    chrome = BrowserInstall("chrome", "147.0.7600.1", r"HKCU\Software\Google\Chrome\BLBeacon")

    def reg(entries: dict[str, str]) -> object:
        def run_tool(argv: Sequence[str]) -> Result:
            assert list(argv) == ["reg", "query", key + r"\LocalNetworkAccessAllowedForUrls"]
            if not entries:
                return Result(1, "", "ERROR: The system was unable to find the specified key")
            lines = "".join(f"    {n}    REG_SZ    {u}\n" for n, u in entries.items())
            return Result(0, f"\n{argv[2]}\n{lines}\n")

        return run_tool

    assert run([chrome], (place,), run_tool=reg({})).status == WARN
    allowed = run([chrome], (place,), run_tool=reg({"1": "https://cloudicweb.nhi.gov.tw"}))
    assert allowed.status == PASS
    assert key + r"\LocalNetworkAccessAllowedForUrls: allows" in allowed.detail


def test_macos_managed_preferences_policy(tmp_path: Path) -> None:
    plist = tmp_path / "com.google.Chrome.plist"
    place = PolicyPlace("chrome", "plist", str(plist))
    chrome = BrowserInstall("chrome", "150.0.1.1", "/Applications/Google Chrome.app")
    assert run([chrome], (place,)).status == WARN
    plist.write_bytes(plistlib.dumps({"LocalNetworkAccessAllowedForUrls": ["[*.]nhi.gov.tw"]}))
    assert run([chrome], (place,)).status == PASS
