"""Verifying a stream of cards (``card verify --watch``).

:func:`watch_cards` waits on PC/SC card events (a :class:`~nhicard.pcsc.monitor.CardMonitor`,
no polling), verifies each card the moment it is inserted, appends it to the report, and
tells a :class:`BatchListener` what happened; the CLI turns that into lines and messages.
It stops after ``count`` cards, after ``idle_timeout`` seconds without a card event, or when
``stop`` is set (Ctrl-C), and survives readers being unplugged and the PC/SC service
restarting (for at most ``service_grace`` seconds at a stretch).

The report file the verified cards are appended to is :mod:`nhicard.card.report`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from nhicard.card.verification import (
    OK,
    Reason,
    Verification,
    failed_without_card,
)
from nhicard.core.errors import CardAbsent, PcscUnavailable
from nhicard.core.i18n import Text
from nhicard.pcsc.events import EventKind


class StopReason(StrEnum):
    """Why a batch run ended: the summary's ``stopped_by``."""

    NOT_STARTED = "not-started"  # the summary's state until the cards are watched
    COUNT = "count"
    IDLE = "idle"
    INTERRUPTED = "interrupted"
    SERVICE_LOST = "pcsc-unavailable"
    OUTPUT_LOST = "output-lost"  # the results could not be written (stdout full or closed)


SEEN_IN_RUN = "run"
SEEN_IN_REPORT = "report"


# -- the watch loop ----------------------------------------------------------------------


class EventLike(Protocol):
    kind: str
    reader: str
    atr: bytes | None


class MonitorLike(Protocol):
    def events(
        self,
        *,
        idle_timeout: float | None = ...,
        include_present: bool = ...,
        stop: threading.Event | None = ...,
    ) -> Iterator[Any]: ...

    def close(self) -> None: ...


VerifyFn = Callable[[str, "bytes | None"], Verification]


class BatchEvents(Protocol):
    """What :func:`watch_cards` reports as it goes (see :class:`BatchListener`)."""

    def verified(self, verification: Verification, number: int) -> None: ...
    def ignored(self, verification: Verification, where: str, earlier: str) -> None: ...
    def card_removed(self, reader: str) -> None: ...
    def reader_changed(self, kind: str, reader: str) -> None: ...
    def service_lost(self, error: PcscUnavailable, retry_in: float) -> None: ...
    def service_back(self) -> None: ...


class BatchListener:
    """A :class:`BatchEvents` whose every method does nothing; subclass what you show."""

    def verified(self, verification: Verification, number: int) -> None:
        """A card was verified (and written to the report); ``number`` counts the cards."""

    def ignored(self, verification: Verification, where: str, earlier: str) -> None:
        """A card already verified was inserted again: ``where`` is ``run`` (earlier in
        this run, ``earlier`` its result) or ``report`` (``earlier`` its verified_at)."""

    def card_removed(self, reader: str) -> None:
        """The card left ``reader``."""

    def reader_changed(self, kind: str, reader: str) -> None:
        """A reader was plugged in (``reader-added``) or unplugged (``reader-removed``)."""

    def service_lost(self, error: PcscUnavailable, retry_in: float) -> None:
        """The PC/SC service went away; the next attempt is in ``retry_in`` seconds."""

    def service_back(self) -> None:
        """The PC/SC service answers again."""


@dataclass
class BatchSummary:
    """Counts of one run: ``ok``, ``failed`` by reason code, ``ignored`` re-insertions."""

    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    stopped_by: StopReason = StopReason.NOT_STARTED

    @property
    def verified(self) -> int:
        return self.ok + sum(self.failed.values())

    @property
    def any_failed(self) -> bool:
        return bool(self.failed)

    def add(self, verification: Verification) -> None:
        if verification.reason is None:
            self.ok += 1
        else:
            self.failed[verification.reason.code] += 1


@dataclass
class WatchOptions:
    """What to watch and when to stop.

    ``reader``: the one reader's name, or None for every reader. ``count``: stop after this
    many cards counted (a card pulled out too early, held by another program or mute is
    shown but not counted: insert it again). ``idle_timeout``: stop after this many seconds
    without a card event. ``already_ok``: card numbers to skip (verified ok in the report,
    mapped to when). ``service_grace``: how long the PC/SC service may stay away."""

    reader: str | None = None
    count: int | None = None
    idle_timeout: float | None = None
    already_ok: dict[str, str] = field(default_factory=dict)
    service_grace: float = 30.0
    first_retry: float = 0.25
    max_retry: float = 2.0


def _default_probe() -> None:
    from nhicard.pcsc.names import list_reader_names

    list_reader_names()


class _Watch:
    def __init__(
        self,
        verify: VerifyFn,
        options: WatchOptions,
        listener: BatchEvents,
        stop: threading.Event,
        record: Callable[[Verification], None] | None,
        clock: Callable[[], float],
        summary: BatchSummary,
    ) -> None:
        self.verify = verify
        self.options = options
        self.listener = listener
        self.stop = stop
        self.record = record
        self.clock = clock
        self.summary = summary
        self.seen: dict[str, str] = {}  # card number → its result this run
        self.counted = 0
        self.last_activity = clock()

    def idle_left(self) -> float | None:
        if self.options.idle_timeout is None:
            return None
        return self.options.idle_timeout - (self.clock() - self.last_activity)

    def handle(self, event: EventLike) -> bool:
        """Deal with one event; True when the run is complete (``count`` reached)."""
        watched = self.options.reader
        if event.kind in (EventKind.READER_ADDED, EventKind.READER_REMOVED):
            if watched is None or event.reader == watched:
                self.listener.reader_changed(event.kind, event.reader)
            return False
        if watched is not None and event.reader != watched:
            return False
        self.last_activity = self.clock()
        if event.kind == EventKind.REMOVED:
            self.listener.card_removed(event.reader)
            return False
        if event.kind != EventKind.INSERTED:
            return False
        try:
            verification = self.verify(event.reader, event.atr or None)
        except CardAbsent as err:  # gone before we could even connect
            verification = failed_without_card(event.reader, event.atr, Reason.REMOVED, err.message)
        self.last_activity = self.clock()
        return self.settle(verification)

    def settle(self, verification: Verification) -> bool:
        number = verification.card_number
        if number and number in self.seen:
            self.summary.ignored += 1
            self.listener.ignored(verification, SEEN_IN_RUN, self.seen[number])
            return False
        if number and number in self.options.already_ok and verification.ok:
            self.summary.ignored += 1
            self.listener.ignored(verification, SEEN_IN_REPORT, self.options.already_ok[number])
            return False
        if self.record is not None:
            self.record(verification)
        self.summary.add(verification)
        transient = verification.reason is not None and verification.reason.transient
        if not transient:
            self.counted += 1
            if number:
                self.seen[number] = verification.reason.code if verification.reason else OK
        self.listener.verified(verification, self.summary.verified)
        return self.options.count is not None and self.counted >= self.options.count


def watch_cards(
    verify: VerifyFn,
    options: WatchOptions,
    *,
    listener: BatchEvents | None = None,
    stop: threading.Event | None = None,
    record: Callable[[Verification], None] | None = None,
    monitor_factory: Callable[[], MonitorLike] | None = None,
    probe: Callable[[], None] = _default_probe,
    clock: Callable[[], float] = time.monotonic,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Verify cards as they are inserted until ``count``, idleness or ``stop``.

    ``verify(reader, atr)`` verifies the card in a reader (see
    :func:`nhicard.card.verification.verify_in_reader`); ``record`` (the report's append)
    is called with each result before the listener hears of it. Cards present at the start
    (and after a PC/SC restart) count as inserted. Raises PcscUnavailable when the service
    stays away longer than ``options.service_grace``. Pass ``summary`` to keep the counts
    of a run that ends in an exception."""
    listener = listener or BatchListener()
    stop = stop or threading.Event()
    factory = monitor_factory or _default_monitor
    run = _Watch(verify, options, listener, stop, record, clock, summary or BatchSummary())
    lost_since: float | None = None
    delay = options.first_retry
    while True:
        if stop.is_set():
            run.summary.stopped_by = StopReason.INTERRUPTED
            return run.summary
        try:
            if lost_since is not None:
                probe()
                listener.service_back()
                lost_since, delay = None, options.first_retry
            idle = run.idle_left()
            if idle is not None and idle <= 0:
                run.summary.stopped_by = StopReason.IDLE
                return run.summary
            monitor = factory()
            try:
                for event in monitor.events(idle_timeout=idle, include_present=True, stop=stop):
                    if run.handle(event):
                        run.summary.stopped_by = StopReason.COUNT
                        return run.summary
            finally:
                monitor.close()
            run.summary.stopped_by = StopReason.INTERRUPTED if stop.is_set() else StopReason.IDLE
            return run.summary
        except PcscUnavailable as err:
            now = clock()
            if lost_since is None:
                lost_since = now
            if now - lost_since >= options.service_grace:
                run.summary.stopped_by = StopReason.SERVICE_LOST
                raise
            listener.service_lost(err, delay)
            stop.wait(delay)
            delay = min(delay * 2, options.max_retry)


def _default_monitor() -> MonitorLike:
    from nhicard.pcsc.monitor import CardMonitor

    return CardMonitor(None)


def reason_text(verification: Verification) -> Text | None:
    """The reason's description followed by the detail, for messages."""
    if verification.reason is None:
        return None
    description = verification.reason.description
    detail = verification.detail
    if detail is None:
        return description
    return Text(f"{description.zh}:{detail.zh}", f"{description.en}: {detail.en}")
