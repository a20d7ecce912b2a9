"""Readers: their state and card, the reader to read a card from, and opening a card in
shared mode (names and choice by index or name: :mod:`nhicard.pcsc.names`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nhicard.core.errors import CardAbsent, NhicardError, ReaderError
from nhicard.core.i18n import T, Text
from nhicard.pcsc import atr as atrs
from nhicard.pcsc import codes
from nhicard.pcsc.connection import PcscConnection
from nhicard.pcsc.context import PcscContext, ScardCallError, check, scard, shared_context
from nhicard.pcsc.names import list_reader_names, reader_list_text, resolve_reader, translated
from nhicard.transport.connection import Connection


class ReaderState(StrEnum):
    """A reader's state as ``reader list`` reports it (its JSON ``state`` values)."""

    EMPTY = "empty"
    PRESENT = "present"
    IN_USE = "in-use"
    MUTE = "mute"
    UNAVAILABLE = "unavailable"


EMPTY, PRESENT, IN_USE, MUTE, UNAVAILABLE = (
    ReaderState.EMPTY,
    ReaderState.PRESENT,
    ReaderState.IN_USE,
    ReaderState.MUTE,
    ReaderState.UNAVAILABLE,
)

SHARING_RETRIES = 4  # connection attempts while another program holds the card exclusively
SHARING_RETRY_DELAY = 0.25  # seconds between those attempts

# Decides whether a card whose ATR is not in our table answers like an NHI card (the card
# layer's nhicard.card.session.answers_nhi_select; None: do not ask the card).
NhiProbe = Callable[[Connection], bool]


@dataclass(frozen=True)
class ReaderInfo:
    """One reader as ``reader list`` shows it (printed by ``nhicard.cli.records``)."""

    index: int
    name: str
    state: ReaderState
    atr: bytes | None
    card_type: str | None  # one of nhicard.pcsc.atr.CARD_TYPES, None without a card
    card_label: Text | None


def reader_states(
    names: list[str], context: PcscContext | None = None
) -> list[tuple[str, int, bytes]]:
    """``(name, event state bits, ATR)`` of each reader, without waiting."""
    if not names:
        return []
    ctx = context or shared_context()
    sc = scard()

    def op(handle: Any) -> list[tuple[str, int, bytes]]:
        hresult, states = sc.SCardGetStatusChange(
            handle, 0, [(n, sc.SCARD_STATE_UNAWARE) for n in names]
        )
        if codes.normalize(hresult) == codes.SCARD_E_TIMEOUT:
            return [(n, sc.SCARD_STATE_UNKNOWN, b"") for n in names]
        check(hresult, "SCardGetStatusChange")
        return [(str(name), int(state), bytes(atr or b"")) for name, state, atr in states]

    try:
        return ctx.run(op)
    except ScardCallError as err:
        raise translated(err) from None


def state_name(bits: int) -> ReaderState:
    """Reader state bits → the reader's state."""
    sc = scard()
    if bits & (sc.SCARD_STATE_UNAVAILABLE | sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_IGNORE):
        return UNAVAILABLE
    if bits & sc.SCARD_STATE_PRESENT:
        if bits & sc.SCARD_STATE_MUTE:
            return MUTE
        if bits & (sc.SCARD_STATE_INUSE | sc.SCARD_STATE_EXCLUSIVE):
            return IN_USE
        return PRESENT
    if bits & sc.SCARD_STATE_EMPTY:
        return EMPTY
    return UNAVAILABLE


def identify_card(
    reader: str,
    atr: bytes,
    *,
    probe: NhiProbe | None,
    context: PcscContext | None = None,
) -> atrs.AtrInfo:
    """``card_type`` and label of the card in ``reader``: from the ATR table, else by asking
    the card (SELECT: ``nhi-unlisted``), else ``unknown`` named from smartcard_list.txt."""
    known = atrs.classify_atr(atr)
    if known is not None:
        return known
    if probe is not None:
        try:
            conn = PcscConnection.connect(context or shared_context(), reader)
        except (ScardCallError, NhicardError):
            conn = None
        if conn is not None:
            try:
                if probe(conn):
                    return atrs.AtrInfo(atrs.NHI_UNLISTED, atrs.NHI_UNLISTED_LABEL)
            except NhicardError:
                pass
            finally:
                conn.close()
    return atrs.AtrInfo(atrs.UNKNOWN, atrs.unknown_card_label(atr))


def list_readers(*, probe: NhiProbe | None, context: PcscContext | None = None) -> list[ReaderInfo]:
    """Every reader with its state and card (``reader list``); a card whose ATR is not in
    the table is asked by ``probe`` whether it is an NHI card."""
    names = list_reader_names(context)
    out = []
    for index, (name, bits, atr) in enumerate(reader_states(names, context)):
        state = state_name(bits)
        info: atrs.AtrInfo | None = None
        if state in (PRESENT, IN_USE) and atr:
            info = identify_card(
                name, atr, probe=probe if state == PRESENT else None, context=context
            )
        out.append(
            ReaderInfo(
                index=index,
                name=name,
                state=state,
                atr=(atr or None) if state in (PRESENT, IN_USE, MUTE) else None,
                card_type=info.card_type if info else None,
                card_label=info.label if info else None,
            )
        )
    return out


def choose_card_reader(reader_spec: str | None, *, wait: float | None = None) -> str:
    """The reader to read a card from.

    With ``reader_spec``: that reader (waiting up to ``wait`` seconds for a card if empty).
    Without: the only reader; else the only reader holding a card (an NHI card preferred over
    HPC / MOICA, as clinic dual-slot readers hold an HPC next to the patient's card); else,
    with ``wait``, the first reader a card is inserted into."""
    names = list_reader_names()
    if not names and not wait:
        raise codes.no_readers()
    if reader_spec is not None:
        reader = resolve_reader(reader_spec, names)
        if wait:
            from nhicard.pcsc.monitor import wait_for_card

            return wait_for_card(reader, wait)
        return reader
    if len(names) == 1 and not wait:
        return names[0]
    with_card = [
        (name, atr)
        for name, bits, atr in reader_states(names)
        if state_name(bits) in (PRESENT, IN_USE, MUTE)
    ]
    if len(with_card) > 1:
        preferred = [(n, a) for n, a in with_card if not _is_other_card(a)]
        if len(preferred) == 1:
            return preferred[0][0]
        raise ReaderError(
            T("多台讀卡機中都有卡片:{names}", "several readers hold a card: {names}").format(
                names=reader_list_text([n for n, _ in with_card])
            ),
            hint=T(
                "請用 -r 指定讀卡機(編號或名稱)。", "Choose the reader with -r (index or name)."
            ),
            reason="reader-ambiguous",
        )
    if with_card:
        return with_card[0][0]
    if wait:
        from nhicard.pcsc.monitor import wait_for_card

        return wait_for_card(None, wait)
    if len(names) == 1:
        return names[0]
    raise CardAbsent(
        T("所有讀卡機中都沒有卡片", "no card in any reader"),
        hint=T(
            "請插入健保卡(晶片朝上、朝內),或加上 --wait 秒數等待插卡。",
            "Insert the NHI card (chip first, facing up), or add --wait SECONDS to wait for it.",
        ),
        reason="no-card",
    )


def _is_other_card(atr: bytes) -> bool:
    info = atrs.classify_atr(atr)
    return info is not None and info.card_type in (atrs.HPC, atrs.MOICA)


def connect_card(reader: str, *, context: PcscContext | None = None) -> PcscConnection:
    """Connect to the card in ``reader`` (shared, T0|T1), retrying a bounded number of times
    while another program holds it exclusively."""
    ctx = context or shared_context()
    for attempt in range(SHARING_RETRIES):
        try:
            return PcscConnection.connect(ctx, reader)
        except ScardCallError as err:
            if err.code == codes.SCARD_E_SHARING_VIOLATION and attempt + 1 < SHARING_RETRIES:
                time.sleep(SHARING_RETRY_DELAY)
                continue
            raise translated(err, reader) from None
    raise codes.sharing_violation(reader)  # not reached: the loop returns or raises


@contextmanager
def open_card(reader_spec: str | None, *, wait: float | None = None) -> Iterator[Connection]:
    """A connection to one card (see :func:`choose_card_reader`), closed with LEAVE_CARD.

    Raises PcscUnavailable / ReaderError / CardAbsent / CardFailure."""
    reader = choose_card_reader(reader_spec, wait=wait)
    conn = connect_card(reader)
    try:
        yield conn
    finally:
        conn.close()
