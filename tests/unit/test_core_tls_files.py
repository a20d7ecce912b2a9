"""The shared core helpers: certificates (nhicard.net.certs), atomic files (nhicard.core.atomicfile),
the verifying client context (nhicard.net.tlsclient) and the ClosesOnExit mixin. The TLS test runs
a real handshake (memory BIOs) between a server using an issued certificate and our client."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from nhicard.cli.main import exit_code_for
from nhicard.core.atomicfile import PUBLIC, create_file_once, replace_file
from nhicard.core.closing import ClosesOnExit
from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T
from nhicard.mail.errors import ImapUnavailable
from nhicard.net import certs
from nhicard.net.tlsclient import verifying_context

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
HINT = T("提示", "hint")


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = certs.new_key()
    ca = certs.make_ca(
        key,
        certs.name("test CA", organization="nhicard tests"),
        valid_from=NOW - dt.timedelta(days=1),
        valid_until=NOW + dt.timedelta(days=10),
    )
    return ca, key


def test_issued_certificate_names_hosts_and_chains_to_the_ca() -> None:
    ca, ca_key = _ca()
    key = certs.new_key()
    cert = certs.issue_server_cert(
        ca,
        ca_key,
        key,
        common_name="localhost",
        hosts=("localhost", "127.0.0.1", "::1"),
        valid_from=NOW,
        valid_until=NOW + dt.timedelta(days=5),
    )
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ca.subject.rfc4514_string() == "CN=test CA,O=nhicard tests"


def test_expires_within_is_true_from_the_margin_on() -> None:
    ca, _ = _ca()  # valid until NOW + 10 days
    margin = dt.timedelta(days=3)
    assert not certs.expires_within(ca, margin, NOW + dt.timedelta(days=6, hours=23))
    assert certs.expires_within(ca, margin, NOW + dt.timedelta(days=7))
    assert certs.expires_within(ca, margin, NOW + dt.timedelta(days=11))


def test_handshake_with_issued_certificate_and_verifying_context(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = certs.new_key()
    valid = {"valid_from": now - dt.timedelta(minutes=5), "valid_until": now + dt.timedelta(days=1)}
    ca = certs.make_ca(ca_key, certs.name("handshake CA"), **valid)
    key = certs.new_key()
    cert = certs.issue_server_cert(
        ca, ca_key, key, common_name="127.0.0.1", hosts=("127.0.0.1",), **valid
    )
    replace_file(tmp_path / "ca.pem", certs.certificate_pem(ca), mode=PUBLIC)
    replace_file(tmp_path / "server.pem", certs.certificate_pem(cert), mode=PUBLIC)
    replace_file(tmp_path / "server-key.pem", certs.private_key_pem(key))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server-key.pem")
    client_ctx = verifying_context(str(tmp_path / "ca.pem"), hint=HINT)
    assert client_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_ctx.verify_mode == ssl.CERT_REQUIRED

    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    sides = (("client", client, c_out, s_in), ("server", server, s_out, c_in))
    done = {"client": False, "server": False}
    for _ in range(10):
        for side, obj, out, peer_in in sides:
            if not done[side]:
                try:
                    obj.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            break
    assert done == {"client": True, "server": True}
    peer = client.getpeercert()
    assert peer is not None and peer["subject"] == ((("commonName", "127.0.0.1"),),)


@pytest.mark.parametrize("error", [NetworkError, ImapUnavailable])
def test_unreadable_ca_bundle_raises_the_callers_error(
    tmp_path: Path, error: type[NetworkError]
) -> None:
    missing = str(tmp_path / "none.pem")
    with pytest.raises(error) as info:
        verifying_context(missing, hint=HINT, error=error)
    assert type(info.value) is error
    assert (exit_code_for(info.value), info.value.reason, info.value.hint) == (7, "ca-bundle", HINT)
    assert str(info.value.detail).startswith("FileNotFoundError: ")
    assert missing in info.value.message.en


def test_without_bundle_the_system_store_is_used() -> None:
    ctx = verifying_context(None, hint=HINT)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_create_file_once_keeps_the_first_content(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "new" / "secret.key"
    create_file_once(path, b"first")
    create_file_once(path, b"second")
    assert path.read_bytes() == b"first"
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]


def test_replace_file_replaces_with_the_given_mode(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "ca.pem"
    replace_file(path, b"one", mode=PUBLIC)
    assert _mode(path) == 0o644
    replace_file(path, b"two")
    assert (path.read_bytes(), _mode(path)) == (b"two", 0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["ca.pem"]


def test_pem_files_round_trip_with_key_and_certificate_modes(
    tmp_path: Path, open_umask: None
) -> None:
    ca, ca_key = _ca()
    certs.write_certificate(tmp_path / "ca.pem", ca)
    certs.write_private_key(tmp_path / "ca-key.pem", ca_key)
    certs.write_private_key(tmp_path / "ca-key.pem", certs.new_key(), once=True)  # kept
    assert (_mode(tmp_path / "ca.pem"), _mode(tmp_path / "ca-key.pem")) == (0o644, 0o600)
    assert certs.load_certificate(tmp_path / "ca.pem") == ca
    loaded = certs.load_private_key(tmp_path / "ca-key.pem")
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == ca_key.private_numbers()
    assert certs.read_certificate(tmp_path / "missing.pem") is None
    (tmp_path / "junk.pem").write_bytes(b"not a certificate")
    assert certs.read_certificate(tmp_path / "junk.pem") is None
    with pytest.raises(ValueError):
        certs.load_certificate(tmp_path / "junk.pem")


def test_issued_by_checks_the_signer_and_the_key() -> None:
    ca, ca_key = _ca()
    other, _ = _ca()
    key = certs.new_key()
    cert = certs.issue_server_cert(
        ca, ca_key, key, common_name="127.0.0.1", hosts=("127.0.0.1",),
        valid_from=NOW, valid_until=NOW + dt.timedelta(days=1),
    )  # fmt: skip
    assert certs.issued_by(cert, ca, key)
    assert not certs.issued_by(cert, ca, certs.new_key())  # another key
    assert not certs.issued_by(cert, other, key)  # same subject, another signer


def test_closes_on_exit_closes_also_after_an_exception() -> None:
    class Held(ClosesOnExit):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    held = Held()
    with pytest.raises(RuntimeError), held as inner:
        assert inner is held
        raise RuntimeError("boom")
    assert held.closed == 1
