""":class:`nhicard.web.transport.StdlibTransport`, used as the browser uses it
(``httpx.Client(transport=StdlibTransport(ctx), verify=ctx)``), against real servers on
loopback: raw :mod:`socket` servers run on threads in this process, each accepted connection
served by a handler of the test's own, so a test decides every byte the client sees and
counts what reaches the server (connections accepted, requests as sent, end of stream).

What is tested: keep-alive (reuse, ``Connection: close``, HTTP/1.0), idle connections the
server has closed and the retry of a GET (never of a POST) on a fresh one, bodies
(Content-Length, chunked, to end of stream, none for HEAD/204/304, gzip, streamed as they
arrive), bodies cut short and bad framing, response headers (duplicates, folding, too many,
bad status lines), the request as it goes out, failures with the socket or TLS error as
their cause (what :mod:`nhicard.netclass` classifies), ``close()`` and redirects.

TLS servers use a throwaway CA (``make_ca``/``make_leaf`` of ``tests.test_web_browser``).
Timeouts are generous except where a timeout is the point (0.5 s); no duration is asserted.
Where a test needs the client's kernel to have received what the server sent (bytes or a
FIN) before the client's next step, the server waits until its send queue is acknowledged
(``TIOCOUTQ`` = 0) rather than sleeping."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import http.client
import socket
import ssl
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from nhicard.netclass import Kind, classify
from nhicard.tlsclient import serving_context
from nhicard.web.browser import tls_context
from nhicard.web.transport import StdlibTransport
from tests.test_web_browser import make_ca, make_leaf

TIMEOUT = httpx.Timeout(5.0)  # generous: only a bug makes a test wait this long
SHORT = 0.5  # for the tests whose point is a timeout


# -- loopback servers ------------------------------------------------------------------------


@dataclass
class Received:
    """One request as the server read it off the wire."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int  # the index of the accepted connection it came on

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class Peer:
    """The server's side of one accepted connection, handed to the test's handler."""

    def __init__(self, server: Server, sock: socket.socket, index: int) -> None:
        self.server = server
        self.sock = sock
        self.index = index
        self.rfile = sock.makefile("rb")

    def read_request(self) -> Received | None:
        """The next request (its body by Content-Length), or None at the end of stream."""
        line = self.rfile.readline(65537)
        if not line:
            self.server.note_eof()
            return None
        method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        length = next((int(v) for n, v in headers if n.lower() == "content-length"), 0)
        body = self.rfile.read(length) if length else b""
        if any(n.lower() == "transfer-encoding" and v == "chunked" for n, v in headers):
            body = self._chunked_body()
        received = Received(method, target, version, headers, body, self.index)
        self.server.note_request(received)
        return received

    def _chunked_body(self) -> bytes:
        parts = []
        while size := int(self.rfile.readline(65537).split(b";")[0], 16):
            parts.append(self.rfile.read(size))
            assert self.rfile.read(2) == b"\r\n"
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailer fields
        return b"".join(parts)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def flushed(self) -> None:
        """Wait until the client's kernel has acknowledged all that was sent (and a FIN after
        ``shutdown``): from then on the client's socket is readable."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            unacked = struct.unpack("i", fcntl.ioctl(self.sock, termios.TIOCOUTQ, b"\0" * 4))
            if unacked[0] == 0:
                return
            time.sleep(0.005)

    def finish(self) -> None:
        """Close with a FIN the client has received when this returns."""
        self.sock.shutdown(socket.SHUT_WR)
        self.flushed()
        self.sock.close()

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def drain(self) -> None:
        """Read until the client closes (or the server stops)."""
        while self.rfile.read1(65536):
            pass
        self.server.note_eof()

    def hold(self) -> None:
        """Answer nothing until the server stops."""
        self.server.stopping.wait(30)

    def wait(self, event: threading.Event) -> bool:
        """Wait for the test's ``event`` (or the server's stop); whether ``event`` was set."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            if event.wait(0.02):
                return True
        return False


Handler = Callable[[Peer], None]


@dataclass
class Server:
    """A listening socket on loopback; each accepted connection is served by ``handler`` on
    a thread of its own (after a TLS handshake with ``tls``, when given)."""

    handler: Handler
    tls: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    accepted: int = 0
    eofs: int = 0
    requests: list[Received] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://{self.host}:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def note_request(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def note_eof(self) -> None:
        with self._lock:
            self.eofs += 1

    def targets(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [r.target for r in self.requests if method in (None, r.method)]

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                index = self.accepted
                self.accepted += 1
                self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock, index), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        sock.settimeout(30)
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self._lock:
                    self._sockets.append(sock)
            self.handler(Peer(self, sock, index))
        except OSError:  # the client went away, a failed handshake, the server stopping
            pass
        except BaseException as exc:  # a broken handler: reported by the fixture
            self.errors.append(exc)
        finally:
            sock.close()

    def stop(self) -> None:
        self.stopping.set()
        self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """``serve(handler, tls=None, host="127.0.0.1")``: a started :class:`Server`, stopped
    at the end of the test (a handler that raised fails the test)."""
    servers: list[Server] = []

    def start(
        handler: Handler, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> Server:
        server = Server(handler, tls=tls, host=host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    errors = [e for s in servers for e in s.errors]
    assert not errors, errors


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA bundle clients trust
    good: ssl.SSLContext  # a server certificate for 127.0.0.1 and localhost from that CA
    foreign: ssl.SSLContext  # a server certificate from a CA nobody trusts
    elsewhere: ssl.SSLContext  # a certificate from the trusted CA for www.example.test only


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("transport-pki")
    ca_key, ca_cert, ca_path = make_ca(d)
    other = d / "other"
    other.mkdir()
    other_key, other_cert, _ = make_ca(other)
    return Pki(
        ca=ca_path,
        good=serving_context(*make_leaf(d, ca_key, ca_cert, "good")),
        foreign=serving_context(*make_leaf(other, other_key, other_cert, "foreign")),
        elsewhere=serving_context(
            *make_leaf(d, ca_key, ca_cert, "elsewhere", dns_only="www.example.test")
        ),
    )


@dataclass
class Clients:
    """Clients built as the browser builds its own; closed at the end of the test."""

    ca: Path
    made: list[httpx.Client] = field(default_factory=list)

    def new(self, **options: object) -> tuple[httpx.Client, StdlibTransport]:
        ctx = tls_context(str(self.ca))
        transport = StdlibTransport(ctx)
        options.setdefault("timeout", TIMEOUT)
        client = httpx.Client(transport=transport, verify=ctx, **options)  # type: ignore[arg-type]
        self.made.append(client)
        return client, transport

    def client(self, **options: object) -> httpx.Client:
        return self.new(**options)[0]


@pytest.fixture
def clients(pki: Pki) -> Iterator[Clients]:
    made = Clients(pki.ca)
    yield made
    for client in made.made:
        client.close()


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# -- responses ---------------------------------------------------------------------------------


def reply(
    status: int = 200,
    body: bytes = b"",
    *headers: tuple[str, str],
    version: str = "HTTP/1.1",
    length: bool = True,
) -> bytes:
    """A response: the status line, ``headers``, Content-Length (unless not ``length``)."""
    lines = [f"{version} {status} {http.client.responses.get(status, 'Whatever')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def keep_serving(answer: Callable[[Received], bytes]) -> Handler:
    """A handler answering every request on its connection until the client closes it."""

    def handler(peer: Peer) -> None:
        while (request := peer.read_request()) is not None:
            peer.send(answer(request))

    return handler


def echo_target(request: Received) -> bytes:
    return reply(200, request.target.encode())


def once_then(first: bytes, then: Callable[[Peer], None]) -> Handler:
    """A handler reading one request, sending ``first``, then doing ``then``."""

    def handler(peer: Peer) -> None:
        if peer.read_request() is not None:
            peer.send(first)
            then(peer)

    return handler


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- 1. keep-alive -----------------------------------------------------------------------------


def test_two_gets_reuse_one_connection(serve: Callable[..., Server], clients: Clients) -> None:
    server = serve(keep_serving(echo_target))
    client = clients.client()
    assert [client.get(f"{server.url}{p}").text for p in ("/a", "/b", "/c")] == ["/a", "/b", "/c"]
    assert server.accepted == 1
    assert server.targets() == ["/a", "/b", "/c"]


def test_tls_connection_is_reused(serve: Callable[..., Server], clients: Clients, pki: Pki) -> None:
    server = serve(keep_serving(echo_target), tls=pki.good)
    client = clients.client()
    first, second = client.get(f"{server.url}/a"), client.get(f"{server.url}/b")
    assert (first.text, second.text) == ("/a", "/b")
    assert first.http_version == "HTTP/1.1"
    assert server.accepted == 1


@pytest.mark.parametrize(
    ("version", "headers", "connections"),
    [
        ("HTTP/1.1", [("Connection", "close")], 2),
        ("HTTP/1.0", [], 2),
        ("HTTP/1.0", [("Connection", "keep-alive")], 1),
    ],
    ids=["connection-close", "http-1.0", "http-1.0-keep-alive"],
)
def test_server_saying_close_gets_a_new_connection(
    serve: Callable[..., Server],
    clients: Clients,
    version: str,
    headers: list[tuple[str, str]],
    connections: int,
) -> None:
    # The server keeps its side open and would answer on it: only the client's reading of
    # the response decides whether the connection is used again.
    server = serve(keep_serving(lambda r: reply(200, r.target.encode(), *headers, version=version)))
    client = clients.client()
    first, second = client.get(f"{server.url}/a"), client.get(f"{server.url}/b")
    assert (first.text, second.text) == ("/a", "/b")
    assert first.http_version == version
    assert server.accepted == connections
    if connections == 2:  # and the one not kept is closed, not leaked
        assert wait_until(lambda: server.eofs >= 1)


# -- 2. idle connections the server closed -----------------------------------------------------


def first_answer_then(after: Handler) -> Handler:
    """First connection: its first request answered "first" (no Connection: close), then
    ``after(peer)``; the other connections serve (echo their target)."""

    def handler(peer: Peer) -> None:
        if peer.index > 0:
            keep_serving(echo_target)(peer)
        elif peer.read_request() is not None:
            peer.send(reply(200, b"first"))
            after(peer)

    return handler


def _close_after_first(closed: threading.Event) -> Handler:
    """First connection: one response, then a FIN; the others serve."""

    def then_close(peer: Peer) -> None:
        peer.finish()
        closed.set()

    return first_answer_then(then_close)


def _idle_connection_closed(
    serve: Callable[..., Server], clients: Clients
) -> tuple[Server, httpx.Client]:
    """A client whose one kept-alive connection the server has closed since its answer."""
    closed = threading.Event()
    server = serve(_close_after_first(closed))
    client = clients.client()
    assert client.get(f"{server.url}/one").text == "first"
    assert closed.wait(5)
    return server, client


def test_idle_connection_closed_by_server_is_not_used(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server, client = _idle_connection_closed(serve, clients)
    assert client.get(f"{server.url}/two").text == "/two"
    assert server.accepted == 2


def test_post_after_server_closed_idle_connection_is_sent_once(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server, client = _idle_connection_closed(serve, clients)
    assert client.post(f"{server.url}/form", data={"a": "1"}).text == "/form"
    assert server.targets("POST") == ["/form"]
    assert server.accepted == 2


def test_unsolicited_bytes_on_idle_connection_drop_it(
    serve: Callable[..., Server], clients: Clients
) -> None:
    # Sent once the client has read the first response: bytes then in the socket's queue
    # (as when a server closes with an error page nobody asked for).
    first_read, sent = threading.Event(), threading.Event()

    def then_send_bogus(peer: Peer) -> None:
        if peer.wait(first_read):
            peer.send(reply(200, b"bogus"))  # nobody asked for this one
            peer.flushed()
            sent.set()
        peer.drain()

    server = serve(first_answer_then(then_send_bogus))
    client = clients.client()
    assert client.get(f"{server.url}/one").text == "first"
    first_read.set()
    assert sent.wait(5)
    assert client.get(f"{server.url}/two").text == "/two"
    assert server.accepted == 2


def _read_next_and_close(peer: Peer) -> None:
    if peer.read_request() is not None:
        peer.finish()


# First connection: answer one request, read the next and close without answering (a server's
# keep-alive timeout racing the client's request); the others serve.
_drop_second_request = first_answer_then(_read_next_and_close)


def test_get_on_connection_dying_before_answer_is_sent_again(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(_drop_second_request)
    client = clients.client()
    assert client.get(f"{server.url}/one").text == "first"
    assert client.get(f"{server.url}/two").text == "/two"
    assert server.targets() == ["/one", "/two", "/two"]
    assert [r.connection for r in server.requests] == [0, 0, 1]


def test_post_on_connection_dying_before_answer_is_never_sent_twice(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(_drop_second_request)
    client = clients.client()
    assert client.get(f"{server.url}/one").text == "first"
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.post(f"{server.url}/form", data={"pwd": "secret"})
    assert isinstance(caught.value.__cause__, http.client.RemoteDisconnected)
    assert server.targets("POST") == ["/form"]
    assert server.accepted == 1


def test_get_on_fresh_connection_closed_without_answer_is_not_retried(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(lambda peer: peer.read_request() and peer.finish())
    client = clients.client()
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.get(f"{server.url}/x")
    assert isinstance(caught.value.__cause__, http.client.RemoteDisconnected)
    assert server.accepted == 1
    assert server.targets() == ["/x"]


# -- 3. bodies -----------------------------------------------------------------------------------


def test_content_length_body_over_many_reads(
    serve: Callable[..., Server], clients: Clients
) -> None:
    big = bytes(range(256)) * 1024  # 256 KiB: more than one socket read
    server = serve(keep_serving(lambda r: reply(200, big if r.target == "/big" else b"small")))
    client = clients.client()
    assert client.get(f"{server.url}/big").content == big
    assert client.get(f"{server.url}/small").content == b"small"
    assert server.accepted == 1  # the whole body read, the connection kept


def test_chunked_body_with_extension_and_trailer(
    serve: Callable[..., Server], clients: Clients
) -> None:
    body = (
        b"3;ext=1\r\nabc\r\n"
        + b"%x\r\n%s\r\n" % (70000, b"d" * 70000)
        + b"0\r\nX-Trailer: t\r\n\r\n"
    )
    server = serve(
        keep_serving(
            lambda r: (
                reply(200, body, ("Transfer-Encoding", "chunked"), length=False)
                if r.target == "/chunked"
                else reply(200, b"next")
            )
        )
    )
    client = clients.client()
    response = client.get(f"{server.url}/chunked")
    assert response.content == b"abc" + b"d" * 70000
    assert client.get(f"{server.url}/next").text == "next"
    assert server.accepted == 1  # the end of the chunks found, the connection kept


@pytest.mark.parametrize("headers", [[("Connection", "close")], []], ids=["close", "no-header"])
def test_body_without_length_is_read_to_end_of_stream(
    serve: Callable[..., Server], clients: Clients, headers: list[tuple[str, str]]
) -> None:
    def handler(peer: Peer) -> None:
        if peer.read_request() is not None:
            peer.send(reply(200, b"", *headers, length=False))
            peer.send(b"part one, ")
            peer.send(b"part two")
            peer.finish()

    server = serve(handler)
    client = clients.client()
    assert client.get(f"{server.url}/").content == b"part one, part two"
    assert client.get(f"{server.url}/").content == b"part one, part two"
    assert server.accepted == 2  # a body ended by a close: the connection is not kept


@pytest.mark.parametrize(
    ("method", "status", "headers"),
    [
        ("HEAD", 200, [("Content-Length", "1000")]),
        ("HEAD", 200, [("Transfer-Encoding", "chunked")]),
        ("GET", 204, []),
        ("GET", 204, [("Transfer-Encoding", "chunked")]),
        ("GET", 304, [("Content-Length", "1000")]),
        ("GET", 304, [("Transfer-Encoding", "chunked")]),
    ],
    ids=["head", "head-chunked", "204", "204-chunked", "304-length", "304-chunked"],
)
def test_responses_without_a_body(
    serve: Callable[..., Server],
    clients: Clients,
    method: str,
    status: int,
    headers: list[tuple[str, str]],
) -> None:
    # Had the client waited for a body, it would read the next response as one (or time out).
    server = serve(
        keep_serving(
            lambda r: (
                reply(status, b"", *headers, length=False)
                if r.target == "/empty"
                else reply(200, b"next")
            )
        )
    )
    client = clients.client()
    response = client.request(method, f"{server.url}/empty")
    assert response.status_code == status
    assert response.content == b""
    assert client.get(f"{server.url}/next").text == "next"
    assert server.accepted == 1


def test_gzip_body_is_decoded(serve: Callable[..., Server], clients: Clients) -> None:
    text = "健保卡 " * 500
    packed = gzip.compress(text.encode("utf-8"))
    server = serve(
        keep_serving(
            lambda r: reply(
                200,
                packed,
                ("Content-Encoding", "gzip"),
                ("Content-Type", "text/plain; charset=utf-8"),
            )
        )
    )
    response = clients.client().get(f"{server.url}/")
    assert response.text == text
    assert len(packed) < len(text.encode("utf-8"))
    (request,) = server.requests
    assert "gzip" in (request.header("Accept-Encoding") or "")


def test_body_is_streamed_as_it_arrives(serve: Callable[..., Server], clients: Clients) -> None:
    got_first = threading.Event()
    waited: list[bool] = []

    def handler(peer: Peer) -> None:
        if peer.read_request() is None:
            return
        peer.send(reply(200, b"", ("Content-Length", "11"), length=False) + b"first")
        waited.append(peer.wait(got_first))
        if waited[-1]:  # else close short: the client sees an error, not a whole body
            peer.send(b" after")
        peer.drain()

    server = serve(handler)
    client = clients.client()
    with client.stream("GET", f"{server.url}/") as response:
        chunks = []
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            got_first.set()
    assert chunks[0] == b"first"
    assert b"".join(chunks) == b"first after"
    assert waited == [True]


def test_chunked_body_streamed_with_send_stream_true(
    serve: Callable[..., Server], clients: Clients
) -> None:
    go = threading.Event()

    def handler(peer: Peer) -> None:
        if peer.read_request() is None:
            return
        peer.send(reply(200, b"", ("Transfer-Encoding", "chunked"), length=False))
        peer.send(b"4\r\nhead\r\n")
        if peer.wait(go):
            peer.send(b"4\r\ntail\r\n0\r\n\r\n")
        peer.drain()

    server = serve(handler)
    client = clients.client()
    response = client.send(client.build_request("GET", f"{server.url}/"), stream=True)
    try:
        stream = response.iter_bytes()
        assert next(stream) == b"head"
        go.set()
        assert b"".join(stream) == b"tail"
    finally:
        response.close()


def test_unread_streamed_body_does_not_keep_the_connection(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(keep_serving(lambda r: reply(200, b"x" * 1000)))
    client = clients.client()
    response = client.send(client.build_request("GET", f"{server.url}/a"), stream=True)
    response.close()  # before reading the body
    assert client.get(f"{server.url}/b").content == b"x" * 1000
    assert server.accepted == 2


# -- 4. bodies cut short, bad framing ------------------------------------------------------------


def test_body_shorter_than_content_length_is_an_error(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(
        once_then(reply(200, b"", ("Content-Length", "100"), length=False) + b"x" * 50, Peer.finish)
    )
    client = clients.client()
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        client.get(f"{server.url}/")
    assert isinstance(caught.value.__cause__, http.client.IncompleteRead)
    assert "50 bytes missing" in str(caught.value)
    got = []  # streamed, the 50 bytes come, then the error — never an end
    with pytest.raises(httpx.RemoteProtocolError), client.stream("GET", f"{server.url}/") as r:
        for chunk in r.iter_bytes():
            got.append(chunk)
    assert b"".join(got) == b"x" * 50


@pytest.mark.parametrize(
    "body",
    [b"a\r\n0123456789\r\n", b"14\r\n0123456789", b"a\r\n0123456789"],
    ids=["no-last-chunk", "inside-a-chunk", "no-crlf-after-chunk"],
)
def test_truncated_chunked_body_is_an_error(
    serve: Callable[..., Server], clients: Clients, body: bytes
) -> None:
    head = reply(200, b"", ("Transfer-Encoding", "chunked"), length=False)
    server = serve(once_then(head + body, Peer.finish))
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        clients.client().get(f"{server.url}/")
    assert isinstance(caught.value.__cause__, http.client.HTTPException)


@pytest.mark.parametrize("size_line", [b"zz", b"-5", b"5" * 70000], ids=["hex", "sign", "long"])
def test_bad_chunk_size_line_is_an_error(
    serve: Callable[..., Server], clients: Clients, size_line: bytes
) -> None:
    # The server keeps the connection open: the error is the framing, not an end of stream.
    head = reply(200, b"", ("Transfer-Encoding", "chunked"), length=False)
    server = serve(once_then(head + size_line + b"\r\nhello\r\n0\r\n\r\n", Peer.drain))
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        clients.client().get(f"{server.url}/")
    assert isinstance(caught.value.__cause__, http.client.HTTPException)


# -- 5. response headers -------------------------------------------------------------------------


def test_duplicate_set_cookie_headers_all_reach_the_jar(
    serve: Callable[..., Server], clients: Clients
) -> None:
    cookies = [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/; HttpOnly")]
    server = serve(keep_serving(lambda r: reply(200, b"ok", *cookies)))
    client = clients.client()
    response = client.get(f"{server.url}/")
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    assert (client.cookies.get("a"), client.cookies.get("b")) == ("1", "2")
    client.get(f"{server.url}/again")
    assert server.requests[-1].header("Cookie") in ("a=1; b=2", "b=2; a=1")


def test_folded_header_is_unfolded(serve: Callable[..., Server], clients: Clients) -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\n\tthird\r\nContent-Length: 2\r\n\r\nok"
    )
    server = serve(keep_serving(lambda r: raw))
    response = clients.client().get(f"{server.url}/")
    assert response.headers["x-folded"] == "first second third"
    assert response.text == "ok"


def test_latin1_header_bytes_survive(serve: Callable[..., Server], clients: Clients) -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n"
    server = serve(keep_serving(lambda r: raw))
    response = clients.client().get(f"{server.url}/")
    assert response.headers.raw[0] == (b"X-Name", b"caf\xe9")


@pytest.mark.parametrize(
    "head",
    [
        reply(200, b"", *[(f"X-{i}", "v") for i in range(150)]),
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 70000 + b"\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 99999 OK\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["too-many-headers", "header-too-long", "not-http", "bad-status", "status-range"],
)
def test_malformed_response_head_is_a_protocol_error(
    serve: Callable[..., Server], clients: Clients, head: bytes
) -> None:
    server = serve(once_then(head, Peer.drain))
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        clients.client().get(f"{server.url}/")
    assert isinstance(caught.value.__cause__, http.client.HTTPException)


def test_ninety_nine_header_lines_are_fine(serve: Callable[..., Server], clients: Clients) -> None:
    # http.client's limit counts the blank line too: 99 header lines pass, 100 do not.
    server = serve(keep_serving(lambda r: reply(200, b"", *[(f"X-{i}", "v") for i in range(98)])))
    assert len(clients.client().get(f"{server.url}/").headers) == 99


# -- 6. the request as sent --------------------------------------------------------------------


def test_request_line_headers_and_form_body_as_sent(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(keep_serving(lambda r: reply(200, b"ok")))
    client = clients.client(headers={"User-Agent": "nhicard/test"})
    target = "/p%C3%A4th/a%2Fb;x?q=a%20b&r=%2f&s=%E5%8F%B0&t=~"
    client.post(f"{server.url}{target}", data={"who": "王 小明", "go": "送出"})
    client.get(f"{server.url}/page?x=1")
    post, get = server.requests
    assert (post.method, post.target, post.version) == ("POST", target, "HTTP/1.1")
    assert post.all("Host") == [f"127.0.0.1:{server.port}"]
    body = b"who=%E7%8E%8B+%E5%B0%8F%E6%98%8E&go=%E9%80%81%E5%87%BA"
    assert post.body == body
    assert post.all("Content-Length") == [str(len(body))]
    assert post.header("Content-Type") == "application/x-www-form-urlencoded"
    assert post.header("User-Agent") == "nhicard/test"
    assert len(post.all("Accept-Encoding")) == 1  # httpx's, not http.client's as well
    assert post.header("Transfer-Encoding") is None
    assert (get.method, get.target) == ("GET", "/page?x=1")
    assert get.all("Host") == [f"127.0.0.1:{server.port}"]
    assert get.header("Content-Length") is None
    assert get.body == b""


def test_body_of_unknown_length_goes_out_chunked(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(keep_serving(lambda r: reply(200, b"ok")))

    def pieces() -> Iterator[bytes]:
        yield b"first,"
        yield b"second"

    response = clients.client().post(f"{server.url}/upload", content=pieces())
    assert response.status_code == 200
    (post,) = server.requests
    assert post.header("Transfer-Encoding") == "chunked"
    assert post.header("Content-Length") is None
    assert post.body == b"first,second"


# -- 7. failures and their causes ----------------------------------------------------------------


def test_connection_refused(clients: Clients) -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        clients.client().get(f"http://127.0.0.1:{closed_port()}/")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert classify(caught.value).kind is Kind.REFUSED


def test_certificate_of_an_untrusted_ca(
    serve: Callable[..., Server], clients: Clients, pki: Pki
) -> None:
    server = serve(keep_serving(echo_target), tls=pki.foreign)
    with pytest.raises(httpx.ConnectError) as caught:
        clients.client().get(f"{server.url}/")
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert classify(caught.value).kind is Kind.TLS_UNKNOWN_CA
    assert server.requests == []


def test_certificate_for_another_name(
    serve: Callable[..., Server], clients: Clients, pki: Pki
) -> None:
    # A certificate of the trusted CA naming only www.example.test, reached as localhost.
    server = serve(keep_serving(echo_target), tls=pki.elsewhere)
    with pytest.raises(httpx.ConnectError) as caught:
        clients.client().get(f"https://localhost:{server.port}/")
    cause = caught.value.__cause__
    assert isinstance(cause, ssl.SSLCertVerificationError)
    assert cause.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    assert classify(caught.value).kind is Kind.TLS_HOSTNAME
    assert server.requests == []


def _on_127_0_0_2(serve: Callable[..., Server], pki: Pki) -> Server:
    try:  # the certificate names 127.0.0.1 and localhost
        return serve(keep_serving(echo_target), tls=pki.good, host="127.0.0.2")
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.2: {exc}")


def test_certificate_for_another_ip_address(
    serve: Callable[..., Server], clients: Clients, pki: Pki
) -> None:
    server = _on_127_0_0_2(serve, pki)
    with pytest.raises(httpx.ConnectError) as caught:
        clients.client().get(f"{server.url}/")
    cause = caught.value.__cause__
    assert isinstance(cause, ssl.SSLCertVerificationError)
    assert cause.verify_code == 64  # X509_V_ERR_IP_ADDRESS_MISMATCH, not 62
    assert classify(caught.value).kind.untrusted
    assert server.requests == []


def test_certificate_for_another_ip_address_is_classified_as_hostname(
    serve: Callable[..., Server], clients: Clients, pki: Pki
) -> None:
    server = _on_127_0_0_2(serve, pki)
    with pytest.raises(httpx.ConnectError) as caught:
        clients.client().get(f"{server.url}/")
    assert classify(caught.value).kind is Kind.TLS_HOSTNAME


def test_tls_handshake_never_answered_is_a_connect_timeout(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(Peer.hold)  # plain TCP: the ClientHello is never answered
    client = clients.client(timeout=httpx.Timeout(5.0, connect=SHORT))
    with pytest.raises(httpx.ConnectTimeout) as caught:
        client.get(f"https://127.0.0.1:{server.port}/")
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert classify(caught.value).kind is Kind.TIMEOUT
    assert server.accepted == 1


def test_request_never_answered_is_a_read_timeout(
    serve: Callable[..., Server], clients: Clients
) -> None:
    server = serve(lambda peer: peer.read_request() and peer.hold())
    client = clients.client(timeout=httpx.Timeout(5.0, read=SHORT))
    with pytest.raises(httpx.ReadTimeout) as caught:
        client.get(f"{server.url}/")
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert classify(caught.value).kind is Kind.TIMEOUT


def test_stalled_body_is_a_read_timeout_while_iterating(
    serve: Callable[..., Server], clients: Clients
) -> None:
    head = reply(200, b"", ("Content-Length", "100"), length=False)
    server = serve(keep_serving(lambda r: head + b"0123456789"))
    client = clients.client(timeout=httpx.Timeout(5.0, read=SHORT))
    got = []
    with client.stream("GET", f"{server.url}/") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout) as caught:
            for chunk in response.iter_bytes():
                got.append(chunk)
    assert b"".join(got) == b"0123456789"
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert classify(caught.value).kind is Kind.TIMEOUT
    with pytest.raises(httpx.ReadTimeout):  # and read whole, as the browser does not
        client.get(f"{server.url}/")
    assert server.accepted == 2  # the timed-out connection was not kept


def test_reset_in_the_middle_of_the_body(serve: Callable[..., Server], clients: Clients) -> None:
    headers_read = threading.Event()

    def handler(peer: Peer) -> None:
        if peer.read_request() is None:
            return
        peer.send(reply(200, b"", ("Content-Length", "1000"), length=False) + b"0123456789")
        if peer.wait(headers_read):
            peer.reset()

    server = serve(handler)
    client = clients.client()
    with (
        pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)) as caught,
        client.stream("GET", f"{server.url}/") as response,
    ):
        assert response.status_code == 200
        headers_read.set()
        for _ in response.iter_bytes():
            pass
    if isinstance(caught.value, httpx.ReadError):
        assert isinstance(caught.value.__cause__, ConnectionResetError)
        assert classify(caught.value).kind is Kind.RESET


# -- 8. scheme, close ------------------------------------------------------------------------------


def test_unsupported_scheme(clients: Clients) -> None:
    client, transport = clients.new()
    with pytest.raises(httpx.UnsupportedProtocol):
        client.get("ftp://127.0.0.1/file")
    with pytest.raises(httpx.UnsupportedProtocol):
        transport.handle_request(httpx.Request("GET", "ws://127.0.0.1/"))


def test_close_closes_idle_connections(serve: Callable[..., Server], clients: Clients) -> None:
    server = serve(keep_serving(echo_target))
    client, transport = clients.new()
    assert client.get(f"{server.url}/a").text == "/a"
    assert server.eofs == 0  # kept open for the next request
    transport.close()
    assert wait_until(lambda: server.eofs == 1)
    assert client.get(f"{server.url}/b").text == "/b"  # a closed pool opens a new one
    assert server.accepted == 2


# -- 9. redirects --------------------------------------------------------------------------------


def test_redirects_followed_by_httpx(serve: Callable[..., Server], clients: Clients) -> None:
    def answer(request: Received) -> bytes:
        if request.target == "/start":
            return reply(302, b"moved", ("Location", "/end?from=start"))
        if request.target == "/form":
            return reply(303, b"", ("Location", "/done"))
        return reply(200, f"{request.method} {request.target}".encode())

    server = serve(keep_serving(answer))
    client = clients.client(follow_redirects=True)
    response = client.get(f"{server.url}/start")
    assert response.text == "GET /end?from=start"
    assert [r.status_code for r in response.history] == [302]
    assert response.url == f"{server.url}/end?from=start"
    posted = client.post(f"{server.url}/form", data={"a": "1"})
    assert posted.text == "GET /done"
    assert [(r.method, r.target) for r in server.requests] == [
        ("GET", "/start"),
        ("GET", "/end?from=start"),
        ("POST", "/form"),
        ("GET", "/done"),
    ]
    assert server.accepted == 1
