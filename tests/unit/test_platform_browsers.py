"""Finding the installed Chromium-family browsers and their versions per OS
(:mod:`nhicard.platform.browsers`), each OS with injected inputs: programs on PATH and their
``--version`` (Linux), ``reg query`` answers (Windows), app bundles' Info.plist (macOS)."""

from __future__ import annotations

import plistlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from nhicard.platform import browsers
from nhicard.platform.base import Result
from nhicard.platform.browsers import BrowserInstall, parse_version


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("Chromium 156.0.8078.129 built on Debian GNU/Linux 12 (bookworm)\n", "156.0.8078.129"),
        ("Google Chrome 142.0.7444.59 \n", "142.0.7444.59"),
        ("Microsoft Edge 143.0.3650.66\n", "143.0.3650.66"),
        ("Chromium 156.0.8078.129 snap\n", "156.0.8078.129"),
        ("", None),
        ("Chromium\n", None),
        ("Chromium 1.2.3\n", None),  # not a four-part version
    ],
)
def test_version_from_the_programs_output(output: str, version: str | None) -> None:
    assert parse_version(output) == version


def test_install_names_and_major() -> None:
    assert BrowserInstall("edge", "143.0.3650.66", "x").major == 143
    assert BrowserInstall("edge", "143.0.3650.66", "x").describe() == "Microsoft Edge 143.0.3650.66"
    unknown = BrowserInstall("chrome", None, "x")
    assert unknown.major is None
    assert unknown.describe() == "Google Chrome (version unknown)"


class Programs:
    """Programs on a fake PATH and what each prints for ``--version``."""

    def __init__(self, outputs: dict[str, Result]) -> None:
        self.outputs = outputs
        self.ran: list[list[str]] = []

    def which(self, name: str, path: str | None) -> str | None:
        assert path == "/usr/local/bin:/usr/bin"
        full = f"/usr/bin/{name}"
        return full if full in self.outputs else None

    def run(self, argv: Sequence[str]) -> Result:
        self.ran.append(list(argv))
        return self.outputs[argv[0]]


def test_linux_asks_each_browsers_program_for_its_version() -> None:
    progs = Programs({
        "/usr/bin/chromium": Result(0, "Chromium 156.0.8078.129 built on Debian\n"),
        "/usr/bin/google-chrome": Result(0, "Google Chrome 141.0.7390.54 \n"),
        "/usr/bin/microsoft-edge-stable": Result(124, "", "timed out"),
    })  # fmt: skip
    found = browsers.linux_browsers(
        {"PATH": "/usr/local/bin:/usr/bin"}, run=progs.run, which=progs.which
    )
    assert found == [
        BrowserInstall("chromium", "156.0.8078.129", "/usr/bin/chromium"),
        BrowserInstall("chrome", "141.0.7390.54", "/usr/bin/google-chrome"),
        BrowserInstall("edge", None, "/usr/bin/microsoft-edge-stable"),
    ]
    assert progs.ran == [
        ["/usr/bin/chromium", "--version"],
        ["/usr/bin/google-chrome", "--version"],
        ["/usr/bin/microsoft-edge-stable", "--version"],
    ]


def test_linux_without_any_browser() -> None:
    progs = Programs({})
    assert browsers.linux_browsers({"PATH": "/usr/local/bin:/usr/bin"}, run=progs.run,
                                   which=progs.which) == []  # fmt: skip
    assert progs.ran == []


def test_linux_real_path_finds_what_shutil_finds(tmp_path: Path) -> None:
    program = tmp_path / "chromium"
    program.write_text("#!/bin/sh\necho 'Chromium 150.0.1.2 built on test'\n")
    program.chmod(0o755)
    found = browsers.installed_browsers("linux", {"PATH": str(tmp_path)})
    assert found == [BrowserInstall("chromium", "150.0.1.2", str(program))]


def reg_answer(key: str, value: str, data: str) -> Result:
    return Result(0, f"\n{key}\n    {value}    REG_SZ    {data}\n\n")


def test_windows_reads_blbeacon_then_the_updaters_version() -> None:
    chrome_pv = rf"HKLM\SOFTWARE\WOW6432Node\Google\Update\Clients\{browsers.CHROME_CLIENT}"
    edge_beacon = r"HKCU\Software\Microsoft\Edge\BLBeacon"
    answers = {
        chrome_pv: reg_answer(chrome_pv, "pv", "142.0.7444.60"),
        edge_beacon: reg_answer(edge_beacon, "version", "143.0.3650.66"),
    }
    asked: list[list[str]] = []

    def run(argv: Sequence[str]) -> Result:
        asked.append(list(argv))
        assert argv[0:2] == ["reg", "query"] and argv[3] == "/v"
        # reg.exe prints its error in the UI language: only the exit status is used
        return answers.get(argv[2], Result(1, "", "錯誤: 系統找不到指定的登錄機碼或值。"))

    found = browsers.windows_browsers(run)
    assert found == [
        BrowserInstall("chrome", "142.0.7444.60", chrome_pv + "\\pv"),
        BrowserInstall("edge", "143.0.3650.66", edge_beacon + "\\version"),
    ]
    assert [a[2] for a in asked][:3] == [
        r"HKCU\Software\Chromium\BLBeacon",
        r"HKCU\Software\Google\Chrome\BLBeacon",
        chrome_pv,
    ]
    assert browsers.installed_browsers("windows", {}, run=run) == found


def test_macos_reads_the_app_bundles_info_plist(tmp_path: Path) -> None:
    chrome = tmp_path / "Applications" / "Google Chrome.app" / "Contents"
    chrome.mkdir(parents=True)
    (chrome / "Info.plist").write_bytes(
        plistlib.dumps({"CFBundleShortVersionString": "147.0.7600.10"}, fmt=plistlib.FMT_BINARY)
    )
    edge = tmp_path / "Applications" / "Microsoft Edge.app"
    edge.mkdir(parents=True)  # a broken bundle: found, version unknown
    assert browsers.macos_browsers(tmp_path) == [
        BrowserInstall("chrome", "147.0.7600.10", str(chrome / "Info.plist")),
        BrowserInstall("edge", None, str(edge / "Contents" / "Info.plist")),
    ]
    assert browsers.macos_browsers(tmp_path / "empty") == []
