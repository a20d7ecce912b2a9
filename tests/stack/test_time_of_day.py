"""The README's demo, env check and ``card verify`` at the hours that used to break them.

Every process runs under libfaketime (Debian ``faketime``) with the same offset from the real
clock, so the CLI, the sandbox server it starts and every child agree on a fake "now": 23:30 UTC
(the local date is a day behind Taipei's), 15:59 UTC (a minute before midnight in Taipei),
12:00 UTC, and the same hours with ``TZ=Asia/Taipei``. The statuses asserted are exact, so these
tests pass or fail the same way whatever the real hour is.

Real parts: the private pcscd with vpcd, the sandbox server process over HTTPS, its SMTP sink
and SAM, the virtual card read by the direct agent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROOT, nhicard_executable
from tests.support.clocks import FakeClock
from tests.support.stack import VirtualCardSlots, free_port_range

pytestmark = pytest.mark.pcsc

EARLY_TAIPEI_DAY = "2026-12-01T23:30:00"  # 07:30 on 12-02 in Taipei
BEFORE_TAIPEI_MIDNIGHT = "2026-12-01T15:59:00"  # 23:59 in Taipei
NOON = "2026-12-01T12:00:00"  # 20:00 in Taipei


def test_faketime_moves_the_clock_of_the_cli_and_python_still_sleeps() -> None:
    clock = FakeClock(EARLY_TAIPEI_DAY, "UTC")
    shown = clock.run("date", "-u", "+%Y-%m-%d %H")
    assert shown.stdout.strip() == "2026-12-01 23", shown.stderr
    script = (
        "import datetime, threading, time; time.sleep(0.01); threading.Event().wait(0.01); "
        "print(datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H'))"
    )
    slept = clock.run(sys.executable, "-c", script)
    assert slept.returncode == 0, slept.stderr
    assert slept.stdout.strip() == "2026-12-01 23"


# -- env check ----------------------------------------------------------------------------
CASES = [
    # when, TZ, --agent, status, words of the English summary
    (EARLY_TAIPEI_DAY, "UTC", "auto", "warn", "nhicard compensates with the Taipei date"),
    (EARLY_TAIPEI_DAY, "UTC", "direct", "warn", "nhicard compensates with the Taipei date"),
    (
        EARLY_TAIPEI_DAY,
        "UTC",
        "nhiicc",
        "fail",
        "through the official component (EnCrypt) fail now",
    ),
    (BEFORE_TAIPEI_MIDNIGHT, "UTC", "auto", "warn", "near midnight in Taipei (23:59)"),
    (NOON, "UTC", "auto", "warn", "every day from 16:00–24:00 local time (00:00–08:00 in Taipei)"),
    (NOON, "Asia/Taipei", "auto", "pass", "(UTC+08:00) (Taipei time)"),
    (EARLY_TAIPEI_DAY, "Asia/Taipei", "nhiicc", "pass", "(UTC+08:00) (Taipei time)"),
    (BEFORE_TAIPEI_MIDNIGHT, "Asia/Taipei", "auto", "warn", "near midnight in Taipei (23:59)"),
]


@pytest.mark.parametrize(("at", "tz", "agent", "status", "words"), CASES)
def test_env_check_clock_at_any_hour(at: str, tz: str, agent: str, status: str, words: str) -> None:
    clock = FakeClock(at, tz)
    args = ("--agent", agent, "--agent-url", "wss://127.0.0.1:1/echo", "env", "check")
    for lang in ("en", "zh-TW"):
        proc = clock.nhicard("--lang", lang, *args, "--offline", "--only", "clock", "--json")
        assert proc.returncode == (10 if status == "fail" else 0), proc.stderr
        checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
        assert checks["clock.offset"]["status"] == "skip"
        found = checks["clock.timezone"]
        assert found["status"] == status, found
        if lang == "en":
            assert words in found["summary"], found
        else:
            assert "EnCrypt" in found["summary"] or "台北時間" in found["summary"], found


def test_the_full_offline_report_counts_only_the_real_failure_at_2330_utc() -> None:
    """Without a PC/SC service, pcsc.service is the one failure, whatever the hour."""
    clock = FakeClock(EARLY_TAIPEI_DAY, "UTC")
    env = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    proc = clock.nhicard("--lang", "en", "env", "check", "--offline", "--json", env=env)
    assert proc.returncode == 10, proc.stderr
    doc = json.loads(proc.stdout)
    failures = [c["id"] for c in doc["checks"] if c["status"] == "fail"]
    assert len(failures) == 1 and failures[0].startswith("pcsc."), failures
    assert "found 1 failure(s)" in proc.stderr


# -- the demo: env check, readers, card, register → verify-email → ecpa login ------------
def run_demo(
    clock: FakeClock, tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(nhicard_executable()).parent)
    demo_env = {
        "BIN": bin_dir,
        "NHICARD_STATE_DIR": str(tmp_path / "demo-state"),
        "NHICARD_DEMO_PORT_BASE": str(free_port_range(5)),
    }
    return clock.run("bash", str(ROOT / "tests" / "demo.sh"), env=demo_env | (env or {}))


JOB_LINES = ("status   submitted", "status  verified", "status  logged-in", "Done:")


@pytest.mark.parametrize(
    ("at", "tz", "status"),
    [
        (EARLY_TAIPEI_DAY, "UTC", "WARN"),
        (BEFORE_TAIPEI_MIDNIGHT, "UTC", "WARN"),
        (NOON, "UTC", "WARN"),
        (EARLY_TAIPEI_DAY, "Asia/Taipei", "PASS"),
    ],
)
def test_demo_runs_the_whole_job_at_any_hour(
    pcsc: Any, tmp_path: Path, at: str, tz: str, status: str
) -> None:
    proc = run_demo(FakeClock(at, tz), tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"{status} clock.timezone" in proc.stdout
    for line in JOB_LINES:
        assert line in proc.stdout, (line, proc.stdout[-3000:])
    assert "Demo-2468" not in proc.stdout + proc.stderr


def test_demo_explains_env_check_failures_and_goes_on(pcsc: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "Setup.zip"
    bogus.write_bytes(b"not the published installer")
    env = {"NHICARD_ENV_CHECK_INSTALLERS": str(bogus)}
    proc = run_demo(FakeClock(NOON, "UTC"), tmp_path, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "FAIL installer.checksum.1" in proc.stdout
    assert "the sandbox job below does not depend on them, so the demo goes on." in proc.stdout
    assert "示範繼續" in proc.stdout
    for line in JOB_LINES:
        assert line in proc.stdout


def test_demo_fails_when_a_step_of_the_job_fails(pcsc: Any, tmp_path: Path) -> None:
    # the card is in slot 0; naming the empty slot 1 makes `card read` fail (exit 5)
    proc = run_demo(FakeClock(NOON, "UTC"), tmp_path, {"NHICARD_READER": "Virtual PCD 00 01"})
    assert proc.returncode == 5, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "status   submitted" not in proc.stdout
    assert not (tmp_path / "demo-state" / "sandbox" / "server.pid").exists()  # stopped on exit


# -- card verify --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("at", "tz", "stamp"),
    [
        (EARLY_TAIPEI_DAY, "UTC", "2026-12-01T23:3"),
        (BEFORE_TAIPEI_MIDNIGHT, "UTC", "2026-12-01T15:59"),
        (NOON, "UTC", "2026-12-01T12:0"),
        (EARLY_TAIPEI_DAY, "Asia/Taipei", "2026-12-02T07:3"),
    ],
)
def test_card_verify_at_any_hour(
    virtual_cards: VirtualCardSlots, tmp_path: Path, at: str, tz: str, stamp: str
) -> None:
    virtual_cards.insert()
    report = tmp_path / "report.jsonl"
    proc = FakeClock(at, tz).nhicard(
        "--reader", "Virtual PCD 00 00", "card", "verify", "--report", str(report), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = report.read_text().splitlines()
    record = json.loads(line)
    assert record["result"] == "ok" and record["reason"] is None, record
    assert record["verified_at"].startswith(stamp), record
    assert record["verified_at"].endswith("+08:00" if tz == "Asia/Taipei" else "+00:00")
