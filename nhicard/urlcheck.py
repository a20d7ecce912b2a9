"""Checks of URLs the user gives (``--agent-url``, ``--return-url``, ``--imap``) before any
library sees them: httpx, websockets and the ``idna`` codec raise untyped errors on junk."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_CHARS = 4096


def host_problem(host: str) -> str | None:
    """Why ``host`` (as ``urlsplit(...).hostname`` gives it) is no usable host name, or None."""
    if not host:
        return "no host"
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if len(host) > 253:
        return "the host name is longer than 253 characters"
    try:
        encoded = host.encode("idna")
    except UnicodeError:
        return "the host name is not valid (an empty label or one over 63 characters)"
    if any(not label or len(label) > 63 for label in encoded.rstrip(b".").split(b".")):
        return "the host name is not valid (an empty label or one over 63 characters)"
    return None


def url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """Why ``url`` cannot be used (too long, control characters, another scheme, a bad host
    or port), or None."""
    if len(url) > MAX_URL_CHARS:
        return f"it is {len(url)} characters long, more than {MAX_URL_CHARS}"
    bad = next((ch for ch in url if ch.isspace() or not ch.isprintable()), None)
    if bad is not None:
        return f"it contains the character {ascii(bad)}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"it cannot be parsed ({exc})"
    if parts.scheme.lower() not in schemes:
        return "only " + " and ".join(f"{s}://" for s in schemes) + " addresses are supported"
    if port == 0:
        return "port 0"
    return host_problem(parts.hostname or "")
