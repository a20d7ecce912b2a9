"""Test certificates (a CA and the leaves it signs) and a small HTTPS server thread."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("nhicard test CA"))
        .issuer_name(_name("nhicard test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_leaf(
    directory: Path,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    name: str,
    *,
    expired: bool = False,
    dns_only: str | None = None,
) -> tuple[Path, Path]:
    """A server certificate from this CA for 127.0.0.1 and localhost (``dns_only``: for that
    DNS name alone)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    start, end = (
        (now - dt.timedelta(days=10), now - dt.timedelta(days=5))
        if expired
        else (
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=1),
        )
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_only or "127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(dns_only)]
                if dns_only
                else [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def serve(cert: Path, key: Path) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server, thread


class Handler(BaseHTTPRequestHandler):
    hits: Counter[str] = Counter()
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _send(
        self, status: int, body: str, ctype: str = "text/html; charset=utf-8", **headers: str
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        path = self.path.split("?")[0]
        Handler.hits[f"{method} {path}"] += 1
        if path == "/set":
            self.send_response(302)
            self.send_header("Set-Cookie", "sid=abc123; Path=/; Secure; HttpOnly")
            self.send_header("Location", "/hop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/hop":
            self._send(303, "", Location="/show")
        elif path == "/show":
            self._send(200, f"<p>cookie={self.headers.get('Cookie', '')}</p>")
        elif path == "/form":
            self._send(200, FORM_PAGE)
        elif path == "/echo":
            self._send(
                200,
                json.dumps(
                    {
                        "method": method,
                        "body": body,
                        "ctype": self.headers.get("Content-Type"),
                        "ua": self.headers.get("User-Agent"),
                        "origin": self.headers.get("Origin"),
                        "referer": self.headers.get("Referer"),
                        "xhr": self.headers.get("X-Requested-With"),
                    }
                ),
                "application/json",
            )
        elif path == "/fail":
            self._send(503, "<p>busy</p>")
        elif path == "/flaky":
            if Handler.hits[f"{method} {path}"] == 1:
                self._send(502, "<p>bad gateway</p>")
            else:
                self._send(200, "<p>recovered</p>")
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, "<p>late</p>")
        elif path == "/maint":
            self._send(
                503,
                '<p id="msg">系統維護中,預計 18:00 恢復 System maintenance until 18:00</p>',
            )
        elif path == "/to-http":
            port = self.server.server_address[1]
            self._send(302, "", Location=f"http://127.0.0.1:{port}/show")
        elif path == "/loop":
            self._send(302, "", Location="/loop")
        else:
            self._send(404, "<p>not found</p>")

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        self._route("POST")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


FORM_PAGE = """<html><body><form method="post" action="/echo">
<input type="hidden" name="__VIEWSTATE" value="vs1">
<label for="p">密碼</label><input type="password" id="p" name="pwd">
<label for="n">姓名</label><input id="n" name="who">
<input type="submit" name="go" value="送出">
</form><a href="/show">看 cookie</a></body></html>"""
