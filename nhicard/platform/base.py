"""The interface every per-OS module implements, and the types it speaks in."""

from __future__ import annotations

import codecs
import locale
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import Protocol

from nhicard.core.i18n import Text


class ServiceStatus(StrEnum):
    """Whether the PC/SC service runs (as ``env check`` reports it)."""

    RUNNING = "running"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


RUNNING, STOPPED, UNKNOWN = ServiceStatus.RUNNING, ServiceStatus.STOPPED, ServiceStatus.UNKNOWN


class TrustStore(StrEnum):
    """The certificate stores an OS offers (``Platform.TRUST_STORES``); ``agent install``
    records them as change kinds."""

    NSSDB = "nssdb"  # a user's NSS database (Chrome/Chromium on Linux)
    SYSTEM_STORE = "system-store"  # Debian's ca-certificates
    KEYCHAIN = "keychain"  # macOS
    WINDOWS_ROOT = "windows-root"  # the Windows user's Root store


@dataclass(frozen=True)
class ServiceState:
    """State of the PC/SC service and how we know."""

    state: ServiceStatus
    detail: str


# -- running the OS's tools --------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str = ""


class Runner(Protocol):
    def __call__(self, argv: Sequence[str]) -> Result: ...


def output_encoding() -> str:
    """How the OS's console tools encode what they print. Windows' ``sc``, ``schtasks`` and
    ``certutil`` write in the console's OEM code page also into a pipe (cp950 on a zh-TW
    Windows, cp850 on a French one: not the ANSI code page Python would pick); Python knows
    that code page as ``oem`` on Windows only. Elsewhere: the locale's encoding."""
    try:
        return codecs.lookup("oem").name
    except LookupError:
        return locale.getpreferredencoding(False)


def decode_output(data: bytes, encoding: str) -> str:
    """A tool's output as text, never an error: UTF-8 when it is valid UTF-8 (a console set
    to code page 65001, or plain ASCII), else ``encoding`` with undecodable bytes replaced."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("latin-1")


def run_command(
    argv: Sequence[str], *, timeout: float = 60.0, encoding: str | None = None
) -> Result:
    """Run a tool (never with secrets in argv) and return its status and its output as text
    (universal newlines); a missing program is 127, a timeout 124, another failure to start
    it 126."""
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return Result(127, "", f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        return Result(124, "", f"{argv[0]}: timed out")
    except OSError as exc:
        return Result(126, "", f"{argv[0]}: {exc.strerror or exc}")
    enc = encoding or output_encoding()
    return Result(done.returncode, _text(done.stdout, enc), _text(done.stderr, enc))


def _text(data: bytes, encoding: str) -> str:
    """Decoded, with universal newlines (as ``subprocess``'s text mode gives)."""
    return decode_output(data, encoding).replace("\r\n", "\n").replace("\r", "\n")


# -- a program started at login ----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """What a login service runs, and its names on each OS."""

    name: str  # the systemd unit's and the Task Scheduler task's name
    label: str  # the launchd label (reverse DNS)
    description: str
    command: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    """One command of setting a login service up or taking it down. ``fails_as`` is what a
    failure is reported as; None: a failure does not matter (stopping what is not running)."""

    argv: tuple[str, ...]
    fails_as: Text | None = None


@dataclass(frozen=True)
class LoginService:
    """A login service as one OS does it. Set up: check ``tool``, write ``file`` (when
    there is one), run ``start``. Taken down (only when installed): run ``stop``, remove
    ``file``, run ``after_stop``. Installed: ``file`` exists, or (without a file) ``query``
    exits 0; ``running`` reads ``query``'s output."""

    kind: str  # "systemd-user", "launchd", "task-scheduler" (agent status's JSON)
    target: str  # its file, or the task's name
    describe: Text
    query: tuple[str, ...]
    running: Callable[[str], bool]
    file: Path | None = None
    content: bytes = b""
    tool: str | None = None
    tool_missing: Text | None = None
    start: tuple[Command, ...] = ()
    stop: tuple[Command, ...] = ()
    after_stop: tuple[Command, ...] = ()


# -- browser policy: where a Chromium-family browser reads its managed policies ----------------


@dataclass(frozen=True)
class PolicyPlace:
    """Where one Chromium-family browser reads managed policies on one OS.

    ``kind`` says what ``location`` is: ``json-dir`` (Linux: a directory of JSON files, each
    one a dict of policies; we add a file of our own), ``registry`` (Windows: the browser's
    policy key under HKLM; a list policy is a subkey whose values ``1``, ``2``, … are the
    entries) or ``plist`` (macOS: the managed-preferences plist of the browser's domain).
    ``detect``: paths any of which existing says the browser is installed (empty: ask
    nothing, always write)."""

    browser: str  # "chromium", "chrome", "edge"
    kind: str  # "json-dir", "registry", "plist"
    location: str
    detect: tuple[str, ...] = ()


# -- what every OS module provides -------------------------------------------------------------


class Platform(Protocol):
    """The names every module of this package defines (``linux``, ``macos``, ``windows``)."""

    NAME: str
    HOSTS_NEWLINE: bytes  # the line ending of a hosts file this OS writes
    TRUST_STORES: tuple[TrustStore, ...]  # where ``agent install`` trusts its CA, in order

    def hosts_file_path(self, environ: Mapping[str, str]) -> PurePath: ...

    def hosts_editor(self) -> Text: ...

    def hosts_command(
        self, path: PurePath, line: str, mark: str, *, removing: bool
    ) -> str | None: ...

    def pcsc_service_state(self, environ: Mapping[str, str]) -> ServiceState: ...

    def pcsc_service_fix(self) -> Text: ...

    def pcsc_library_fix(self) -> Text: ...

    def pcsc_asks_polkit(self, root: Path = ...) -> bool: ...

    def pyscard_fix(self) -> Text: ...

    def reader_driver_fix(self) -> Text: ...

    def component_download_url(self) -> str: ...

    def component_install_dir(self, environ: Mapping[str, str]) -> Path | None: ...

    def trusted_roots_note(self) -> Text: ...

    def login_service(self, spec: ServiceSpec, home: Path, uid: int) -> LoginService: ...

    def prepare_listener(self, sock: socket.socket) -> None: ...

    def browser_policy_places(self) -> tuple[PolicyPlace, ...]: ...


def posix_hosts_command(path: PurePath, line: str, mark: str, *, removing: bool) -> str:
    """The shell command that adds ``line`` to the hosts file (or removes the lines carrying
    ``mark``) with sudo."""
    if removing:
        return f"sudo sed -i.bak '/{mark.lstrip('# ')}/d' {path}"
    return f"echo '{line}' | sudo tee -a {path}"


def reuse_address(sock: socket.socket) -> None:
    """POSIX: a restarted server binds its port again at once (a closed connection's
    TIME_WAIT does not hold it), while a second live listener on it still fails."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
