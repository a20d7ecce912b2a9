"""Card and reader events from ``SCardGetStatusChange`` (no CPU-burning polls).

The monitor blocks in PC/SC for at most ``slice_seconds`` at a time, so Ctrl-C and a stop
event are honoured promptly. The ``\\\\?PnP?\\Notification`` pseudo-reader reports readers
plugged in or unplugged; where the PC/SC service does not support it, the reader list is
re-read at every slice instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from nhicard.core.closing import ClosesOnExit
from nhicard.core.errors import CardAbsent
from nhicard.core.i18n import T
from nhicard.pcsc import codes
from nhicard.pcsc.context import PcscContext, ScardCallError, check, scard
from nhicard.pcsc.events import EventKind
from nhicard.pcsc.names import list_reader_names, resolve_reader

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"


@dataclass(frozen=True)
class CardEvent:
    """A card inserted into / removed from ``reader``, or a reader added / removed."""

    kind: EventKind
    reader: str
    atr: bytes | None = None
    at: float = 0.0  # time.monotonic() when seen


class CardMonitor(ClosesOnExit):
    """Watches one reader (``reader_spec``) or every reader (None) for card events.

    Owns its own PC/SC context, as pcsc-lite serialises calls on one context."""

    def __init__(
        self,
        reader_spec: str | None = None,
        *,
        slice_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader_spec = reader_spec
        self.slice_ms = max(1, int(slice_seconds * 1000))
        self.clock = clock
        self.context = PcscContext()
        self._pnp_supported = True
        self._target: str | None = None
        self._pnp_state = 0

    def close(self) -> None:
        self.context.release()

    def _watched_readers(self) -> list[str]:
        names = list_reader_names(self.context)
        if self.reader_spec is None:
            return names
        return [resolve_reader(self.reader_spec, names)]

    def events(
        self,
        *,
        idle_timeout: float | None = None,
        include_present: bool = False,
        stop: threading.Event | None = None,
    ) -> Iterator[CardEvent]:
        """Yield events as they happen.

        Ends when ``idle_timeout`` seconds pass without an event, or when ``stop`` is set.
        With ``include_present`` a card already in a reader at the start is reported as
        ``inserted`` too."""
        sc = scard()
        present: dict[str, bool] = {}
        current: dict[str, int] = {}
        readers = self._watched_readers()
        # the one reader a spec names, kept by name while it is unplugged and plugged again
        self._target = readers[0] if self.reader_spec is not None and readers else None
        first_round = True
        last_event = self.clock()
        while True:
            if stop is not None and stop.is_set():
                return
            if idle_timeout is not None and self.clock() - last_event >= idle_timeout:
                return
            wait_ms = self.slice_ms
            if idle_timeout is not None:
                left = idle_timeout - (self.clock() - last_event)
                wait_ms = max(0, min(wait_ms, int(left * 1000)))
            if first_round:
                wait_ms = 0
            query = [(r, current.get(r, sc.SCARD_STATE_UNAWARE)) for r in readers]
            if self._pnp_supported:
                query.append((PNP_NOTIFICATION, self._pnp_state))
            if not query:
                time.sleep(wait_ms / 1000)
                readers = self._refresh(readers, present, current, [])
                continue
            states = self._status_change(wait_ms, query)
            events: list[CardEvent] = []
            readers_changed = not self._pnp_supported
            for name, bits, atr in states:
                if name == PNP_NOTIFICATION:
                    if bits & sc.SCARD_STATE_UNKNOWN:
                        self._pnp_supported = False
                    elif bits & sc.SCARD_STATE_CHANGED:
                        readers_changed = True
                    self._pnp_state = bits & ~sc.SCARD_STATE_CHANGED
                    continue
                current[name] = bits & ~sc.SCARD_STATE_CHANGED
                if bits & (sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_UNAVAILABLE):
                    readers_changed = True
                    continue
                now_present = bool(bits & sc.SCARD_STATE_PRESENT)
                before = present.get(name)
                present[name] = now_present
                if now_present and (before is False or (before is None and include_present)):
                    events.append(
                        CardEvent(EventKind.INSERTED, name, bytes(atr or b""), self.clock())
                    )
                elif not now_present and before:
                    events.append(CardEvent(EventKind.REMOVED, name, None, self.clock()))
            if readers_changed:
                readers = self._refresh(readers, present, current, events)
            first_round = False
            for event in events:
                last_event = event.at
                yield event
                if stop is not None and stop.is_set():
                    return

    def _refresh(
        self,
        readers: list[str],
        present: dict[str, bool],
        current: dict[str, int],
        events: list[CardEvent],
    ) -> list[str]:
        if self.reader_spec is None:
            new = self._watched_readers()
        else:
            # an unplugged named reader leaves only the PnP notification to wait on (which
            # blocks), instead of asking again at once for a reader PC/SC no longer knows
            names = list_reader_names(self.context)
            new = [self._target] if self._target in names else []
        for gone in [r for r in readers if r not in new]:
            if present.pop(gone, False):
                events.append(CardEvent(EventKind.REMOVED, gone, None, self.clock()))
            current.pop(gone, None)
            events.append(CardEvent(EventKind.READER_REMOVED, gone, None, self.clock()))
        for added in [r for r in new if r not in readers]:
            present[added] = False  # a card in a newly plugged reader counts as inserted
            events.append(CardEvent(EventKind.READER_ADDED, added, None, self.clock()))
        return new

    def _status_change(
        self, wait_ms: int, query: list[tuple[str, int]]
    ) -> list[tuple[str, int, Any]]:
        sc = scard()

        def op(handle: Any) -> list[tuple[str, int, Any]]:
            hresult, states = sc.SCardGetStatusChange(handle, wait_ms, query)
            code = codes.normalize(hresult)
            if code == codes.SCARD_E_TIMEOUT:
                return []
            if code == codes.SCARD_E_UNKNOWN_READER:
                # a reader vanished between listing and waiting: re-list next round
                return [(r, sc.SCARD_STATE_UNKNOWN, b"") for r, _ in query if r != PNP_NOTIFICATION]
            check(hresult, "SCardGetStatusChange")
            return [(str(n), int(b), a) for n, b, a in states]

        try:
            return self.context.run(op)
        except ScardCallError as err:
            raise codes.translate(err.code, during=err.during) from None


def wait_for_card(reader_spec: str | None, timeout: float) -> str:
    """Wait up to ``timeout`` seconds for a card in the reader ``reader_spec`` (index, name
    substring, or None for any reader); return the reader's name. A card already present
    counts. Raises CardAbsent on timeout."""
    with CardMonitor(reader_spec) as monitor:
        for event in monitor.events(idle_timeout=timeout, include_present=True):
            if event.kind == EventKind.INSERTED:
                return event.reader
    raise CardAbsent(
        T("等待 {seconds} 秒仍未插入卡片", "no card was inserted within {seconds} s").format(
            seconds=f"{timeout:g}"
        ),
        hint=T(
            "請插入健保卡(晶片朝上、朝內)後再試。",
            "Insert the NHI card (chip first, facing up) and retry.",
        ),
        reason="wait-timeout",
    )
