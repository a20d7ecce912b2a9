"""Verifying one card: does it read correctly, end to end? (``card verify``)

A verification runs these steps in order and stops at the first that fails:

1. ATR identified (a Health Professional Card or a MOICA card fails here, without an APDU);
2. SELECT of the NHI application;
3. READ PROFILE, and the 57 bytes parsed;
4. the ID number's check digit;
5. the dates: birth date ≤ issue date ≤ today (``clock`` is injected);
6. READ CARD DATA, and the card termination flag not set.

The result is ``ok`` or ``failed`` with one :class:`Reason` (a fixed, documented list of
codes) and a detail message. The time every APDU took is measured on the connection, so the
software's own share (``total_ms - apdu_ms``) is known for each card.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from nhicard.card.idnumber import id_check_ok
from nhicard.card.profile import NhiProfile
from nhicard.card.session import NhiCard
from nhicard.core.clock import Clock, local_now
from nhicard.core.errors import CardAbsent, CardFailure, NhicardError, PcscUnavailable, ReaderError
from nhicard.core.i18n import T, Text
from nhicard.core.masking import mask_id
from nhicard.pcsc import atr as atrs
from nhicard.transport.apdu import ApduError
from nhicard.transport.connection import Connection

OK = "ok"
FAILED = "failed"

# the fields of a report record and of the record printed per card, in this order
REPORT_FIELDS = (
    "verified_at",
    "reader",
    "atr",
    "card_type",
    "card_number",
    "id_number",
    "result",
    "reason",
    "apdu_ms",
)

PerfCounter = Callable[[], float]  # seconds, monotonic (time.perf_counter)


class Reason(Enum):
    """Why a card failed verification. The values are the stable codes of reports and JSON."""

    NOT_NHI = "not-nhi"
    HPC = "hpc"
    MOICA = "moica"
    IN_USE = "in-use"
    MUTE = "mute"
    REMOVED = "removed"
    SELECT_FAILED = "select-failed"
    PROFILE_UNREADABLE = "profile-unreadable"
    PROFILE_MALFORMED = "profile-malformed"
    ID_CHECK_DIGIT = "id-check-digit"
    DATES_IMPLAUSIBLE = "dates-implausible"
    CARD_DATA_UNREADABLE = "card-data-unreadable"
    TERMINATED = "terminated"
    COMMUNICATION = "communication"

    @property
    def code(self) -> str:
        """The reason code as reports carry it, e.g. ``"not-nhi"``."""
        return self.value

    @property
    def description(self) -> Text:
        """What the code means, in both languages."""
        return REASON_DESCRIPTIONS[self]

    @property
    def transient(self) -> bool:
        """True when the failure says nothing about the card itself (pulled out, held by
        another program, not powered up): inserting it again may well succeed."""
        return self in (Reason.REMOVED, Reason.IN_USE, Reason.MUTE, Reason.COMMUNICATION)


REASON_DESCRIPTIONS: dict[Reason, Text] = {
    Reason.NOT_NHI: T(
        "不是健保卡(卡片沒有健保應用程式)", "not an NHI card (the card has no NHI application)"
    ),
    Reason.HPC: T("醫事人員卡,不是健保卡", "a Health Professional Card, not an NHI card"),
    Reason.MOICA: T(
        "自然人憑證,不是健保卡", "a MOICA Citizen Digital Certificate, not an NHI card"
    ),
    Reason.IN_USE: T("卡片正被其他程式獨占使用", "the card is held exclusively by another program"),
    Reason.MUTE: T(
        "卡片沒有回應(插反或晶片髒污)",
        "the card does not respond (inserted the wrong way, or a dirty chip)",
    ),
    Reason.REMOVED: T(
        "驗證完成前卡片已被取出", "the card was pulled out before verification finished"
    ),
    Reason.SELECT_FAILED: T(
        "選取健保應用程式(SELECT)時卡片回應錯誤",
        "the card answered SELECT of the NHI application with an error",
    ),
    Reason.PROFILE_UNREADABLE: T(
        "讀取基本資料(READ PROFILE)時卡片回應錯誤",
        "the card answered READ PROFILE with an error",
    ),
    Reason.PROFILE_MALFORMED: T(
        "基本資料格式錯誤(過短或無法解讀)", "the basic data is malformed (too short or garbled)"
    ),
    Reason.ID_CHECK_DIGIT: T("身分證號的檢查碼不正確", "the ID number's check digit is wrong"),
    Reason.DATES_IMPLAUSIBLE: T(
        "日期不合理(應為 出生日期 ≤ 發卡日期 ≤ 今天)",
        "implausible dates (birth date ≤ issue date ≤ today must hold)",
    ),
    Reason.CARD_DATA_UNREADABLE: T(
        "讀取卡片資料(READ CARD DATA,註銷註記)失敗",
        "READ CARD DATA (the termination flag) failed",
    ),
    Reason.TERMINATED: T(
        "卡片已註銷(註銷註記已設定)", "the card is cancelled (termination flag set)"
    ),
    Reason.COMMUNICATION: T(
        "與卡片或讀卡機的通訊失敗", "communication with the card or the reader failed"
    ),
}


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying one card, with its timing.

    ``total_ms`` runs from connecting to the card until the last check; ``apdu_ms`` is the
    sum of the time every APDU took on the connection (``apdu_count`` of them);
    ``connect_ms`` the time connecting took (part of ``total_ms``)."""

    reader: str
    atr: bytes
    card_type: str | None
    card_number: str | None
    id_number: str | None
    reason: Reason | None
    detail: Text | None
    verified_at: datetime
    total_ms: float = 0.0
    apdu_ms: float = 0.0
    apdu_count: int = 0
    connect_ms: float = 0.0
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def result(self) -> str:
        """``"ok"`` or ``"failed"``."""
        return OK if self.ok else FAILED

    @property
    def software_ms(self) -> float:
        """Time spent outside the card's APDUs (our code, PC/SC calls, connecting)."""
        return max(0.0, self.total_ms - self.apdu_ms)

    def to_record(self, *, show_pii: bool = False) -> dict[str, Any]:
        """The record of the CLI contract (report and output); the ID number is masked
        unless ``show_pii``."""
        return {
            "verified_at": self.verified_at.isoformat(timespec="seconds"),
            "reader": self.reader,
            "atr": atrs.format_atr(self.atr) if self.atr else None,
            "card_type": self.card_type,
            "card_number": self.card_number,
            "id_number": self.id_number if show_pii else mask_id(self.id_number),
            "result": self.result,
            "reason": self.reason.code if self.reason else None,
            "apdu_ms": round(self.apdu_ms, 1),
        }


class TimedConnection:
    """A Connection that measures how long each ``transmit`` takes."""

    def __init__(self, conn: Connection, perf: PerfCounter = time.perf_counter) -> None:
        self.conn = conn
        self.reader = conn.reader
        self.atr = bytes(conn.atr)
        self.perf = perf
        self.apdu_seconds = 0.0
        self.apdu_count = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        started = self.perf()
        try:
            return self.conn.transmit(apdu)
        finally:
            self.apdu_seconds += self.perf() - started
            self.apdu_count += 1


class _Failed(Exception):
    """A step failed: carries the reason and detail up to :func:`verify_card`."""

    def __init__(self, reason: Reason, detail: Text | None = None) -> None:
        super().__init__(reason.code)
        self.reason = reason
        self.detail = detail


def _error_text(err: NhicardError) -> Text:
    if not err.detail:
        return err.message
    return Text(f"{err.message.zh}({err.detail})", f"{err.message.en} ({err.detail})")


def _transport_reason(err: NhicardError) -> Reason | None:
    """The reason for errors that can happen at any step (card pulled, reader gone, …)."""
    if isinstance(err, CardAbsent) and err.reason in ("card-removed", "no-card"):
        return Reason.REMOVED
    if isinstance(err, ReaderError):
        return Reason.REMOVED
    if isinstance(err, CardFailure) and not isinstance(err, ApduError):
        if err.reason == "card-mute":
            return Reason.MUTE
        if err.reason == "sharing-violation":
            return Reason.IN_USE
        if err.reason in ("transmit-failed", "too-many-rounds", "short-response", "closed"):
            return Reason.COMMUNICATION
    return None


def _fail(err: NhicardError, reason: Reason) -> _Failed:
    return _Failed(_transport_reason(err) or reason, _error_text(err))


_NOT_NHI_REASONS = {"hpc": Reason.HPC, "moica": Reason.MOICA}


class _Steps:
    """The verification steps over one timed connection; fills in what it learns."""

    def __init__(self, conn: TimedConnection, today: Any) -> None:
        self.conn = conn
        self.card = NhiCard(conn)
        self.today = today
        known = atrs.classify_atr(conn.atr)
        self.card_type: str | None = known.card_type if known else None
        if self.card_type is None and conn.atr:
            self.card_type = atrs.UNKNOWN
        self.card_number: str | None = None
        self.id_number: str | None = None
        self.selected_ok = False

    def run(self) -> None:
        self.identify_atr()
        self.select()
        profile = self.read_profile()
        self.check_id(profile)
        self.check_dates(profile)
        self.check_card_data()

    def identify_atr(self) -> None:
        if self.card_type == atrs.HPC:
            raise _Failed(Reason.HPC, T("依 ATR 判定", "named by its ATR"))
        if self.card_type == atrs.MOICA:
            raise _Failed(Reason.MOICA, T("依 ATR 判定", "named by its ATR"))

    def select(self) -> None:
        try:
            self.card.select()
        except CardAbsent as err:
            reason = _NOT_NHI_REASONS.get(err.reason or "", Reason.NOT_NHI)
            raise _Failed(_transport_reason(err) or reason, _error_text(err)) from None
        except NhicardError as err:
            if isinstance(err, PcscUnavailable):
                raise
            raise _fail(err, Reason.SELECT_FAILED) from None
        self.selected_ok = not self.card.warnings  # a 6D00 answer leaves a warning

    def read_profile(self) -> NhiProfile:
        try:
            profile = self.card.read_profile()
        except CardAbsent as err:
            reason = _NOT_NHI_REASONS.get(err.reason or "", Reason.NOT_NHI)
            raise _Failed(_transport_reason(err) or reason, _error_text(err)) from None
        except ApduError as err:
            if self.card_type == atrs.UNKNOWN and not self.selected_ok:
                # an unlisted card that answers neither SELECT nor READ PROFILE
                raise _Failed(Reason.NOT_NHI, _error_text(err)) from None
            self._learn_card_number()
            raise _Failed(Reason.PROFILE_UNREADABLE, _error_text(err)) from None
        except NhicardError as err:
            if isinstance(err, PcscUnavailable):
                raise
            transport = _transport_reason(err)
            if transport is not None:
                raise _Failed(transport, _error_text(err)) from None
            self._learn_card_number()
            raise _Failed(Reason.PROFILE_MALFORMED, _error_text(err)) from None
        if self.card_type in (None, atrs.UNKNOWN):
            self.card_type = atrs.NHI_UNLISTED
        self.card_number = profile.card_number
        self.id_number = profile.id_number
        return profile

    def _learn_card_number(self) -> None:
        """After an unreadable profile, name the card by READ CARD ID if it answers."""
        try:
            self.card_number = self.card.read_card_id()
        except NhicardError:
            self.card_number = None

    def check_id(self, profile: NhiProfile) -> None:
        if not id_check_ok(profile.id_number):
            raise _Failed(
                Reason.ID_CHECK_DIGIT,
                T(
                    "身分證號 {id} 的檢查碼不正確", "the check digit of ID number {id} is wrong"
                ).format(id=mask_id(profile.id_number)),
            )

    def check_dates(self, profile: NhiProfile) -> None:
        if profile.birth_date > profile.issue_date:
            raise _Failed(
                Reason.DATES_IMPLAUSIBLE,
                T(
                    "出生日期晚於發卡日期 {issue}", "the birth date is after the issue date {issue}"
                ).format(issue=profile.issue_date.isoformat()),
            )
        if profile.issue_date > self.today:
            raise _Failed(
                Reason.DATES_IMPLAUSIBLE,
                T(
                    "發卡日期 {issue} 晚於今天 {today}",
                    "the issue date {issue} is after today {today}",
                ).format(issue=profile.issue_date.isoformat(), today=self.today.isoformat()),
            )

    def check_card_data(self) -> None:
        try:
            data = self.card.read_card_data()
        except NhicardError as err:
            if isinstance(err, PcscUnavailable):
                raise
            raise _fail(err, Reason.CARD_DATA_UNREADABLE) from None
        if data.terminated:
            raise _Failed(
                Reason.TERMINATED,
                T("註銷註記為 {flag}", "termination flag is {flag}").format(
                    flag=data.card_termination
                ),
            )


def verify_card(
    conn: Connection,
    *,
    clock: Clock = local_now,
    perf: PerfCounter = time.perf_counter,
    started: float | None = None,
    connect_ms: float = 0.0,
) -> Verification:
    """Verify the card on ``conn`` (see the module docstring). Card faults become a
    ``failed`` result, never an exception; only PcscUnavailable (the PC/SC service went
    away) is raised. ``started`` is the ``perf()`` time the work on this card began
    (default: now)."""
    begin = perf() if started is None else started
    timed = TimedConnection(conn, perf)
    now = clock()
    steps = _Steps(timed, now.date())
    reason: Reason | None = None
    detail: Text | None = None
    try:
        steps.run()
    except _Failed as failed:
        reason, detail = failed.reason, failed.detail
    return Verification(
        reader=conn.reader,
        atr=bytes(conn.atr),
        card_type=steps.card_type,
        card_number=steps.card_number,
        id_number=steps.id_number,
        reason=reason,
        detail=detail,
        verified_at=clock(),
        total_ms=(perf() - begin) * 1000,
        apdu_ms=timed.apdu_seconds * 1000,
        apdu_count=timed.apdu_count,
        connect_ms=connect_ms,
        warnings=tuple(steps.card.warnings),
    )


def failed_without_card(
    reader: str,
    atr: bytes | None,
    reason: Reason,
    detail: Text | None,
    *,
    clock: Clock = local_now,
    total_ms: float = 0.0,
) -> Verification:
    """A failed result for a card we could not talk to at all (pulled, held, mute)."""
    known = atrs.classify_atr(atr)
    card_type = known.card_type if known else (atrs.UNKNOWN if atr else None)
    return Verification(
        reader=reader,
        atr=bytes(atr or b""),
        card_type=card_type,
        card_number=None,
        id_number=None,
        reason=reason,
        detail=detail,
        verified_at=clock(),
        total_ms=total_ms,
        connect_ms=total_ms,
    )


Connector = Callable[[str], Any]  # reader name → an open Connection with close()


def _default_connect(reader: str) -> Any:
    from nhicard.pcsc.readers import connect_card

    return connect_card(reader)


def verify_in_reader(
    reader: str,
    atr: bytes | None = None,
    *,
    connect: Connector = _default_connect,
    clock: Clock = local_now,
    perf: PerfCounter = time.perf_counter,
) -> Verification:
    """Connect to the card in ``reader`` (shared mode), verify it and disconnect.

    ``atr`` is what the reader reported at insertion (used when connecting fails).
    Raises CardAbsent (reason ``no-card``) when the reader holds no card at all, and
    PcscUnavailable; every other problem is a ``failed`` result."""
    begin = perf()
    try:
        conn = connect(reader)
    except PcscUnavailable:
        raise
    except CardAbsent as err:
        if err.reason == "no-card":
            raise
        reason = _transport_reason(err) or Reason.REMOVED
        return failed_without_card(
            reader, atr, reason, _error_text(err), clock=clock, total_ms=(perf() - begin) * 1000
        )
    except NhicardError as err:
        reason = _transport_reason(err) or Reason.COMMUNICATION
        return failed_without_card(
            reader, atr, reason, _error_text(err), clock=clock, total_ms=(perf() - begin) * 1000
        )
    connect_ms = (perf() - begin) * 1000
    try:
        return verify_card(conn, clock=clock, perf=perf, started=begin, connect_ms=connect_ms)
    finally:
        close = getattr(conn, "close", None)
        if close is not None:
            close()
