"""APDU exchange over a scripted connection: exact bytes sent, 61xx / 6Cxx, tracing."""

from __future__ import annotations

import logging
import re

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import CardFailure
from nhicard.transport.apdu import (
    SW_DESCRIPTIONS,
    ApduError,
    StatusWord,
    describe_sw,
    exchange,
    format_sw,
    get_response,
    transceive,
    with_le,
)
from nhicard.transport.traffic import TRAFFIC, MaskPersonalData, PersonalBytes
from tests.support.fakes import READ_PROFILE, ScriptedConnection


def test_plain_answer_sends_one_apdu() -> None:
    conn = ScriptedConnection("01 02 03 90 00")
    assert transceive(conn, READ_PROFILE) == b"\x01\x02\x03"
    assert conn.sent == ["00 CA 11 00 02 00 00 00"]


def test_61xx_is_followed_by_get_response_until_90_00() -> None:
    conn = ScriptedConnection("61 05", "AA BB 61 03", "CC DD EE 90 00")
    assert transceive(conn, READ_PROFILE) == bytes.fromhex("AABBCCDDEE")
    assert conn.sent == ["00 CA 11 00 02 00 00 00", "00 C0 00 00 05", "00 C0 00 00 03"]


def test_6cxx_resends_the_command_with_the_exact_le() -> None:
    conn = ScriptedConnection("6C 39", "11 22 90 00")
    assert transceive(conn, READ_PROFILE) == b"\x11\x22"
    assert conn.sent == ["00 CA 11 00 02 00 00 00", "00 CA 11 00 02 00 00 39"]


def test_6cxx_then_61xx() -> None:
    conn = ScriptedConnection("6C 39", "61 02", "01 02 90 00")
    assert transceive(conn, READ_PROFILE) == b"\x01\x02"
    assert conn.sent == ["00 CA 11 00 02 00 00 00", "00 CA 11 00 02 00 00 39", "00 C0 00 00 02"]


def test_a_second_6cxx_is_an_error_carrying_the_sw() -> None:
    conn = ScriptedConnection("6C 39", "6C 39")
    with pytest.raises(ApduError) as info:
        transceive(conn, READ_PROFILE, command="READ PROFILE")
    assert info.value.sw == 0x6C39
    assert exit_code_for(info.value) == 6
    assert isinstance(info.value, CardFailure)
    assert (
        info.value.message.en
        == "the card answered 6C 39 (wrong Le, exact length is 57) to READ PROFILE"
    )
    assert len(conn.sent) == 2


def test_error_status_word_raises_apdu_error() -> None:
    conn = ScriptedConnection("6A 82")
    with pytest.raises(ApduError) as info:
        transceive(conn, READ_PROFILE)
    assert info.value.sw == 0x6A82
    assert info.value.detail == "SW 6A 82"


def test_exchange_returns_error_status_without_raising() -> None:
    conn = ScriptedConnection("6A 86")
    assert exchange(conn, READ_PROFILE) == (b"", 0x6A86)


def test_endless_61xx_gives_up() -> None:
    conn = ScriptedConnection(*(["61 01"] * 40))
    with pytest.raises(CardFailure) as info:
        transceive(conn, READ_PROFILE)
    assert info.value.reason == "too-many-rounds"
    assert len(conn.sent) == 32


@pytest.mark.parametrize(
    ("apdu", "le", "expected"),
    [
        ("00 84 00 00", 8, "00 84 00 00 08"),  # case 1: Le appended
        ("00 84 00 00 00", 8, "00 84 00 00 08"),  # case 2: Le replaced
        ("00 CA 11 00 02 00 00", 0x39, "00 CA 11 00 02 00 00 39"),  # case 3: Le appended
        ("00 CA 11 00 02 00 00 00", 0x39, "00 CA 11 00 02 00 00 39"),  # case 4: Le replaced
    ],
)
def test_with_le(apdu: str, le: int, expected: str) -> None:
    assert with_le(bytes.fromhex(apdu.replace(" ", "")), le).hex(" ").upper() == expected


def test_with_le_rejects_short_apdus() -> None:
    with pytest.raises(ValueError):
        with_le(b"\x00\xca", 1)


def test_get_response_bytes() -> None:
    assert get_response(0x39) == bytes.fromhex("00C0000039")


def test_status_word_names() -> None:
    assert format_sw(0x6A82) == "6A 82"
    assert describe_sw(0x9000) == "ok"
    assert describe_sw(0x6A82) == "file or application not found"
    assert describe_sw(0x6D00) == "instruction not supported"
    assert describe_sw(0x6110) == "16 more bytes available (GET RESPONSE)"
    assert describe_sw(0x6100) == "256 more bytes available (GET RESPONSE)"
    assert describe_sw(0x63C2) == "verification failed, 2 tries left"
    assert describe_sw(0x6FFF) == "unknown status word"


def test_trace_masks_the_marked_ranges_across_get_response_chunks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(TRAFFIC, logger="nhicard.transport.apdu")
    conn = ScriptedConnection("61 06", "01 02 03 04 61 02", "05 06 90 00")
    data = transceive(conn, READ_PROFILE, mask=[(2, 5)])
    assert data == bytes(range(1, 7))
    lines = [r.getMessage() for r in caplog.records if r.name == "nhicard.transport.apdu"]
    assert {r.levelno for r in caplog.records} == {TRAFFIC}
    timing = re.compile(r" \d+\.\d ms$")
    assert [timing.sub("", line) for line in lines] == [
        "APDU > 00 CA 11 00 02 00 00 00",
        "APDU < 61 06 (6 more bytes available (GET RESPONSE))",
        "APDU > 00 C0 00 00 06",
        "APDU < 01 02 ** ** 61 02 (2 more bytes available (GET RESPONSE))",
        "APDU > 00 C0 00 00 02",
        "APDU < ** 06 90 00 (ok)",
    ]
    assert all(timing.search(line) for line in lines if line.startswith("APDU <"))


def test_nothing_is_traced_below_traffic(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nhicard.transport.apdu")
    transceive(ScriptedConnection("90 00"), READ_PROFILE)
    assert [r for r in caplog.records if r.name == "nhicard.transport.apdu"] == []


def test_the_masking_filter_hides_personal_bytes_from_every_handler() -> None:
    """The filter sits on the logger, so a handler anyone adds sees only the masked hex."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("nhicard.transport.apdu")
    handler = Keep(TRAFFIC)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(TRAFFIC)
    try:
        transceive(ScriptedConnection("41 31 32 33 90 00"), READ_PROFILE, mask=[(1, 3)])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert seen[1].startswith("APDU < 41 ** ** 33 90 00 (ok) ")


def test_personal_bytes_render_masked_only_through_the_filter() -> None:
    record = logging.LogRecord(
        "nhicard.transport.apdu",
        TRAFFIC,
        __file__,
        1,
        "APDU < %s",
        (PersonalBytes(b"AB", [(0, 1)]),),
        None,
    )
    assert MaskPersonalData().filter(record) is True
    assert record.getMessage() == "APDU < ** 42"


def test_status_words_are_an_int_enum() -> None:
    assert StatusWord.FILE_NOT_FOUND == 0x6A82
    assert describe_sw(StatusWord.INS_NOT_SUPPORTED) == "instruction not supported"
    assert set(SW_DESCRIPTIONS) == set(StatusWord)
