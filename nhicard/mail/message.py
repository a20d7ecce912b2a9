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
from email.message import EmailMessage, Message

from nhicard.core.i18n import T
from nhicard.mail.errors import MailUnreadable

_PARSE_POLICY = email.policy.default
MAX_MAIL_BYTES = 16 * 1024 * 1024  # a verification mail is a few KB; more is not one of them
MAX_MIME_DEPTH = 32  # multipart nesting; real mails rarely exceed 4


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


def unreadable(ref: str, why_zh: str, why_en: str) -> MailUnreadable:
    """The error for a mail that is not read (``ref`` names it)."""
    return MailUnreadable(
        T("無法讀取郵件 {ref}:{why_zh}", "cannot read the mail {ref}: {why_en}").format(
            ref=ref, why_zh=why_zh, why_en=why_en
        ),
        hint=T(
            "這不是健保署的認證通知信;請改用健保署寄來的那封信。",
            "This is not the NHI's verification mail; use the mail the NHI sent.",
        ),
        reason="mail-unreadable",
    )


def too_large(ref: str) -> MailUnreadable:
    mb = MAX_MAIL_BYTES // (1024 * 1024)
    return unreadable(ref, f"超過 {mb} MB,不予讀取", f"larger than {mb} MB, not read")


def _depth_ok(msg: Message) -> bool:
    """Whether no multipart is nested deeper than MAX_MIME_DEPTH (walked without recursion)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MIME_DEPTH:
            return False
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return True


def parse_message(raw: bytes, ref: str = "-") -> EmailMessage:
    """Parse raw RFC 5322 bytes (a leading mbox ``From_`` line is dropped).

    Raises :class:`MailUnreadable` for a mail larger than :data:`MAX_MAIL_BYTES` or nested
    deeper than :data:`MAX_MIME_DEPTH` (the standard library's parser and walkers recurse)."""
    if len(raw) > MAX_MAIL_BYTES:
        raise too_large(ref)
    if raw.startswith(b"From "):
        _, _, raw = raw.partition(b"\n")
    try:
        msg = email.message_from_bytes(raw, policy=_PARSE_POLICY)
        deep = not _depth_ok(msg)
    except RecursionError:
        deep = True
    if deep:
        raise unreadable(
            ref,
            f"MIME 巢狀超過 {MAX_MIME_DEPTH} 層",
            f"MIME parts nested more than {MAX_MIME_DEPTH} levels deep",
        )
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
