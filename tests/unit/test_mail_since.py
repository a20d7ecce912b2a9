"""``--since WHEN``: relative spans and ISO 8601 forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import UsageError
from nhicard.mail import parse_since

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))


def _now() -> datetime:
    return NOW


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        (" 15M ", timedelta(minutes=15)),
        ("0m", timedelta()),
    ],
)
def test_relative(text: str, delta: timedelta) -> None:
    assert parse_since(text, now=_now) == NOW - delta


def test_relative_with_naive_clock_is_local_time() -> None:
    naive = datetime(2025, 3, 1, 12, 0)
    assert parse_since("1h", now=lambda: naive) == naive.astimezone() - timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T09:30:00+08:00", datetime(2025, 3, 1, 1, 30, tzinfo=UTC)),
        ("2025-03-01T01:30Z", datetime(2025, 3, 1, 1, 30, tzinfo=UTC)),
        ("2025-03-01 01:30:15+00:00", datetime(2025, 3, 1, 1, 30, 15, tzinfo=UTC)),
    ],
)
def test_iso_with_offset(text: str, expected: datetime) -> None:
    assert parse_since(text) == expected


def test_iso_without_offset_is_local_time() -> None:
    assert parse_since("2025-03-01T09:30") == datetime(2025, 3, 1, 9, 30).astimezone()
    assert parse_since("2025-03-01") == datetime(2025, 3, 1).astimezone()
    assert parse_since("2025-03-01").tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "10", "10 minutes", "-5m", "2025-13-01", "1y"])
def test_bad_values(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_since(text, now=_now)
    err = info.value
    assert exit_code_for(err) == 2 and err.reason == "bad-since"
    assert err.message.en == f"cannot read the time {text!r}"
    assert "10m" in err.hint.en
