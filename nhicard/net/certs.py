"""Local TLS certificates with ``cryptography``, the one module that makes them: P-256 keys, a
CA, server certificates the CA issues for given host names and IP addresses, PEM encodings and
files, and the checks for reuse (near expiry, issued by this CA for this key). A CA may be
name-constrained (``permitted``): then it can sign for those names and addresses only, and
browsers refuse anything else it signs.

Which names, lifetimes and files is the policy of each user: ``agent serve``
(:mod:`nhicard.agent.serve.tls`, whose CA key is never kept) and the sandbox
(:mod:`nhicard.sandbox.tls`). Files are written with :mod:`nhicard.core.atomicfile`: keys mode
0600, certificates 0644. A file that cannot be written (a full disk, a read-only or
unwritable directory) is a :class:`~nhicard.core.errors.LocalIOError` naming it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nhicard.core.atomicfile import PRIVATE, PUBLIC, create_file_once, replace_file
from nhicard.core.files import cannot_write
from nhicard.core.i18n import T, Text

__all__ = [
    "certificate_pem",
    "fingerprint",
    "expires_within",
    "issue_server_cert",
    "issued_by",
    "load_certificate",
    "load_private_key",
    "make_ca",
    "name",
    "new_key",
    "private_key_pem",
    "read_certificate",
    "write_certificate",
    "write_private_key",
]


def new_key() -> ec.EllipticCurvePrivateKey:
    """A new P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, organization: str | None = None) -> x509.Name:
    """A subject name: the organization (when given), then the common name."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def private_key_pem(key: PrivateKeyTypes) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM (keep it in a mode-0600 file)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_pem(cert: x509.Certificate) -> bytes:
    """``cert`` as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(
    key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    *,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    path_length: int | None = 0,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    permitted: Sequence[str] = (),
) -> x509.Certificate:
    """A CA certificate that may sign server certificates: self-signed, or with ``issuer``
    (certificate, key) an intermediate signed by it. Path length 0 unless told (a root
    above an intermediate needs 1).

    With ``permitted`` (host names and IP addresses), the CA carries a critical name
    constraint: DNS names must be (below) one of the names, IP addresses one of the
    addresses (a single-address subnet), and nothing else is permitted."""
    signer = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    if permitted:
        builder = builder.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[_constraint(h) for h in permitted], excluded_subtrees=None
            ),
            critical=True,
        )
    return builder.sign(signer, hashes.SHA256())


def _constraint(host: str) -> x509.GeneralName:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return x509.DNSName(host)
    return x509.IPAddress(ipaddress.ip_network(f"{address}/{address.max_prefixlen}"))


def _alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_server_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    *,
    common_name: str,
    hosts: Sequence[str],
    valid_from: dt.datetime,
    valid_until: dt.datetime,
) -> x509.Certificate:
    """A TLS server certificate for ``key``, signed by the CA, valid for ``hosts`` (names and
    IP addresses, in this order in the subject alternative names)."""
    return (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .add_extension(x509.SubjectAlternativeName([_alt_name(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def expires_within(cert: x509.Certificate, margin: dt.timedelta, now: dt.datetime) -> bool:
    """True when ``cert`` is no longer valid ``margin`` after ``now`` (time to renew it)."""
    return cert.not_valid_after_utc - now <= margin


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate (DER), as upper-case hex without separators."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def issued_by(
    cert: x509.Certificate, ca: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> bool:
    """True when ``cert`` is signed by ``ca`` and certifies ``key`` (its public half)."""
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return _spki(key.public_key()) == _spki(cert.public_key())


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- files ---------------------------------------------------------------------------------


def load_certificate(path: Path) -> x509.Certificate:
    """The PEM certificate in ``path``; OSError or ValueError when it cannot be had."""
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def read_certificate(path: Path) -> x509.Certificate | None:
    """The PEM certificate in ``path``, or None when it is missing or unreadable."""
    try:
        return load_certificate(path)
    except (OSError, ValueError):
        return None


def load_private_key(path: Path) -> PrivateKeyTypes:
    """The unencrypted PEM private key in ``path``; OSError, ValueError or TypeError when it
    cannot be had."""
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


CERTIFICATE_FILE = T("憑證檔", "the certificate file")
PRIVATE_KEY_FILE = T("私鑰檔", "the private key file")


def _write(path: Path, data: bytes, *, mode: int, once: bool, what: Text) -> None:
    """Atomically (a temp file moved into place: nothing half-written is ever left);
    :func:`~nhicard.core.files.cannot_write` when the file cannot be written."""
    write = create_file_once if once else replace_file
    try:
        write(Path(path), data, mode=mode)
    except OSError as exc:
        raise cannot_write(path, exc, what) from None


def write_certificate(path: Path, cert: x509.Certificate, *, once: bool = False) -> None:
    """Write ``cert`` as PEM (mode 0644), atomically; with ``once`` only if ``path`` does
    not exist yet (so that processes racing to create it all end up with the same file).
    :class:`~nhicard.core.errors.LocalIOError` when it cannot be written."""
    _write(path, certificate_pem(cert), mode=PUBLIC, once=once, what=CERTIFICATE_FILE)


def write_private_key(path: Path, key: PrivateKeyTypes, *, once: bool = False) -> None:
    """Write ``key`` as PEM (mode 0600), atomically; ``once`` and errors as for
    :func:`write_certificate`."""
    _write(path, private_key_pem(key), mode=PRIVATE, once=once, what=PRIVATE_KEY_FILE)
