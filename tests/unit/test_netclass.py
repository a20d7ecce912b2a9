"""The one classifier of connection and TLS failures (nhicard.net.netclass), over real sockets and
handshakes on loopback where that is cheap: a closed port, a silent listener, a server that
resets, one that speaks no TLS, an expired certificate, an unknown CA, another host name."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from nhicard.core.i18n import T
from nhicard.net import certs
from nhicard.net.netclass import Kind, base_message, classify, exception_chain
from tests.support.envcheck_servers import ServerCert, TestCA, silent_listener
from tests.support.ports import free_port


@contextmanager
def _server(handle: object) -> Iterator[int]:
    """A loopback TCP server calling ``handle(conn)`` for each connection; yields its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            try:
                handle(conn)  # type: ignore[operator]
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        srv.close()


@contextmanager
def _tls_server(cert: ServerCert) -> Iterator[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert, cert.key)

    def handle(conn: socket.socket) -> None:
        conn.settimeout(2)
        with ctx.wrap_socket(conn, server_side=True):
            pass

    with _server(handle) as port:
        yield port


def _handshake_error(port: int, ca: Path, server_name: str = "127.0.0.1") -> BaseException:
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name),
        ):
            pass
    except OSError as exc:
        return exc
    raise AssertionError("the handshake succeeded")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("netclass-ca"), name="netclass test CA")


def _expired(ca: TestCA) -> ServerCert:
    key = certs.new_key()
    now = dt.datetime.now(dt.UTC)
    cert = certs.issue_server_cert(
        ca.cert,
        ca.key,
        key,
        common_name="127.0.0.1",
        hosts=("127.0.0.1",),
        valid_from=now - dt.timedelta(days=30),
        valid_until=now - dt.timedelta(days=1),
    )
    out = ServerCert(ca.dir / "expired.pem", ca.dir / "expired.key")
    out.cert.write_bytes(certs.certificate_pem(cert))
    out.key.write_bytes(certs.private_key_pem(key))
    return out


def test_a_closed_port_is_refused() -> None:
    with pytest.raises(OSError) as info:
        socket.create_connection(("127.0.0.1", free_port()), timeout=2)
    failure = classify(info.value)
    assert failure.kind is Kind.REFUSED
    assert failure.cause is info.value


def test_a_closed_port_through_httpx_is_refused() -> None:
    with pytest.raises(httpx.ConnectError) as info, httpx.Client() as client:
        client.get(f"http://127.0.0.1:{free_port()}/")
    failure = classify(info.value)
    assert failure.kind is Kind.REFUSED
    assert isinstance(failure.cause, ConnectionRefusedError)  # found down the chain


def test_a_silent_server_times_out(ca: TestCA) -> None:
    ctx = ssl.create_default_context(cafile=str(ca.pem))
    with silent_listener() as port, pytest.raises(OSError) as info:
        raw = socket.create_connection(("127.0.0.1", port), timeout=0.3)
        with raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
            pass
    assert classify(info.value).kind is Kind.TIMEOUT


def test_a_reset_connection() -> None:
    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with (
        _server(reset) as port,
        pytest.raises(OSError) as info,
        socket.create_connection(("127.0.0.1", port), timeout=2) as s,
    ):
        s.recv(1)
        s.sendall(b"x")  # the RST has arrived when recv returned
        s.recv(1)
    assert classify(info.value).kind is Kind.RESET


def test_a_server_speaking_no_tls(ca: TestCA) -> None:
    def plain(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" * 4)

    with _server(plain) as port:
        exc = _handshake_error(port, ca.pem)
    assert isinstance(exc, ssl.SSLError)
    assert classify(exc).kind is Kind.TLS_OTHER


def test_an_expired_certificate(ca: TestCA) -> None:
    with _tls_server(_expired(ca)) as port:
        exc = _handshake_error(port, ca.pem)
    failure = classify(exc)
    assert failure.kind is Kind.TLS_EXPIRED
    assert failure.certificate_error is exc
    assert failure.kind.untrusted


def test_an_unknown_ca(ca: TestCA, tmp_path: Path) -> None:
    other = TestCA(tmp_path / "other", name="another CA")
    with _tls_server(ca.issue("known")) as port:
        exc = _handshake_error(port, other.pem)
    assert classify(exc).kind is Kind.TLS_UNKNOWN_CA


def test_a_certificate_for_another_name(ca: TestCA) -> None:
    with _tls_server(ca.issue("named")) as port:
        exc = _handshake_error(port, ca.pem, server_name="elsewhere.example")
    assert classify(exc).kind is Kind.TLS_HOSTNAME


def test_an_unknown_ca_through_httpx_is_found_down_the_chain(ca: TestCA, tmp_path: Path) -> None:
    other = TestCA(tmp_path / "other", name="another CA")
    with (
        _tls_server(ca.issue("viahttpx")) as port,
        httpx.Client(verify=ssl.create_default_context(cafile=str(other.pem))) as client,
        pytest.raises(httpx.ConnectError) as info,
    ):
        client.get(f"https://127.0.0.1:{port}/")
    failure = classify(info.value)
    assert failure.kind is Kind.TLS_UNKNOWN_CA
    assert failure.cause in list(exception_chain(info.value))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (socket.gaierror(-2, "Name or service not known"), Kind.DNS),
        (BrokenPipeError(32, "Broken pipe"), Kind.RESET),
        (httpx.ConnectTimeout("x"), Kind.TIMEOUT),  # raised without a cause
        (httpx.ReadTimeout("x"), Kind.TIMEOUT),
        (OSError("something else"), Kind.OTHER),
        (httpx.ConnectError("[Errno 111] Connection refused"), Kind.OTHER),  # not by text
    ],
)
def test_exceptions_without_a_socket_behind_them(exc: BaseException, kind: Kind) -> None:
    assert classify(exc).kind is kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[Errno 111] Connection refused", Kind.REFUSED),
        ("[Errno -2] Name or service not known", Kind.DNS),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
         "issuer certificate", Kind.TLS_UNKNOWN_CA),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
         Kind.TLS_EXPIRED),
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch",
         Kind.TLS_HOSTNAME),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number", Kind.TLS_OTHER),
        ("something else", Kind.OTHER),
    ],
)  # fmt: skip
def test_by_text_when_an_httpx_error_carries_no_cause(text: str, kind: Kind) -> None:
    assert classify(httpx.ConnectError(text), by_text=True).kind is kind


def test_a_certificate_error_anywhere_in_the_chain_comes_first() -> None:
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_code = 10
    try:
        try:
            raise cert
        except ssl.SSLError:
            raise TimeoutError("timed out") from None
    except TimeoutError as outer:
        outer.__cause__ = cert
        assert classify(outer).kind is Kind.TLS_EXPIRED


def test_base_messages_word_the_peer_in_each_language() -> None:
    assert base_message(Kind.REFUSED, "nhi.example").en == "nhi.example refused the connection"
    peer = T("IMAP 伺服器 mail:993", "the IMAP server mail:993")
    text = base_message(Kind.TLS_HOSTNAME, peer)
    assert text.zh == "IMAP 伺服器 mail:993 的憑證與主機名稱不符"
    assert text.en == "the certificate of the IMAP server mail:993 does not match its name"
    assert all(base_message(k, "h").zh for k in Kind)  # every kind has words
