"""The watch loop with a scripted monitor and verifier, and the report file."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from nhicard.card import batch
from nhicard.card import report as report_module
from nhicard.card.batch import BatchListener, WatchOptions, watch_cards
from nhicard.card.report import ReportFile, read_report, report_format, verified_ok_numbers
from nhicard.card.verification import REPORT_FIELDS, Reason, Verification
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import CardAbsent, PcscUnavailable, UsageError
from nhicard.core.i18n import T
from nhicard.pcsc import codes

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=timezone(timedelta(hours=8)))
R0 = "Reader 0"
R1 = "Reader 1"


@dataclass(frozen=True)
class Event:
    kind: str
    reader: str
    atr: bytes | None = None


def ins(reader: str = R0) -> Event:
    return Event("inserted", reader, b"\x3b\x00")


def rem(reader: str = R0) -> Event:
    return Event("removed", reader)


def result(number: str | None, reason: Reason | None = None, reader: str = R0) -> Verification:
    return Verification(
        reader=reader,
        atr=b"\x3b\x00",
        card_type="nhi",
        card_number=number,
        id_number="A123456789" if number else None,
        reason=reason,
        detail=T("細節", "detail") if reason else None,
        verified_at=NOW,
        total_ms=12.0,
        apdu_ms=10.0,
        apdu_count=3,
    )


class ScriptedMonitor:
    """Yields its events (an exception in the list is raised there), then ends as idle."""

    def __init__(self, script: list[Any], log: list[dict[str, Any]]) -> None:
        self.script = script
        self.log = log
        self.closed = False

    def events(self, **kw: Any) -> Iterator[Any]:
        self.log.append(kw)
        for item in self.script:
            if isinstance(item, Exception):
                raise item
            yield item
            if kw.get("stop") is not None and kw["stop"].is_set():
                return

    def close(self) -> None:
        self.closed = True


class Recorder(BatchListener):
    def __init__(self) -> None:
        self.said: list[tuple[Any, ...]] = []

    def verified(self, verification: Verification, number: int) -> None:
        self.said.append(("verified", verification.card_number, verification.result, number))

    def ignored(self, verification: Verification, where: str, earlier: str) -> None:
        self.said.append(("ignored", verification.card_number, where, earlier))

    def card_removed(self, reader: str) -> None:
        self.said.append(("removed", reader))

    def reader_changed(self, kind: str, reader: str) -> None:
        self.said.append((kind, reader))

    def service_lost(self, error: PcscUnavailable, retry_in: float) -> None:
        self.said.append(("lost", retry_in))

    def service_back(self) -> None:
        self.said.append(("back",))


def run(
    scripts: list[list[Any]],
    results: list[Verification | Exception],
    options: WatchOptions | None = None,
    stop: threading.Event | None = None,
    clock: Any = None,
    probe: Any = None,
) -> tuple[Any, Recorder, list[Verification], list[tuple[str, bytes | None]], list[Any]]:
    listener = Recorder()
    recorded: list[Verification] = []
    calls: list[tuple[str, bytes | None]] = []
    log: list[dict[str, Any]] = []
    monitors = iter(scripts)
    made: list[ScriptedMonitor] = []
    queue = list(results)

    def factory() -> ScriptedMonitor:
        monitor = ScriptedMonitor(next(monitors), log)
        made.append(monitor)
        return monitor

    def verify(reader: str, atr: bytes | None) -> Verification:
        calls.append((reader, atr))
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def record(v: Verification) -> None:
        listener.said.append(("recorded", v.card_number))
        recorded.append(v)

    summary = watch_cards(
        verify,
        options or WatchOptions(),
        listener=listener,
        stop=stop,
        record=record,
        monitor_factory=factory,
        probe=probe or (lambda: None),
        **({"clock": clock} if clock else {}),
    )
    assert all(m.closed for m in made)
    return summary, listener, recorded, calls, log


def test_each_card_recorded_then_announced_and_counted() -> None:
    summary, listener, recorded, calls, log = run(
        [[ins(), rem(), ins(), rem(), ins(R1)]],
        [result("1"), result("2", Reason.TERMINATED), result("3", reader=R1)],
    )
    assert listener.said == [
        ("recorded", "1"),
        ("verified", "1", "ok", 1),
        ("removed", R0),
        ("recorded", "2"),
        ("verified", "2", "failed", 2),
        ("removed", R0),
        ("recorded", "3"),
        ("verified", "3", "ok", 3),
    ]
    assert calls == [(R0, b"\x3b\x00"), (R0, b"\x3b\x00"), (R1, b"\x3b\x00")]
    assert [v.card_number for v in recorded] == ["1", "2", "3"]
    assert (summary.ok, dict(summary.failed), summary.ignored) == (2, {"terminated": 1}, 0)
    assert summary.any_failed and summary.verified == 3
    assert summary.stopped_by == "idle"
    assert log[0]["include_present"] is True and log[0]["idle_timeout"] is None


def test_reinserted_card_is_ignored_with_its_earlier_result() -> None:
    summary, listener, recorded, _calls, _log = run(
        [[ins(), rem(), ins(), rem(), ins(), ins(R1)]],
        [result("1", Reason.ID_CHECK_DIGIT), result("1"), result("1"), result("2")],
        WatchOptions(count=2),
    )
    assert [s for s in listener.said if s[0] in ("ignored", "verified")] == [
        ("verified", "1", "failed", 1),
        ("ignored", "1", "run", "id-check-digit"),
        ("ignored", "1", "run", "id-check-digit"),
        ("verified", "2", "ok", 2),
    ]
    assert [v.card_number for v in recorded] == ["1", "2"]
    assert (summary.ignored, summary.stopped_by) == (2, "count")


def test_transient_failures_are_shown_but_not_counted_and_may_be_retried() -> None:
    summary, listener, recorded, _calls, _log = run(
        [[ins(), ins(), ins(), ins(), ins()]],
        [
            result("1", Reason.REMOVED),
            result(None, Reason.IN_USE),
            CardAbsent(T("沒卡", "no card"), reason="no-card"),
            result("1"),
            result("2"),
        ],
        WatchOptions(count=2),
    )
    assert [s for s in listener.said if s[0] == "verified"] == [
        ("verified", "1", "failed", 1),
        ("verified", None, "failed", 2),
        ("verified", None, "failed", 3),
        ("verified", "1", "ok", 4),
        ("verified", "2", "ok", 5),
    ]
    assert [v.reason.code if v.reason else "ok" for v in recorded] == [
        "removed",
        "in-use",
        "removed",
        "ok",
        "ok",
    ]
    assert recorded[2].detail == T("沒卡", "no card")
    assert summary.stopped_by == "count"
    assert dict(summary.failed) == {"removed": 2, "in-use": 1}


def test_cards_ok_in_the_report_are_skipped_unless_they_fail_now() -> None:
    options = WatchOptions(already_ok={"1": "2026-11-26T10:00:00+08:00"})
    summary, listener, recorded, _calls, _log = run(
        [[ins(), ins(), ins()]],
        [result("1"), result("2"), result("1", Reason.TERMINATED)],
        options,
    )
    assert [s for s in listener.said if s[0] in ("ignored", "verified")] == [
        ("ignored", "1", "report", "2026-11-26T10:00:00+08:00"),
        ("verified", "2", "ok", 1),
        ("verified", "1", "failed", 2),
    ]
    assert [v.card_number for v in recorded] == ["2", "1"]
    assert summary.ignored == 1


def test_one_reader_only_and_reader_changes() -> None:
    events = [
        ins(R1),
        Event("reader-removed", R1),
        Event("reader-removed", R0),
        Event("reader-added", R0),
        ins(),
        rem(R1),
    ]
    _summary, listener, _recorded, calls, _log = run(
        [events], [result("1")], WatchOptions(reader=R0)
    )
    assert calls == [(R0, b"\x3b\x00")]
    assert listener.said == [
        ("reader-removed", R0),
        ("reader-added", R0),
        ("recorded", "1"),
        ("verified", "1", "ok", 1),
    ]


def test_stop_event_ends_the_run_as_interrupted() -> None:
    stop = threading.Event()
    seen: list[str] = []

    def verify(reader: str, atr: bytes | None) -> Verification:
        seen.append(reader)
        stop.set()  # Ctrl-C while this card is being verified
        return result("1")

    log: list[dict[str, Any]] = []
    summary = watch_cards(
        verify,
        WatchOptions(),
        stop=stop,
        monitor_factory=lambda: ScriptedMonitor([ins(), ins()], log),
    )
    assert seen == [R0]
    assert summary.stopped_by == "interrupted" and summary.ok == 1
    assert log[0]["stop"] is stop


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_service_restart_is_survived_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0)
            clock.now += timeout or 0
            return False

    probes = [codes.service_unavailable(), codes.service_unavailable(), None]

    def probe() -> None:
        item = probes.pop(0)
        if item is not None:
            raise item

    summary, listener, recorded, _calls, log = run(
        [[ins(), codes.service_unavailable()], [ins(), ins(R1)]],
        [result("1"), result("1"), result("2")],
        WatchOptions(first_retry=0.25, max_retry=0.5),
        stop=Stop(),
        clock=clock,
        probe=probe,
    )
    assert waits == [0.25, 0.5, 0.5]
    assert [s for s in listener.said if s[0] in ("lost", "back", "ignored", "verified")] == [
        ("verified", "1", "ok", 1),
        ("lost", 0.25),
        ("lost", 0.5),
        ("lost", 0.5),
        ("back",),
        ("ignored", "1", "run", "ok"),  # still in the reader after the restart
        ("verified", "2", "ok", 2),
    ]
    assert [v.card_number for v in recorded] == ["1", "2"]
    assert len(log) == 2 and summary.stopped_by == "idle"


def test_service_away_too_long_is_raised() -> None:
    clock = Clock()

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            clock.now += timeout or 0
            return False

    def probe() -> None:
        raise codes.service_unavailable()

    with pytest.raises(PcscUnavailable):
        run(
            [[codes.service_unavailable()]],
            [],
            WatchOptions(service_grace=3, first_retry=1, max_retry=1),
            stop=Stop(),
            clock=clock,
            probe=probe,
        )
    assert clock.now == 3


def test_summary_passed_in_keeps_the_counts_when_the_service_stays_away() -> None:
    clock = Clock()

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            clock.now += timeout or 0
            return False

    def probe() -> None:
        raise codes.service_unavailable()

    summary = batch.BatchSummary()
    log: list[dict[str, Any]] = []
    with pytest.raises(PcscUnavailable):
        watch_cards(
            lambda reader, atr: result("1", Reason.TERMINATED),
            WatchOptions(service_grace=2, first_retry=1),
            stop=Stop(),
            monitor_factory=lambda: ScriptedMonitor([ins(), codes.service_unavailable()], log),
            probe=probe,
            clock=clock,
            summary=summary,
        )
    assert (dict(summary.failed), summary.stopped_by) == ({"terminated": 1}, "pcsc-unavailable")


def test_idle_time_left_is_passed_on_after_a_restart() -> None:
    clock = Clock()

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            clock.now += 1.5
            return False

    summary, _listener, _recorded, _calls, log = run(
        [[codes.service_unavailable()], []],
        [],
        WatchOptions(idle_timeout=5),
        stop=Stop(),
        clock=clock,
    )
    assert [entry["idle_timeout"] for entry in log] == [5, 3.5]
    assert summary.stopped_by == "idle" and summary.verified == 0


# -- report file ---------------------------------------------------------------------------


def test_report_format_from_extension() -> None:
    assert report_format("a.csv") == "csv"
    assert report_format("dir/A.JSONL") == "jsonl"
    for name in ("a.json", "a.txt", "report"):
        with pytest.raises(UsageError) as info:
            report_format(name)
        assert exit_code_for(info.value) == 2


def test_csv_report_header_once_and_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = report_module.os.fsync
    monkeypatch.setattr(report_module.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "r.csv"
    with ReportFile(path) as report:
        assert report.existing == []
        report.append(result("000012345678"))
        lines_after_one = path.read_text().splitlines()
    assert len(lines_after_one) == 2
    with ReportFile(path, show_pii=True) as report:
        report.append(result("000023456789", Reason.HPC))
    rows = list(csv.reader(path.open()))
    assert rows == [
        list(REPORT_FIELDS),
        [
            "2026-11-27T09:30:00+08:00",
            R0,
            "3B 00",
            "nhi",
            "000012345678",
            "A12****789",
            "ok",
            "",
            "10.0",
        ],
        [
            "2026-11-27T09:30:00+08:00",
            R0,
            "3B 00",
            "nhi",
            "000023456789",
            "A123456789",
            "failed",
            "hpc",
            "10.0",
        ],
    ]
    assert len(synced) >= 3  # header and each record
    records = read_report(path)
    assert verified_ok_numbers(records) == {"000012345678": "2026-11-27T09:30:00+08:00"}


def test_jsonl_report_survives_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ReportFile(path) as report:
        report.append(result("1"))
    with path.open("a") as f:
        f.write('{"verified_at": "2026-')  # a crash in the middle of a line
    with ReportFile(path) as report:
        assert [r["card_number"] for r in report.existing] == ["1"]
        report.append(result("2", Reason.REMOVED))
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0]) == {
        "verified_at": "2026-11-27T09:30:00+08:00",
        "reader": R0,
        "atr": "3B 00",
        "card_type": "nhi",
        "card_number": "1",
        "id_number": "A12****789",
        "result": "ok",
        "reason": None,
        "apdu_ms": 10.0,
    }
    assert json.loads(lines[2])["reason"] == "removed"
    assert verified_ok_numbers(read_report(path)) == {"1": "2026-11-27T09:30:00+08:00"}


@pytest.mark.parametrize(
    ("name", "content"),
    [("x.csv", "a,b,c\n1,2,3\n"), ("x.jsonl", '{"a": 1}\n')],
)
def test_foreign_file_is_refused(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        ReportFile(path)
    assert info.value.reason == "report-foreign"
    assert path.read_text() == content
