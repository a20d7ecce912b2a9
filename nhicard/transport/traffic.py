"""Tracing of what is sent to and received from a card, through :mod:`logging`.

Records go to loggers under ``nhicard`` at :data:`TRAFFIC`, a level below ``DEBUG`` (``-vv``
shows them). Bytes that hold personal data travel in a record as :class:`PersonalBytes`; the
:class:`MaskPersonalData` filter, on every logger :func:`traffic_logger` hands out, replaces
them with their hex where the marked bytes read ``**`` before any handler sees the record.

:mod:`logging` itself is not imported here: it costs several milliseconds of start-up, and
a process that has not imported it has configured no handler that could show a record, so
:func:`traffic_logger` then answers ``None`` and nothing is traced.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

TRAFFIC = 5  # below logging.DEBUG
DEBUG = 10  # logging.DEBUG
TRAFFIC_NAME = "TRAFFIC"

MaskRanges = Sequence[tuple[int, int]]  # [start, end) offsets


class PersonalBytes:
    """Bytes to trace whose marked ranges are personal: ``mask`` holds [start, end) offsets
    counted from ``offset`` (the position of ``data`` in a longer answer). Shown without the
    filter (``str``, ``repr``) it gives only its length. (A plain class: a dataclass costs
    about a millisecond of ``card read``'s start-up.)"""

    __slots__ = ("data", "mask", "offset")

    def __init__(self, data: bytes, mask: MaskRanges = (), offset: int = 0) -> None:
        self.data = data
        self.mask = mask
        self.offset = offset

    def __repr__(self) -> str:
        return f"PersonalBytes({len(self.data)} bytes)"

    def masked_hex(self) -> str:
        """``"30 31 ** **"``: upper-case hex, each marked byte as ``**``."""
        out = []
        for i, b in enumerate(self.data, start=self.offset):
            hidden = any(start <= i < end for start, end in self.mask)
            out.append("**" if hidden else f"{b:02X}")
        return " ".join(out)


class MaskPersonalData:
    """A :mod:`logging` filter: each :class:`PersonalBytes` argument of a record becomes its
    masked hex. Lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, PersonalBytes) for a in args):
            record.args = tuple(_masked(a) for a in args)
        return True


def _masked(arg: Any) -> Any:
    return arg.masked_hex() if isinstance(arg, PersonalBytes) else arg


_MASKING = MaskPersonalData()


def traffic_logger(name: str, level: int = TRAFFIC) -> logging.Logger | None:
    """The logger ``name`` (under ``nhicard``) with the masking filter, when it would pass
    records of ``level`` on; else ``None`` (also when :mod:`logging` was never imported)."""
    logging_module = sys.modules.get("logging")
    if logging_module is None:
        return None
    logger: logging.Logger = logging_module.getLogger(name)
    if not logger.isEnabledFor(level):
        return None
    if _MASKING not in logger.filters:
        logging_module.addLevelName(TRAFFIC, TRAFFIC_NAME)
        logger.addFilter(_MASKING)
    return logger


def log_note(name: str, text: object) -> None:
    """``note: text`` at DEBUG on the logger ``name``: a remark among the traced APDUs."""
    logger = traffic_logger(name, DEBUG)
    if logger:
        logger.debug("note: %s", text)
