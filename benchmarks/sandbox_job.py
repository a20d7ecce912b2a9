"""The full sandbox job (register → verify-email → ecpa login): wall time and HTTP requests.

Each job gets a fresh sandbox (``nhicard sandbox up`` in its own directory, on free ports,
its virtual card on the private pcscd's vpcd slot 0), then runs the three commands a person
runs, as separate processes with ``--profile sandbox --agent direct -vv``; the job's time is
the sum of the three processes' wall times (sandbox start and stop are not part of it). HTTP
requests are counted from the ``-vv`` trace (one line per request, redirects included).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from benchmarks.availability import missing_command
from benchmarks.environment import nhicard_executable
from benchmarks.figures import Bench, Figure
from benchmarks.measure import BenchError, Command, ProcessRun, checked_run, median, run_process
from benchmarks.results import Row, limit_row, skip_row
from tests.stack import free_port_range

TITLE = "sandbox job: register → verify-email → ecpa login"
TARGET = "< 3 s"
FLOW_COMMANDS = (("register",), ("verify-email",), ("ecpa", "login"))
HTTP_LINE = re.compile(r"^(GET|POST|PUT|HEAD|DELETE) https?://\S+ → ", re.MULTILINE)
PASSWORD = "Pw-246810"  # the sandbox person's new card password (env, never argv)
REGISTER_ARGS = (
    "--household-id", "F1234567",
    "--city", "臺北市",
    "--district", "大安區",
    "--village", "龍門里",
    "--neighborhood", "5",
    "--email", "ming@example.com",
    "--phone", "02-23456789",
    "--mobile", "0912345678",
    "--yes",
)  # fmt: skip
SANDBOX_PARTS = 5  # ports base+0 … base+4


@dataclass(frozen=True)
class JobRun:
    step_seconds: dict[str, float]
    step_requests: dict[str, int]

    @property
    def seconds(self) -> float:
        return sum(self.step_seconds.values())

    @property
    def requests(self) -> int:
        return sum(self.step_requests.values())


def _status(expected: str) -> Any:
    def check(run: ProcessRun) -> None:
        try:
            status = json.loads(run.stdout).get("status")
        except json.JSONDecodeError:
            status = None
        if status != expected:
            raise BenchError(f"expected status {expected!r}, got {run.stdout.strip()[:200]!r}")

    return check


def one_job(bench: Bench, index: int) -> JobRun:
    """Start a fresh sandbox, run the three steps with a fresh user state, stop the sandbox."""
    sandbox_dir = bench.stack.workdir / f"sandbox-{index}"
    env = bench.env | {
        "NHICARD_SANDBOX_DIR": str(sandbox_dir),
        # a fresh state dir: register's journal would otherwise resume the earlier job
        "NHICARD_STATE_DIR": str(bench.stack.workdir / f"state-{index}"),
        "NHICARD_PASSWORD": PASSWORD,
    }
    nhicard = nhicard_executable()

    def command(*args: str) -> Command:
        return Command("nhicard " + " ".join(args), (nhicard, *args), env)

    up = command("sandbox", "up", "--port-base", str(free_port_range(SANDBOX_PARTS)), "--json")
    endpoints = json.loads(checked_run(up).stdout)
    flow = ("-vv", "--profile", "sandbox", "--agent", "direct")
    steps = (
        ("register", command(*flow, "register", *REGISTER_ARGS, "--json"), "submitted"),
        (
            "verify-email",
            command(
                *flow, "verify-email", "--maildir", endpoints["maildir"], "--wait", "10", "--json"
            ),  # fmt: skip
            "verified",
        ),
        ("ecpa login", command(*flow, "ecpa", "login", "--json"), "logged-in"),
    )
    seconds: dict[str, float] = {}
    requests: dict[str, int] = {}
    try:
        for name, cmd, expected in steps:
            run = checked_run(cmd, _status(expected))
            seconds[name] = run.wall_s
            requests[name] = len(HTTP_LINE.findall(run.stderr))
    finally:
        run_process(command("sandbox", "down"))
    return JobRun(seconds, requests)


def measure_sandbox_job(bench: Bench) -> list[Row]:
    missing = missing_command(bench.env, *FLOW_COMMANDS)
    if missing:
        return [skip_row("sandbox-job", TITLE, TARGET, f"not available yet: {missing} missing")]
    count = 1 if bench.options.quick else 3
    bench.stack.remove_card()  # the sandbox puts its own virtual card into slot 0
    try:
        jobs = [one_job(bench, i) for i in range(count)]
    finally:
        bench.stack.insert_card()
    wall = median([j.seconds for j in jobs])
    last = jobs[-1]
    steps = ", ".join(
        f"{name} {last.step_seconds[name]:.2f} s / {last.step_requests[name]} requests"
        for name in last.step_seconds
    )
    return [
        limit_row(
            "sandbox-job",
            TITLE,
            wall,
            3.0,
            f"{wall:.2f} s, {last.requests} HTTP",
            TARGET,
            note=(
                f"median of {count} job(s), each on a fresh sandbox; the sum of the three "
                f"commands' process wall times (-vv, --agent direct); last job: {steps}"
            ),
            data={
                "job_seconds": [j.seconds for j in jobs],
                "step_seconds": [j.step_seconds for j in jobs],
                "step_requests": [j.step_requests for j in jobs],
            },
        )
    ]


SANDBOX_JOB = Figure("sandbox-job", TITLE, TARGET, measure_sandbox_job)
