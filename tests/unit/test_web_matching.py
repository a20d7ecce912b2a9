"""Matching what people type to city/district/village options."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.cli.main import exit_code_for
from nhicard.core.i18n import T
from nhicard.web.errors import ChoiceRejected
from nhicard.web.formdata import Option
from nhicard.web.matching import match_option

CITY = T("縣市", "city/county")


def opts(*texts: str) -> list[Option]:
    return [Option(str(i), t, False, False) for i, t in enumerate(texts)]


CITIES = [Option("", "請選擇縣市(City/County)", True, False)] + opts(
    "臺北市", "新北市", "臺中市", "新竹市", "新竹縣", "臺東縣", "嘉義市 Chiayi City"
)
DISTRICTS = opts("中正區", "大安區", "東區", "北區", "大同區")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("臺北市", "臺北市"),
        ("台北市", "臺北市"),
        ("台北", "臺北市"),
        (" 臺 北 ", "臺北市"),
        ("ＴＡＩＰＥＩ", "臺北市"),  # full-width English, known city name
        ("Taipei City", "臺北市"),
        ("new taipei", "新北市"),
        ("台東", "臺東縣"),
        ("chiayi", "嘉義市 Chiayi City"),
        ("新竹縣", "新竹縣"),
        ("1", "新北市"),  # an option value
    ],
)
def test_city_matches(typed: str, expected: str) -> None:
    assert match_option(typed, CITIES, what=CITY).text == expected


@pytest.mark.parametrize(
    ("typed", "expected"), [("大安", "大安區"), ("東", "東區"), ("東區", "東區")]
)
def test_district_with_or_without_suffix(typed: str, expected: str) -> None:
    assert match_option(typed, DISTRICTS, what=T("鄉鎮市區", "district")).text == expected


def test_several_matches_are_ambiguous_with_candidates() -> None:
    with pytest.raises(ChoiceRejected) as err:
        match_option("新竹", CITIES, what=CITY)
    assert exit_code_for(err.value) == 8
    assert err.value.reason == "ambiguous"
    assert err.value.candidates == ["新竹市", "新竹縣"]
    assert "新竹市, 新竹縣" in err.value.message.zh
    assert "matches several options for city/county" in err.value.message.en


def test_no_match_lists_the_closest_options() -> None:
    with pytest.raises(ChoiceRejected) as err:
        match_option("台北縣市", CITIES, what=CITY)
    assert err.value.reason == "no-match"
    assert err.value.candidates[0] == "臺北市"
    with pytest.raises(ChoiceRejected) as err:
        match_option("Taipie", CITIES, what=CITY)
    assert "臺北市" in err.value.candidates
    with pytest.raises(ChoiceRejected) as err:
        match_option("高雄", CITIES, what=CITY)
    assert err.value.candidates == []
    assert err.value.message.en == "no city/county matches '高雄'; closest: —"


def test_placeholder_and_disabled_options_never_match() -> None:
    options = [Option("", "請選擇", True, False), Option("x", "龍門里", False, True)]
    with pytest.raises(ChoiceRejected):
        match_option("請選擇", options, what=T("村里", "village"))
    with pytest.raises(ChoiceRejected):
        match_option("龍門", options, what=T("村里", "village"))


@given(st.text(max_size=12))
def test_any_input_gives_an_option_or_our_error(typed: str) -> None:
    with contextlib.suppress(ChoiceRejected):
        assert match_option(typed, CITIES, what=CITY) in CITIES
