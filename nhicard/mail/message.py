"""One mail as read from a source: the parsed message, its date and where it came from.

Parsing never fails: ``email`` registers defects instead of raising, and the few header
accessors of the standard library that can still raise on hostile input are wrapped here.

Memory is bounded by the mail's size, not by what its headers decode to: the structure is
parsed with the ``compat32`` policy (headers kept as strings, each cut at
:data:`MAX_HEADER_CHARS` as it is read), and only the headers we show (Subject, From, Date,
Message-ID) are decoded, from that capped text, by ``email.policy.default``'s header
parser. Parsing a whole mail with ``email.policy.default`` is what made a Subject of many
RFC 2047 encoded words cost gigabytes (220 KB → 1.1 GB). A text part larger than
:data:`MAX_TEXT_PART_BYTES` makes the mail unreadable (skipped with a message), so neither
its decoding nor the HTML parser ever sees megabytes.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.policy
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message

from nhicard.core.i18n import T
from nhicard.mail.errors import MailUnreadable

MAX_MAIL_BYTES = 16 * 1024 * 1024  # a verification mail is a few KB; more is not one of them
MAX_MIME_DEPTH = 32  # multipart nesting; real mails rarely exceed 4
# one header's value as kept (RFC 5322 lines are at most 998 characters; a folded Subject of
# a real mail is well under this); longer values are cut before anything parses them
MAX_HEADER_CHARS = 8 * 1024
# one text/plain or text/html part, as written in the mail (its transfer encoding included,
# so the decoded text is never larger): the NHI's mail is a few KB
MAX_TEXT_PART_BYTES = 1024 * 1024


class _CappedHeaders(email.policy.Compat32):
    """``compat32`` (headers stay strings until asked for), each header value cut at
    :data:`MAX_HEADER_CHARS` as the parser reads it."""

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        return name, value[:MAX_HEADER_CHARS]


_PARSE_POLICY = _CappedHeaders()


@dataclass(frozen=True)
class MailItem:
    """A parsed message (``compat32``, headers capped: read them with :func:`header_text`)
    and its date.

    ``date`` is the ``Date:`` header when it is valid, else the time the source delivered it
    (Maildir file name or mtime, mbox ``From_`` line, IMAP ``INTERNALDATE``), as an aware
    datetime; ``None`` only when neither is known. ``ref`` names the mail in its source
    (a file path, ``mbox#3``, ``imap UID 17``) for messages and logs."""

    message: Message
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


def _too_deep_or_large(msg: Message) -> str | None:
    """``"deep"`` when a multipart is nested deeper than MAX_MIME_DEPTH, ``"large"`` when a
    text part is larger than MAX_TEXT_PART_BYTES, else None (walked without recursion)."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MIME_DEPTH:
            return "deep"
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
        elif (
            isinstance(payload, str)
            and len(payload) > MAX_TEXT_PART_BYTES
            and part.get_content_maintype() == "text"
        ):
            return "large"
    return None


def parse_message(raw: bytes, ref: str = "-") -> Message:
    """Parse raw RFC 5322 bytes (a leading mbox ``From_`` line is dropped), headers capped.

    Raises :class:`MailUnreadable` for a mail larger than :data:`MAX_MAIL_BYTES`, nested
    deeper than :data:`MAX_MIME_DEPTH` (the standard library's parser and walkers recurse),
    or with a text part larger than :data:`MAX_TEXT_PART_BYTES`."""
    if len(raw) > MAX_MAIL_BYTES:
        raise too_large(ref)
    if raw.startswith(b"From "):
        _, _, raw = raw.partition(b"\n")
    try:
        msg = email.message_from_bytes(raw, policy=_PARSE_POLICY)
        problem = _too_deep_or_large(msg)
    except RecursionError:
        problem = "deep"
    if problem == "deep":
        raise unreadable(
            ref,
            f"MIME 巢狀超過 {MAX_MIME_DEPTH} 層",
            f"MIME parts nested more than {MAX_MIME_DEPTH} levels deep",
        )
    if problem == "large":
        kb = MAX_TEXT_PART_BYTES // 1024
        raise unreadable(
            ref,
            f"內文超過 {kb} KB,不予讀取(認證通知信只有數 KB)",
            f"its text is larger than {kb} KB, not read (the verification mail is a few KB)",
        )
    return msg


def aware(value: datetime) -> datetime:
    """``value`` with a time zone; naive datetimes are taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def header_text(msg: Message, name: str) -> str:
    """The decoded text of the first header ``name`` ('' when absent), RFC 2047 words decoded
    from at most :data:`MAX_HEADER_CHARS` of it; never raises on bad headers."""
    for key, raw in msg.raw_items():
        if key.lower() != name.lower():
            continue
        capped = str(raw)[:MAX_HEADER_CHARS]
        try:  # unfolded as email.policy.default's header_fetch_parse does
            return str(email.policy.default.header_factory(name, _unfold(capped)))
        except Exception:  # noqa: BLE001 - stdlib header parsers can raise many types on junk
            return _decode_raw_header(capped)
    return ""


def _unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


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


def header_date(msg: Message) -> datetime | None:
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
