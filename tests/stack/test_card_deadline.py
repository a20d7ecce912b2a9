"""A card that never answers (issue 14): every APDU exchange has a deadline (exit 6, "the card
does not answer") and Ctrl-C ends ``card read`` and ``card verify --watch`` at once.

A card that does not answer wedges pcscd's reader until the card side gives up, so each test
gets a private pcscd of its own (not the session's) and a ``nhicard sim card`` subprocess
with ``--fault delay=``; both are stopped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nhicard.pcsc.connection import call_with_deadline
from tests.support.cli import nhicard_executable
from tests.support.stack import PcscStack, have_real_pcsc

READER = "Virtual PCD 00 00"


@pytest.fixture
def mute_card(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private pcscd with a virtual card in slot 0 that takes 30 s per APDU; its env."""
    why = have_real_pcsc()
    if why:
        pytest.skip(why)
    stack = PcscStack(tmp_path / "pcsc")
    stack.start()
    env = dict(os.environ) | stack.env() | {"LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    env.pop("NHICARD_LANG", None)
    sim = subprocess.Popen(
        [nhicard_executable(), "sim", "card", "--port", str(stack.slot_port(0))]
        + ["--fault", "delay=30000"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            listed = subprocess.run(
                [nhicard_executable(), "reader", "list", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=20,
            )
            if '"present"' in listed.stdout:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the virtual card did not appear")
        yield env
    finally:
        sim.kill()  # it may sleep in a 30 s APDU: SIGTERM would wait for that
        sim.wait(10)
        stack.stop()


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "-r", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_deadline_helper_returns_unanswered_calls() -> None:
    assert call_with_deadline(lambda: 42, 1.0) == (True, 42)
    started = time.monotonic()
    assert call_with_deadline(lambda: time.sleep(5), 0.2) == (False, None)
    assert time.monotonic() - started < 1.0
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(lambda: 1 / 0, 1.0)


def test_card_read_ends_with_exit_6_at_the_apdu_deadline(mute_card: dict[str, str]) -> None:
    started = time.monotonic()
    proc = start(mute_card, "--apdu-timeout", "1", "card", "read", "--json")
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 6, err
    assert "the card does not answer" in err and "within 1 s" in err
    assert out == "" and "Traceback" not in err
    assert elapsed < 10, elapsed


def test_apdu_deadline_from_the_environment_in_chinese(mute_card: dict[str, str]) -> None:
    env = mute_card | {"NHICARD_APDU_TIMEOUT": "1"}
    proc = subprocess.run(
        [nhicard_executable(), "--lang", "zh-TW", "-r", "0", "card", "read"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 6, proc.stderr
    assert "卡片沒有回應" in proc.stderr and "1 秒" in proc.stderr


def test_ctrl_c_ends_card_read_at_once(mute_card: dict[str, str]) -> None:
    proc = start(mute_card, "--apdu-timeout", "60", "card", "read", "--json")
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err


def test_one_ctrl_c_ends_card_verify_watch_within_two_seconds(
    mute_card: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    proc = start(
        mute_card, "--apdu-timeout", "60", "card", "verify", "--watch", "--report", str(report)
    )
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 3.0
    assert proc.returncode == 130, err
    assert "Summary (stopped: interrupted)" in err
    # no card was verified, so no report file was made (it is created with its first record)
    assert not report.exists()
    assert "Traceback" not in err


def test_card_verify_watch_records_the_mute_card_as_failed(mute_card: dict[str, str]) -> None:
    proc = start(
        mute_card, "--apdu-timeout", "1", "card", "verify", "--watch", "--count", "1", "--json"
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 6, err
    assert '"result": "failed"' in out, (out, err)
    assert "does not answer" in err
