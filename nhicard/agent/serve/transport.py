"""Admission and transport for ``agent serve``: the listening sockets, the connection cap,
the TLS handshake and the per-connection deadlines, up to a parsed request head whose
``Host`` names this computer. What is asked is then the job of a handler (the WebSocket
port's or the HTTP API's).

Connections are capped (:class:`Limits`): a connection is counted the moment it is accepted,
while it is only a socket (no stream buffer, no TLS state: asyncio's TLS costs 256 KiB a
connection, and 3,000 connections that never send a ClientHello took the server from 45 MB
to about 1 GB), and it gets its streams and TLS session once it has sent its first bytes.
When the cap is reached the connection idle longest is closed to make room (one that has
sent nothing first, then one not yet served), so thousands of idle connections cannot lock
a page out. The TLS handshake, the HTTP request head and an idle WebSocket time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nhicard import platform
from nhicard.agent.serve.httpwire import (
    MAX_HEAD,
    BadRequest,
    RequestHead,
    http_response,
    parse_head,
)
from nhicard.agent.serve.origins import host_allowed
from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T

BACKLOG = 4096  # a short accept queue makes a flood of connections delay everyone
_ACCEPT_RETRY_DELAY = 1.0  # seconds, after accept() failed for want of descriptors or memory


@dataclass(frozen=True)
class Limits:
    """Bounds on what clients can hold."""

    max_connections: int = 48
    handshake_timeout: float = 5.0  # TLS handshake and HTTP request head, per connection
    idle_timeout: float = 60.0  # an open WebSocket with no message
    card_deadline: float = 30.0  # one card operation (H_Sign: card and SAM)


class Conn:
    """One admitted connection: how far it got, whether it is being served now, and how
    often it was. ``writer`` exists once the TLS handshake (if any) is done."""

    __slots__ = ("busy", "opened", "served", "sock", "spoke", "task", "writer")

    def __init__(self, sock: socket.socket, opened: float) -> None:
        self.sock: socket.socket | None = sock  # until a transport takes it over
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None
        self.opened = opened
        self.served = 0
        self.busy = False
        self.spoke = False  # sent its first bytes (a TLS ClientHello, a request line)

    def has_spoken(self) -> bool:
        """Sent its first bytes: seen by its task, or waiting in the kernel unread. The
        accept loop can take a whole backlog without yielding, before any new connection's
        task has run: asking the socket keeps a page's fresh connection from being taken
        for a silent one."""
        if self.spoke or self.sock is None:
            return True
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))  # non-blocking: asyncio's socket
        except OSError:  # nothing yet (BlockingIOError), or reset: silent
            return False

    def abort(self) -> None:
        """Drop the connection now (no goodbye)."""
        if self.writer is not None:
            self.writer.transport.abort()
        elif self.task is not None:
            self.task.cancel()


@dataclass
class Listener:
    role: str  # "ws" (WebSocket port), "http" or "https" (HTTP API)
    sock: socket.socket
    tls: ssl.SSLContext | None


Handler = Callable[
    [Listener, Conn, asyncio.StreamReader, asyncio.StreamWriter, bytes, RequestHead],
    Awaitable[None],
]


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # a restart binds at once; beside a running official component the bind fails, also
        # on Windows (where SO_REUSEADDR would let it share the port)
        platform.current().prepare_listener(sock)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def listen_error(host: str, port: int, exc: OSError) -> NetworkError:
    return NetworkError(
        T("無法在 {host}:{port} 開始服務", "cannot listen on {host}:{port}").format(
            host=host, port=port
        ),
        hint=T(
            "該埠可能已被使用(例如官方元件正在執行);請用 --port 換一個埠。",
            "The port may be in use (e.g. by the official component); choose another with --port.",
        ),
        detail=exc.strerror or str(exc),
        reason="listen-failed",
    )


def open_listeners(
    host: str, wanted: list[tuple[str, int | None, ssl.SSLContext | None]]
) -> list[Listener]:
    """A bound socket per wanted ``(role, port, tls)`` (port None: skipped); the typed
    :func:`listen_error` for the first that fails, the others closed."""
    listeners: list[Listener] = []
    for role, number, context in wanted:
        if number is None:
            continue
        try:
            listeners.append(Listener(role, listen(host, number), context))
        except OSError as exc:
            for listener in listeners:
                listener.sock.close()
            raise listen_error(host, number, exc) from None
    return listeners


def _close_if_bare(conn: Conn, task: asyncio.Task[None]) -> None:
    """Close the connection's socket unless a transport took it over (which closes it)."""
    if conn.sock is not None:
        conn.sock.close()


class Transport:
    """The event loop's side: serves ``listeners`` until :meth:`request_stop`, admitting
    connections under ``limits`` and handing each parsed, ``Host``-checked request head to
    ``handler``."""

    def __init__(self, listeners: list[Listener], limits: Limits, handler: Handler) -> None:
        self.listeners = listeners
        self.limits = limits
        self._handler = handler
        self._conns: dict[Conn, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self.ready = threading.Event()

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    @property
    def started(self) -> bool:
        return self._loop is not None

    def port_of(self, role: str) -> int | None:
        for listener in self.listeners:
            if listener.role == role:
                return int(listener.sock.getsockname()[1])
        return None

    def close_sockets(self) -> None:
        for listener in self.listeners:
            listener.sock.close()

    def request_stop(self) -> None:
        """From any thread: stop serving within a second."""
        self._stop_requested.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stop.set)

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        # a peer that breaks off its TLS handshake is routine here, not worth a traceback
        self._loop.set_exception_handler(lambda loop, context: None)
        self._stop = asyncio.Event()
        accepting = [asyncio.create_task(self._accept(listener)) for listener in self.listeners]
        self.ready.set()
        if not self._stop_requested.is_set():
            await self._stop.wait()
        for task in accepting:
            task.cancel()
        for conn in list(self._conns):
            conn.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)

    async def _accept(self, listener: Listener) -> None:
        """Accept connections on ``listener`` for ever, each admitted at once (a socket and a
        task: no stream buffer, no TLS state yet)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _ = await loop.sock_accept(listener.sock)
            except ConnectionAbortedError:
                continue
            except OSError:  # out of file descriptors or memory: as asyncio's own server does
                await asyncio.sleep(_ACCEPT_RETRY_DELAY)
                continue
            conn = Conn(sock, time.monotonic())
            if not self._admit(conn):
                sock.close()
                continue
            conn.task = loop.create_task(self._client(listener, conn, sock))
            # a task cancelled (evicted) before its first step never runs its own cleanup
            conn.task.add_done_callback(functools.partial(_close_if_bare, conn))

    def _admit(self, conn: Conn) -> bool:
        """Make room for ``conn``: at the cap, close the connection idle longest (one that has
        sent nothing before one never served before one that has been). False when every
        connection is busy."""
        while len(self._conns) >= self.limits.max_connections:
            idle = [c for c in self._conns if not c.busy]
            if not idle:
                return False
            victim = min(idle, key=lambda c: (c.has_spoken(), c.served > 0, c.opened))
            del self._conns[victim]
            victim.abort()
        self._conns[conn] = None
        return True

    async def _first_bytes(self, sock: socket.socket) -> None:
        """Wait, without reading, until ``sock`` has something to read (or is closed)."""
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        fd = sock.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await asyncio.wait_for(readable, self.limits.handshake_timeout)
        finally:
            loop.remove_reader(fd)

    async def _connect(
        self, listener: Listener, sock: socket.socket
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The streams of an accepted socket, after its TLS handshake on a TLS listener."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_HEAD)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol,
            sock,
            ssl=listener.tls,
            ssl_handshake_timeout=self.limits.handshake_timeout if listener.tls else None,
        )
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def _client(self, listener: Listener, conn: Conn, sock: socket.socket) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            await self._first_bytes(sock)
            conn.spoke = True
            conn.sock = None  # the transport made next owns it, even if the handshake fails
            reader, writer = await self._connect(listener, sock)  # TLS buffers only now
            conn.writer = writer
            raw = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), self.limits.handshake_timeout
            )
            try:
                head = parse_head(raw)
                host_ok = host_allowed(head.get("host"))
            except BadRequest:
                writer.write(http_response(400, "Bad Request", b"Bad request\n"))
                await writer.drain()
                return
            if not host_ok:
                writer.write(http_response(403, "Forbidden", b"Host not allowed\n"))
                await writer.drain()
                return
            await self._handler(listener, conn, reader, writer, raw, head)
        except (
            TimeoutError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ssl.SSLError,
            OSError,
            BadRequest,
        ):
            pass
        finally:
            self._conns.pop(conn, None)
            if conn.sock is not None:
                conn.sock.close()
                conn.sock = None
            if writer is not None:
                try:  # let what was written reach the peer, briefly; then drop the socket
                    writer.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(writer.wait_closed(), 1)
                finally:
                    writer.transport.abort()
