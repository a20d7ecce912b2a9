"""``card verify --watch`` figures (quality.md): software time per card through pcscd + vpcd,
memory growth over 1,000 insertions (in process, the core loop), idle CPU while waiting.

Software time per card is what nhicard reports with ``-v`` for each card: total time from
connecting to the last check, minus the time the card's APDUs took (so SCardConnect and
SCardStatus count as software). Cards are inserted and removed by a VpcdCardClient of the
harness; every card has its own card number, as in a real batch.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, replace
from typing import IO

from benchmarks.availability import missing_command
from benchmarks.environment import BENCH_DIR, READER_SLOT0, nhicard_executable, python_executable
from benchmarks.figures import Bench, Figure
from benchmarks.measure import BenchError, median
from benchmarks.results import Row, limit_row, skip_row

TITLE = "card verify --watch: software time per card"
TARGET = "≤ 20 ms/card"
TIMING_LINE = re.compile(
    r": total (?P<total>[\d.]+) ms, APDU (?P<apdu>[\d.]+) ms \((?P<n>\d+) APDUs\), "
    r"connect (?P<connect>[\d.]+) ms, software (?P<software>[\d.]+) ms"
)
REMOVED_LINE = "card removed from"
CARD_TIMEOUT = 20.0  # seconds for one insertion to be verified (vpcd + pcscd polling ~0.5 s)


@dataclass(frozen=True)
class CardTiming:
    total_ms: float
    apdu_ms: float
    apdus: int
    connect_ms: float
    software_ms: float


def parse_timing(line: str) -> CardTiming | None:
    """The ``-v`` timing line of one card, or None for any other line."""
    m = TIMING_LINE.search(line)
    if m is None:
        return None
    return CardTiming(
        float(m["total"]),
        float(m["apdu"]),
        int(m["n"]),
        float(m["connect"]),
        float(m["software"]),
    )


class LineStream:
    """Lines of a pipe, read by a daemon thread, taken with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate: object, timeout: float, what: str) -> str:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"no {what} within {timeout:g} s; last lines: {self.seen[-5:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise BenchError(f"nhicard ended before {what}; last lines: {self.seen[-5:]}")
            self.seen.append(line)
            if predicate(line):
                return line

    def drain(self, timeout: float = 5.0) -> None:
        """Take every remaining line until the pipe closes (the process has ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if line is None:
                return
            self.seen.append(line)


def _start_watch(bench: Bench, *args: str) -> subprocess.Popen[str]:
    argv = [nhicard_executable(), "-v", "--lang", "en", "-r", READER_SLOT0, "card", "verify"]
    return subprocess.Popen(
        [*argv, "--watch", "--format", "jsonl", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=bench.env,
    )


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _rss_kb(pid: int) -> int:
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss // 1024)
    except psutil.Error:  # already gone
        return 0


def timed_batch(bench: Bench, cards: int) -> tuple[list[CardTiming], int, int]:
    """Insert ``cards`` distinct virtual cards one after another into the vpcd reader while
    ``nhicard -v card verify --watch --count N`` runs; returns each card's timing and the
    nhicard process's RSS (kB) after the first and after the last card."""
    from nhicard.sandbox.data import load_data
    from nhicard.sandbox.vcard import VirtualCard
    from nhicard.sandbox.vpcd import VpcdCardClient

    template = load_data().cards[0]
    records = [replace(template, card_number=f"{910000000000 + i:012d}") for i in range(cards)]
    client = VpcdCardClient(VirtualCard(records[0]), port=bench.stack.pcsc.slot_port(0))
    client.disconnect()  # the run loop starts with the card out
    thread, stop = client.start_thread()
    proc = _start_watch(bench, "--count", str(cards))
    assert proc.stdout is not None and proc.stderr is not None
    out, err = LineStream(proc.stdout), LineStream(proc.stderr)
    rss_first = rss_last = 0
    try:
        for i, record in enumerate(records):
            client.card = VirtualCard(record)
            client.connect()
            line = out.wait_for(lambda s: s.startswith("{"), CARD_TIMEOUT, f"record of card {i}")
            got = json.loads(line)
            if got.get("card_number") != record.card_number or got.get("result") != "ok":
                raise BenchError(f"card {i}: nhicard reported {got}")
            # after the last record the process ends at once (no interpreter finalization):
            # its RSS then reads 0, so the last reading taken while it ran counts
            rss = _rss_kb(proc.pid)
            if i == 0:
                rss_first = rss
            rss_last = rss or rss_last
            client.disconnect()
            if i < cards - 1:
                err.wait_for(lambda s: REMOVED_LINE in s, CARD_TIMEOUT, f"removal of card {i}")
        proc.wait(CARD_TIMEOUT)
        err.drain()
    except subprocess.TimeoutExpired:
        raise BenchError(f"card verify --watch --count {cards} did not end") from None
    finally:
        _end(proc)
        stop.set()
        client.disconnect()
        thread.join(5)
    if proc.returncode != 0:
        raise BenchError(f"card verify --watch exited {proc.returncode}: {err.seen[-5:]}")
    timings = [t for t in map(parse_timing, err.seen) if t is not None]
    if len(timings) != cards:
        raise BenchError(f"{len(timings)} timing lines for {cards} cards (-v changed?)")
    return timings, rss_first, rss_last


def idle_cpu_fraction(bench: Bench, seconds: float, settle: float = 1.5) -> float:
    """CPU time of ``card verify --watch`` over ``seconds`` with no card, as a fraction of
    one core (after ``settle`` seconds for start-up)."""
    import psutil

    bench.stack.wait_slot0(("empty",), 10.0)
    proc = _start_watch(bench, "--timeout", str(int(settle + seconds + 30)))
    try:
        ps = psutil.Process(proc.pid)
        time.sleep(settle)
        if proc.poll() is not None:
            raise BenchError(f"card verify --watch exited {proc.returncode} while idle")
        before = ps.cpu_times()
        started = time.monotonic()
        time.sleep(seconds)
        after = ps.cpu_times()
        wall = time.monotonic() - started
        if proc.poll() is not None:
            raise BenchError(f"card verify --watch exited {proc.returncode} while idle")
    finally:
        _end(proc)
    used = (after.user - before.user) + (after.system - before.system)
    return used / wall


def memory_growth(bench: Bench, cards: int) -> dict[str, float]:
    """Run verify_memory.py (the core loop in process) in a fresh interpreter."""
    report = bench.stack.workdir / "verify-memory.jsonl"
    report.unlink(missing_ok=True)
    run = subprocess.run(
        [python_executable(), str(BENCH_DIR / "verify_memory.py"), str(cards), str(report)],
        capture_output=True,
        text=True,
        env=bench.env,
        timeout=600,
    )
    if run.returncode != 0:
        raise BenchError(f"verify_memory.py exited {run.returncode}: {run.stderr[-400:]}")
    result = json.loads(run.stdout)
    if result["ok"] != cards:
        raise BenchError(f"verify_memory.py: {result['ok']} of {cards} cards ok")
    return dict(result)


def measure_verify_watch(bench: Bench) -> list[Row]:
    missing = missing_command(bench.stack.env, ("card", "verify"))
    if missing:
        return [skip_row("verify", TITLE, TARGET, f"not available yet: {missing} missing")]
    opts = bench.options
    bench.stack.remove_card()
    try:
        timings, rss_first, rss_last = timed_batch(bench, opts.verify_cards)
        idle = idle_cpu_fraction(bench, opts.idle_seconds, opts.idle_settle)
    finally:
        bench.stack.insert_card()
    memory = memory_growth(bench, opts.leak_cards)

    software = [t.software_ms for t in timings]
    apdu = [t.apdu_ms for t in timings]
    per_card = median(software)
    growth_kb = memory["rss_last_kb"] - memory["rss_first_kb"]
    return [
        limit_row(
            "verify",
            TITLE,
            per_card,
            20.0,
            f"{per_card:.1f} ms",
            TARGET,
            baseline=f"APDUs {median(apdu):.1f} ms",
            note=(
                f"median over {len(timings)} virtual cards inserted one after another through "
                f"vpcd (max {max(software):.1f} ms, mean {sum(software) / len(software):.1f} "
                f"ms; connect {median([t.connect_ms for t in timings]):.1f} ms of it); the "
                f"nhicard process's RSS went from {rss_first / 1024:.1f} to "
                f"{rss_last / 1024:.1f} MiB over those cards"
            ),
            data={
                "software_ms": software,
                "apdu_ms": apdu,
                "connect_ms": [t.connect_ms for t in timings],
                "rss_first_kb": rss_first,
                "rss_last_kb": rss_last,
            },
        ),
        limit_row(
            "verify",
            f"card verify --watch: memory growth over {opts.leak_cards:,} cards",
            growth_kb / 1024,
            5.0,
            f"{growth_kb / 1024:+.2f} MB",
            "< 5 MB",
            baseline=f"after card 1: {memory['rss_first_kb'] / 1024:.1f} MiB",
            note=(
                "memory: the core watch loop in process (verify_memory.py: real verification "
                "and report file, in-process virtual cards fed by a scripted monitor; "
                "1,000 insertions through vpcd would take ~15 min)"
            ),
            data=memory,
        ),
        limit_row(
            "verify",
            "card verify --watch: idle CPU, no card",
            idle * 100,
            1.0,
            f"{idle * 100:.2f} %",
            "< 1 % of a core",
            note=f"idle: process CPU time (psutil) over {opts.idle_seconds:g} s waiting for a card",
            data={"cpu_fraction": idle, "seconds": opts.idle_seconds},
        ),
    ]


VERIFY_WATCH = Figure("verify", TITLE, TARGET, measure_verify_watch)
