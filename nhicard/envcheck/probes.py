"""Network probes shared by the ``network``, ``clock`` and ``agent`` groups.

Each probe has its own timeout and returns a frozen result or raises :class:`ProbeError`
carrying a short ``kind`` (``timeout``, ``dns``, ``refused``, ``tls-untrusted``, ``tls``,
``http``, ``other``) so that checks can word their advice.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from nhicard.net import netclass
from nhicard.net.netclass import Kind
from nhicard.net.tlsclient import inspecting_context


class ProbeKind(StrEnum):
    """How a probe failed, coarsely: the advice differs for these only."""

    TIMEOUT = "timeout"
    DNS = "dns"
    REFUSED = "refused"
    TLS_UNTRUSTED = "tls-untrusted"
    TLS = "tls"
    HTTP = "http"
    OTHER = "other"


class ProbeError(Exception):
    """A probe failed; ``kind`` says how, coarsely, ``text`` in detail."""

    def __init__(self, kind: ProbeKind, text: str) -> None:
        super().__init__(f"{kind}: {text}")
        self.kind = kind
        self.text = text


_KINDS = {  # the probes' coarser kinds: advice differs for these only
    Kind.TIMEOUT: ProbeKind.TIMEOUT,
    Kind.DNS: ProbeKind.DNS,
    Kind.REFUSED: ProbeKind.REFUSED,
    Kind.TLS_EXPIRED: ProbeKind.TLS_UNTRUSTED,
    Kind.TLS_UNKNOWN_CA: ProbeKind.TLS_UNTRUSTED,
    Kind.TLS_HOSTNAME: ProbeKind.TLS_UNTRUSTED,
    Kind.TLS_OTHER: ProbeKind.TLS,
}


def classify(exc: BaseException) -> ProbeError:
    """Map a socket/ssl/httpx exception to a :class:`ProbeError` (:mod:`nhicard.net.netclass`
    decides the kind, by the message too when an httpx error carries no cause)."""
    if isinstance(exc, ProbeError):
        return exc
    failure = netclass.classify(exc, by_text=True)
    kind = _KINDS.get(failure.kind, ProbeKind.OTHER)
    cert = failure.certificate_error
    if cert is not None:
        return ProbeError(kind, cert.verify_message or str(cert))
    if isinstance(failure.cause, socket.gaierror):
        return ProbeError(kind, str(failure.cause))
    return ProbeError(kind, f"{type(exc).__name__}: {exc}".strip())


def resolve(host: str, port: int) -> list[str]:
    """Addresses of ``host`` (the OS resolver, hosts file included); ProbeError(dns)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ProbeError(ProbeKind.DNS, str(exc)) from None
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


def tcp_connect(host: str, port: int, timeout: float) -> int:
    """Open and close a TCP connection; milliseconds taken."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise classify(exc) from None
    return int((time.monotonic() - t0) * 1000)


@dataclass(frozen=True)
class TlsPeer:
    """What a TLS handshake showed: protocol version and the server certificate (DER)."""

    version: str
    certificate: bytes | None
    verified: bool
    verify_error: str | None


def tls_handshake(
    host: str, port: int, *, server_name: str, context: ssl.SSLContext, timeout: float
) -> TlsPeer:
    """Handshake twice if needed: verified with ``context``; when that fails on the
    certificate only, again without verification to see what the server presents."""
    try:
        return _handshake(host, port, server_name, context, timeout, verified=True)
    except ProbeError as err:
        if err.kind != ProbeKind.TLS_UNTRUSTED:
            raise
        peer = _handshake(host, port, server_name, inspecting_context(), timeout, verified=False)
        return TlsPeer(peer.version, peer.certificate, False, err.text)


def _handshake(
    host: str, port: int, server_name: str, ctx: ssl.SSLContext, timeout: float, *, verified: bool
) -> TlsPeer:
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            return TlsPeer(tls.version() or "?", tls.getpeercert(binary_form=True), verified, None)
    except OSError as exc:
        raise classify(exc) from None


def describe_certificate(der: bytes | None) -> str:
    """``subject CN=…; issuer CN=…; valid until …`` of a DER certificate."""
    if not der:
        return "no certificate"
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "unreadable certificate"
    until = cert.not_valid_after_utc.date().isoformat()
    return (
        f"subject {cert.subject.rfc4514_string()}; issuer {cert.issuer.rfc4514_string()}; "
        f"valid until {until}"
    )


@dataclass(frozen=True)
class SiteProbe:
    """One HTTPS request to a site: what answered, how, and when."""

    url: str
    status_code: int
    tls_version: str | None
    server_date: datetime | None  # from the Date header
    local_time: datetime  # our clock when the answer arrived (midpoint of the request)
    elapsed_ms: int
    server: str | None


def https_probe(
    url: str,
    *,
    context: ssl.SSLContext,
    timeout: float,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    transport: Any = None,
) -> SiteProbe:
    """GET ``url`` (no redirects followed, body not read), honouring the proxy variables."""
    import httpx

    kwargs: dict[str, Any] = {"verify": context, "timeout": timeout, "trust_env": True}
    if transport is not None:
        kwargs["transport"] = transport
    t0 = time.monotonic()
    started = now()
    try:
        with (
            httpx.Client(**kwargs) as client,
            client.stream("GET", url, headers={"User-Agent": "nhicard-env-check"}) as resp,
        ):
            ended = now()
            elapsed = int((time.monotonic() - t0) * 1000)
            return SiteProbe(
                url=url,
                status_code=resp.status_code,
                tls_version=_tls_version(resp),
                server_date=_parse_date(resp.headers.get("date")),
                local_time=started + (ended - started) / 2,
                elapsed_ms=elapsed,
                server=resp.headers.get("server"),
            )
    except httpx.HTTPError as exc:
        raise classify(exc) from None
    except OSError as exc:
        raise classify(exc) from None


def _tls_version(resp: Any) -> str | None:
    stream = resp.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    version: str | None = ssl_object.version()
    return version


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
