"""What a site's TLS certificate chain is, for messages when this computer does not trust it.

Taiwan's government sites have used certificates chaining to roots outside Mozilla's store
(the Government Root Certification Authority, GRCA) and to CAs that browsers have distrusted
(Chunghwa Telecom's HiPKI / ePKI, 2025; sites.md). When verification fails, a person needs to
know which issuer and which root the site presents, and how to trust that root for nhicard
only: the profile's ``ca_bundle``. :func:`presented_chain` asks the server (a second handshake
without verification, only to read the certificates it sends); :func:`untrusted_texts` words
the message and the fix.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from datetime import date

from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T, Text
from nhicard.net.netclass import Kind, base_message
from nhicard.net.resolve import connect_within
from nhicard.net.tlsclient import inspecting_context

MAX_CHAIN = 10
TIMEOUT = 5.0  # seconds, in all, for the second handshake that reads the chain


@dataclass(frozen=True)
class KnownRoot:
    """A root the government sites are known to chain to, and where its owner publishes it."""

    marker: str  # a substring of its distinguished name
    name: str
    publisher: Text
    note: Text


KNOWN_ROOTS = (
    KnownRoot(
        "Government Root Certification Authority",
        "Government Root Certification Authority (GRCA)",
        T("國家發展委員會 政府憑證管理中心 https://grca.nat.gov.tw/",
          "Taiwan's Government Root CA, https://grca.nat.gov.tw/"),
        T("政府根憑證不在 Mozilla 等常見的信任清單中", "the government root is not in Mozilla's "
          "and other common trust stores"),
    ),
    KnownRoot(
        "HiPKI Root CA",
        "HiPKI Root CA (Chunghwa Telecom)",
        T("中華電信 HiPKI https://eca.hinet.net/", "Chunghwa Telecom HiPKI, https://eca.hinet.net/"),
        T("瀏覽器已於 2025 年停止信任中華電信的憑證機構", "browsers distrusted Chunghwa Telecom's "
          "CAs in 2025"),
    ),
    KnownRoot(
        "ePKI Root Certification Authority",
        "ePKI Root Certification Authority (Chunghwa Telecom)",
        T("中華電信 https://eca.hinet.net/", "Chunghwa Telecom, https://eca.hinet.net/"),
        T("瀏覽器已於 2025 年停止信任中華電信的憑證機構", "browsers distrusted Chunghwa Telecom's "
          "CAs in 2025"),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class CertSummary:
    subject: str  # RFC 4514
    issuer: str
    not_after: date

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


@dataclass(frozen=True)
class PresentedChain:
    """The certificates a server sent, leaf first."""

    certs: tuple[CertSummary, ...]

    @property
    def issuer(self) -> str:
        """Who issued the site's own certificate."""
        return self.certs[0].issuer if self.certs else "?"

    @property
    def root(self) -> str:
        """The root the chain leads to: the last certificate's issuer (its own subject when
        the server sent the root itself)."""
        return self.certs[-1].issuer if self.certs else "?"

    def known_root(self) -> KnownRoot | None:
        names = [self.root, *(c.issuer for c in self.certs)]
        return next((k for k in KNOWN_ROOTS for n in names if k.marker in n), None)

    def describe(self) -> str:
        """``CN=site ← CN=intermediate ← CN=root`` (what ``env check`` shows)."""
        if not self.certs:
            return "no certificate"
        names = [_short(c.subject) for c in self.certs]
        if not self.certs[-1].self_signed:
            names.append(_short(self.certs[-1].issuer) + " (not sent)")
        return " ← ".join(names) + f"; valid until {self.certs[0].not_after.isoformat()}"


def _short(rfc4514: str) -> str:
    """The CN part of a name (else the whole name)."""
    for part in rfc4514.split(","):
        if part.strip().upper().startswith("CN="):
            return part.strip()
    return rfc4514


def summarize(der: bytes) -> CertSummary | None:
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    return CertSummary(
        cert.subject.rfc4514_string(),
        cert.issuer.rfc4514_string(),
        cert.not_valid_after_utc.date(),
    )


def presented_chain(
    host: str, port: int, *, server_name: str | None = None, timeout: float = TIMEOUT
) -> PresentedChain | None:
    """The chain ``host:port`` sends (read without verifying it), or None if it cannot be
    had. Nothing is sent but the handshake.

    ``timeout`` is one total deadline for the whole of it: name resolution (in a worker,
    :func:`~nhicard.net.resolve.resolve`), connect, and the handshake (``ssl`` bounds a
    handshake on a socket with a timeout as a whole), so a caller inside an exchange passes
    what that exchange has left."""
    end = time.monotonic() + timeout
    ctx = inspecting_context()
    try:
        with _connect(host, port, end) as raw:
            raw.settimeout(_left(end))
            with ctx.wrap_socket(raw, server_hostname=server_name or host) as tls:
                ders = _unverified_chain(tls)
    except (OSError, ValueError):
        return None
    certs = tuple(s for s in (summarize(d) for d in ders[:MAX_CHAIN]) if s is not None)
    return PresentedChain(certs) if certs else None


def _left(end: float) -> float:
    left = end - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


def _connect(host: str, port: int, end: float) -> socket.socket:
    """A TCP connection to ``host:port`` made before ``end`` (monotonic), or OSError."""
    return connect_within(host, port, lambda: _left(end))


def _unverified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """Every certificate the server sent (Python ≥ 3.13 public API; the same private method
    since 3.10), else its own certificate only."""
    getter = getattr(tls, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            chain = getter() or []
            return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                    for c in chain]  # fmt: skip
        except (AttributeError, ValueError, ssl.SSLError):
            pass
    der = tls.getpeercert(binary_form=True)
    return [der] if der else []


def untrusted_texts(host: str, chain: PresentedChain | None) -> tuple[Text, Text]:
    """(message, fix) for a certificate of ``host`` that does not verify."""
    if chain is None:
        return (
            base_message(Kind.TLS_UNKNOWN_CA, host),
            BUNDLE_FIX.format(root="該根憑證", root_en="that root", where="", where_en=""),
        )
    known = chain.known_root()
    note_zh = f";{known.note.zh}" if known else ""
    note_en = f"; {known.note.en}" if known else ""
    message = Text(
        f"無法驗證 {host} 的憑證:簽發者 {_short(chain.issuer)},根憑證 {_short(chain.root)} "
        f"不受這台電腦信任{note_zh}",
        f"cannot verify the certificate of {host}: issued by {_short(chain.issuer)}, chaining "
        f"to {_short(chain.root)}, which this computer does not trust{note_en}",
    )
    root_name = known.name if known else _short(chain.root)
    fix = BUNDLE_FIX.format(
        root=root_name,
        root_en=root_name,
        where=f"(發行者:{known.publisher.zh})" if known else "",
        where_en=f" (published by {known.publisher.en})" if known else "",
    )
    return message, fix


BUNDLE_FIX = T(
    "取得 {root}{where} 的 PEM 檔並核對指紋,把系統的根憑證(Debian:/etc/ssl/certs/"
    'ca-certificates.crt)與它合併成一個檔案,再於設定檔寫 extends = "real" 與 '
    'ca_bundle = "該檔案路徑",以 --profile 檔案 執行(只影響 nhicard)。若簽發者是公司的代理伺服器'
    "(proxy),請向網管取得其根憑證。nhicard env check 會列出每個網站的憑證鏈。",
    "Get {root_en}{where_en} as PEM and check its fingerprint, put it together with the "
    "system's roots (Debian: /etc/ssl/certs/ca-certificates.crt) in one file, and write a "
    'profile file with extends = "real" and ca_bundle = "<that file>"; run with --profile '
    "FILE (this changes nhicard only). If the issuer is your office's proxy, get its root "
    "from the administrator. `nhicard env check` shows each site's chain.",
)


def explain_untrusted(error: NetworkError, url: str, *, timeout: float = TIMEOUT) -> NetworkError:
    """``error`` (an unknown-CA failure of ``url``) reworded with the chain the site sends:
    its issuer, the root it leads to, and how to trust that root in the profile."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or 443
    except ValueError:
        return error
    chain = presented_chain(host, port, timeout=timeout)
    message, fix = untrusted_texts(host, chain)
    data = dict(error.data)
    if chain is not None:
        data.update(issuer=chain.issuer, root=chain.root, chain=chain.describe())
    return NetworkError(message, hint=fix, reason=error.reason, detail=error.detail, data=data)
