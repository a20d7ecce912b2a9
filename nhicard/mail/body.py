"""The readable bodies of a message: every ``text/html`` and ``text/plain`` part, decoded.

Transfer encodings (quoted-printable, base64, 8bit) are undone by ``email``; the charset is
applied by :func:`~nhicard.mail.message.decode_bytes`, so Big5, cp950 and broken bytes never
raise. Attachments are skipped. An HTML part without a charset parameter is read with the
charset its ``<meta>`` names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from nhicard.mail.message import decode_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
MAX_PARTS = 200


@dataclass(frozen=True)
class Bodies:
    """The decoded HTML and plain-text parts of one message, in document order."""

    html: tuple[str, ...]
    text: tuple[str, ...]


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:  # noqa: BLE001 - malformed Content-Disposition: treat as inline
        return False
    return disposition == "attachment"


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001 - malformed parameters (RFC 2231 junk)
        return None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encoding: nothing readable
        return b""
    return data if isinstance(data, bytes) else b""


def part_text(part: Message) -> str:
    """The decoded text of one non-multipart part."""
    data = _payload(part)
    charset = _charset(part)
    if charset is None and part.get_content_subtype() == "html":
        found = _META_CHARSET.search(data[:4096])
        if found:
            charset = found.group(1).decode("ascii", "replace")
    return decode_bytes(data, charset)


def message_bodies(msg: Message) -> Bodies:
    """All inline ``text/html`` and ``text/plain`` parts of ``msg`` (at most ``MAX_PARTS``
    parts are looked at, so a hostile mail cannot make us walk forever)."""
    html: list[str] = []
    text: list[str] = []
    try:
        parts = msg.walk()
        for count, part in enumerate(parts):
            if count >= MAX_PARTS:
                break
            if part.is_multipart() or _is_attachment(part):
                continue
            ctype = part.get_content_type()
            if ctype == "text/html":
                html.append(part_text(part))
            elif ctype == "text/plain":
                text.append(part_text(part))
    except Exception:  # noqa: BLE001 - a malformed MIME tree: keep the parts read so far
        pass
    return Bodies(html=tuple(html), text=tuple(text))
