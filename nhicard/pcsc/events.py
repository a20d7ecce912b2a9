"""The kinds of card and reader event (:mod:`nhicard.pcsc.monitor` sees them); without
pyscard, so that ``card verify --watch``'s core names them without importing it."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    INSERTED = "inserted"
    REMOVED = "removed"
    READER_ADDED = "reader-added"
    READER_REMOVED = "reader-removed"
