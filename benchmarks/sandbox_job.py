"""The full sandbox job (register → verify-email → ecpa login): wall time, HTTP requests."""

from __future__ import annotations

from benchmarks.availability import missing_command
from benchmarks.figures import Bench, Figure
from benchmarks.results import Row, skip_row

TITLE = "sandbox job: register → verify-email → ecpa login"
TARGET = "< 3 s"
FLOW_COMMANDS = (("register",), ("verify-email",), ("ecpa", "login"))


def measure_sandbox_job(bench: Bench) -> list[Row]:
    missing = missing_command(bench.env, *FLOW_COMMANDS)
    if missing:
        return [skip_row("sandbox-job", TITLE, TARGET, f"not available yet: {missing} missing")]
    return []


SANDBOX_JOB = Figure("sandbox-job", TITLE, TARGET, measure_sandbox_job)
