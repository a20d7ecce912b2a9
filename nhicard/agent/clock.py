"""Time for the agent: the EnCrypt key depends on the local date in Asia/Taipei."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

Clock = Callable[[], datetime]
"""Returns the current time; aware datetimes are converted, naive ones are taken as UTC."""


def _taipei() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Asia/Taipei")
    except Exception:  # noqa: BLE001 - no tz database (Windows without tzdata)
        # Taiwan has kept UTC+8 without daylight saving since 1979.
        return timezone(timedelta(hours=8), "CST")


TAIPEI: tzinfo = _taipei()


def utc_now() -> datetime:
    return datetime.now(UTC)


def taipei_date(now: datetime) -> date:
    """The calendar date in Asia/Taipei at ``now`` (naive = UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(TAIPEI).date()
