"""The sandbox's own TLS: a local CA and a server certificate for 127.0.0.1 / localhost.

Kept per sandbox directory (mode 0600 for keys): ``ca.pem`` (the CA certificate, the
``ca_bundle`` clients trust), ``ca-key.pem``, ``server.pem``, ``server-key.pem``. The CA lives
for ten years; the server certificate for one year and is re-issued when it is missing, expires
within 30 days, or was not issued by the CA in the directory. Files are created atomically
(temp file, then hard link), so two processes starting at once end up with the same files.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from nhicard.core.errors import UsageError
from nhicard.core.i18n import T
from nhicard.net import certs
from nhicard.net.tlsclient import serving_context

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(days=1)
SERVER_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the sandbox's CA and server certificate files."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for a sandbox HTTPS server (TLS ≥ 1.2)."""
        return serving_context(self.server_cert, self.server_key)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only the sandbox CA (verification on)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _bad(path: Path, why: str) -> UsageError:
    return UsageError(
        T(
            "沙盒 TLS 檔案 {path} 無法使用:{why}", "sandbox TLS file {path} is unusable: {why}"
        ).format(path=str(path), why=why),
        hint=T(
            "刪除沙盒目錄中的 ca*.pem 與 server*.pem 後重新執行 nhicard sandbox up。",
            "Delete ca*.pem and server*.pem in the sandbox directory and run "
            "`nhicard sandbox up` again.",
        ),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = certs.load_private_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise _bad(path, type(exc).__name__) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _bad(path, "not an EC key")
    return key


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return certs.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise _bad(path, type(exc).__name__) from None


def _ensure_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        certs.write_private_key(path, certs.new_key(), once=True)
    return _load_key(path)


def _ensure_ca(d: Path, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key, cert_path = _ensure_key(d / CA_KEY_FILE), d / CA_CERT_FILE
    if not cert_path.exists():
        cert = certs.make_ca(
            key,
            certs.name("nhicard sandbox local CA", organization="nhicard sandbox"),
            valid_from=now - BACKDATE,
            valid_until=now + CA_LIFETIME,
        )
        certs.write_certificate(cert_path, cert, once=True)
    return _load_cert(cert_path), key


def _server_cert_usable(
    path: Path, ca: x509.Certificate, key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> bool:
    if not path.exists():
        return False
    cert = _load_cert(path)
    return certs.issued_by(cert, ca, key) and not certs.expires_within(cert, RENEW_BEFORE, now)


def ensure_tls(directory: Path, *, now: dt.datetime | None = None) -> TlsFiles:
    """Create (or reuse) the sandbox CA and server certificate in ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    moment = now or dt.datetime.now(dt.UTC)
    ca, ca_key = _ensure_ca(d, moment)
    key_path, cert_path = d / SERVER_KEY_FILE, d / SERVER_CERT_FILE
    key = _ensure_key(key_path)
    if not _server_cert_usable(cert_path, ca, key, moment):
        cert = certs.issue_server_cert(
            ca,
            ca_key,
            key,
            common_name="127.0.0.1",
            hosts=(*SERVER_NAMES, *SERVER_IPS),
            valid_from=moment - BACKDATE,
            valid_until=moment + SERVER_LIFETIME,
        )
        certs.write_certificate(cert_path, cert)
    return TlsFiles(
        ca_cert=d / CA_CERT_FILE, ca_key=d / CA_KEY_FILE, server_cert=cert_path, server_key=key_path
    )
