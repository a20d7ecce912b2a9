"""Time for the agent: the EnCrypt key depends on the local date in Asia/Taipei."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

Clock = Callable[[], datetime]
"""Returns the current time; aware datetimes are converted, naive ones are taken as UTC."""


TAIPEI: timezone = timezone(timedelta(hours=8), "Asia/Taipei")
"""Asia/Taipei: UTC+8, without daylight saving since 1979 (the tz database says the same).
A fixed offset: no tz database needed (Windows has none) and nothing read at start-up. The
one definition for nhicard, its diagnostics and its sandbox."""


def utc_now() -> datetime:
    """The current time in UTC (the default clock of the flows, the agent and the sandbox)."""
    return datetime.now(UTC)


def local_now() -> datetime:
    """The current local time with its UTC offset (the default clock of what a person reads:
    card verification reports, ``--since``)."""
    return datetime.now().astimezone()


def taipei_date(now: datetime) -> date:
    """The calendar date in Asia/Taipei at ``now`` (naive = UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(TAIPEI).date()
