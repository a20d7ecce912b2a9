"""pcsc-tools' ``smartcard_list.txt``: names for ATRs our own table does not know.

Format: comment lines start with ``#``; an entry is one ATR line (hex bytes separated by
spaces, where ``..`` and other regular-expression syntax may stand for any byte) followed by
one or more tab-indented description lines, and an empty line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_PATHS = (
    Path("/usr/share/pcsc/smartcard_list.txt"),
    Path("/usr/local/share/pcsc/smartcard_list.txt"),
)


@dataclass(frozen=True)
class SmartcardListEntry:
    pattern: re.Pattern[str]
    atr_text: str
    descriptions: tuple[str, ...]


class SmartcardList:
    """The parsed list; ``describe(atr)`` gives the first description of the first match."""

    def __init__(self, entries: list[SmartcardListEntry]) -> None:
        self.entries = entries

    @classmethod
    def parse(cls, text: str) -> SmartcardList:
        entries: list[SmartcardListEntry] = []
        atr_text: str | None = None
        descriptions: list[str] = []

        def flush() -> None:
            if atr_text is not None and descriptions:
                pattern = _compile(atr_text)
                if pattern is not None:
                    entries.append(SmartcardListEntry(pattern, atr_text, tuple(descriptions)))

        for raw in text.splitlines():
            if raw.startswith("#"):
                continue
            if raw.startswith("\t"):
                if atr_text is not None and raw.strip():
                    descriptions.append(raw.strip())
                continue
            line = raw.strip()
            flush()
            atr_text, descriptions = (line.upper() if line else None), []
        flush()
        return cls(entries)

    @classmethod
    def load(cls, path: str | Path) -> SmartcardList:
        return cls.parse(Path(path).read_text(encoding="utf-8", errors="replace"))

    def describe(self, atr: bytes) -> str | None:
        target = " ".join(f"{b:02X}" for b in atr)
        for entry in self.entries:
            if entry.pattern.fullmatch(target):
                return entry.descriptions[0]
        return None


def _compile(atr_text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(atr_text)
    except re.error:
        return None


@lru_cache(maxsize=1)
def default_smartcard_list() -> SmartcardList | None:
    """The system's list (Debian package pcsc-tools), or ``None`` where it is not installed."""
    for path in DEFAULT_PATHS:
        try:
            return SmartcardList.load(path)
        except OSError:
            continue
    return None
