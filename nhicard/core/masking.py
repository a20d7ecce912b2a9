"""Masking of personal data for logs, traces, reports and saved pages."""

from __future__ import annotations

import re

# explicit look-arounds, not \b: next to CJK text (身分證字號A123456789號) there is no word
# boundary, as CJK characters are word characters too
_ID_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z])([12ABCD89])([0-9]{8})(?![0-9])")


def mask_id(value: str | None) -> str | None:
    """``A123456789`` → ``A12****789``."""
    if not value:
        return value
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 6) + value[-3:]


def mask_name(value: str | None) -> str | None:
    """``王小明`` → ``王*明``; two characters → ``王*``."""
    if not value:
        return value
    if len(value) == 1:
        return "*"
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_date(value: str | None) -> str | None:
    """Keep only the year: ``1975-01-01`` → ``1975-**-**``; ROC ``0640101`` → ``064****``."""
    if not value:
        return value
    if "-" in value:
        return value[:4] + "-**-**"
    return value[:3] + "*" * (len(value) - 3)


def mask_ids_in_text(text: str) -> str:
    """Mask every national ID / resident permit number appearing in free text."""
    return _ID_RE.sub(lambda m: mask_id(m.group(0)) or "", text)
