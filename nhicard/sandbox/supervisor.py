"""Start, watch and stop the sandbox server process (``nhicard sandbox up|down|status``).

``start`` launches ``python -m nhicard.sandbox.server`` detached (own session, output in
``DIR/server.log``), waits until every part answers — each HTTPS site (GET verified with the
sandbox CA), the SMTP sink (``220`` banner), the SAM (handshake, then ``77<E>`` liveness) and, with a card,
the virtual card present in its reader — and returns the endpoints the server wrote.
``stop`` ends exactly the process named in ``DIR/server.pid`` and returns once it has exited
and its ports are free. A pid file whose process is
gone (or is some other program) is stale and removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from nhicard import platform
from nhicard.core.atomicfile import make_private
from nhicard.core.errors import NetworkError, PcscUnavailable, ReaderError, UsageError
from nhicard.core.i18n import T, Text
from nhicard.sites.sandbox_endpoints import ENDPOINTS_FILE, SandboxEndpoints, read_endpoints_doc

PID_FILE = "server.pid"
LOG_FILE = "server.log"
SERVER_MODULE = "nhicard.sandbox.server"
PART_COUNT = 5  # ports base+0 … base+4
DEFAULT_PORT_BASE = 8440
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PROBE_TIMEOUT = 2.0

ENDPOINT_KEYS = tuple(SandboxEndpoints().to_json())  # what `sandbox up` prints, in order


class PartState(StrEnum):
    """Whether a part of the sandbox answers (``sandbox status``'s ``state``)."""

    UP = "up"
    DOWN = "down"

    @classmethod
    def of(cls, answers: bool) -> PartState:
        return cls.UP if answers else cls.DOWN


@dataclass(frozen=True)
class PartStatus:
    part: str  # nhi, ecpa, elearn, smtp, sam, card
    address: str
    state: PartState

    def to_record(self) -> dict[str, str]:
        return {"part": self.part, "address": self.address, "state": self.state}


@dataclass(frozen=True)
class SandboxStatus:
    dir: Path
    pid: int | None
    parts: tuple[PartStatus, ...]

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def all_up(self) -> bool:
        return self.running and all(p.state == PartState.UP for p in self.parts)


# -- the pid file -------------------------------------------------------------------------
def _is_sandbox_process(pid: int) -> bool:
    """Alive, not a zombie, and (where /proc tells) running our server module."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive, but the /proc check decides
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():
        return True
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat[stat.rfind(")") + 2 :].startswith(("Z", "X")):
        return False
    return SERVER_MODULE.encode() in cmdline


def read_pid(sandbox_dir: Path) -> int | None:
    """The pid in ``DIR/server.pid`` when that process is our running server, else None
    (and a stale pid file is removed)."""
    path = sandbox_dir / PID_FILE
    try:
        pid = int(path.read_text().strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    if pid > 0 and _is_sandbox_process(pid):
        return pid
    path.unlink(missing_ok=True)
    (sandbox_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    return None


def read_endpoints(sandbox_dir: Path) -> dict[str, Any] | None:
    """The server's ``endpoints.json`` as written, or None when absent or broken."""
    return read_endpoints_doc(sandbox_dir / ENDPOINTS_FILE)


# -- probes -------------------------------------------------------------------------------
def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def probe_https(url: str, ca_bundle: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """A GET verified with the sandbox CA answers below 500."""
    import ssl

    import httpx

    try:
        verify = ssl.create_default_context(cafile=ca_bundle)
        with httpx.Client(verify=verify, timeout=timeout, follow_redirects=False) as client:
            return client.get(url).status_code < 500
    except (httpx.HTTPError, OSError, ValueError):
        return False


def probe_smtp(address: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """The SMTP server greets with 220."""
    try:
        with socket.create_connection(_host_port(address), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(512)
            sock.sendall(b"QUIT\r\n")
    except (OSError, ValueError):
        return False
    return banner.startswith(b"220")


def probe_sam(address: str, wrap_key: bytes, timeout: float = PROBE_TIMEOUT) -> bool:
    """The SAM completes the key handshake and answers the liveness check ``77<E>``."""
    from nhicard.agent.sam.client import SamClient, SamEndpoint
    from nhicard.core.errors import NhicardError

    try:
        host, port = _host_port(address)
        with SamClient(SamEndpoint(host, port, wrap_key), timeout=timeout) as client:
            client.open()
    except (NhicardError, OSError, ValueError):
        return False
    return True


def probe_card(reader: str) -> bool:
    """The reader exists and holds a card (asked of PC/SC)."""
    from nhicard.core.errors import NhicardError

    try:
        from nhicard.pcsc.readers import ReaderState, list_readers

        readers = list_readers(probe=None)
    except (NhicardError, ImportError, OSError):
        return False
    return any(
        r.name == reader and r.state in (ReaderState.PRESENT, ReaderState.IN_USE) for r in readers
    )


def _wrap_key(sandbox_dir: Path) -> bytes | None:
    from nhicard.core.errors import NhicardError
    from nhicard.sites.sandbox_endpoints import load_wrap_key

    try:
        return load_wrap_key(sandbox_dir)
    except NhicardError:
        return None


def probe_parts(endpoints: Mapping[str, Any], sandbox_dir: Path) -> tuple[PartStatus, ...]:
    """The state of every part the endpoints name (the SAM's wrap key is in the dir)."""
    ca = str(endpoints.get("ca_bundle", ""))
    parts = []
    for part, url_key in (("nhi", "nhi_url"), ("ecpa", "ecpa_url"), ("elearn", "elearn_url")):
        url = str(endpoints.get(url_key, ""))
        parts.append(PartStatus(part, url, PartState.of(bool(url and probe_https(url, ca)))))
    smtp = str(endpoints.get("smtp", ""))
    parts.append(PartStatus("smtp", smtp, PartState.of(bool(smtp and probe_smtp(smtp)))))
    sam = str(endpoints.get("sam", ""))
    key = _wrap_key(sandbox_dir)
    sam_up = bool(sam) and key is not None and probe_sam(sam, key)
    parts.append(PartStatus("sam", sam, PartState.of(sam_up)))
    for reader in endpoints.get("readers") or []:
        parts.append(PartStatus("card", str(reader), PartState.of(bool(probe_card(str(reader))))))
    return tuple(parts)


# -- start / stop / status ----------------------------------------------------------------
def _already_running(sandbox_dir: Path, pid: int) -> UsageError:
    return UsageError(
        T(
            "沙盒已在執行中(程序 {pid},目錄 {dir})。",
            "The sandbox is already running (process {pid}, directory {dir}).",
        ).format(pid=pid, dir=str(sandbox_dir)),
        hint=T(
            "先執行 nhicard sandbox down,或用 --dir 指定另一個目錄。",
            "Run nhicard sandbox down first, or choose another directory with --dir.",
        ),
        reason="already-running",
    )


def open_log(path: Path) -> int:
    """The server's log, opened for appending with mode 0600 whatever the umask (it can show
    e-mail addresses and names)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        make_private(fd, path)
    except OSError:
        os.close(fd)
        raise
    return fd


def check_ports_free(port_base: int, host: str = "127.0.0.1") -> None:
    """Every port the sandbox needs can be bound, else NetworkError naming the busy one."""
    for port in range(port_base, port_base + PART_COUNT):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # as a server claims its port: a port left in TIME_WAIT by the last `down` is free,
            # one another program listens on is not (also on Windows)
            platform.current().prepare_listener(sock)
            try:
                sock.bind((host, port))
            except OSError:
                raise NetworkError(
                    T(
                        "連接埠 {port} 已被其他程式使用,沙盒無法啟動。",
                        "Port {port} is already in use; the sandbox cannot start.",
                    ).format(port=port),
                    hint=T(
                        "用 --port-base 選另一組連接埠(沙盒使用連續 5 個)。",
                        "Choose other ports with --port-base (the sandbox uses 5 in a row).",
                    ),
                    reason="port-in-use",
                ) from None


VIRTUAL_READER = "Virtual PCD 00 00"  # vpcd slot 0, where the server puts the virtual card
NO_CARD_HINT = T(
    "請啟動含 vpcd(vsmartcard-vpcd)的 pcscd,或加上 --no-card 不放虛擬卡。",
    "Start pcscd with vpcd (vsmartcard-vpcd), or add --no-card to run without a virtual card.",
)


def check_virtual_reader(reader: str = VIRTUAL_READER) -> None:
    """PC/SC answers and lists the vpcd reader the virtual card will sit in."""
    from nhicard.core.errors import NhicardError
    from nhicard.pcsc.names import list_reader_names

    try:
        names = list_reader_names()
    except NhicardError as err:
        raise PcscUnavailable(
            Text(
                f"無法使用 PC/SC,虛擬健保卡無法插入:{err.message.zh}",
                f"PC/SC is unavailable, so the virtual NHI card cannot be inserted: "
                f"{err.message.en}",
            ),
            hint=NO_CARD_HINT,
            reason="pcsc-unavailable",
        ) from None  # fmt: skip
    if reader not in names:
        raise ReaderError(
            T("找不到虛擬讀卡機 {reader}(vpcd)。", "The virtual reader {reader} (vpcd) was not "
              "found.").format(reader=reader),
            hint=NO_CARD_HINT,
            reason="no-virtual-reader",
        )  # fmt: skip


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def server_command(
    sandbox_dir: Path, *, data_file: Path | None, port_base: int, card: bool
) -> list[str]:
    cmd = [sys.executable, "-m", SERVER_MODULE, "--dir", str(sandbox_dir)]
    cmd += ["--port-base", str(port_base)]
    if data_file is not None:
        cmd += ["--data", str(data_file)]
    if not card:
        cmd.append("--no-card")
    return cmd


def check_data_file(path: Path) -> None:
    """Everything of a data file the server will read: people, ``[faults]``, ``[settings]``.
    Errors name the file, the table and the key (UsageError, exit 2)."""
    from nhicard.core.errors import UsageError
    from nhicard.core.i18n import T
    from nhicard.sandbox.context import SiteSettings
    from nhicard.sandbox.data import load_data
    from nhicard.sandbox.faults import SandboxFaults

    data = load_data(path)
    try:
        SandboxFaults.from_data(data.extra)
        SiteSettings.parse(data.extra.get("settings"), {})
    except UsageError as err:
        raise UsageError(
            T("沙盒資料檔 {path} 有誤:{zh}", "sandbox data file {path} is invalid: {en}").format(
                path=str(path), zh=err.message.zh, en=err.message.en
            ),
            hint=err.hint,
            reason=err.reason,
        ) from None


EXTRA_MODULES = ("uvicorn", "starlette", "jinja2", "aiosmtpd")  # the [sandbox] extra's


def missing_extra_modules(modules: Sequence[str] = EXTRA_MODULES) -> list[str]:
    """The modules of the ``[sandbox]`` extra the server process needs that cannot be found."""
    import importlib.util

    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a blocked or half-imported module
            found = False
        if not found:
            missing.append(name)
    return missing


def check_extra() -> None:
    """The ``[sandbox]`` extra is installed, else UsageError naming the install command.

    Exit 2 like other errors the user fixes before the command can run at all: nothing was
    started or reached, and the fix is one command of theirs, not a retry."""
    missing = missing_extra_modules()
    if not missing:
        return
    names = ", ".join(missing)
    raise UsageError(
        T(
            "沙盒需要選用套件組 nhicard[sandbox],目前缺少:{names}",
            "the sandbox needs the optional nhicard[sandbox] extra; missing: {names}",
        ).format(names=names),
        hint=T(
            "以 pipx 安裝者請執行:pipx inject nhicard 'nhicard[sandbox]';"
            "以 pip 安裝者請執行:pip install 'nhicard[sandbox]'。",
            "Installed with pipx: pipx inject nhicard 'nhicard[sandbox]'; installed with pip: "
            "pip install 'nhicard[sandbox]'.",
        ),
        reason="missing-extra",
    )


def running_endpoints(sandbox_dir: Path) -> dict[str, Any] | None:
    """The endpoints of the server already running in ``sandbox_dir``, or None."""
    sandbox_dir = Path(sandbox_dir).resolve()
    pid = read_pid(sandbox_dir)
    if pid is None:
        return None
    endpoints = read_endpoints(sandbox_dir)
    if endpoints is None or endpoints.get("pid") != pid:
        return None  # still starting (or its file is broken)
    return endpoints


def data_file_of(pid: int) -> Path | None:
    """The ``--data`` file a running server was started with (where /proc tells)."""
    try:
        argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == b"--data":
            return Path(os.fsdecode(value))
    return None


def start(
    sandbox_dir: Path,
    *,
    data_file: Path | None = None,
    port_base: int = DEFAULT_PORT_BASE,
    card: bool = True,
    timeout: float = START_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Start the server and return its endpoints once every part answers."""
    sandbox_dir = Path(sandbox_dir).resolve()
    check_extra()
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    pid = read_pid(sandbox_dir)
    if pid is not None:
        raise _already_running(sandbox_dir, pid)
    if data_file is not None:
        check_data_file(data_file)  # a bad file is reported here, not in the server's log
        data_file = Path(data_file).resolve()
    check_ports_free(port_base)
    if card:
        check_virtual_reader()
    (sandbox_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    with open(open_log(sandbox_dir / LOG_FILE), "ab") as log:
        child = subprocess.Popen(
            server_command(sandbox_dir, data_file=data_file, port_base=port_base, card=card),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
            cwd=str(sandbox_dir),
        )
    try:
        return _wait_until_up(sandbox_dir, child, timeout, card)
    except BaseException:
        _terminate(child.pid, STOP_TIMEOUT, reap=child)
        (sandbox_dir / PID_FILE).unlink(missing_ok=True)
        (sandbox_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        raise


def _wait_until_up(
    sandbox_dir: Path, child: subprocess.Popen[bytes], timeout: float, card: bool
) -> dict[str, Any]:
    log_path = sandbox_dir / LOG_FILE
    deadline = time.monotonic() + timeout
    parts: tuple[PartStatus, ...] = ()
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise NetworkError(
                T(
                    "沙盒伺服器啟動失敗(結束碼 {rc})。",
                    "The sandbox server failed to start (exit code {rc}).",
                ).format(rc=child.returncode),
                hint=T("詳見記錄檔 {log}。", "See the log {log}.").format(log=str(log_path)),
                detail=_log_tail(log_path) or None,
                reason="server-exited",
            )
        endpoints = read_endpoints(sandbox_dir)
        if endpoints is not None and endpoints.get("pid") == child.pid:
            parts = probe_parts(endpoints, sandbox_dir)
            if all(p.state == PartState.UP for p in parts):
                return endpoints
        time.sleep(0.1)
    down = [p for p in parts if p.state == PartState.DOWN]
    if card and down and all(p.part == "card" for p in down):
        raise PcscUnavailable(
            T(
                "虛擬健保卡未出現在讀卡機 {reader}。",
                "The virtual NHI card did not appear in reader {reader}.",
            ).format(reader=down[0].address),
            hint=NO_CARD_HINT,
            reason="card-not-present",
        )
    names = ", ".join(p.part for p in down) or "-"
    raise NetworkError(
        T(
            "沙盒在 {timeout:.0f} 秒內未完全啟動(未回應:{parts})。",
            "The sandbox did not come up within {timeout:.0f} s (not answering: {parts}).",
        ).format(timeout=timeout, parts=names),
        hint=T("詳見記錄檔 {log}。", "See the log {log}.").format(log=str(log_path)),
        reason="start-timeout",
    )


def _exited(pid: int) -> bool:
    """The process is gone, or only a zombie is left (its sockets are closed by then).

    Asked of the kernel alone: a process that is exiting has an empty ``cmdline`` before it
    has closed its sockets, so "not our server any more" is not "stopped"."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return Path("/proc/self").exists()  # no /proc entry: gone (where /proc exists)
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith(("Z", "X"))


def _gone(pid: int, reap: subprocess.Popen[bytes] | None) -> bool:
    if reap is not None:
        return reap.poll() is not None
    return _exited(pid)


def _wait_gone(pid: int, reap: subprocess.Popen[bytes] | None, deadline: float) -> bool:
    while True:
        if _gone(pid, reap):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _terminate(pid: int, timeout: float, reap: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, then after ``timeout`` SIGKILL to the server's process group; returns once
    the process has exited."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _wait_gone(pid, reap, time.monotonic() + timeout):
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, reap, time.monotonic() + 5)


def endpoint_ports(endpoints: Mapping[str, Any] | None) -> list[tuple[str, int]]:
    """The (host, port) of every listening part named in ``endpoints.json``."""
    from urllib.parse import urlsplit

    out: list[tuple[str, int]] = []
    for key in ("nhi_url", "ecpa_url", "elearn_url"):
        with contextlib.suppress(ValueError, TypeError):
            parts = urlsplit(str((endpoints or {}).get(key) or ""))
            if parts.hostname and parts.port:
                out.append((parts.hostname, parts.port))
    for key in ("smtp", "sam"):
        with contextlib.suppress(ValueError, TypeError):
            address = str((endpoints or {}).get(key) or "")
            if address:
                out.append(_host_port(address))
    return out


def _port_bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        platform.current().prepare_listener(sock)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_ports_free(ports: Sequence[tuple[str, int]], timeout: float = STOP_TIMEOUT) -> bool:
    """Wait until every port can be bound again (as ``sandbox up`` will); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if all(_port_bindable(host, port) for host, port in ports):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def stop(sandbox_dir: Path, *, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the server named in the pid file; its pid, or None when none was running.

    Returns only once the server process has exited and every port it listened on can be
    bound again, so ``sandbox up`` right after always finds them free."""
    sandbox_dir = Path(sandbox_dir).resolve()
    pid = read_pid(sandbox_dir)
    if pid is None:
        return None
    ports = endpoint_ports(read_endpoints(sandbox_dir))
    _terminate(pid, timeout)
    wait_ports_free(ports, timeout)
    (sandbox_dir / PID_FILE).unlink(missing_ok=True)
    (sandbox_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
    return pid


def status(
    sandbox_dir: Path,
    *,
    probe: Callable[[Mapping[str, Any], Path], tuple[PartStatus, ...]] = probe_parts,
) -> SandboxStatus:
    """Which parts answer. Without a running server every part is ``down``."""
    sandbox_dir = Path(sandbox_dir).resolve()
    pid = read_pid(sandbox_dir)
    endpoints = read_endpoints(sandbox_dir) if pid is not None else None
    if endpoints is None:
        names = ("nhi", "ecpa", "elearn", "smtp", "sam")
        return SandboxStatus(
            sandbox_dir, pid, tuple(PartStatus(n, "", PartState.DOWN) for n in names)
        )
    return SandboxStatus(sandbox_dir, pid, probe(endpoints, sandbox_dir))
