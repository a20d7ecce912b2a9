"""ATR formatting, the ATR table, and pcsc-tools' smartcard_list.txt."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.pcsc.atr import (
    ATR_TABLE,
    CARD_TYPES,
    classify_atr,
    format_atr,
    parse_atr,
    unknown_card_label,
)
from nhicard.pcsc.smartcard_list import SmartcardList, default_smartcard_list

NHI_ATRS = [
    "3B FF 18 00 FF 81 31 FE 45 54 48 43 43 31 30 54 45 43 4F 47 44 48 4E 32 24",
    "3B FF 18 00 FF 81 31 FE 45 54 48 43 43 31 30 54 45 43 4F 47 44 49 4E 31 26",
    "3B FD 13 00 00 81 31 FE 45 4A 43 4F 50 32 31 76 32 33 31 47 44 54 E1",
    "3B FC 18 00 00 81 31 FE 45 80 73 C8 21 13 66 02 04 03 55 00 02 D2",
    "3B EE 00 00 81 31 FE 45 80 31 80 66 40 90 93 06 0F 17 83 0F 90 00 F3",
    "3B FD 18 00 00 81 31 FE 45 53 4C 4A 35 32 47 78 78 79 79 79 7A 52 AA",
    "3B FA 18 00 00 81 31 FE 45 50 56 4A 43 4F 50 34 53 49 44 93",
    "3B FA 18 00 00 81 31 FE 45 53 4C 4A 35 32 47 78 78 79 79 FC",
]


@pytest.mark.parametrize("atr", NHI_ATRS)
def test_listed_nhi_atrs(atr: str) -> None:
    info = classify_atr(parse_atr(atr))
    assert info is not None
    assert (info.card_type, info.label.en) == ("nhi", "NHI card")


def test_probable_nhi_atr_is_nhi_with_its_own_label() -> None:
    info = classify_atr(
        parse_atr("3B EE 00 00 81 31 FE 45 80 31 80 66 40 90 93 06 0F 17 83 01 90 00 FD")
    )
    assert info is not None
    assert info.card_type == "nhi"
    assert "probable" in info.label.en


@pytest.mark.parametrize(
    ("atr", "card_type", "zh"),
    [
        ("3B F9 18 00 00 81 31 FE 45 50 56 5F 4A 32 44 30 38 31 B6", "hpc", "醫事人員卡"),
        ("3B 8B 80 01 00 31 C1 64 08 40 21 30 00 90 00 57", "moica", "自然人憑證"),
        ("3B D8 96 00 81 B1 FE 45 1F 07 43 48 54 47 50 4B 49 4A DD", "moica", "自然人憑證"),
    ],
)
def test_cards_inserted_by_mistake(atr: str, card_type: str, zh: str) -> None:
    info = classify_atr(parse_atr(atr))
    assert info is not None
    assert (info.card_type, info.label.zh) == (card_type, zh)


def test_table_size_and_types() -> None:
    assert len(ATR_TABLE) == 12
    assert {i.card_type for i in ATR_TABLE.values()} <= set(CARD_TYPES)


def test_unknown_and_empty_atrs() -> None:
    assert classify_atr(None) is None
    assert classify_atr(b"") is None
    # one byte different from a listed ATR: no wildcards
    assert classify_atr(parse_atr(NHI_ATRS[0])[:-1] + b"\x25") is None


def test_format_and_parse() -> None:
    assert format_atr(b"\x3b\xff\x18") == "3B FF 18"
    assert (
        parse_atr("3b:ff:18") == parse_atr("3BFF18") == parse_atr(" 3B FF 18 ") == b"\x3b\xff\x18"
    )
    for bad in ("", "3B F", "zz", "3B FF 1G"):
        with pytest.raises(ValueError):
            parse_atr(bad)


@given(st.binary(min_size=1, max_size=33))
def test_format_parse_round_trip(atr: bytes) -> None:
    assert parse_atr(format_atr(atr)) == atr


@given(st.text(max_size=40))
def test_parse_atr_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_atr(text)


SAMPLE_LIST = """\
#
# smartcard_list.txt sample
#

3B 02 14 50
\tSchlumberger Multiflex 3k

3B 8F 80 01 80 4F 0C A0 00 00 03 06 .. 00 .. 00 00 00 00 ..
\tStorage card (PC/SC part 3)
\thttp://example.invalid

3B [ ( broken regex
\tnever matches

3B FA 18 00 00 81 31 FE 45 4E 48 49 53 41 4E 44 42 4F 58 EB
"""


def test_smartcard_list_parsing() -> None:
    lst = SmartcardList.parse(SAMPLE_LIST)
    # the broken regex and the ATR without a description are left out
    assert [e.atr_text for e in lst.entries] == [
        "3B 02 14 50",
        "3B 8F 80 01 80 4F 0C A0 00 00 03 06 .. 00 .. 00 00 00 00 ..",
    ]
    assert lst.entries[1].descriptions == ("Storage card (PC/SC part 3)", "http://example.invalid")
    assert lst.describe(bytes.fromhex("3B021450")) == "Schlumberger Multiflex 3k"
    wildcard = bytes.fromhex("3B8F8001804F0CA0000003060300010000000068")
    assert lst.describe(wildcard) == "Storage card (PC/SC part 3)"
    assert lst.describe(bytes.fromhex("3B02145000")) is None  # whole-ATR match only


@given(st.text(max_size=300))
def test_smartcard_list_parser_never_raises(text: str) -> None:
    lst = SmartcardList.parse(text)
    assert lst.describe(b"\x3b\x00") is None or isinstance(lst.describe(b"\x3b\x00"), str)


@pytest.mark.skipif(
    default_smartcard_list() is None, reason="pcsc-tools' smartcard_list.txt absent"
)
def test_system_list_names_cards_we_do_not_list() -> None:
    label = unknown_card_label(bytes.fromhex("3B021450"))
    assert label.en == "unknown card: Schlumberger Multiflex 3k"


def test_unknown_label_with_a_given_list() -> None:
    lst = SmartcardList.parse(SAMPLE_LIST)
    assert (
        unknown_card_label(bytes.fromhex("3B021450"), lst).zh
        == "未知卡片:Schlumberger Multiflex 3k"
    )
    assert unknown_card_label(bytes.fromhex("3B0000"), lst).en == "unknown card"
