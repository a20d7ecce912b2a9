"""The pcsc package in process against the private pcscd: stale-context recovery across a
pcscd restart, card events, waiting, and leaving the card to other programs."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from nhicard.card.reading import read_card
from nhicard.card.session import answers_nhi_select
from nhicard.core.errors import CardAbsent
from nhicard.pcsc.events import EventKind
from nhicard.pcsc.monitor import CardEvent, CardMonitor, wait_for_card
from nhicard.pcsc.names import list_reader_names
from nhicard.pcsc.readers import list_readers, open_card
from tests.support.stack import PcscStack, VirtualCardSlots

pytestmark = pytest.mark.pcsc

SLOT0 = "Virtual PCD 00 00"
SLOT1 = "Virtual PCD 00 01"
ATR_LIN = bytes.fromhex("3BFD1300008131FE454A434F503231763233314744 54E1".replace(" ", ""))


def test_pcscd_restart_between_two_operations_is_recovered(
    virtual_cards: VirtualCardSlots, pcsc: PcscStack
) -> None:
    assert list_reader_names() == [SLOT0, SLOT1]
    virtual_cards.insert("000023456789")
    with open_card(None) as conn:
        assert read_card(conn).profile.name == "林峯"
    pcsc.restart()
    # the same process, the same (now stale) shared context: re-established transparently
    assert list_reader_names() == [SLOT0, SLOT1]
    virtual_cards.wait_state(0, ("present",))  # the virtual card reconnects to the new vpcd
    with open_card("0") as conn:
        assert read_card(conn).profile.name == "林峯"
    assert [r.state for r in list_readers(probe=answers_nhi_select)] == ["present", "empty"]


def collect(
    monitor: CardMonitor, out: queue.Queue[CardEvent | None], **kw: object
) -> threading.Thread:
    def run() -> None:
        for event in monitor.events(**kw):  # type: ignore[arg-type]
            out.put(event)
        out.put(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def next_card_event(out: queue.Queue[CardEvent | None], timeout: float = 10) -> CardEvent | None:
    while True:
        event = out.get(timeout=timeout)
        if event is None or event.kind in (EventKind.INSERTED, EventKind.REMOVED):
            return event


def test_monitor_reports_insertion_and_removal(virtual_cards: VirtualCardSlots) -> None:
    out: queue.Queue[CardEvent | None] = queue.Queue()
    stop = threading.Event()
    with CardMonitor(None, slice_seconds=0.2) as monitor:
        thread = collect(monitor, out, stop=stop)
        virtual_cards.insert("000023456789", slot=1)
        event = next_card_event(out)
        assert event is not None
        assert (event.kind, event.reader, event.atr) == (EventKind.INSERTED, SLOT1, ATR_LIN)
        virtual_cards.remove(1)
        event = next_card_event(out)
        assert event is not None
        assert (event.kind, event.reader) == (EventKind.REMOVED, SLOT1)
        stop.set()
        thread.join(5)
        assert not thread.is_alive()


def test_monitor_of_one_reader_ignores_the_other_and_ends_when_idle(
    virtual_cards: VirtualCardSlots,
) -> None:
    out: queue.Queue[CardEvent | None] = queue.Queue()
    virtual_cards.insert("000023456789", slot=1)
    with CardMonitor("00 00", slice_seconds=0.2) as monitor:
        started = time.monotonic()
        thread = collect(monitor, out, idle_timeout=1.0, include_present=True)
        assert out.get(timeout=10) is None  # no event for slot 0 within 1 s: the iterator ends
        assert 0.9 < time.monotonic() - started < 5
        thread.join(5)


def test_monitor_reports_a_present_card_when_asked(virtual_cards: VirtualCardSlots) -> None:
    virtual_cards.insert(slot=0)
    with CardMonitor(None) as monitor:
        events = monitor.events(idle_timeout=2, include_present=True)
        first = next(events)
        assert (first.kind, first.reader) == (EventKind.INSERTED, SLOT0)
        events.close()


def test_wait_for_card(virtual_cards: VirtualCardSlots) -> None:
    with pytest.raises(CardAbsent) as info:
        wait_for_card("1", 0.5)
    assert info.value.reason == "wait-timeout"
    timer = threading.Timer(0.2, lambda: virtual_cards.insert(slot=1))
    timer.start()
    try:
        assert wait_for_card(None, 15) == SLOT1
    finally:
        timer.join()


def test_disconnect_leaves_the_card_to_other_programs(virtual_cards: VirtualCardSlots) -> None:
    import smartcard.scard as sc

    virtual_cards.insert()
    hr, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    assert hr == 0
    hr, other, proto = sc.SCardConnect(
        ctx, SLOT0, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
    )
    assert hr == 0
    try:
        with open_card(None) as conn:
            assert read_card(conn).profile.id_number == "A123456789"
        # our disconnect used SCARD_LEAVE_CARD: the other program's session was not reset
        hr, response = sc.SCardTransmit(other, proto, list(bytes.fromhex("00CA000002000000")))
        assert hr == 0, hex(hr)
        assert bytes(response) == b"000012345678\x90\x00"
    finally:
        sc.SCardDisconnect(other, sc.SCARD_LEAVE_CARD)
        sc.SCardReleaseContext(ctx)
