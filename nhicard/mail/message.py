"""One mail as read from a source: the parsed message, its date and where it came from.

Parsing never fails: ``email`` registers defects instead of raising, and the few header
accessors of the standard library that can still raise on hostile input are wrapped here.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.policy
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

_PARSE_POLICY = email.policy.default


@dataclass(frozen=True)
class MailItem:
    """A parsed message (``policy=email.policy.default``) and its date.

    ``date`` is the ``Date:`` header when it is valid, else the time the source delivered it
    (Maildir file name or mtime, mbox ``From_`` line, IMAP ``INTERNALDATE``), as an aware
    datetime; ``None`` only when neither is known. ``ref`` names the mail in its source
    (a file path, ``mbox#3``, ``imap UID 17``) for messages and logs."""

    message: EmailMessage
    date: datetime | None
    ref: str


def parse_message(raw: bytes) -> EmailMessage:
    """Parse raw RFC 5322 bytes (a leading mbox ``From_`` line is dropped)."""
    if raw.startswith(b"From "):
        _, _, raw = raw.partition(b"\n")
    msg = email.message_from_bytes(raw, policy=_PARSE_POLICY)
    assert isinstance(msg, EmailMessage)
    return msg


def aware(value: datetime) -> datetime:
    """``value`` with a time zone; naive datetimes are taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def header_text(msg: EmailMessage, name: str) -> str:
    """The decoded text of header ``name`` ('' when absent); never raises on bad headers."""
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:  # noqa: BLE001 - stdlib header parsers can raise many types on junk
        pass
    for key, raw in msg.raw_items():
        if key.lower() == name.lower():
            return _decode_raw_header(str(raw))
    return ""


def _decode_raw_header(raw: str) -> str:
    try:
        parts = email.header.decode_header(raw)
    except Exception:  # noqa: BLE001 - junk header: show it as it is
        return raw
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return "".join(out)


def header_date(msg: EmailMessage) -> datetime | None:
    """The ``Date:`` header as an aware datetime, or ``None`` when missing or invalid."""
    text = header_text(msg, "Date")
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return aware(when)


_BIG5_LABELS = frozenset({"big5", "big-5", "x-big5", "cn-big5", "csbig5", "big5-hkscs", "cp950"})
_BIG5_CHAIN = ("cp950", "big5hkscs")
# Python codecs that are no mail charset (a label naming one is treated as unknown)
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"})


def _codec(charset: str | None) -> str | None:

    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    if label in _BIG5_LABELS or label.replace("_", "-") in _BIG5_LABELS:
        return "big5"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None  # base64, rot13, unicode-escape, …: not charsets
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text of ``data`` in ``charset``; never raises.

    Big5 in any of its labels is read as cp950 (Microsoft's Big5 with the euro sign and
    extra characters), then as Big5-HKSCS (Hong Kong characters in names); an unknown or
    missing charset tries UTF-8; what still does not decode becomes U+FFFD."""
    codec = _codec(charset)
    candidates: list[str] = []
    if codec == "big5":
        candidates.extend(_BIG5_CHAIN)
    elif codec is not None:
        candidates.append(codec)
    if "utf-8" not in candidates:
        candidates.append("utf-8")
    for name in candidates:
        try:
            return data.decode(name)
        except (UnicodeError, LookupError, ValueError):
            continue
    try:
        return data.decode(candidates[0], errors="replace")
    except (UnicodeError, LookupError, ValueError):
        return data.decode("utf-8", errors="replace")
