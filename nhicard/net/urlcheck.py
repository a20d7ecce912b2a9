"""Checks of URLs the user gives (``--agent-url``, ``--return-url``, ``--imap``) before any
library sees them: httpx, websockets and the ``idna`` codec raise untyped errors on junk."""

from __future__ import annotations

from urllib.parse import urlsplit

from nhicard.core.i18n import T, Text
from nhicard.net.addresses import is_ip

MAX_URL_CHARS = 4096
_BAD_HOST = T(
    "主機名稱無效(有空的部分,或某一段超過 63 個字元)",
    "the host name is not valid (an empty label or one over 63 characters)",
)


def host_problem(host: str) -> Text | None:
    """Why ``host`` (as ``urlsplit(...).hostname`` gives it) is no usable host name, or None."""
    if not host:
        return T("沒有主機名稱", "no host")
    if is_ip(host):
        return None
    if len(host) > 253:
        return T("主機名稱超過 253 個字元", "the host name is longer than 253 characters")
    try:
        encoded = host.encode("idna")
    except UnicodeError:
        return _BAD_HOST
    if any(not label or len(label) > 63 for label in encoded.rstrip(b".").split(b".")):
        return _BAD_HOST
    return None


def url_problem(url: str, schemes: tuple[str, ...]) -> Text | None:
    """Why ``url`` cannot be used (too long, control characters, another scheme, a bad host
    or port), or None."""
    if len(url) > MAX_URL_CHARS:
        return T("長度 {n} 個字元,超過 {max}", "it is {n} characters long, more than {max}").format(
            n=len(url), max=MAX_URL_CHARS
        )
    bad = next((ch for ch in url if ch.isspace() or not ch.isprintable()), None)
    if bad is not None:
        return T("含有字元 {ch}", "it contains the character {ch}").format(ch=ascii(bad))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return T("無法解析({e})", "it cannot be parsed ({e})").format(e=str(exc))
    if parts.scheme.lower() not in schemes:
        listed = " / ".join(f"{s}://" for s in schemes)
        return T("只支援 {s} 網址", "only {s} addresses are supported").format(s=listed)
    if port == 0:
        return T("埠號不可為 0", "port 0")
    return host_problem(parts.hostname or "")
