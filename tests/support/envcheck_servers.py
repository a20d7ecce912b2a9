"""Real loopback servers for the ``env check`` tests: a test CA, an HTTPS site whose ``Date``
can be set off by any amount, a TCP listener that never answers, and a WSS stand-in for the
official component (answering ``GetVersion`` or staying silent). All bind 127.0.0.1:0."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nhicard.net import certs


@dataclass(frozen=True)
class ServerCert:
    cert: Path
    key: Path


class TestCA:
    """A CA made with ``cryptography``; ``issue()`` writes a server certificate for loopback."""

    __test__ = False  # not a test class

    def __init__(
        self, directory: Path, name: str = "envcheck test CA", organization: str | None = None
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = certs.new_key()
        now = dt.datetime.now(dt.UTC)
        self.cert = certs.make_ca(
            self.key,
            certs.name(name, organization),
            valid_from=now - dt.timedelta(days=1),
            valid_until=now + dt.timedelta(days=30),
        )
        self.pem = self.dir / "ca.pem"
        self.pem.write_bytes(certs.certificate_pem(self.cert))

    def issue(
        self, name: str = "server", hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    ) -> ServerCert:
        key = certs.new_key()
        now = dt.datetime.now(dt.UTC)
        cert = certs.issue_server_cert(
            self.cert,
            self.key,
            key,
            common_name=hosts[0],
            hosts=hosts,
            valid_from=now - dt.timedelta(days=1),
            valid_until=now + dt.timedelta(days=30),
        )
        cert_path = self.dir / f"{name}.pem"
        key_path = self.dir / f"{name}.key"
        cert_path.write_bytes(certs.certificate_pem(cert))
        key_path.write_bytes(certs.private_key_pem(key))
        return ServerCert(cert_path, key_path)


def server_context(cert: ServerCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert, cert.key)
    return ctx


@contextmanager
def https_site(
    cert: ServerCert, *, date_offset: dt.timedelta = dt.timedelta(0), status: int = 200
) -> Iterator[str]:
    """An HTTPS site on 127.0.0.1; yields its URL. Its ``Date`` is now + ``date_offset``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = b"<html><body>ok</body></html>"
            self.send_response_only(status)
            self.send_header("Server", "envcheck-test")
            now = dt.datetime.now(dt.UTC) + date_offset
            self.send_header("Date", format_datetime(now, usegmt=True))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    ctx = server_context(cert)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/login.aspx"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word; yields the port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for c in held:
            c.close()
        srv.close()


@contextmanager
def websocket_server(handler: Any, **kw: Any) -> Iterator[str]:
    """websockets' threading server for ``handler`` on 127.0.0.1 (a free port), ``kw`` passed
    to ``serve`` (``ssl=`` for wss://); yields its ``/echo`` URL, shut down afterwards."""
    from websockets.sync.server import serve

    server = serve(handler, "127.0.0.1", 0, **kw)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "wss" if kw.get("ssl") is not None else "ws"
    try:
        yield f"{scheme}://127.0.0.1:{server.socket.getsockname()[1]}/echo"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def wss_component(cert: ServerCert, *, answer: bool = True, version: str = "0011") -> Iterator[str]:
    """A WSS stand-in for the official component on ``/echo``; yields its URL.

    With ``answer`` it replies ``GetVersion:<version>`` (0011: a 2024 build); otherwise it
    reads requests and never replies (the timeout case)."""
    from websockets.sync.server import ServerConnection

    def handler(ws: ServerConnection) -> None:
        try:
            for message in ws:
                if answer and message == "GetVersion":
                    ws.send(f"GetVersion:{version}")
                elif answer:
                    ws.send("9999")
        except Exception:  # noqa: BLE001 - a client going away ends the handler
            return

    with websocket_server(handler, ssl=server_context(cert)) as url:
        yield url
