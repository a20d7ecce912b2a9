"""National ID / resident permit format and check digit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.card.idnumber import id_check_ok, id_format_ok, sex_from_id, site_page_accepts


@pytest.mark.parametrize(
    "value",
    [
        "A123456789",  # national ID, male
        "F126112341",
        "A800000014",  # new-style resident permit (2nd character 8)
        "A900000007",  # new-style resident permit (2nd character 9)
        "AA00000009",  # old-style resident permit (A → code 10, last digit 0)
        "FC12345674",  # old-style resident permit (C → code 12, last digit 2)
    ],
)
def test_valid_numbers(value: str) -> None:
    assert id_format_ok(value)
    assert id_check_ok(value)


@pytest.mark.parametrize(
    "value", ["A123456788", "F126112342", "A800000015", "AA00000008", "FC12345675"]
)
def test_wrong_check_digit(value: str) -> None:
    assert id_format_ok(value)
    assert not id_check_ok(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a123456789",
        "A323456789",
        "AE12345678",
        "A12345678",
        "A1234567890",
        "1123456789",
        "A123456789\n",
        "A1٢٣٤٥٦٧٨٩",
    ],
)
def test_malformed(value: str) -> None:
    assert not id_format_ok(value)
    assert not id_check_ok(value)


def test_sex_from_second_character() -> None:
    assert [sex_from_id(v) for v in ("A123456789", "A223456789", "A800000014", "A900000007")] == [
        "M",
        "F",
        "M",
        "F",
    ]
    assert [sex_from_id(v) for v in ("AA00000009", "AB00000000", "AC00000000", "AD00000000")] == [
        "M",
        "F",
        "M",
        "F",
    ]
    assert sex_from_id("x") is None


@given(st.from_regex(r"\A[A-Z][12ABCD89][0-9]{8}\Z"))
def test_exactly_one_check_digit_fits(value: str) -> None:
    candidates = [value[:9] + str(d) for d in range(10)]
    assert sum(id_check_ok(c) for c in candidates) == 1


@given(st.text(max_size=12))
def test_never_raises(value: str) -> None:
    assert id_check_ok(value) in (True, False)


@pytest.mark.parametrize(
    ("value", "page_accepts"),
    [
        ("A123456789", True),  # national ID
        ("F226112341", True),
        ("AC01234567", True),  # old-style resident permit
        ("FD12345678", True),
        ("A900000007", False),  # new-style resident permit: valid, refused by the page
        ("A800000014", False),
        ("a123456789", False),
        ("A12345678", False),
    ],
)
def test_the_registration_pages_own_id_check(value: str, page_accepts: bool) -> None:
    """The page script's ``^[A-Z][12ABCD]\\d{8}$`` (sites.md): new-style permits fail it."""
    assert site_page_accepts(value) is page_accepts
    if value[1] in "89" and len(value) == 10:
        assert id_format_ok(value)  # nhicard itself accepts them
