"""What went wrong on a connection: one classification of socket and TLS failures.

:func:`classify` maps an exception (socket, ``ssl``, or an httpx/httpcore error wrapping one)
to a :class:`Kind` — DNS, refused, timeout, reset, an expired certificate, an unknown CA, a
certificate for another name, another TLS failure, or something else — and
:func:`base_message` words each kind for a peer in both languages. Callers (the web browser,
the IMAP source, ``env check``'s probes) add only what is theirs: the error class, the
``reason`` they report, and their hints. The TLS trust itself is :mod:`nhicard.net.tlsclient`;
naming the issuer and root of a chain this computer does not trust is
:mod:`nhicard.net.tlschain`.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from nhicard.core.i18n import T, Text


class Kind(StrEnum):
    """The kinds of connection failure."""

    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    RESET = "reset"
    TLS_EXPIRED = "tls-expired"
    TLS_UNKNOWN_CA = "tls-unknown-ca"
    TLS_HOSTNAME = "tls-hostname"
    TLS_OTHER = "tls-other"
    OTHER = "other"

    @property
    def untrusted(self) -> bool:
        """The server's certificate did not verify (expired, unknown CA, another name)."""
        return self in _UNTRUSTED

    @property
    def reason(self) -> str | None:
        """The ``reason`` an error of this kind carries in JSON output, or None where the
        caller names it (a reset, anything else)."""
        return _REASONS.get(self)


_UNTRUSTED = frozenset({Kind.TLS_EXPIRED, Kind.TLS_UNKNOWN_CA, Kind.TLS_HOSTNAME})
_REASONS = {
    Kind.DNS: "dns",
    Kind.REFUSED: "connection-refused",
    Kind.TIMEOUT: "timeout",
    Kind.TLS_EXPIRED: "tls-expired",
    Kind.TLS_UNKNOWN_CA: "tls-unknown-ca",
    Kind.TLS_HOSTNAME: "tls-hostname",
    Kind.TLS_OTHER: "tls-handshake",
}

# OpenSSL's X509_V_ERR_* codes (``SSLCertVerificationError.verify_code``); every other code
# means the chain does not lead to a trusted root.
EXPIRED_CODES = frozenset({9, 10})  # CERT_NOT_YET_VALID, CERT_HAS_EXPIRED
HOSTNAME_CODES = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH

_RESETS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


@dataclass(frozen=True)
class Failure:
    """A classified failure: its ``kind`` and the exception that decided it (the certificate
    or socket error found in the chain, else the exception itself)."""

    kind: Kind
    cause: BaseException

    @property
    def certificate_error(self) -> ssl.SSLCertVerificationError | None:
        return self.cause if isinstance(self.cause, ssl.SSLCertVerificationError) else None


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it (``__cause__``, else ``__context__``), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _kind_of(e: BaseException) -> Kind | None:
    if isinstance(e, ssl.SSLCertVerificationError):
        if e.verify_code in EXPIRED_CODES:
            return Kind.TLS_EXPIRED
        if e.verify_code in HOSTNAME_CODES:
            return Kind.TLS_HOSTNAME
        return Kind.TLS_UNKNOWN_CA
    if isinstance(e, ssl.SSLError):
        return Kind.TLS_OTHER
    if isinstance(e, socket.gaierror):
        return Kind.DNS
    if isinstance(e, TimeoutError) or "Timeout" in type(e).__name__:  # httpx/httpcore too
        return Kind.TIMEOUT
    if isinstance(e, ConnectionRefusedError):
        return Kind.REFUSED
    if isinstance(e, _RESETS):
        return Kind.RESET
    return None


def classify(exc: BaseException, *, by_text: bool = False) -> Failure:
    """The kind of ``exc``: a certificate that did not verify, anywhere in the chain, comes
    first; then the outermost exception of a known kind. With ``by_text``, an exception of
    no known kind (an httpx error raised without its cause) is judged by its message."""
    chain = list(exception_chain(exc))
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return Failure(_kind_of(e) or Kind.TLS_UNKNOWN_CA, e)
    for e in chain:
        kind = _kind_of(e)
        if kind is not None:
            return Failure(kind, e)
    if by_text:
        kind = _kind_by_text(f"{type(exc).__name__}: {exc}".lower())
        if kind is not None:
            return Failure(kind, exc)
    return Failure(Kind.OTHER, exc)


def _kind_by_text(lowered: str) -> Kind | None:
    if "certificate verify failed" in lowered:
        if "expired" in lowered or "not yet valid" in lowered:
            return Kind.TLS_EXPIRED
        if "hostname mismatch" in lowered:
            return Kind.TLS_HOSTNAME
        return Kind.TLS_UNKNOWN_CA
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return Kind.DNS
    if "connection refused" in lowered:
        return Kind.REFUSED
    if "ssl" in lowered or "tls" in lowered:
        return Kind.TLS_OTHER
    return None


BASE_MESSAGES: dict[Kind, Text] = {
    Kind.DNS: T("無法解析主機名稱 {peer}(DNS 失敗)", "cannot resolve the host name {peer} (DNS failure)"),
    Kind.REFUSED: T("{peer} 拒絕連線", "{peer} refused the connection"),
    Kind.TIMEOUT: T("連線到 {peer} 逾時", "connecting to {peer} timed out"),
    Kind.RESET: T("與 {peer} 的連線中斷", "the connection to {peer} was lost"),
    Kind.TLS_EXPIRED: T(
        "{peer} 的憑證已過期或尚未生效",
        "the certificate of {peer} has expired or is not yet valid",
    ),
    Kind.TLS_UNKNOWN_CA: T(
        "無法驗證 {peer} 的憑證:簽發機構不受信任",
        "cannot verify the certificate of {peer}: unknown certificate authority",
    ),
    Kind.TLS_HOSTNAME: T("{peer} 的憑證與主機名稱不符", "the certificate of {peer} does not match its name"),
    Kind.TLS_OTHER: T("與 {peer} 的 TLS 交握失敗", "the TLS handshake with {peer} failed"),
    Kind.OTHER: T("與 {peer} 的連線失敗", "the connection to {peer} failed"),
}  # fmt: skip

HINT_CLOCK = T("請確認電腦的日期與時間正確。", "Check this computer's date and time.")


def word(template: Text, peer: Text | str) -> Text:
    """``template`` with ``{peer}`` filled in, each language with its own wording of the
    peer (``T("IMAP 伺服器 x", "the IMAP server x")``) or the same host name in both."""
    zh, en = (peer, peer) if isinstance(peer, str) else (peer.zh, peer.en)
    return Text(template.zh.format(peer=zh), template.en.format(peer=en))


def base_message(kind: Kind, peer: Text | str) -> Text:
    """The message for a failure of ``kind`` talking to ``peer``."""
    return word(BASE_MESSAGES[kind], peer)
