"""The Chromium-family browsers installed on this computer and their versions, per OS
(``env check``'s ``agent.browser-lna``: from which version Chrome and Edge ask before a web
site may reach this computer, issue 22).

- Linux: each browser's program (``chromium``, ``google-chrome-stable``,
  ``microsoft-edge-stable``, …) found on ``PATH`` and asked ``--version`` with a short
  deadline (it prints and exits without starting a browser; Debian's Chromium answers in
  about 30 ms). No cheaper source is common to every distribution: Chrome and Edge ship no
  version file.
- Windows: the version the browser records itself, ``version`` under
  ``HKCU\\Software\\<vendor>\\BLBeacon`` (written at every start), else the updater's
  ``pv`` of the installed build (``…\\Google\\Update\\Clients\\{8A69D345-…}`` for Chrome,
  ``…\\Microsoft\\EdgeUpdate\\Clients\\{56EB18F8-…}`` for Edge), read with ``reg query``.
- macOS: ``CFBundleShortVersionString`` of the app bundle's ``Contents/Info.plist``.

Each function takes its inputs (a command runner, ``which``, a root directory) as arguments,
so each OS is tested on any OS.
"""

from __future__ import annotations

import os
import plistlib
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nhicard.platform.base import Result, Runner, run_command

VERSION_DEADLINE = 3.0  # seconds for one ``--version`` or ``reg query``

_VERSION = re.compile(r"\b(\d{1,4})\.(\d{1,4})\.(\d{1,6})\.(\d{1,6})\b")

BROWSER_NAMES = {"chromium": "Chromium", "chrome": "Google Chrome", "edge": "Microsoft Edge"}


@dataclass(frozen=True)
class BrowserInstall:
    """One installed Chromium-family browser: ``browser`` is ``chromium``, ``chrome`` or
    ``edge`` (the names of :class:`nhicard.platform.base.PolicyPlace`), ``version`` its
    four-part version (None when it could not be read), ``source`` where it was found."""

    browser: str
    version: str | None
    source: str

    @property
    def name(self) -> str:
        return BROWSER_NAMES.get(self.browser, self.browser)

    @property
    def major(self) -> int | None:
        if self.version is None:
            return None
        return int(self.version.split(".", 1)[0])

    def describe(self) -> str:
        return f"{self.name} {self.version or '(version unknown)'}"


def parse_version(text: str) -> str | None:
    """The first four-part version in ``text`` (``Chromium 156.0.8078.129 built on …``)."""
    m = _VERSION.search(text)
    return ".".join(m.groups()) if m else None


# -- Linux ---------------------------------------------------------------------------------------

# per browser, the program names its packages put on PATH (first found wins)
LINUX_PROGRAMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("chromium", ("chromium", "chromium-browser")),
    ("chrome", ("google-chrome-stable", "google-chrome")),
    ("edge", ("microsoft-edge-stable", "microsoft-edge")),
)


def _version_command(argv: Sequence[str]) -> Result:
    return run_command(argv, timeout=VERSION_DEADLINE)


def linux_browsers(
    environ: Mapping[str, str],
    *,
    run: Runner = _version_command,
    which: Callable[[str, str | None], str | None] | None = None,
) -> list[BrowserInstall]:
    """The browsers whose programs are on ``PATH``, each asked ``--version``."""
    find = which or (lambda name, path: shutil.which(name, path=path))
    path = environ.get("PATH", os.defpath)
    found: list[BrowserInstall] = []
    for browser, programs in LINUX_PROGRAMS:
        program = next((p for p in (find(n, path) for n in programs) if p), None)
        if program is None:
            continue
        done = run([program, "--version"])
        version = parse_version(done.stdout) if done.returncode == 0 else None
        found.append(BrowserInstall(browser, version, program))
    return found


# -- Windows -------------------------------------------------------------------------------------

CHROME_CLIENT = "{8A69D345-D564-463c-AFF1-A69D9E530F96}"
EDGE_CLIENT = "{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}"
# per browser: (key, value) pairs holding its version, the browser's own record first
WINDOWS_KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("chromium", ((r"HKCU\Software\Chromium\BLBeacon", "version"),)),
    (
        "chrome",
        (
            (r"HKCU\Software\Google\Chrome\BLBeacon", "version"),
            (rf"HKLM\SOFTWARE\WOW6432Node\Google\Update\Clients\{CHROME_CLIENT}", "pv"),
            (rf"HKLM\SOFTWARE\Google\Update\Clients\{CHROME_CLIENT}", "pv"),
        ),
    ),
    (
        "edge",
        (
            (r"HKCU\Software\Microsoft\Edge\BLBeacon", "version"),
            (rf"HKLM\SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{EDGE_CLIENT}", "pv"),
            (rf"HKLM\SOFTWARE\Microsoft\EdgeUpdate\Clients\{EDGE_CLIENT}", "pv"),
        ),
    ),
)


def _reg_command(argv: Sequence[str]) -> Result:
    return run_command(argv, timeout=VERSION_DEADLINE)


def windows_browsers(run: Runner = _reg_command) -> list[BrowserInstall]:
    """The browsers with a version in the registry (``reg query KEY /v VALUE``)."""
    from nhicard.platform.windows import parse_reg_query

    found: list[BrowserInstall] = []
    for browser, keys in WINDOWS_KEYS:
        for key, value in keys:
            done = run(["reg", "query", key, "/v", value])
            if done.returncode != 0:
                continue
            version = parse_version(parse_reg_query(done.stdout).get(value, ""))
            if version is not None:
                found.append(BrowserInstall(browser, version, f"{key}\\{value}"))
                break
    return found


# -- macOS ---------------------------------------------------------------------------------------

MACOS_APPS = (
    ("chromium", "Applications/Chromium.app"),
    ("chrome", "Applications/Google Chrome.app"),
    ("edge", "Applications/Microsoft Edge.app"),
)


def macos_browsers(root: Path = Path("/")) -> list[BrowserInstall]:
    """The app bundles in ``/Applications`` and the version in their ``Info.plist``."""
    found: list[BrowserInstall] = []
    for browser, app in MACOS_APPS:
        bundle = root / app
        if not bundle.is_dir():
            continue
        info = bundle / "Contents" / "Info.plist"
        try:
            doc = plistlib.loads(info.read_bytes())
        except (OSError, plistlib.InvalidFileException, ValueError):
            doc = {}
        raw = doc.get("CFBundleShortVersionString") if isinstance(doc, dict) else None
        version = parse_version(raw) if isinstance(raw, str) else None
        found.append(BrowserInstall(browser, version, str(info)))
    return found


def installed_browsers(
    platform_name: str, environ: Mapping[str, str], *, run: Runner | None = None
) -> list[BrowserInstall]:
    """This computer's Chromium-family browsers, for the OS named ``platform_name``
    (``linux``, ``macos``, ``windows``: :data:`nhicard.platform.NAMES`)."""
    if platform_name == "windows":
        return windows_browsers(run or _reg_command)
    if platform_name == "macos":
        return macos_browsers()
    return linux_browsers(environ, run=run or _version_command)
