"""Shared fixtures. Integration tests run the installed ``nhicard`` against real parts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.stack import PcscStack, have_real_pcsc

ROOT = Path(__file__).resolve().parent.parent

# Property tests judge what a function returns, never how fast: hypothesis's default 200 ms
# deadline per example and its too-slow health check fail on a loaded machine, not on a bug
# (tests/test_cli_fuzz.py has its own hang limit for whole commands). A test's own
# @settings sets its example count; one that suppresses another health check adds it to
# settings.default.suppress_health_check.
settings.register_profile("nhicard", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nhicard")


def nhicard_executable() -> str:
    exe = Path(sys.executable).parent / "nhicard"
    if exe.exists():
        return str(exe)
    found = shutil.which("nhicard")
    if not found:
        raise RuntimeError("nhicard is not installed in this environment (pip install -e .)")
    return found


@pytest.fixture(scope="session")
def user_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """XDG dirs in a temp dir, so tests never read or write the real user's state."""
    base = tmp_path_factory.mktemp("xdg")
    env = {}
    for var in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        d = base / var.lower()
        d.mkdir()
        env[var] = str(d)
    return env


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_dirs(user_dirs: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in user_dirs}
    os.environ.update(user_dirs)
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def pcsc_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscStack]:
    """One private pcscd + vpcd for the session; its env is set for this process too."""
    why = have_real_pcsc()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the real PC/SC stack is required in CI: {why}")
        pytest.skip(why)
    stack = PcscStack(tmp_path_factory.mktemp("pcsc"))
    stack.start()
    old = {k: os.environ.get(k) for k in stack.env()}
    os.environ.update(stack.env())
    yield stack
    stack.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def pcsc(pcsc_stack: PcscStack) -> PcscStack:
    """The session's pcscd, restarted if an earlier test stopped it."""
    if not pcsc_stack.running:
        pcsc_stack.start()
    return pcsc_stack


def run_nhicard(
    *args: str,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``nhicard`` as a user would; stdout/stderr captured as text."""
    full_env = dict(os.environ)
    full_env.pop("NHICARD_LANG", None)
    full_env.setdefault("LANG", "C.UTF-8")
    full_env["PYTHONIOENCODING"] = "utf-8"
    if env:
        full_env.update(env)
    return subprocess.run(
        [nhicard_executable(), *args],
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture
def nhicard() -> object:
    """``nhicard(*args, env=…, input=…)`` → CompletedProcess."""
    return run_nhicard


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


@pytest.fixture
def virtual_cards(pcsc: PcscStack) -> Iterator[VirtualCardSlots]:
    """Insert virtual cards into the private pcscd's vpcd slots; all removed afterwards."""
    slots = VirtualCardSlots(pcsc)
    yield slots
    slots.remove_all()


@pytest.fixture(scope="session")
def _dovecot_stopping() -> Iterator[list[object]]:
    """Dovecot servers told to stop (each takes ~1 s to exit); reaped at session end."""
    stopping: list[object] = []
    yield stopping
    for server in stopping:
        server.reap()  # type: ignore[attr-defined]


@pytest.fixture
def dovecot_factory(
    tmp_path_factory: pytest.TempPathFactory, _dovecot_stopping: list[object]
) -> Iterator[object]:
    """``dovecot_factory(maildir=None, **kw)`` → a started ``tests.dovecot.DovecotServer``
    (a real Dovecot on 127.0.0.1, free ports); every server is stopped after the test.
    Pass an existing Maildir (e.g. the sandbox's ``DIR/Maildir``) and ``cert``/``key``/
    ``ca_pem`` to serve it with the sandbox's certificate."""
    from tests.dovecot import DovecotServer, dovecot_unavailable

    why = dovecot_unavailable()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"Dovecot is required in CI: {why}")
        pytest.skip(why)
    servers: list[DovecotServer] = []

    def start(maildir: Path | None = None, **kw: object) -> DovecotServer:
        server = DovecotServer(tmp_path_factory.mktemp("dovecot"), maildir, **kw)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop(wait=False)
        _dovecot_stopping.append(server)


@pytest.fixture
def dovecot(dovecot_factory: object) -> object:
    """A started Dovecot serving a fresh, empty Maildir (``.maildir``) over imaps and
    STARTTLS; ``.url()``, ``.password``, ``.ca_pem``, ``.deliver(raw)``."""
    return dovecot_factory()  # type: ignore[operator]
