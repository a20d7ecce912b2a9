"""The ``application/x-www-form-urlencoded`` serializer exactly as browsers apply it."""

from __future__ import annotations

import re
from collections.abc import Iterable

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
_SAFE = frozenset(b"*-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_NEWLINE_RE = re.compile(r"\r\n|\r|\n")


def normalize_newlines(value: str) -> str:
    """Every CR, LF or CRLF becomes CRLF, as browsers do for submitted values."""
    return _NEWLINE_RE.sub("\r\n", value)


def _encode(value: str) -> str:
    out = []
    for byte in value.encode("utf-8"):
        if byte in _SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def urlencode_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """Ordered name/value pairs → ``a=1&b=%E8%87%BA`` (UTF-8, space as ``+``), keeping order
    and repeated names."""
    return "&".join(
        f"{_encode(normalize_newlines(name))}={_encode(normalize_newlines(value))}"
        for name, value in pairs
    )
