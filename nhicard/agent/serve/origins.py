"""Who may talk to ``agent serve``: web origins and ``Host`` headers, checked strictly.

- An origin is ``scheme://host[:port]`` exactly as a browser sends it: scheme ``http`` or
  ``https`` (``ws``/``wss`` too, for programs), a host that is a valid DNS name (letters,
  digits, hyphens; labels of 1–63 characters) or an IP literal, an optional port 1–65535, no
  path, user, query or anything else. ``https://evil.com\\.gov.tw`` or ``https://a b.gov.tw``
  are not origins and never match.
- A pattern (``--origin``) is an origin whose host may start with ``*.`` (any one or more
  labels in front: ``https://*.gov.tw`` matches ``https://cloudicweb.nhi.gov.tw``, not
  ``https://gov.tw``); ``*`` anywhere else is malformed. No port means the scheme's default.
- ``null`` (sandboxed iframes, some redirects) and ``file://`` pages are refused unless the
  user opts in (``--allow-null-origin``): the official component lets them pass, which lets
  every web site read the card through a sandboxed iframe. A request without ``Origin`` is a
  local program, not a web page, and is allowed, unless its ``Sec-Fetch-Site`` says a web
  page of another site sent it (``cross-site`` or ``same-site``, as a cross-site ``<img>``
  does): that is a page of unknown origin, refused like an origin not allowed.
- ``Host`` must name this computer as the official component does: ``localhost``,
  ``127.0.0.1``, ``[::1]`` or ``iccert.nhi.gov.tw``, with an optional numeric port (this also
  stops DNS-rebinding pages).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from nhicard.agent import COMPONENT_HOST
from nhicard.net.addresses import is_ip

NHI_SITE = "https://cloudicweb.nhi.gov.tw"
# The sites whose pages use the card, as sourced (nhi-agent.md, sites.md): NHI registration and
# its test pages, NHI personal services (Personal1/System/mLogin.aspx), eCPA's NHI-card column.
# agent serve answers these by default (``--origin`` names others instead), and
# ``agent install --browser-policy`` lets them reach this computer.
CARD_SITES = (NHI_SITE, "https://eservice.nhi.gov.tw", "https://ecpa.dgpa.gov.tw")
DEFAULT_ORIGINS = CARD_SITES
NULL_ORIGINS = ("null", "file://")
ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1", COMPONENT_HOST)

# Sec-Fetch-Site values a browser sends for a request made by another site's page
WEB_PAGE_FETCH_SITES = ("cross-site", "same-site")

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>\[[0-9a-f:.]+\]|[^/:\[\]]+)(?::(?P<port>[0-9]{1,5}))?"
)


class BadOrigin(ValueError):
    """A malformed origin or origin pattern (the message says what is wrong, in English)."""


def valid_host_name(host: str) -> bool:
    """A DNS name of valid labels (lower case expected), or an IPv4 address."""
    if not host or len(host) > 253:
        return False
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        pass
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return all(_LABEL.fullmatch(label) for label in labels)


def _host_part(raw: str) -> str | None:
    """The host of an origin or Host header in canonical form, or None when not valid."""
    if raw.startswith("["):
        try:
            return str(ipaddress.IPv6Address(raw[1:-1]))
        except ValueError:
            return None
    return raw if valid_host_name(raw) else None


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower case; an IPv6 address without brackets
    port: int  # explicit, or the scheme's default

    @classmethod
    def parse(cls, text: str, *, wildcard: bool = False) -> Origin:
        """Parse an origin (``wildcard``: a pattern, whose host may start with ``*.``)."""
        if text != text.strip() or not text.isascii() or not text.isprintable():
            raise BadOrigin("spaces or control characters")
        m = _ORIGIN.fullmatch(text.lower().removesuffix("/") if wildcard else text.lower())
        if m is None:
            raise BadOrigin("not scheme://host[:port]")
        scheme, raw_host, port_text = m["scheme"], m["host"], m["port"]
        if scheme not in _DEFAULT_PORTS:
            raise BadOrigin(f"scheme {scheme!r} is not http, https, ws or wss")
        star = wildcard and raw_host.startswith("*.")
        host = _host_part(raw_host[2:] if star else raw_host)
        if host is None or (star and "." not in host) or (star and is_ip(host)):
            raise BadOrigin(
                "'*.' may only be the leftmost label" if "*" in raw_host else "not a valid host"
            )
        port = int(port_text) if port_text else _DEFAULT_PORTS[scheme]
        if not 0 < port < 65536:
            raise BadOrigin("port out of range")
        return cls(scheme, ("*." if star else "") + host, port)

    def matches(self, other: Origin) -> bool:
        """Does ``other`` (an origin) match this pattern?"""
        if (self.scheme, self.port) != (other.scheme, other.port):
            return False
        if self.host.startswith("*."):
            return other.host.endswith(self.host[1:]) and not is_ip(other.host)
        return other.host == self.host


def parse_pattern(text: str) -> Origin:
    """A ``--origin`` pattern; :class:`BadOrigin` when malformed."""
    return Origin.parse(text, wildcard=True)


def origin_matches(pattern: str, origin: str) -> bool:
    """Does ``origin`` (``scheme://host[:port]``) match ``pattern``? False for malformed ones."""
    try:
        return parse_pattern(pattern).matches(Origin.parse(origin))
    except BadOrigin:
        return False


def host_allowed(host_header: str | None) -> bool:
    """Is this ``Host`` header one of this computer's names (optionally with a port)?"""
    if not host_header or not host_header.isascii():
        return False
    text = host_header.strip().lower()
    m = re.fullmatch(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::([0-9]{1,5}))?", text)
    if m is None:
        return False
    host = _host_part(m[1])
    if m[2] is not None and not 0 < int(m[2]) < 65536:
        return False
    return host in ALLOWED_HOSTS


def url_origin(url: str) -> str | None:
    """``https://127.0.0.1:8440/cloudic/x.aspx`` → ``https://127.0.0.1:8440``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def sandbox_origins(endpoints_file: Path) -> list[str]:
    """The running sandbox's web origins (``agent_origin`` and its sites), or []."""
    from nhicard.sites.sandbox_endpoints import peek_endpoints

    endpoints = peek_endpoints(endpoints_file)
    if endpoints is None:
        return []
    out = list(endpoints.agent_origins)
    for url in (endpoints.nhi_url, endpoints.ecpa_url, endpoints.elearn_url):
        origin = url_origin(url) if url else None
        if origin and origin not in out:
            out.append(origin)
    return out


class OriginPolicy:
    """Fixed patterns plus, optionally, the running sandbox's origins (re-read each time, so
    a sandbox started after the server is honoured). Malformed patterns raise
    :class:`BadOrigin` here, so a typo never silently allows nothing (or everything)."""

    def __init__(
        self,
        patterns: Iterable[str],
        *,
        sandbox_endpoints: Path | None = None,
        allow_null: bool = False,
    ) -> None:
        self.patterns = tuple(patterns)
        self._parsed = []
        for p in self.patterns:
            try:
                self._parsed.append(parse_pattern(p))
            except BadOrigin as exc:
                raise BadOrigin(f"{p!r}: {exc}") from None
        self.sandbox_endpoints = sandbox_endpoints
        self.allow_null = allow_null

    def current_patterns(self) -> list[str]:
        extra = sandbox_origins(self.sandbox_endpoints) if self.sandbox_endpoints else []
        return [*self.patterns, *extra]

    def allows_request(self, origin: str | None, fetch_site: str | None) -> bool:
        """Does this policy allow a request with these ``Origin`` and ``Sec-Fetch-Site``
        headers? Without an origin, a browser's ``cross-site``/``same-site`` marks a web page
        whose origin is not known: never allowed."""
        if origin is None and (fetch_site or "").strip().lower() in WEB_PAGE_FETCH_SITES:
            return False
        return self.allows(origin)

    def allows(self, origin: str | None) -> bool:
        if origin is None:
            return True  # not a web page: a local program
        if origin == "null" or origin.lower().startswith("file:"):
            return self.allow_null
        try:
            parsed = Origin.parse(origin)
        except BadOrigin:
            return False
        if any(p.matches(parsed) for p in self._parsed):
            return True
        extra = sandbox_origins(self.sandbox_endpoints) if self.sandbox_endpoints else []
        return any(origin_matches(p, origin) for p in extra)
