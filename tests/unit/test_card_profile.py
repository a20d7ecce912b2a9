"""The 57-byte profile: layout, name decoding, dates, ID checks, bad data."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.card.notices import Notice
from nhicard.card.profile import (
    CardData,
    NhiProfile,
    decode_name,
    encode_name,
    plain_big5_ok,
)
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import CardFailure
from nhicard.sandbox.data import load_data
from nhicard.sandbox.vcard import card_profile, profile_bytes


def profile(
    card_number: bytes = b"000012345678",
    name: bytes = encode_name("王小明"),
    id_number: bytes = b"A123456789",
    birth: bytes = b"0640101",
    sex: bytes = b"M",
    issue: bytes = b"1090701",
) -> bytes:
    return card_number + name.ljust(20, b"\x00") + id_number + birth + sex + issue


def test_layout_of_a_known_card() -> None:
    p = NhiProfile.from_bytes(profile())
    assert p == NhiProfile(
        card_number="000012345678",
        name="王小明",
        id_number="A123456789",
        birth_date=date(1975, 1, 1),
        birth_date_roc="0640101",
        sex="M",
        issue_date=date(2020, 7, 1),
        issue_date_roc="1090701",
        warnings=(),
    )


def test_dates_keep_the_hundreds_digit_of_the_roc_year() -> None:
    # offsets 42 and 50, not 43: ROC 114 is 2025, not 14 → 1925
    p = NhiProfile.from_bytes(profile(birth=b"1010229", issue=b"1141201"))
    assert p.birth_date == date(2012, 2, 29)
    assert p.issue_date == date(2025, 12, 1)
    assert (p.birth_date_roc, p.issue_date_roc) == ("1010229", "1141201")


GARBLED = (
    "the name has characters plain Big5 lacks (e.g. HKSCS ones): the official component "
    "would garble this name"
)


@pytest.mark.parametrize("name", ["王小明", "安娜", "歐陽娜娜"])
def test_names_in_plain_big5(name: str) -> None:
    p = NhiProfile.from_bytes(profile(name=name.encode("big5")))
    assert p.name == name
    assert p.warnings == ()


@pytest.mark.parametrize("name", ["林峯", "王建喆", "陳堃", "嘅喺"])
def test_hkscs_names_decode_and_are_flagged_for_the_official_component(name: str) -> None:
    """The official component converts names with plain Big5 (nhi-agent.md): a name with an
    HKSCS character reads right here, with a warning that the component would garble it."""
    raw = name.encode("big5hkscs")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("big5")
    p = NhiProfile.from_bytes(profile(name=raw))
    assert p.name == name
    assert list(p.warnings) == [GARBLED]
    warning = p.warnings[0]
    assert isinstance(warning, Notice)
    assert warning.render("zh-TW") == (
        "姓名含有一般 Big5 沒有的字(例如香港增補字符集 HKSCS 的字):"
        "官方健保卡讀卡機元件會把這個姓名顯示成亂碼"
    )
    assert name not in warning.render("zh-TW") + warning  # the name is not repeated


def test_cp950_extension_characters_are_flagged_too() -> None:
    p = NhiProfile.from_bytes(profile(name="王碁".encode("cp950")))
    assert p.name == "王碁"
    assert list(p.warnings) == [GARBLED]


def test_plain_big5_after_the_padding_is_not_looked_at() -> None:
    raw = "王小明".encode("big5") + b"\x00" + "峯".encode("big5hkscs")
    assert plain_big5_ok(raw)
    assert NhiProfile.from_bytes(profile(name=raw)).warnings == ()


def test_name_is_all_twenty_bytes_not_only_six() -> None:
    ten = "歐陽一二三四五六七八"
    assert NhiProfile.from_bytes(profile(name=ten.encode("big5hkscs"))).name == ten


def test_name_padding_with_spaces_or_nul_is_dropped() -> None:
    assert (
        NhiProfile.from_bytes(profile(name="林峯".encode("big5hkscs").ljust(20, b" "))).name
        == "林峯"
    )
    assert (
        NhiProfile.from_bytes(profile(name="林峯".encode("big5hkscs") + b"\x00\x20\x20")).name
        == "林峯"
    )
    assert (
        NhiProfile.from_bytes(profile(name="林峯".encode("big5hkscs") + b"\x00\xff\xff")).name
        == "林峯"
    )


def test_cp950_only_characters_fall_back() -> None:
    raw = "碁".encode("cp950")  # in CP950's extension rows
    assert decode_name(raw)[0] == "碁"


def test_undecodable_name_bytes_are_replaced_and_reported() -> None:
    p = NhiProfile.from_bytes(profile(name=b"\xa4\xfd\xff\xff\xa9\xfa"))
    assert p.name.startswith("王") and p.name.endswith("明")
    assert "\ufffd" in p.name
    assert len(p.warnings) == 1
    warning = p.warnings[0]
    assert isinstance(warning, Notice)
    assert "could not be decoded" in warning
    assert "無法解碼" in warning.render("zh-TW")


def test_bad_check_digit_is_a_warning_with_the_id_masked() -> None:
    p = NhiProfile.from_bytes(profile(id_number=b"A123456788"))
    assert p.id_number == "A123456788"
    assert list(p.warnings) == ["the check digit of ID number A12****788 is wrong"]


def test_odd_sex_is_a_warning() -> None:
    p = NhiProfile.from_bytes(profile(sex=b"X"))
    assert p.sex == "X"
    assert list(p.warnings) == ["unusual value in the sex field: 'X'"]


def test_extra_bytes_are_ignored_with_a_warning() -> None:
    p = NhiProfile.from_bytes(profile() + b"\x90")
    assert p.name == "王小明"
    assert list(p.warnings) == ["1 extra bytes after the basic data were ignored"]


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"", "0 bytes instead of 57"),
        (profile()[:56], "56 bytes instead of 57"),
        (profile(card_number=b"00001234567X"), "card number"),
        (profile(card_number=b"\xff" * 12), "card number"),
        (profile(id_number=b"a123456789"), "ID number"),
        (profile(id_number=b"A323456789"), "ID number"),
        (profile(birth=b"0641301"), "birth date"),
        (profile(birth=b"064010 "), "birth date"),
        (profile(issue=b"1090230"), "issue date"),
        (profile(issue=b"0000101"), "issue date"),
    ],
)
def test_garbage_is_a_card_failure(data: bytes, what: str) -> None:
    with pytest.raises(CardFailure) as info:
        NhiProfile.from_bytes(data)
    assert info.value.reason == "profile-unreadable"
    assert info.value.message.en == f"the NHI card's basic data is unreadable: {what}"
    assert exit_code_for(info.value) == 6


def test_sandbox_people_round_trip() -> None:
    for record in load_data().cards:
        p = NhiProfile.from_bytes(profile_bytes(record))
        assert (p.card_number, p.name, p.id_number, p.birth_date, p.sex, p.issue_date) == (
            record.card_number,
            record.name,
            record.id_number,
            record.birth_date,
            record.sex,
            record.issue_date,
        )
        # 林峯's 峯 is HKSCS: the one sandbox person the official component would garble
        assert list(p.warnings) == ([GARBLED] if record.name == "林峯" else [])


@given(st.binary(max_size=80))
def test_arbitrary_bytes_give_a_profile_or_card_failure(data: bytes) -> None:
    try:
        p = NhiProfile.from_bytes(data)
    except CardFailure:
        return
    assert len(p.card_number) == 12
    assert isinstance(p.name, str)


big5_text = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF).filter(
        lambda c: len(c.encode("big5hkscs", errors="ignore")) == 2
    ),
    min_size=1,
    max_size=10,
)


@given(
    name=big5_text,
    birth=st.dates(min_value=date(1912, 1, 1), max_value=date(2910, 12, 31)),
    number=st.from_regex(r"\A[0-9]{12}\Z"),
    tail=st.binary(max_size=3),
)
def test_well_formed_fields_parse_back(name: str, birth: date, number: str, tail: bytes) -> None:
    roc = f"{birth.year - 1911:03d}{birth.month:02d}{birth.day:02d}".encode()
    p = NhiProfile.from_bytes(
        profile(card_number=number.encode(), name=encode_name(name), birth=roc, issue=roc) + tail
    )
    assert (p.card_number, p.name, p.birth_date, p.issue_date) == (number, name, birth, birth)


@given(st.binary(max_size=10))
def test_card_data_parses_or_fails_typed(data: bytes) -> None:
    try:
        cd = CardData.from_bytes(data)
    except CardFailure:
        assert data == b""
        return
    assert cd.raw == data
    assert cd.card_termination


def test_card_data_flag() -> None:
    assert CardData.from_bytes(b"0").terminated is False
    assert CardData.from_bytes(b"1").terminated is True
    assert CardData.from_bytes(b"\x00").card_termination == "0"
    assert CardData.from_bytes(b"\x01").terminated is True


ids = st.from_regex(r"\A[A-Z][12][0-9]{8}\Z")
roc_texts = st.dates(min_value=date(1912, 1, 1), max_value=date(2910, 12, 31)).map(
    lambda d: f"{d.year - 1911:03d}{d.month:02d}{d.day:02d}"
)
names = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x9FFF).filter(
        lambda c: (
            c.isprintable()
            and not c.isspace()
            and 0
            < len(c.encode("big5hkscs", errors="ignore"))
            == len(c.encode("big5hkscs", "replace"))
            and c.encode("big5hkscs").decode("big5hkscs") == c
        )
    ),
    max_size=10,
).filter(lambda n: len(n.encode("big5hkscs")) <= 20)


@given(
    number=st.from_regex(r"\A[0-9]{12}\Z"),
    name=names,
    id_number=ids,
    birth=roc_texts,
    sex=st.sampled_from(["M", "F", "X", "\\x00", "\\x9f"]),
    issue=roc_texts,
)
def test_to_bytes_is_the_inverse_of_from_bytes(
    number: str, name: str, id_number: str, birth: str, sex: str, issue: str
) -> None:
    from nhicard.card.rocdate import roc_to_date

    p = NhiProfile(
        card_number=number,
        name=name,
        id_number=id_number,
        birth_date=roc_to_date(birth),
        birth_date_roc=birth,
        sex=sex,
        issue_date=roc_to_date(issue),
        issue_date_roc=issue,
    )
    data = p.to_bytes()
    assert len(data) == 57
    again = NhiProfile.from_bytes(data)
    assert (
        dataclasses.replace(again, warnings=()) == p
    )  # warnings: check digit, odd sex, empty name
    assert again.to_bytes() == data


def test_to_bytes_of_the_sandbox_cards_and_what_does_not_fit() -> None:
    for record in load_data().cards:
        data = profile_bytes(record)
        assert NhiProfile.from_bytes(data).to_bytes() == data == card_profile(record).to_bytes()
    wang = NhiProfile.from_bytes(profile())
    assert wang.to_bytes() == profile()
    with pytest.raises(ValueError, match="the card's name field holds 20"):
        dataclasses.replace(wang, name="王" * 11).to_bytes()
    with pytest.raises(ValueError, match="card number"):
        dataclasses.replace(wang, card_number="12345").to_bytes()
    with pytest.raises(ValueError, match="ID number"):
        dataclasses.replace(wang, id_number="Ａ123456789").to_bytes()
    with pytest.raises(ValueError, match="sex"):
        dataclasses.replace(wang, sex="MF").to_bytes()
    assert encode_name("") == bytes(20)
