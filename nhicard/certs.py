"""Local TLS certificates with ``cryptography``: P-256 keys, a CA, server certificates the CA
issues for given host names and IP addresses, PEM encodings, and the near-expiry test. A CA
may be name-constrained (``permitted``): then it can sign for those names and addresses only,
and browsers refuse anything else it signs.

Used by ``agent serve`` (:mod:`nhicard.agent.servetls`) and the sandbox
(:mod:`nhicard.sandbox.tls`); the files they live in are written with
:mod:`nhicard.atomicfile`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "certificate_pem",
    "fingerprint",
    "expires_within",
    "issue_server_cert",
    "make_ca",
    "name",
    "new_key",
    "private_key_pem",
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
