"""ROC calendar dates."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.card.rocdate import date_to_roc, roc_to_date


def test_known_dates() -> None:
    assert roc_to_date("0640101") == date(1975, 1, 1)
    assert roc_to_date("1141201") == date(2025, 12, 1)
    assert roc_to_date("0010101") == date(1912, 1, 1)
    assert date_to_roc(date(2020, 7, 1)) == "1090701"
    assert date_to_roc(date(1912, 1, 1)) == "0010101"


@pytest.mark.parametrize(
    "text", ["", "640101", "06401011", "0641301", "0640230", "0000101", "06401O1", "０６４０１０１"]
)
def test_invalid_roc_dates(text: str) -> None:
    with pytest.raises(ValueError):
        roc_to_date(text)


@pytest.mark.parametrize("value", [date(1911, 12, 31), date(2911, 1, 1)])
def test_outside_roc_years(value: date) -> None:
    with pytest.raises(ValueError):
        date_to_roc(value)


@given(st.dates(min_value=date(1912, 1, 1), max_value=date(2910, 12, 31)))
def test_round_trip(value: date) -> None:
    assert roc_to_date(date_to_roc(value)) == value


@given(st.text(max_size=9))
def test_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        roc_to_date(text)
