"""Real PC/SC parts for tests: a private pcscd with the vpcd driver.

Each test session runs its own pcscd inside a private mount namespace (``unshare``), with its
socket bind-mounted from a temp dir and vpcd listening on two free loopback-reachable ports.
Clients find it through ``PCSCLITE_CSOCK_NAME``. So tests never touch a system pcscd, can stop
and restart theirs at will (the "pcscd not running / restarted" cases), and several test runs
can share one machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"


def free_port_range(count: int, host: str = "127.0.0.1") -> int:
    """A port P such that P … P+count-1 are all free on ``host``."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + count > 65535:
            continue
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind((host, port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no range of {count} free ports")


def free_port_pair() -> int:
    """A port P such that P and P+1 are both free (vpcd opens two slots on all interfaces)."""
    return free_port_range(2, host="0.0.0.0")


# A second program holding a reader's card exclusively (a clinic's HIS software, say): it
# prints the SCardConnect result, then holds the card until its stdin closes.
HOLD_EXCLUSIVE = """
import sys
import smartcard.scard as s
hr, ctx = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
hr, card, proto = s.SCardConnect(ctx, sys.argv[1], s.SCARD_SHARE_EXCLUSIVE,
                                 s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1)
print(hex(hr), flush=True)
sys.stdin.read()
s.SCardDisconnect(card, s.SCARD_LEAVE_CARD)
"""


@contextlib.contextmanager
def held_exclusively(reader: str) -> Iterator[None]:
    """While inside, another process holds the card in ``reader`` with SCARD_SHARE_EXCLUSIVE."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_EXCLUSIVE, reader],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "0x0"
        yield
    finally:
        holder.communicate("", timeout=10)


def have_real_pcsc() -> str | None:
    """None when the real stack can run here, else why not."""
    if not shutil.which("pcscd"):
        return "pcscd is not installed (apt-get install pcscd)"
    if not os.path.exists(VPCD_DRIVER):
        return "vpcd is not installed (apt-get install vsmartcard-vpcd)"
    if not shutil.which("unshare"):
        return "unshare is missing (util-linux)"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "a private pcscd needs its own mount namespace: run the tests as root"
    return None


class PcscStack:
    """A private pcscd with vpcd slots 0 and 1 on ``port`` and ``port + 1``; with
    ``readers=False`` a pcscd that has no reader at all (the "no reader" case)."""

    def __init__(self, workdir: Path, port: int | None = None, *, readers: bool = True) -> None:
        self.workdir = Path(workdir)
        self.readers = readers
        self.port = port or free_port_pair()
        self.run_dir = self.workdir / "run"
        self.conf_dir = self.workdir / "reader.conf.d"
        self.socket = self.run_dir / "pcscd.comm"
        self.log = self.workdir / "pcscd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # the environment a client (pyscard, nhicard) needs to talk to this pcscd
    def env(self) -> dict[str, str]:
        return {"PCSCLITE_CSOCK_NAME": str(self.socket), "NHICARD_VPCD_PORT": str(self.port)}

    def slot_port(self, slot: int) -> int:
        return self.port + slot

    def start(self, timeout: float = 10.0) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        vpcd_conf = self.conf_dir / "vpcd"
        if self.readers:
            vpcd_conf.write_text(
                'FRIENDLYNAME "Virtual PCD"\n'
                f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
                f"LIBPATH      {VPCD_DRIVER}\n"
                f"CHANNELID    0x{self.port:04X}\n"
            )
        else:
            vpcd_conf.unlink(missing_ok=True)
        for stale in (self.socket, self.run_dir / "pcscd.pid"):
            stale.unlink(missing_ok=True)
        script = (
            f"mount --bind {self.run_dir} /run/pcscd 2>/dev/null || "
            f"{{ mkdir -p /run/pcscd && mount --bind {self.run_dir} /run/pcscd; }}; "
            f"exec pcscd --foreground --error -c {self.conf_dir}"
        )
        logf = open(self.log, "ab")  # noqa: SIM115 - kept open for the daemon's lifetime
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pcscd exited: {self.log.read_text(errors='replace')}")
            if self.socket.exists() and (not self.readers or self._vpcd_listening()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"pcscd did not come up: {self.log.read_text(errors='replace')}")

    def _vpcd_listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                pass
        except OSError:
            return False
        # that probe connection looked like a card to vpcd for a moment; let it settle
        time.sleep(0.3)
        return True

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None
        self.socket.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
