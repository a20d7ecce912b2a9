"""A hostile IMAP server on 127.0.0.1 (implicit TLS, a test CA) that speaks just enough IMAP
to reach the command it abuses (issue 23), for tests of ``nhicard.mail.imap``'s deadlines and
caps. ``mode``:

- ``drip-greeting``: the greeting a byte every ``drip`` seconds, for ever;
- ``drip-search``: a normal session up to ``UID SEARCH``, whose answer is then dripped;
- ``lines``: ``UID SEARCH`` answered by endless untagged lines;
- ``literal``: the ``UID FETCH`` of a mail answered with a 2 GiB literal (only what the
  client reads is ever produced) that ignores the partial fetch's ``<0.N>``;
- ``stall``: the greeting, then silence after login.

Each connection runs in its own daemon thread and ends when the client goes away.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.https import make_ca, make_leaf

GREETING = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile ready\r\n"
HUGE = 2 << 30


class HostileImap:
    def __init__(self, directory: Path, mode: str, *, drip: float = 0.5) -> None:
        ca_key, ca_cert, self.ca = make_ca(directory)
        cert, key = make_leaf(directory, ca_key, ca_cert, "imap")
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.mode = mode
        self.drip = drip
        self.sent = 0  # bytes sent in all, for tests that check the client stopped reading
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="hostile-imap").start()

    def url(self, user: str = "bob") -> str:
        return f"imaps://{user}@127.0.0.1:{self.port}/INBOX"

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                self._session(conn)
        except (OSError, ValueError):
            pass

    def _send(self, conn: ssl.SSLSocket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def _drip(self, conn: ssl.SSLSocket, data: bytes) -> None:
        while not self._closed.is_set():  # for ever: the client must give up
            for byte in data:
                self._send(conn, bytes([byte]))
                time.sleep(self.drip)

    def _session(self, conn: ssl.SSLSocket) -> None:
        if self.mode == "drip-greeting":
            self._drip(conn, GREETING)
            return
        self._send(conn, GREETING)
        reader = conn.makefile("rb")
        while line := reader.readline(65536):
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            command = rest.split(b" ", 2)
            name = command[0].upper()
            if name == b"AUTHENTICATE":
                self._send(conn, b"+ \r\n")
                reader.readline(65536)
                if self.mode == "stall":
                    self._closed.wait()
                    return
                self._send(conn, tag + b" OK logged in\r\n")
            elif name == b"CAPABILITY":
                self._send(conn, b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
            elif name in (b"EXAMINE", b"SELECT"):
                self._send(conn, b"* 1 EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\n")
                self._send(conn, tag + b" OK [READ-ONLY] done\r\n")
            elif name == b"UID" and command[1].upper() == b"SEARCH":
                self._search(conn, tag)
            elif name == b"UID" and command[1].upper() == b"FETCH":
                self._fetch(conn, tag, b"RFC822.SIZE" in line.upper())
            elif name == b"LOGOUT":
                self._send(conn, b"* BYE\r\n" + tag + b" OK done\r\n")
                return
            else:
                self._send(conn, tag + b" BAD unknown\r\n")

    def _search(self, conn: ssl.SSLSocket, tag: bytes) -> None:
        if self.mode == "drip-search":
            self._drip(conn, b"* SEARCH 1\r\n" + tag + b" OK done\r\n")
        elif self.mode == "lines":
            line = b"* SEARCH 1\r\n" * 4096
            while not self._closed.is_set():
                self._send(conn, line)
        else:
            self._send(conn, b"* SEARCH 1\r\n" + tag + b" OK done\r\n")

    def _fetch(self, conn: ssl.SSLSocket, tag: bytes, sizes_only: bool) -> None:
        if sizes_only:  # a small mail, so the client fetches it
            self._send(conn, b"* 1 FETCH (UID 1 RFC822.SIZE 1000)\r\n" + tag + b" OK done\r\n")
            return
        head = b'* 1 FETCH (UID 1 INTERNALDATE "01-Jan-2024 00:00:00 +0000" BODY[]<0> {%d}\r\n'
        self._send(conn, head % HUGE)
        chunk = b"x" * 65536
        for _ in range(HUGE // len(chunk)):
            if self._closed.is_set():
                return
            self._send(conn, chunk)


@pytest.fixture
def hostile(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[HostileImap]:
    """A hostile IMAP server in the mode given by the test's ``indirect`` parameter."""
    server = HostileImap(tmp_path, request.param, drip=0.2)
    try:
        yield server
    finally:
        server.close()
