"""The TLS certificate of ``nhicard agent serve``: a server certificate for ``localhost``,
``iccert.nhi.gov.tw``, ``127.0.0.1`` and ``::1`` (the names the official component answers
to), issued by a CA made for it alone, kept in one directory.

The CA is name-constrained to exactly those names and addresses (a browser that trusts it
still refuses it for any other site), and its private key only lives in memory while the
server certificate is signed: it is never written, so nobody who reads the directory can
issue anything. Renewing the server certificate therefore makes a new CA, which
``nhicard agent install`` must put into the browsers again (``agent status`` says so).

A browser trusts the server once ``ca.pem`` is imported as a root; our ``nhiicc`` backend
trusts it through ``ca_bundle``. The server key is written with mode 0600.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from nhicard.agent import COMPONENT_HOST
from nhicard.core.files import cannot_write
from nhicard.core.i18n import T
from nhicard.net import certs

SERVER_NAMES = ("localhost", COMPONENT_HOST)
SERVER_IPS = ("127.0.0.1", "::1")
PERMITTED = (*SERVER_NAMES, *SERVER_IPS)
SERVER_DAYS = 397
CA_DAYS = SERVER_DAYS + 1  # the CA signs one certificate; it needs to live no longer
RENEW_BEFORE = dt.timedelta(days=30)
BACKDATE = dt.timedelta(minutes=5)
CA_NAME = "nhicard local agent CA"


@dataclass(frozen=True)
class ServerCertificate:
    cert_file: Path
    key_file: Path
    ca_file: Path


def _still_valid(cert_file: Path, now: dt.datetime) -> bool:
    cert = certs.read_certificate(cert_file)
    return cert is not None and not certs.expires_within(cert, RENEW_BEFORE, now)


def load_ca(directory: Path) -> x509.Certificate | None:
    """The CA certificate in ``directory`` (None when missing or unreadable)."""
    return certs.read_certificate(Path(directory) / "ca.pem")


def _remove_old_ca_key(path: Path) -> None:
    """An older version kept the CA's key: that file must go (it could issue anything)."""
    if not path.exists():  # not unlink(missing_ok): a read-only directory would refuse that
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise cannot_write(path, exc, T("舊的 CA 私鑰檔", "the old CA key file")) from None


def ensure_server_certificate(directory: Path, now: dt.datetime | None = None) -> ServerCertificate:
    """The server certificate in ``directory``; issued (with a new CA) when missing, unreadable
    or near expiry. A key ``ca-key.pem`` left by an older version is removed.
    :class:`~nhicard.core.errors.LocalIOError` naming the file that cannot be written (a full
    disk): then none of the three is left, half a set being of no use."""
    d = Path(directory)
    now = now or dt.datetime.now(dt.UTC)
    result = ServerCertificate(d / "server.pem", d / "server-key.pem", d / "ca.pem")
    _remove_old_ca_key(d / "ca-key.pem")
    if (
        _still_valid(result.ca_file, now)
        and _still_valid(result.cert_file, now)
        and result.key_file.exists()
    ):
        return result
    ca_key = certs.new_key()
    ca_cert = certs.make_ca(
        ca_key,
        certs.name(CA_NAME, organization="nhicard (this computer only)"),
        valid_from=now - BACKDATE,
        valid_until=now + dt.timedelta(days=CA_DAYS),
        permitted=PERMITTED,
    )
    key = certs.new_key()
    cert = certs.issue_server_cert(
        ca_cert,
        ca_key,
        key,
        common_name=COMPONENT_HOST,
        hosts=PERMITTED,
        valid_from=now - BACKDATE,
        valid_until=now + dt.timedelta(days=SERVER_DAYS),
    )
    del ca_key  # never written: the CA can sign nothing more
    try:
        certs.write_private_key(result.key_file, key)
        certs.write_certificate(result.cert_file, cert)
        certs.write_certificate(result.ca_file, ca_cert)
    except BaseException:
        # a key without its certificate (or a certificate of another CA) is of no use: take
        # out all three, so the next run starts afresh
        for path in (result.key_file, result.cert_file, result.ca_file):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        raise
    return result
