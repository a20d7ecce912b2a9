"""The NHI session over the in-process virtual card and a scripted connection: exact APDUs,
wrong cards, quirks."""

from __future__ import annotations

import pytest

from nhicard.card.reading import read_card
from nhicard.card.session import NhiCard, answers_nhi_select
from nhicard.cli.main import exit_code_for
from nhicard.cli.records import card_record
from nhicard.core.errors import CardAbsent, CardFailure
from nhicard.pcsc.smartcard_list import default_smartcard_list
from nhicard.sandbox.algorithms import mutual_auth_answer
from nhicard.sandbox.data import load_data
from nhicard.sandbox.vcard import FaultSpec, InProcessConnection, VirtualCard
from tests.support.fakes import ScriptedConnection

SELECT_NHI = "00 A4 04 00 10 D1 58 00 00 01 00 00 00 00 00 00 00 00 00 11 00"
SELECT_SAM = "00 A4 04 00 10 D1 58 00 00 01 00 00 00 00 00 00 00 00 00 31 00"
READ_PROFILE = "00 CA 11 00 02 00 00 00"
READ_CARD_DATA = "00 CA 24 00 02 00 00 00"


def connect(faults: str = "", card_number: str | None = None) -> InProcessConnection:
    data = load_data()
    record = data.card(card_number) if card_number else data.cards[0]
    assert record is not None
    return InProcessConnection(
        VirtualCard(record, FaultSpec.parse(faults), rng=lambda n: bytes(range(1, n + 1)))
    )


def sent(conn: InProcessConnection) -> list[str]:
    return [a.hex(" ").upper() for a in conn.sent]


def test_read_card_sends_exactly_three_apdus() -> None:
    conn = connect(card_number="000023456789")
    reading = read_card(conn)
    assert sent(conn) == [SELECT_NHI, READ_PROFILE, READ_CARD_DATA]
    assert reading.profile.name == "林峯"
    assert reading.card_type == "nhi"
    assert reading.card_data.card_termination == "0"


def test_t0_card_needs_get_response() -> None:
    conn = connect("t0")
    reading = read_card(conn)
    assert sent(conn) == [
        SELECT_NHI,
        READ_PROFILE,
        "00 C0 00 00 39",
        "00 C0 00 00 19",
        READ_CARD_DATA,
        "00 C0 00 00 01",
    ]
    assert reading.profile.id_number == "A123456789"


def test_6c_card_gets_the_exact_le() -> None:
    conn = connect("6c")
    read_card(conn)
    assert sent(conn) == [SELECT_NHI, READ_PROFILE, "00 CA 11 00 02 00 00 39", READ_CARD_DATA]


def test_select_6d00_still_reads_and_warns() -> None:
    conn = connect("select-6d00")
    reading = read_card(conn)
    assert sent(conn) == [SELECT_NHI, READ_PROFILE, READ_CARD_DATA]
    assert list(reading.warnings) == [
        "the card answered SELECT with 6D00 (as some new cards do); reading anyway"
    ]


def test_health_professional_card() -> None:
    conn = connect("hpc")
    with pytest.raises(CardAbsent) as info:
        read_card(conn)
    assert info.value.reason == "hpc"
    assert exit_code_for(info.value) == 5
    assert info.value.message.zh == "這不是健保卡(醫事人員卡)"
    assert sent(conn) == [SELECT_NHI, READ_PROFILE]


def test_moica_card_is_named() -> None:
    conn = connect("moica")
    with pytest.raises(CardAbsent) as info:
        read_card(conn)
    assert info.value.reason == "moica"
    assert (
        info.value.message.en == "not an NHI card (自然人憑證, MOICA Citizen Digital Certificate)"
    )
    assert sent(conn) == [SELECT_NHI]


@pytest.mark.parametrize(
    ("atr", "label"),
    [
        ("3B 00 AA 55 AA 55", "unknown card"),
        pytest.param(
            "3B 02 14 50",
            "unknown card: Schlumberger Multiflex 3k",
            marks=pytest.mark.skipif(
                default_smartcard_list() is None, reason="pcsc-tools' list absent"
            ),
        ),
    ],
)
def test_unknown_card_answering_6a82_is_not_nhi(atr: str, label: str) -> None:
    conn = ScriptedConnection("6A 82", atr=bytes.fromhex(atr.replace(" ", "")))
    with pytest.raises(CardAbsent) as info:
        NhiCard(conn).select()
    assert info.value.reason == "not-nhi"
    assert info.value.message.en == f"not an NHI card ({label})"


def test_unlisted_atr_is_nhi_unlisted_when_it_reads() -> None:
    reading = read_card(connect("unknown-atr"))
    assert reading.card_type == "nhi-unlisted"
    assert reading.card_label.en == "NHI-compatible card (unlisted ATR)"


def test_probe_for_unlisted_atrs() -> None:
    assert answers_nhi_select(connect("unknown-atr")) is True
    assert answers_nhi_select(connect("moica")) is False
    assert answers_nhi_select(connect("remove-after=0")) is False


def test_card_pulled_is_card_absent() -> None:
    conn = connect("remove-after=1")
    with pytest.raises(CardAbsent) as info:
        read_card(conn)
    assert info.value.reason == "card-removed"


@pytest.mark.parametrize("faults", ["garbage-profile", "short-profile"])
def test_unreadable_profiles(faults: str) -> None:
    with pytest.raises(CardFailure) as info:
        read_card(connect(faults))
    assert info.value.reason == "profile-unreadable"


def test_terminated_card() -> None:
    reading = read_card(connect("terminated"))
    assert reading.card_data.terminated
    assert list(reading.warnings) == ["this card has been cancelled (termination flag set)"]
    assert card_record(reading, "zh-TW")["warnings"] == ["此卡已註銷(註銷註記已設定)"]


def test_to_record_masked() -> None:
    record = card_record(read_card(connect()), "en", mask=True)
    assert (
        record["name"],
        record["id_number"],
        record["birth_date"],
        record["birth_date_roc"],
    ) == (
        "王*明",
        "A12****789",
        "1975-**-**",
        "064****",
    )
    assert record["card_number"] == "000012345678"


def test_card_id_challenge_mutual_auth_and_sam() -> None:
    conn = connect()
    card = NhiCard(conn)
    card.select()
    assert card.read_card_id() == "000012345678"
    challenge = card.get_challenge()
    assert challenge == bytes(range(1, 9))
    host_challenge = bytes(range(100, 132))
    answer = card.mutual_auth(host_challenge)
    record = load_data().cards[0]
    assert answer == mutual_auth_answer(record.auth_key, host_challenge, challenge)
    card.select_sam()
    assert sent(conn) == [
        SELECT_NHI,
        "00 CA 00 00 02 00 00 00",
        "00 84 00 00 08",
        "00 82 11 12 20 " + bytes(range(100, 132)).hex(" ").upper() + " 10",
        SELECT_SAM,
    ]


def test_bad_auth_card_answers_wrongly() -> None:
    conn = connect("bad-auth")
    card = NhiCard(conn)
    card.select()
    challenge = card.get_challenge()
    answer = card.mutual_auth(bytes(32))
    assert len(answer) == 16
    assert answer != mutual_auth_answer(load_data().cards[0].auth_key, bytes(32), challenge)


def test_mutual_auth_without_challenge_is_an_apdu_error() -> None:
    card = NhiCard(connect())
    with pytest.raises(CardFailure) as info:
        card.mutual_auth(bytes(32))
    assert getattr(info.value, "sw", None) == 0x6985


def test_picky_reader_gets_read_profile_without_le() -> None:
    record = load_data().cards[0]
    from nhicard.sandbox.vcard import profile_bytes

    conn = ScriptedConnection(
        "90 00", "67 00", profile_bytes(record).hex() + "9000", atr=record.atr
    )
    card = NhiCard(conn)
    card.select()
    assert card.read_profile().id_number == "A123456789"
    assert conn.sent == [
        SELECT_NHI,
        READ_PROFILE,
        "00 CA 11 00 02 00 00",
    ]


def test_other_read_profile_errors_are_apdu_errors() -> None:
    conn = ScriptedConnection("69 82", atr=b"\x3b\x00")
    with pytest.raises(CardFailure) as info:
        NhiCard(conn).read_profile()
    assert (
        info.value.message.en
        == "the card answered 69 82 (security status not satisfied) to READ PROFILE"
    )
