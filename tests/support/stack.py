"""Real PC/SC parts for tests: a private pcscd with the vpcd driver.

Each test session runs its own pcscd inside a private mount namespace (``unshare``), with its
socket bind-mounted from a temp dir and vpcd listening on two free loopback-reachable ports.
Clients find it through ``PCSCLITE_CSOCK_NAME``. So tests never touch a system pcscd, can stop
and restart theirs at will (the "pcscd not running / restarted" cases), and several test runs
can share one machine.
"""

from __future__ import annotations

import contextlib
import functools
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
POLKITD_PATHS = (
    "/usr/lib/polkit-1/polkitd",
    "/usr/libexec/polkitd",
    "/usr/libexec/polkit-1/polkitd",
)

# How a private pcscd treats polkit (pcsc-lite 2.x built with it, as Debian 13's is):
POLKIT_OFF = "off"  # --disable-polkit where pcscd has it: every client allowed, as before 2.0
POLKIT_UNREACHABLE = "unreachable"  # polkit on, no polkitd to ask: every client refused, root too
POLKIT_DAEMON = "polkitd"  # polkit on, a private system bus and polkitd with our rules.d


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


# A client that only establishes a context and prints the result (0x0 when let in).
ESTABLISH = """
import smartcard.scard as s
print(hex(s.SCardEstablishContext(s.SCARD_SCOPE_USER)[0] & 0xFFFFFFFF), flush=True)
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


@functools.cache
def pcscd_polkit() -> tuple[bool, bool]:
    """(pcscd asks polkit, pcscd has ``--disable-polkit``): pcsc-lite 2.0 added the option and
    names "polkit" among the features ``pcscd --version`` prints when it was built with it."""
    exe = shutil.which("pcscd")
    if not exe:
        return False, False
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    usage = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False)
    features = next(
        (ln for ln in version.stdout.splitlines() if ln.startswith("Enabled features")), ""
    )
    return "polkit" in features.split(), "--disable-polkit" in usage.stdout + usage.stderr


def polkitd_path() -> str | None:
    return next((p for p in POLKITD_PATHS if os.access(p, os.X_OK)), None)


def have_polkit_pcscd(daemon: bool = False) -> str | None:
    """None when a private pcscd can ask polkit here (and, with ``daemon``, run a private
    polkitd), else why not."""
    why = have_real_pcsc()
    if why:
        return why
    asks, _ = pcscd_polkit()
    if not asks:
        return "this pcscd is built without polkit (pcsc-lite < 2.0, e.g. Debian 12's 1.9.9)"
    if daemon and not (polkitd_path() and shutil.which("dbus-daemon")):
        return "polkitd or dbus-daemon is not installed (apt-get install polkitd dbus-daemon)"
    return None


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
    ``readers=False`` a pcscd that has no reader at all (the "no reader" case).

    ``polkit`` (for a pcscd built with polkit) is one of ``POLKIT_OFF`` (the default, so the
    suite runs as root where no polkitd runs), ``POLKIT_UNREACHABLE`` and ``POLKIT_DAEMON``:
    a system bus and polkitd of its own in pcscd's mount namespace, reading the rules in
    ``polkit_rules`` (mounted over ``/etc/polkit-1/rules.d`` there)."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        readers: bool = True,
        polkit: str = POLKIT_OFF,
    ) -> None:
        self.workdir = Path(workdir)
        self.readers = readers
        self.polkit = polkit
        self.polkit_rules = self.workdir / "polkit-rules.d"
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
            f"{self._polkit_script()}"
            f"exec pcscd --foreground --error -c {self.conf_dir}{self._polkit_option()}"
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
                if self.polkit == POLKIT_DAEMON:
                    self._wait_polkitd(deadline)
                return
            time.sleep(0.05)
        raise RuntimeError(f"pcscd did not come up: {self.log.read_text(errors='replace')}")

    def _polkit_option(self) -> str:
        asks, can_disable = pcscd_polkit()
        return " --disable-polkit" if self.polkit == POLKIT_OFF and asks and can_disable else ""

    def _polkit_script(self) -> str:
        """Shell lines run before pcscd in its namespace: an empty ``/run/dbus`` (so no
        system polkitd is reachable), and for POLKIT_DAEMON a bus and polkitd of its own."""
        if self.polkit == POLKIT_OFF:
            return ""
        lines = "mkdir -p /run/dbus && mount -t tmpfs -o mode=0755 tmpfs /run/dbus; "
        if self.polkit == POLKIT_DAEMON:
            self.polkit_rules.mkdir(parents=True, exist_ok=True)
            self.polkit_rules.chmod(0o755)  # polkitd reads it as its own user
            lines += (
                f"mount --bind {self.polkit_rules} /etc/polkit-1/rules.d; "
                # --nofork: they stay in this process group, so stop() ends them with pcscd
                "dbus-daemon --system --nofork --nopidfile & "
                "i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do "
                "sleep 0.05; i=$((i+1)); done; "
                f"{polkitd_path()} --no-debug & "
            )
        return lines

    def _wait_polkitd(self, deadline: float) -> None:
        """Until a root client is let in: pcscd asks polkitd, which answers once it holds
        its bus name (root is always authorized; before that, everyone is refused)."""
        env = {**os.environ, **self.env()}
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [sys.executable, "-c", ESTABLISH], env=env, capture_output=True, text=True
            )
            if probe.stdout.strip() == "0x0":
                return
            time.sleep(0.1)
        raise RuntimeError(f"polkitd did not answer pcscd: {self.log.read_text(errors='replace')}")

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


class VirtualCardSlots:
    """Virtual cards on the private pcscd's vpcd slots, in threads of the test process.

    ``insert(card_number=None, faults="", slot=0)`` returns once pcscd reports the card;
    ``remove(slot)`` once it reports the slot empty. Readiness is polled with a deadline."""

    def __init__(self, stack: PcscStack) -> None:
        self.stack = stack
        self.clients: dict[int, tuple[object, object, object]] = {}

    @staticmethod
    def reader_name(slot: int) -> str:
        return f"Virtual PCD 00 {slot:02d}"

    def state(self, slot: int) -> str:
        from nhicard.pcsc.names import list_reader_names
        from nhicard.pcsc.readers import reader_states, state_name

        for name, bits, _atr in reader_states(list_reader_names()):
            if name == self.reader_name(slot):
                return state_name(bits)
        return "unavailable"

    def wait_state(self, slot: int, states: tuple[str, ...], timeout: float = 10.0) -> str:
        import time

        deadline = time.monotonic() + timeout
        while True:
            state = self.state(slot)
            if state in states:
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"slot {slot} stayed {state}, expected {states}")
            time.sleep(0.05)

    def insert(self, card_number: str | None = None, faults: str = "", slot: int = 0) -> object:
        from nhicard.sandbox.data import load_data
        from nhicard.sandbox.vcard import FaultSpec, VirtualCard
        from nhicard.sandbox.vpcd import VpcdCardClient

        self.remove(slot)
        data = load_data()
        record = data.card(card_number) if card_number else data.cards[0]
        assert record is not None, card_number
        card = VirtualCard(record, FaultSpec.parse(faults))
        client = VpcdCardClient(card, port=self.stack.slot_port(slot))
        thread, stop = client.start_thread()
        self.clients[slot] = (client, thread, stop)
        self.wait_state(slot, ("present", "in-use", "mute"))
        return client

    def remove(self, slot: int = 0) -> None:
        entry = self.clients.pop(slot, None)
        if entry is None:
            return
        client, thread, stop = entry
        stop.set()  # type: ignore[attr-defined]
        client.disconnect()  # type: ignore[attr-defined]
        thread.join(5)  # type: ignore[attr-defined]
        if self.stack.running:
            self.wait_state(slot, ("empty", "unavailable"))

    def remove_all(self) -> None:
        for slot in list(self.clients):
            self.remove(slot)
