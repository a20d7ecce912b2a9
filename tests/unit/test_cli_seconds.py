"""Seconds options refuse what no clock can wait (issue 14): ``nan``, ``inf``, ``1e400`` and
more than a year are usage errors (exit 2), not a hang or a traceback."""

from __future__ import annotations

import pytest

from tests.support.cli import run_nhicard

REGISTER = (
    "register", "--household-id", "F1234567", "--city", "x", "--district", "y", "--village",
    "z", "--neighborhood", "1", "--email", "a@example.com", "--phone", "1", "--mobile", "1",
)  # fmt: skip


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e400", "1e9"])
@pytest.mark.parametrize(
    "command",
    [
        ("card", "verify", "--timeout"),
        ("card", "read", "--wait"),
        ("verify-email", "--link", "https://x.example/", "--wait"),
        (*REGISTER, "--timeout"),
        ("--apdu-timeout",),
    ],
    ids=["verify", "read", "verify-email", "register", "apdu-timeout"],
)
def test_unwaitable_seconds_are_usage_errors(command: tuple[str, ...], value: str) -> None:
    args = [*command, value] + (["card", "read"] if command == ("--apdu-timeout",) else [])
    proc = run_nhicard("--lang", "en", *args, env={"NHICARD_PASSWORD": "Pw-246810"})
    assert proc.returncode == 2, proc.stderr
    assert "Invalid value for" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
@pytest.mark.parametrize("option", ["--idle-timeout", "--card-deadline"])
def test_agent_serve_seconds_refuse_what_no_clock_can_wait(option: str, value: str) -> None:
    proc = run_nhicard("--lang", "en", "agent", "serve", option, value)
    assert proc.returncode == 2, proc.stderr
    assert "Invalid value for" in proc.stderr and "Traceback" not in proc.stderr
