"""The TLS certificate of ``nhicard agent serve``: a local CA and a server certificate for
``127.0.0.1``, ``localhost``, ``::1`` and ``iccert.nhi.gov.tw`` (the names the official
component answers to), kept in one directory. Private keys are written with mode 0600.

A browser trusts the server once ``ca.pem`` is imported as a root; our ``nhiicc`` backend
trusts it through ``ca_bundle``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nhicard import certs
from nhicard.atomicfile import PUBLIC, replace_file

SERVER_NAMES = ("localhost", "iccert.nhi.gov.tw")
SERVER_IPS = ("127.0.0.1", "::1")
CA_DAYS = 3650
SERVER_DAYS = 397
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class ServerCertificate:
    cert_file: Path
    key_file: Path
    ca_file: Path


def _still_valid(cert_file: Path, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError):
        return False
    return not certs.expires_within(cert, RENEW_BEFORE, now)


def _new_ca(d: Path, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = certs.new_key()
    cert = certs.make_ca(
        key,
        certs.name("nhicard local agent CA", organization="nhicard (this computer only)"),
        valid_from=now - BACKDATE,
        valid_until=now + dt.timedelta(days=CA_DAYS),
    )
    replace_file(d / "ca-key.pem", certs.private_key_pem(key))
    replace_file(d / "ca.pem", certs.certificate_pem(cert), mode=PUBLIC)
    return cert, key


def _load_ca(d: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((d / "ca-key.pem").read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    return cert, key


def ensure_server_certificate(directory: Path, now: dt.datetime | None = None) -> ServerCertificate:
    """Create (or renew when near expiry) the CA and server certificate in ``directory``."""
    d = Path(directory)
    now = now or dt.datetime.now(dt.UTC)
    result = ServerCertificate(d / "server.pem", d / "server-key.pem", d / "ca.pem")
    loaded = _load_ca(d) if _still_valid(d / "ca.pem", now) else None
    if loaded is not None and _still_valid(result.cert_file, now) and result.key_file.exists():
        return result
    ca_cert, ca_key = loaded or _new_ca(d, now)
    key = certs.new_key()
    cert = certs.issue_server_cert(
        ca_cert,
        ca_key,
        key,
        common_name="iccert.nhi.gov.tw",
        hosts=(*SERVER_NAMES, *SERVER_IPS),
        valid_from=now - BACKDATE,
        valid_until=now + dt.timedelta(days=SERVER_DAYS),
    )
    replace_file(result.key_file, certs.private_key_pem(key))
    replace_file(result.cert_file, certs.certificate_pem(cert), mode=PUBLIC)
    return result
