"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

systemd stopping a unit, ``timeout``, ``kill`` and a closed terminal send SIGTERM or SIGHUP.
By default Python dies of them at once: no ``finally`` runs, so a flow cannot record that it
was stopped in the middle of a submit (register's journal would be left at ``submitting``
with nothing saying it was interrupted). While a command runs, both raise
:class:`Terminated`, a :class:`KeyboardInterrupt`, so every place that handles Ctrl-C handles
them too, and the command ends with the contract's exit 130.

A signal that was ignored when the process started (``nohup``, a service manager's choice)
stays ignored; a handler someone else installed stays theirs. Commands that install their own
SIGTERM handler for a clean stop (``agent serve``, ``sim card``, ``card verify --watch``) do so
on top of this one and restore it when they return.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

# SIGINT is Python's own (KeyboardInterrupt); these two become the same
NAMES = ("SIGTERM", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived; handled wherever Ctrl-C is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Within the block (main thread only), SIGTERM and SIGHUP raise :class:`Terminated`."""
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for name in NAMES:
            sig = getattr(signal, name, None)  # no SIGHUP on Windows
            if sig is None:
                continue
            if signal.getsignal(sig) is not signal.SIG_DFL:
                continue  # ignored (nohup) or someone else's handler
            previous[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
