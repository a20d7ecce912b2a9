"""What the measured commands run against: a private pcscd with vpcd (``tests/support/stack.py``),
a virtual NHI card on vpcd slot 0 served by a thread of this process, and an environment
(PCSCLITE_CSOCK_NAME, user dirs in a temp dir) shared by nhicard and the baselines."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from benchmarks.measure import BenchError
from tests.support.stack import PcscStack, have_real_pcsc

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
READER_SLOT0 = "Virtual PCD 00 00"
# variables of the user's shell that would change what nhicard does (auto_envvar_prefix)
_KEEP_NHICARD_VARS = frozenset({"NHICARD_VPCD_PORT"})


def python_executable() -> str:
    """The interpreter nhicard is installed in (the venv's python running this harness)."""
    return sys.executable


def nhicard_executable() -> str:
    exe = Path(sys.executable).parent / "nhicard"
    if exe.exists():
        return str(exe)
    found = shutil.which("nhicard")
    if not found:
        raise BenchError("nhicard is not installed next to this python (pip install -e .)")
    return found


class StackUnavailable(BenchError):
    """The private pcscd + vpcd could not be started: no figure can be taken."""


class BenchStack:
    """Context manager: private pcscd + vpcd, a virtual card inserted in slot 0, temp dirs.

    ``env`` is the environment for every measured process."""

    def __init__(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="nhicard-bench-"))
        self.pcsc = PcscStack(self._tmp / "pcsc")
        self.env: dict[str, str] = {}
        self._client: object | None = None
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None

    @property
    def workdir(self) -> Path:
        return self._tmp

    def __enter__(self) -> BenchStack:
        why = have_real_pcsc()
        if why:
            raise StackUnavailable(f"the real PC/SC stack cannot run here: {why}")
        try:
            self.pcsc.start()
            self.env = self._child_env()
            # this process's own PC/SC calls (waiting for the card) go to the same pcscd
            os.environ.update(self.pcsc.env())
            self.insert_card()
        except (RuntimeError, BenchError) as err:
            self.close()
            raise StackUnavailable(f"private pcscd with vpcd: {err}") from err
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _child_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("NHICARD_") or k in _KEEP_NHICARD_VARS
        }
        for var in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            d = self._tmp / "xdg" / var.lower()
            d.mkdir(parents=True, exist_ok=True)
            env[var] = str(d)
        env.update(self.pcsc.env())
        env["LANG"] = "C.UTF-8"
        env["PYTHONIOENCODING"] = "utf-8"
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def insert_card(self, timeout: float = 10.0) -> None:
        """A virtual card (the sandbox data's first card) in slot 0; returns once pcscd
        reports it present."""
        from nhicard.sandbox.data import load_data
        from nhicard.sandbox.vcard import FaultSpec, VirtualCard
        from nhicard.sandbox.vpcd import VpcdCardClient

        self.remove_card()
        card = VirtualCard(load_data().cards[0], FaultSpec())
        client = VpcdCardClient(card, port=self.pcsc.slot_port(0))
        self._thread, self._stop = client.start_thread()
        self._client = client
        self.wait_slot0(("present",), timeout)

    def remove_card(self) -> None:
        if self._client is None:
            return
        assert self._stop is not None and self._thread is not None
        self._stop.set()
        self._client.disconnect()  # type: ignore[attr-defined]
        self._thread.join(5)
        self._client = None
        if self.pcsc.running:
            self.wait_slot0(("empty", "unavailable"), 10.0)

    def slot0_state(self) -> str:
        from nhicard.pcsc.names import list_reader_names
        from nhicard.pcsc.readers import reader_states, state_name

        for name, bits, _atr in reader_states(list_reader_names()):
            if name == READER_SLOT0:
                return state_name(bits)
        return "unavailable"

    def wait_slot0(self, states: tuple[str, ...], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.slot0_state()
            if state in states:
                return state
            if time.monotonic() > deadline:
                raise BenchError(f"{READER_SLOT0} stayed {state}, expected {states}")
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.remove_card()
        finally:
            self.pcsc.stop()
            shutil.rmtree(self._tmp, ignore_errors=True)
