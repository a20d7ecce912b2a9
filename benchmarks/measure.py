"""Running a command as a fresh process and measuring it: wall time, CPU time, peak RSS.

Every sample is a whole process (interpreter start-up included), timed from ``Popen`` to
``wait4``; ``wait4`` also gives that one child's own resource usage, so peak RSS is per run,
not the maximum over all children as ``RUSAGE_CHILDREN`` would be.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


class BenchError(Exception):
    """A measured command failed or answered wrongly; the figure cannot be taken."""


@dataclass(frozen=True)
class Command:
    """A command line and the environment it runs in."""

    label: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    def shown(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class ProcessRun:
    """One finished run of a command."""

    wall_s: float
    cpu_s: float  # user + system time of the process
    max_rss_kb: int
    returncode: int
    stdout: str
    stderr: str


def run_process(command: Command, timeout: float = 60.0) -> ProcessRun:
    """Run ``command`` once as a fresh process, stdin closed, output captured."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(command.env),
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ProcessRun(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_kb=usage.ru_maxrss,  # kilobytes on Linux
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", errors="replace"),
            stderr=err.read().decode("utf-8", errors="replace"),
        )


Check = Callable[[ProcessRun], None]


def checked_run(command: Command, check: Check | None = None) -> ProcessRun:
    """:func:`run_process`, raising BenchError unless it exits 0 and ``check`` accepts it."""
    run = run_process(command)
    if run.returncode != 0:
        raise BenchError(
            f"{command.shown()} exited {run.returncode}: {run.stderr.strip()[-400:] or '-'}"
        )
    if check is not None:
        check(run)
    return run


@dataclass(frozen=True)
class PairSamples:
    """Interleaved runs of a subject command and its baseline."""

    subject: tuple[ProcessRun, ...]
    baseline: tuple[ProcessRun, ...]


def sample_pair(
    subject: Command,
    baseline: Command,
    runs: int,
    *,
    warmup: int = 1,
    check_subject: Check | None = None,
    check_baseline: Check | None = None,
) -> PairSamples:
    """``runs`` runs of each command, interleaved (ABBA…, so slow drift of a shared machine
    hits both alike), after ``warmup`` unrecorded runs of each (disk cache, pcscd warm).

    The checks run on every run: a failing command is never timed."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    for _ in range(warmup):
        checked_run(subject, check_subject)
        checked_run(baseline, check_baseline)
    subject_runs: list[ProcessRun] = []
    baseline_runs: list[ProcessRun] = []
    for i in range(runs):
        order = [(subject, check_subject, subject_runs), (baseline, check_baseline, baseline_runs)]
        if i % 2:
            order.reverse()
        for command, check, sink in order:
            sink.append(checked_run(command, check))
    return PairSamples(tuple(subject_runs), tuple(baseline_runs))


def median(values: Sequence[float]) -> float:
    """The median (the middle value; mean of the two middle ones for an even count)."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))
