"""``card verify --watch`` figures: software time per card, memory growth, idle CPU."""

from __future__ import annotations

from benchmarks.availability import missing_command
from benchmarks.figures import Bench, Figure
from benchmarks.results import Row, skip_row

TITLE = "card verify --watch: software time per card"
TARGET = "≤ 20 ms/card"


def measure_verify_watch(bench: Bench) -> list[Row]:
    missing = missing_command(bench.env, ("card", "verify"))
    if missing:
        return [
            skip_row("verify", TITLE, TARGET, f"not available yet: {missing} missing"),
        ]
    return []


VERIFY_WATCH = Figure("verify", TITLE, TARGET, measure_verify_watch)
