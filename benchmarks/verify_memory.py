"""Memory growth of the ``card verify --watch`` core loop over many card insertions.

    python verify_memory.py CARDS REPORT_FILE

Runs :func:`nhicard.card.batch.watch_cards` in this process with the real verification
(:func:`verify_in_reader`), the real report file (one fsynced JSON line per card) and
virtual cards on in-process connections, fed by a scripted monitor (insert, remove, next
card). Prints JSON: RSS (kB, VmRSS) after the first card and after the last, and the time.
Each card has its own card number, as in a real batch.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from nhicard.card.batch import BatchListener, WatchOptions, watch_cards
from nhicard.card.report import ReportFile
from nhicard.card.verification import Verification, verify_in_reader
from nhicard.sandbox.data import CardRecord, load_data
from nhicard.sandbox.vcard import InProcessConnection, VirtualCard

READER = "In-process virtual reader"


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass(frozen=True)
class Event:
    kind: str
    reader: str
    atr: bytes | None = None


class ScriptedMonitor:
    """Each card inserted, then removed, one after another (what a person does)."""

    def __init__(self, records: list[CardRecord], current: list[CardRecord]) -> None:
        self.records = records
        self.current = current

    def events(self, **_: Any) -> Iterator[Event]:
        for record in self.records:
            self.current[0] = record
            yield Event("inserted", READER, record.atr)
            yield Event("removed", READER)

    def close(self) -> None:
        pass


class Sampler(BatchListener):
    def __init__(self) -> None:
        self.first_rss = 0
        self.failed = 0

    def verified(self, verification: Verification, number: int) -> None:
        if not verification.ok:
            self.failed += 1
        if number == 1:
            self.first_rss = rss_kb()


def main() -> None:
    cards, report = int(sys.argv[1]), sys.argv[2]
    template = load_data().cards[0]
    records = [replace(template, card_number=f"{900000000000 + i:012d}") for i in range(cards)]
    current = [records[0]]

    def connect(reader: str) -> InProcessConnection:
        return InProcessConnection(VirtualCard(current[0]), reader)

    sampler = Sampler()
    started = time.perf_counter()
    with ReportFile(report) as report_file:
        summary = watch_cards(
            partial(verify_in_reader, connect=connect),
            WatchOptions(reader=READER, count=cards),
            listener=sampler,
            record=report_file.append,
            monitor_factory=lambda: ScriptedMonitor(records, current),
        )
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "cards": summary.verified,
                "ok": summary.ok,
                "failed": sampler.failed,
                "rss_first_kb": sampler.first_rss,
                "rss_last_kb": rss_kb(),
                "seconds": elapsed,
            }
        )
    )


if __name__ == "__main__":
    main()
