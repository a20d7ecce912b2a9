"""``--since WHEN``: an ISO 8601 date or date-time, or a span back from now (``10m``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from nhicard.core.clock import local_now
from nhicard.core.errors import UsageError
from nhicard.core.i18n import T

_RELATIVE = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.I)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: Callable[[], datetime] = local_now) -> datetime:
    """An aware datetime for ``text``.

    Accepted: ``30s``, ``10m``, ``2h``, ``1d``, ``1w`` (that long before ``now()``);
    ``2025-03-01`` (local midnight); ``2025-03-01T09:30`` or ``2025-03-01 09:30:00``
    (local time unless an offset or ``Z`` is given). Raises :class:`UsageError` (exit 2)
    otherwise."""
    try:
        return _parse(text.strip(), now)
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            T("無法解讀時間 {text!r}", "cannot read the time {text!r}").format(text=text),
            hint=T(
                "寫成 10m、2h、1d(多久以前),或 2025-03-01、2025-03-01T09:30(+08:00)。",
                "Write 10m, 2h, 1d (how long ago), or 2025-03-01, 2025-03-01T09:30(+08:00).",
            ),
            reason="bad-since",
        ) from None


def _parse(value: str, now: Callable[[], datetime]) -> datetime:
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        current = now()
        if current.tzinfo is None:
            current = current.astimezone()
        return current - timedelta(**{_UNITS[unit]: amount})
    if len(value) == 10 and value[4:5] == "-":
        return datetime.combine(date.fromisoformat(value), time()).astimezone()
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.astimezone()
