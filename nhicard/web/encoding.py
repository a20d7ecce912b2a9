"""The ``application/x-www-form-urlencoded`` serializer exactly as browsers apply it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote_plus

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
_NEWLINE_RE = re.compile(r"\r\n|\r|\n")


def normalize_newlines(value: str) -> str:
    """Every CR, LF or CRLF becomes CRLF, as browsers do for submitted values."""
    return _NEWLINE_RE.sub("\r\n", value)


def _encode(value: str) -> str:
    # UTF-8, space as "+", and only "*-._", letters and digits left as they are: the standard
    # library's quote_plus with "*" safe, except that it also leaves "~" (RFC 3986) where
    # browsers send %7E ("~" in its output can only be a "~" of the value)
    return quote_plus(value, safe="*").replace("~", "%7E")


def urlencode_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """Ordered name/value pairs → ``a=1&b=%E8%87%BA`` (UTF-8, space as ``+``), keeping order
    and repeated names."""
    return "&".join(
        f"{_encode(normalize_newlines(name))}={_encode(normalize_newlines(value))}"
        for name, value in pairs
    )
