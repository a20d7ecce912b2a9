"""The ``agent-serve`` figure: ``nhicard agent serve`` answering while it signs.

On a fresh sandbox (its SAM, its virtual card on the private pcscd's slot 0), a real
``nhicard --profile sandbox --agent direct agent serve`` process (wss://, the sandbox's
certificate) is measured from outside by ``agent_serve_probe.py``:

- ``GetVersion`` on one connection while another connection's H_Sign is in progress:
  median round trip ≤ 5 ms (a command that needs no card must not wait for the card);
- H_Sign through the service against the same H_Sign made by the ``direct`` agent in the
  probe's own process, alternately: ≤ 1.2× (medians).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from typing import Any

from benchmarks.availability import missing_command
from benchmarks.environment import BENCH_DIR, nhicard_executable, python_executable
from benchmarks.figures import Bench, Figure
from benchmarks.measure import BenchError, Command, checked_run, median, run_process
from benchmarks.results import MISS, PASS, Row, ms, ratio_row, skip_row
from benchmarks.sandbox_job import SANDBOX_PARTS
from tests.support.stack import free_port_range

TITLE_VERSION = "agent serve: GetVersion during another connection's H_Sign"
TITLE_SIGN = "agent serve: H_Sign through the service vs direct in-process"
TARGET_VERSION = "≤ 5 ms"
VERSION_LIMIT = 0.005
SIGN_LIMIT = 1.2
START_TIMEOUT = 20.0


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
            raise BenchError(f"nhicard agent serve exited {proc.returncode}: {err[-300:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError("nhicard agent serve did not listen")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def probe(bench: Bench, runs: int) -> dict[str, Any]:
    sandbox_dir = bench.stack.workdir / "agent-serve-sandbox"
    env = bench.env | {
        "NHICARD_SANDBOX_DIR": str(sandbox_dir),
        "NHICARD_STATE_DIR": str(bench.stack.workdir / "agent-serve-state"),
    }
    nhicard = nhicard_executable()

    def command(*args: str) -> Command:
        return Command("nhicard " + " ".join(args), (nhicard, *args), env)

    up = command("sandbox", "up", "--port-base", str(free_port_range(SANDBOX_PARTS)), "--json")
    endpoints = json.loads(checked_run(up).stdout)
    try:
        port = free_port_range(1)
        serve = subprocess.Popen(
            [nhicard, "--profile", "sandbox", "--agent", "direct", "agent", "serve"]
            + ["--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            _wait_listening(port, serve)
            url = f"wss://127.0.0.1:{port}/echo"
            run = checked_run(
                Command(
                    "agent_serve_probe.py",
                    (
                        python_executable(),
                        str(BENCH_DIR / "agent_serve_probe.py"),
                        url,
                        endpoints["ca_bundle"],
                        str(runs),
                    ),
                    env,
                )
            )
        finally:
            _stop(serve)
    finally:
        run_process(command("sandbox", "down"))
    try:
        result: dict[str, Any] = json.loads(run.stdout)
    except json.JSONDecodeError as err:
        raise BenchError(f"agent_serve_probe.py printed no JSON: {err}") from None
    return result


def measure_agent_serve(bench: Bench) -> list[Row]:
    missing = missing_command(bench.env, ("agent", "serve"))
    if missing:
        return [
            skip_row("agent-serve", TITLE_VERSION, TARGET_VERSION, f"not available yet: {missing}")
        ]
    runs = 3 if bench.options.quick else max(bench.options.runs, 15)
    bench.stack.remove_card()  # the sandbox puts its own virtual card into slot 0
    try:
        data = probe(bench, runs)
    finally:
        bench.stack.insert_card()
    busy = median(data["get_version_busy"])
    version = Row(
        figure="agent-serve-getversion",
        title=TITLE_VERSION,
        subject=ms(busy),
        baseline="—",
        ratio=None,
        target=TARGET_VERSION,
        status=PASS if busy <= VERSION_LIMIT else MISS,
        note=(
            f"median of {len(data['get_version_busy'])} GetVersion round trips (wss://, a real "
            "`agent serve` process), each sent while the other connection's H_Sign was in "
            f"progress (max {max(data['get_version_busy']) * 1000:.1f} ms)"
        ),
        data={"value": busy, "limit": VERSION_LIMIT, "samples": data["get_version_busy"]},
    )
    sign = ratio_row(
        "agent-serve-h-sign",
        TITLE_SIGN,
        median(data["service_h_sign"]),
        median(data["direct_h_sign"]),
        SIGN_LIMIT,
        note=(
            f"median of {len(data['service_h_sign'])} H_Sign each, alternately through the "
            "service's WebSocket and by the direct agent in the probe process (same sandbox "
            "SAM and card)"
        ),
        data={
            "subject_samples": data["service_h_sign"],
            "baseline_samples": data["direct_h_sign"],
        },
    )
    return [version, sign]


AGENT_SERVE = Figure("agent-serve", TITLE_VERSION, TARGET_VERSION, measure_agent_serve)
