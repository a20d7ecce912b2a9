"""``verify_card`` / ``verify_in_reader`` over an in-process virtual card: every fault, the
checks of the profile, timing, records."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.card.verification import (
    REPORT_FIELDS,
    Reason,
    TimedConnection,
    Verification,
    verify_card,
    verify_in_reader,
)
from nhicard.core.errors import CardAbsent, PcscUnavailable
from nhicard.pcsc import codes
from nhicard.sandbox.data import load_data
from nhicard.sandbox.vcard import FaultSpec, InProcessConnection, VirtualCard

TAIPEI = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 27, 15, 4, 5, tzinfo=TAIPEI)
WANG = load_data().cards[0]
ATR_WANG = "3B FF 18 00 FF 81 31 FE 45 54 48 43 43 31 30 54 45 43 4F 47 44 48 4E 32 24"
READER = "In-process virtual reader"


class FakeTime:
    """A perf counter that only moves when the virtual card 'sleeps' (its delay fault)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def card(faults: str = "", record: object = WANG, fake: FakeTime | None = None) -> VirtualCard:
    kw = {"sleep": fake.sleep} if fake else {}
    return VirtualCard(record, FaultSpec.parse(faults), **kw)  # type: ignore[arg-type]


def verify(faults: str = "", record: object = WANG, now: datetime = NOW) -> Verification:
    return verify_card(InProcessConnection(card(faults, record)), clock=lambda: now)


def outcome(v: Verification) -> tuple[str, str | None, str | None, str | None]:
    return (v.result, v.reason.code if v.reason else None, v.card_type, v.card_number)


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ("", ("ok", None, "nhi", "000012345678")),
        ("t0", ("ok", None, "nhi", "000012345678")),
        ("6c", ("ok", None, "nhi", "000012345678")),
        ("t0,6c,delay=5", ("ok", None, "nhi", "000012345678")),
        ("bad-auth", ("ok", None, "nhi", "000012345678")),
        ("select-6d00", ("ok", None, "nhi", "000012345678")),
        ("unknown-atr", ("ok", None, "nhi-unlisted", "000012345678")),
        ("hpc", ("failed", "hpc", "hpc", None)),
        ("moica", ("failed", "moica", "moica", None)),
        ("garbage-profile", ("failed", "profile-malformed", "nhi", "000012345678")),
        ("short-profile", ("failed", "profile-malformed", "nhi", "000012345678")),
        ("terminated", ("failed", "terminated", "nhi", "000012345678")),
        ("remove-after=0", ("failed", "removed", "nhi", None)),
        ("remove-after=1", ("failed", "removed", "nhi", None)),
        ("remove-after=2", ("failed", "removed", "nhi", "000012345678")),
        ("unknown-atr,remove-after=2", ("failed", "removed", "nhi-unlisted", "000012345678")),
    ],
)
def test_each_fault(faults: str, expected: tuple[str, str | None, str | None, str | None]) -> None:
    assert outcome(verify(faults)) == expected


def test_ok_card_record_masked_and_with_pii() -> None:
    v = verify()
    assert v.ok and v.reason is None and v.detail is None
    assert v.id_number == "A123456789"
    assert list(v.to_record()) == list(REPORT_FIELDS)
    assert v.to_record() == {
        "verified_at": "2026-11-27T15:04:05+08:00",
        "reader": READER,
        "atr": ATR_WANG,
        "card_type": "nhi",
        "card_number": "000012345678",
        "id_number": "A12****789",
        "result": "ok",
        "reason": None,
        "apdu_ms": v.to_record()["apdu_ms"],
    }
    assert v.to_record(show_pii=True)["id_number"] == "A123456789"


def test_apdus_sent_in_order_and_wrong_cards_get_none() -> None:
    conn = InProcessConnection(card())
    verify_card(conn, clock=lambda: NOW)
    assert [apdu.hex().upper() for apdu in conn.sent] == [
        "00A4040010D1580000010000000000000000001100",
        "00CA110002000000",
        "00CA240002000000",
    ]
    hpc = InProcessConnection(card("hpc"))
    v = verify_card(hpc, clock=lambda: NOW)
    assert hpc.sent == []  # named from the ATR alone
    assert (v.apdu_count, v.apdu_ms, v.atr.hex().upper()) == (
        0,
        0.0,
        "3BF91800008131FE4550565F4A3244303831B6",
    )
    assert v.detail is not None and v.detail.en == "named by its ATR"


def test_timing_is_measured_per_apdu_on_the_connection() -> None:
    fake = FakeTime()
    conn = InProcessConnection(card("t0,delay=20", fake=fake))
    v = verify_card(conn, clock=lambda: NOW, perf=fake)
    # t0: SELECT (90 00 directly: no data), READ PROFILE + 2 GET RESPONSE, CARD DATA + 1
    assert v.apdu_count == len(conn.sent) == 6
    assert v.apdu_ms == pytest.approx(6 * 20)
    assert v.total_ms == pytest.approx(6 * 20)
    assert v.software_ms == pytest.approx(0)
    assert v.to_record()["apdu_ms"] == 120.0


def test_verify_in_reader_times_connecting_and_closes() -> None:
    fake = FakeTime()
    closed: list[bool] = []

    class Closing(InProcessConnection):
        def close(self) -> None:
            closed.append(True)

    def connect(reader: str) -> Closing:
        fake.sleep(0.004)
        return Closing(card("delay=10", fake=fake), reader=reader)

    v = verify_in_reader("Reader 0", connect=connect, clock=lambda: NOW, perf=fake)
    assert v.ok and closed == [True]
    assert v.reader == "Reader 0"
    assert (v.connect_ms, v.apdu_ms, v.total_ms) == pytest.approx((4, 30, 34))
    assert v.software_ms == pytest.approx(4)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (codes.sharing_violation("R"), "in-use"),
        (codes.translate(codes.SCARD_W_UNRESPONSIVE_CARD, reader="R"), "mute"),
        (codes.card_absent("R", removed=True), "removed"),
        (codes.translate(codes.SCARD_E_UNKNOWN_READER, reader="R"), "removed"),
        (codes.translate(codes.SCARD_F_COMM_ERROR - 1, reader="R"), "communication"),
    ],
)
def test_connect_failures_become_results(error: Exception, reason: str) -> None:
    def connect(reader: str) -> InProcessConnection:
        raise error

    atr = bytes.fromhex(ATR_WANG.replace(" ", ""))
    v = verify_in_reader("R", atr, connect=connect, clock=lambda: NOW)
    assert (v.result, v.reason and v.reason.code, v.card_type, v.atr) == (
        "failed",
        reason,
        "nhi",
        atr,
    )
    assert v.reason is not None and v.reason.transient


def test_connect_without_card_or_service_raises() -> None:
    def no_card(reader: str) -> InProcessConnection:
        raise codes.card_absent(reader)

    def no_service(reader: str) -> InProcessConnection:
        raise codes.service_unavailable()

    with pytest.raises(CardAbsent):
        verify_in_reader("R", connect=no_card)
    with pytest.raises(PcscUnavailable):
        verify_in_reader("R", connect=no_service)


def test_bad_check_digit() -> None:
    v = verify(record=dataclasses.replace(WANG, id_number="A123456788"))
    assert outcome(v) == ("failed", "id-check-digit", "nhi", "000012345678")
    assert v.detail is not None
    assert v.detail.en == "the check digit of ID number A12****788 is wrong"
    assert v.to_record()["id_number"] == "A12****788"


@pytest.mark.parametrize(
    ("birth", "issue", "today", "en"),
    [
        (
            date(2021, 1, 1),
            date(2020, 7, 1),
            date(2026, 1, 1),
            "the birth date is after the issue date 2020-07-01",
        ),
        (
            date(1975, 1, 1),
            date(2026, 11, 28),
            date(2026, 11, 27),
            "the issue date 2026-11-28 is after today 2026-11-27",
        ),
    ],
)
def test_implausible_dates(birth: date, issue: date, today: date, en: str) -> None:
    record = dataclasses.replace(WANG, birth_date=birth, issue_date=issue)
    now = datetime(today.year, today.month, today.day, 12, tzinfo=TAIPEI)
    v = verify(record=record, now=now)
    assert outcome(v) == ("failed", "dates-implausible", "nhi", "000012345678")
    assert v.detail is not None and v.detail.en == en


def test_issue_date_today_is_plausible() -> None:
    record = dataclasses.replace(WANG, issue_date=date(2026, 11, 27))
    assert verify(record=record).ok


class Scripted:
    """A connection answering from a table (hex command → hex answer incl. SW)."""

    def __init__(self, answers: dict[str, str], atr: str = ATR_WANG) -> None:
        self.reader = READER
        self.atr = bytes.fromhex(atr.replace(" ", ""))
        self.answers = {k.replace(" ", "").upper(): v for k, v in answers.items()}

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = bytes.fromhex(self.answers.get(apdu.hex().upper(), "6D00"))
        return response[:-2], int.from_bytes(response[-2:], "big")


SELECT = "00A4040010D1580000010000000000000000001100"
PROFILE = "00CA110002000000"
CARD_DATA = "00CA240002000000"
CARD_ID = "00CA000002000000"
UNLISTED = "3B 80 80 01 01"


def good_profile() -> str:
    from nhicard.sandbox.vcard import profile_bytes

    return profile_bytes(WANG).hex() + "9000"


@pytest.mark.parametrize(
    ("answers", "atr", "expected"),
    [
        ({SELECT: "6A88"}, ATR_WANG, ("failed", "select-failed", "nhi", None)),
        ({SELECT: "6A82"}, ATR_WANG, ("failed", "not-nhi", "nhi", None)),
        ({SELECT: "6A82"}, UNLISTED, ("failed", "not-nhi", "unknown", None)),
        ({SELECT: "6A86"}, UNLISTED, ("failed", "hpc", "unknown", None)),
        # unlisted ATR, SELECT 6D00 and READ PROFILE refused: not an NHI card
        ({SELECT: "6D00", PROFILE: "6982"}, UNLISTED, ("failed", "not-nhi", "unknown", None)),
        # listed ATR: READ PROFILE refused is a card error; READ CARD ID names the card
        (
            {SELECT: "9000", PROFILE: "6982", CARD_ID: "303030303132333435363738" + "9000"},
            ATR_WANG,
            ("failed", "profile-unreadable", "nhi", "000012345678"),
        ),
        (
            {SELECT: "9000", PROFILE: "6982"},
            ATR_WANG,
            ("failed", "profile-unreadable", "nhi", None),
        ),
        ({SELECT: "9000", PROFILE: "6A86"}, ATR_WANG, ("failed", "hpc", "nhi", None)),
        (
            {SELECT: "9000", PROFILE: None, CARD_DATA: "6A88"},
            ATR_WANG,
            ("failed", "card-data-unreadable", "nhi", "000012345678"),
        ),
        (
            {SELECT: "9000", PROFILE: None, CARD_DATA: "9000"},
            ATR_WANG,
            ("failed", "card-data-unreadable", "nhi", "000012345678"),
        ),
        (
            {SELECT: "9000", PROFILE: None, CARD_DATA: "309000"},
            UNLISTED,
            ("ok", None, "nhi-unlisted", "000012345678"),
        ),
    ],
)
def test_scripted_answers(
    answers: dict[str, str | None], atr: str, expected: tuple[str, ...]
) -> None:
    table = {k: (v if v is not None else good_profile()) for k, v in answers.items()}
    v = verify_card(Scripted(table, atr), clock=lambda: NOW)
    assert outcome(v) == expected


def test_card_keeping_61xx_forever_is_a_communication_failure() -> None:
    conn = Scripted({SELECT: "9000", PROFILE: "6110", "00C0000010": "00" * 16 + "6110"})
    v = verify_card(conn, clock=lambda: NOW)
    assert outcome(v) == ("failed", "communication", "nhi", None)


def test_timed_connection_counts_failed_transmits() -> None:
    class Broken:
        reader = "R"
        atr = b"\x3b"

        def transmit(self, apdu: bytes) -> tuple[bytes, int]:
            raise codes.card_absent("R", removed=True)

    timed = TimedConnection(Broken())  # type: ignore[arg-type]
    with pytest.raises(CardAbsent):
        timed.transmit(b"\x00\xa4\x04\x00")
    assert timed.apdu_count == 1


def test_reason_codes_are_fixed_and_bilingual() -> None:
    assert [r.code for r in Reason] == [
        "not-nhi",
        "hpc",
        "moica",
        "in-use",
        "mute",
        "removed",
        "select-failed",
        "profile-unreadable",
        "profile-malformed",
        "id-check-digit",
        "dates-implausible",
        "card-data-unreadable",
        "terminated",
        "communication",
    ]
    for reason in Reason:
        assert reason.description.zh and reason.description.en
        assert reason.description.zh != reason.description.en
    assert {r.code for r in Reason if r.transient} == {"removed", "in-use", "mute", "communication"}


@settings(max_examples=150)
@given(st.binary(min_size=0, max_size=64))
def test_any_profile_bytes_give_a_result_never_an_exception(profile: bytes) -> None:
    conn = Scripted({SELECT: "9000", PROFILE: profile.hex() + "9000", CARD_DATA: "309000"})
    v = verify_card(conn, clock=lambda: NOW)
    assert v.reason in (
        None,
        Reason.PROFILE_MALFORMED,
        Reason.ID_CHECK_DIGIT,
        Reason.DATES_IMPLAUSIBLE,
    )
    if v.ok:
        assert v.card_number is not None and v.id_number is not None
