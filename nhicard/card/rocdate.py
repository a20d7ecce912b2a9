"""ROC (Minguo) calendar dates as the card stores them: ``YYYMMDD``, year + 1911 = AD."""

from __future__ import annotations

from datetime import date

ROC_OFFSET = 1911


def roc_to_date(text: str) -> date:
    """``"0640101"`` → ``date(1975, 1, 1)``. ValueError unless 7 ASCII digits of a real day."""
    if len(text) != 7 or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a ROC date YYYMMDD: {text!r}")
    year, month, day = int(text[:3]), int(text[3:5]), int(text[5:7])
    if year < 1:
        raise ValueError(f"ROC year must be at least 1: {text!r}")
    return date(year + ROC_OFFSET, month, day)


def date_to_roc(value: date) -> str:
    """``date(1975, 1, 1)`` → ``"0640101"``. ValueError before ROC year 1 (1912) or after 999."""
    year = value.year - ROC_OFFSET
    if not 1 <= year <= 999:
        raise ValueError(f"{value.isoformat()} is outside the ROC calendar years 1..999")
    return f"{year:03d}{value.month:02d}{value.day:02d}"
