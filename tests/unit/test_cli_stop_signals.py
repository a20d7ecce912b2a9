"""SIGTERM and SIGHUP raise the same interrupt as Ctrl-C while a command runs (issue 23): the
flows' Ctrl-C handling (register's journal) covers systemd, ``timeout`` and a closed terminal.
Through the real CLI in tests/stack/test_hostile_register.py."""

from __future__ import annotations

import os
import signal

import pytest

from nhicard.cli.stop_signals import Terminated, stop_signals_interrupt


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_term_and_hup_raise_a_keyboard_interrupt(signum: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(KeyboardInterrupt) as caught, stop_signals_interrupt():
        os.kill(os.getpid(), signum)
        signal.sigtimedwait([], 0)  # let the handler run here
        raise AssertionError("the signal did not interrupt")
    assert isinstance(caught.value, Terminated) and caught.value.signum == signum
    assert str(caught.value) == signal.Signals(signum).name
    assert signal.getsignal(signum) is before  # restored


def test_an_ignored_signal_stays_ignored_and_a_foreign_handler_stays() -> None:
    """``nohup`` starts it with SIGHUP ignored; a host program may have its own handler."""
    seen: list[int] = []
    old_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    try:
        with stop_signals_interrupt():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)  # nothing happens
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGHUP, old_hup)
        signal.signal(signal.SIGTERM, old_term)


def test_a_command_that_installs_its_own_handler_gets_ours_back_after() -> None:
    """``agent serve``, ``sim card`` and ``card verify --watch`` set their SIGTERM handler over
    ours and restore it when they return: the outer one is ours again."""
    with stop_signals_interrupt():
        ours = signal.getsignal(signal.SIGTERM)
        previous = signal.signal(signal.SIGTERM, lambda s, f: None)
        signal.signal(signal.SIGTERM, previous)
        assert signal.getsignal(signal.SIGTERM) is ours
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)
