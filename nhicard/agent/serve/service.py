"""``nhicard agent serve``: a local stand-in for the official component (nhi-agent.md).

One asyncio server on 127.0.0.1 answering, on top of any
:class:`~nhicard.agent.base.CardAgent` (the CLI uses the direct backend):

- the official WebSocket command set (TLS by default), resource ``/echo``: ``GetVersion``,
  ``GetRandom``, ``GetBasic``, ``H_Sign?Random=<20>``, ``EnCrypt?Pwd=``,
  ``SecureGetBasicWithParam?Pwd=``; failures as the bare official code; anything else
  (including an H_Sign argument that is not 20 characters) ``9999``. A plain HTTPS GET gets
  a small page;
- optionally the Windows builds' HTTP API (:mod:`nhicard.agent.serve.httpapi`) on a plain and a
  TLS port (59001 / 59002).

Safe by default (:mod:`nhicard.agent.serve.origins`): ``Host`` must name this computer; an origin
that is not allowed (``null`` and ``file://`` included, unless opted in) gets ``4041`` and
the connection is closed, and on the HTTP API a ``403`` before any card work, without CORS
headers. Connections are capped (:class:`Limits`): when the cap is reached the connection
idle longest (one that has not been served first) is closed to make room, so thousands of
idle connections cannot lock a page out; the TLS handshake, the HTTP request head and an idle
WebSocket time out. Card work runs on one worker thread (the card lock) that ``GetVersion`` and
``GetRandom`` never wait for; each card (and SAM) operation has a deadline and answers
``8013`` when it runs out.

Requests are never logged with their arguments (``EnCrypt?Pwd=`` carries a password).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from nhicard import platform
from nhicard.agent import COMPONENT_HTTP_PORT, COMPONENT_HTTPS_PORT, COMPONENT_PORT
from nhicard.agent.base import CardAgent
from nhicard.agent.errors import (
    AgentCardAbsent,
    AgentCardFailure,
    AgentError,
    AgentNetworkError,
    AgentPcscUnavailable,
    AgentReaderError,
)
from nhicard.agent.serve import httpapi
from nhicard.agent.serve.origins import (
    ALLOWED_HOSTS,
    DEFAULT_ORIGINS,
    NULL_ORIGINS,
    BadOrigin,
    OriginPolicy,
    host_allowed,
    origin_matches,
    sandbox_origins,
    url_origin,
)
from nhicard.core.closing import ClosesOnExit
from nhicard.core.errors import (
    CardAbsent,
    CardFailure,
    NetworkError,
    NhicardError,
    PcscUnavailable,
    ReaderError,
)
from nhicard.core.i18n import T

__all__ = [
    "ALLOWED_HOSTS",
    "DEFAULT_ORIGINS",
    "NULL_ORIGINS",
    "AgentService",
    "BadOrigin",
    "Limits",
    "OriginPolicy",
    "dispatch",
    "origin_matches",
    "sandbox_origins",
    "url_origin",
]

DEFAULT_PORT = COMPONENT_PORT
DEFAULT_HTTP_PORT = COMPONENT_HTTP_PORT
DEFAULT_HTTPS_PORT = COMPONENT_HTTPS_PORT
RESOURCE = "/echo"
UNKNOWN = "9999"
ORIGIN_REFUSED = "4041"
DEADLINE_CODE = "8013"  # the card (or SAM) did not finish in time: cannot access the card
MAX_REQUEST = 4096
MAX_HEAD = 8192
BACKLOG = 4096  # a short accept queue makes a flood of connections delay everyone
CARD_COMMANDS = ("GetBasic", "H_Sign", "EnCrypt", "SecureGetBasicWithParam")

Log = Callable[[str], None]


@dataclass(frozen=True)
class Limits:
    """Bounds on what clients can hold."""

    max_connections: int = 48
    handshake_timeout: float = 5.0  # TLS handshake and HTTP request head, per connection
    idle_timeout: float = 60.0  # an open WebSocket with no message
    card_deadline: float = 30.0  # one card operation (H_Sign: card and SAM)


# -- commands ------------------------------------------------------------------------------


def _code_for(exc: NhicardError) -> str:
    """The official code to answer for an error (errors without one get their category's)."""
    if isinstance(exc, AgentError) and exc.official_code:
        return exc.official_code
    fallbacks: Sequence[tuple[type[NhicardError], str]] = (
        (AgentPcscUnavailable, "7001"),
        (PcscUnavailable, "7001"),
        (AgentReaderError, "7002"),
        (ReaderError, "7002"),
        (AgentCardAbsent, "8013"),
        (CardAbsent, "8013"),
        (AgentCardFailure, "8011"),
        (CardFailure, "8011"),
        (AgentNetworkError, "4061"),
        (NetworkError, "4061"),
    )
    return next((code for cls, code in fallbacks if isinstance(exc, cls)), UNKNOWN)


def command_name(request: str) -> str:
    """The command part of a request, safe to log (no arguments)."""
    name = request.partition("?")[0]
    return name if name.isascii() and name.isalnum() or name == "H_Sign" else "?"


def dispatch(agent: CardAgent, request: str) -> str:
    """Answer one request as the official component would."""
    name, _, query = request.partition("?")
    key, _, value = query.partition("=")
    try:
        if request == "GetVersion":
            return "GetVersion:" + agent.get_version()
        if request == "GetRandom":
            return "GetRandom:" + agent.get_random()
        if request == "GetBasic":
            return "GetBasic:" + agent.get_basic().to_wire()
        if name == "H_Sign" and key == "Random":
            if len(value) != 20 or not value.isascii() or not value.isprintable():
                return UNKNOWN
            return "H_Sign:" + agent.h_sign(value)
        if name == "EnCrypt" and key == "Pwd":
            return "EnCrypt:" + agent.encrypt_password(value)
        if name == "SecureGetBasicWithParam" and key == "Pwd":
            return "SecureGetBasicWithParam:" + agent.secure_get_basic(value)
    except NhicardError as exc:
        return _code_for(exc)
    return UNKNOWN


# -- card worker ---------------------------------------------------------------------------


class CardWorker:
    """One daemon thread doing card work in order: the card lock. A caller waits for its
    result only until its own deadline; a card that hangs holds this thread, not the server
    (and a daemon thread does not keep the process from exiting)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[
            tuple[Callable[[], str], concurrent.futures.Future[str]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="agent-card", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], str]) -> concurrent.futures.Future[str]:
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._queue.put((fn, future))
        return future

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(exc)


# -- HTTP pieces -----------------------------------------------------------------------------


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), in order

    def get(self, name: str) -> str | None:
        """The one value of header ``name``; :class:`BadRequest` when it is repeated."""
        values = [v for k, v in self.headers if k == name]
        if len(values) > 1:
            raise BadRequest(f"repeated {name} header")
        return values[0] if values else None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def parse_head(head: bytes) -> RequestHead:
    """Request line and headers of an HTTP/1.1 request head (ending in an empty line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise BadRequest("bad request line")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or not name.isascii():
            raise BadRequest("bad header line")
        headers.append((name.lower(), value.strip(" \t")))
    return RequestHead(parts[0], parts[1], tuple(headers))


def http_response(
    status: int, reason: str, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>nhicard agent</title></head>"
    "<body><p>nhicard agent: NHI card agent (WebSocket at /echo)</p></body></html>"
)


# -- server ----------------------------------------------------------------------------------


class _Conn:
    __slots__ = ("busy", "opened", "served", "writer")

    def __init__(self, writer: asyncio.StreamWriter, opened: float) -> None:
        self.writer = writer
        self.opened = opened
        self.served = 0
        self.busy = False


@dataclass
class _Listener:
    role: str  # "ws" (WebSocket port), "http" or "https" (HTTP API)
    sock: socket.socket
    tls: ssl.SSLContext | None


class AgentService(ClosesOnExit):
    """The server. :meth:`serve_forever` blocks; :meth:`shutdown` from another thread (or a
    signal handler's thread) stops it within a second; :meth:`start_in_thread` does both for
    tests. ``http_port`` / ``https_port`` (None: off, 0: any free port) add the HTTP API."""

    def __init__(
        self,
        agent: CardAgent,
        *,
        origins: OriginPolicy,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        ssl_context: ssl.SSLContext | None = None,
        log: Log | None = None,
        server_header: str = "nhicard-agent/1.0",
        http_port: int | None = None,
        https_port: int | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.agent = agent
        self.origins = origins
        self.limits = limits or Limits()
        self._log = log
        self._server_header = server_header
        self._tls = ssl_context is not None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._ready = threading.Event()
        self._conns: dict[_Conn, None] = {}
        self._worker: CardWorker | None = None
        self._listeners: list[_Listener] = []
        if https_port is not None and ssl_context is None:
            raise ValueError("the HTTPS API needs a TLS context")
        wanted = [
            ("ws", port, ssl_context),
            ("http", http_port, None),
            ("https", https_port, ssl_context),
        ]
        for role, number, context in wanted:
            if number is None:
                continue
            try:
                self._listeners.append(_Listener(role, _listen(host, number), context))
            except OSError as exc:
                self._close_sockets()
                raise listen_error(host, number, exc) from None

    # -- addresses ---------------------------------------------------------------------------
    def _port_of(self, role: str) -> int | None:
        for listener in self._listeners:
            if listener.role == role:
                return int(listener.sock.getsockname()[1])
        return None

    @property
    def port(self) -> int:
        return int(self._listeners[0].sock.getsockname()[1])

    @property
    def http_port(self) -> int | None:
        return self._port_of("http")

    @property
    def https_port(self) -> int | None:
        return self._port_of("https")

    @property
    def url(self) -> str:
        return f"{'wss' if self._tls else 'ws'}://127.0.0.1:{self.port}{RESOURCE}"

    @property
    def api_urls(self) -> list[str]:
        out = []
        if self.http_port is not None:
            out.append(f"http://127.0.0.1:{self.http_port}/api/")
        if self.https_port is not None:
            out.append(f"https://127.0.0.1:{self.https_port}/api/")
        return out

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    # -- running -----------------------------------------------------------------------------
    def serve_forever(self) -> None:
        self._worker = CardWorker()
        try:
            asyncio.run(self._main())
        finally:
            self._worker.stop()
            self._close_sockets()

    def close(self) -> None:
        """Leave ``with``: :meth:`shutdown`."""
        self.shutdown()

    def shutdown(self) -> None:
        self._stop_requested.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(5)
        elif loop is None:
            self._close_sockets()

    def start_in_thread(self) -> AgentService:
        self._thread = threading.Thread(target=self.serve_forever, name="agent-serve", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _close_sockets(self) -> None:
        for listener in self._listeners:
            listener.sock.close()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        # a peer that breaks off its TLS handshake is routine here, not worth a traceback
        self._loop.set_exception_handler(lambda loop, context: None)
        self._stop = asyncio.Event()
        servers = []
        for listener in self._listeners:
            servers.append(
                await asyncio.start_server(
                    functools.partial(self._client, listener),
                    sock=listener.sock,
                    limit=MAX_HEAD,
                    backlog=BACKLOG,
                    ssl=listener.tls,
                    ssl_handshake_timeout=self.limits.handshake_timeout if listener.tls else None,
                )
            )
        self._ready.set()
        if not self._stop_requested.is_set():
            await self._stop.wait()
        for server in servers:
            server.close()
        for conn in list(self._conns):
            conn.writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)

    # -- connections -------------------------------------------------------------------------
    def _admit(self, conn: _Conn) -> bool:
        """Make room for ``conn``: at the cap, close the connection idle longest (one never
        served before one that has been). False when every connection is busy."""
        while len(self._conns) >= self.limits.max_connections:
            idle = [c for c in self._conns if not c.busy]
            if not idle:
                return False
            victim = min(idle, key=lambda c: (c.served > 0, c.opened))
            del self._conns[victim]
            victim.writer.transport.abort()
        self._conns[conn] = None
        return True

    async def _client(
        self, listener: _Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = _Conn(writer, time.monotonic())
        if not self._admit(conn):
            writer.transport.abort()
            return
        try:
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
            if listener.role == "ws":
                await self._websocket(conn, reader, writer, raw, head)
            else:
                await self._http_api(conn, reader, writer, head)
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
            try:  # let what was written reach the peer, briefly; then drop the socket
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1)
            finally:
                writer.transport.abort()

    # -- answering ---------------------------------------------------------------------------
    async def _answer(self, conn: _Conn, request: str) -> str:
        """The reply to one command: at once when it needs no card, else from the card
        worker within the deadline (then ``8013``)."""
        conn.busy = True
        try:
            if request.partition("?")[0] not in CARD_COMMANDS:
                return self._dispatch(request)
            assert self._worker is not None
            future = self._worker.submit(lambda: self._dispatch(request))
            try:
                return await asyncio.wait_for(
                    asyncio.wrap_future(future), self.limits.card_deadline
                )
            except TimeoutError:
                self._note(f"{command_name(request)}: no answer within the deadline")
                return DEADLINE_CODE
        finally:
            conn.busy = False
            conn.served += 1

    def _dispatch(self, request: str) -> str:
        try:
            return dispatch(self.agent, request)
        except Exception as exc:  # noqa: BLE001 - keep serving other requests
            self._note(f"internal error in {command_name(request)}: {exc!r}")
            return UNKNOWN

    def _card_status(self) -> dict[str, str]:
        check = getattr(self.agent, "check_card", None)
        if check is None:
            return {"result": UNKNOWN, "card": "0"}
        try:
            check()
        except NhicardError as exc:
            return {"result": _code_for(exc), "card": "0"}
        return {"result": httpapi.OK, "card": "1"}

    # -- WebSocket ---------------------------------------------------------------------------
    async def _websocket(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        raw: bytes,
        head: RequestHead,
    ) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Request
        from websockets.protocol import State
        from websockets.server import ServerProtocol

        if "websocket" not in (head.get("upgrade") or "").lower():
            body = _PAGE.encode()
            headers = [
                ("Server", self._server_header),
                ("Content-Type", "text/html; charset=utf-8"),
            ]
            writer.write(http_response(200, "OK", body if head.method != "HEAD" else b"", headers))
            await writer.drain()
            return
        if head.path != RESOURCE:
            writer.write(http_response(404, "Not Found", b"Not found\n"))
            await writer.drain()
            return
        origin = head.get("origin")
        allowed = self.origins.allows(origin)
        protocol = ServerProtocol(max_size=MAX_REQUEST)
        protocol.receive_data(raw)
        events = protocol.events_received()
        if not events or not isinstance(events[0], Request):
            return
        response = protocol.accept(events[0])
        response.headers["Server"] = self._server_header
        protocol.send_response(response)
        await self._flush(protocol, writer)
        if response.status_code != 101:
            return
        fragments: list[bytes] = []
        while protocol.state is State.OPEN:
            data = await asyncio.wait_for(reader.read(65536), self.limits.idle_timeout)
            if not data:
                protocol.receive_eof()
                break
            protocol.receive_data(data)
            for event in protocol.events_received():
                if not isinstance(event, Frame) or event.opcode not in (
                    Opcode.TEXT,
                    Opcode.BINARY,
                    Opcode.CONT,
                ):
                    continue
                fragments.append(bytes(event.data))
                if not event.fin:
                    continue
                message, fragments = b"".join(fragments), []
                text = message.decode("utf-8", errors="replace")
                if not allowed:
                    reply = ORIGIN_REFUSED
                elif event.opcode is Opcode.BINARY and len(message) > 0:
                    reply = UNKNOWN
                else:
                    reply = await self._answer(conn, text)
                self._note(f"{origin or '-'} {command_name(text)} -> {_outcome(reply)}")
                protocol.send_text(reply.encode())
                if not allowed:
                    protocol.send_close(1008, "origin not allowed")
                    break
            await self._flush(protocol, writer)
        await self._flush(protocol, writer)

    async def _flush(self, protocol: Any, writer: asyncio.StreamWriter) -> None:
        for chunk in protocol.data_to_send():
            if chunk:
                writer.write(chunk)
        await asyncio.wait_for(writer.drain(), self.limits.handshake_timeout)

    # -- HTTP API ----------------------------------------------------------------------------
    async def _http_api(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: RequestHead,
    ) -> None:
        status, reason, body, headers = await self._api_reply(conn, reader, head)
        writer.write(
            http_response(status, reason, body, [("Server", self._server_header), *headers])
        )
        await asyncio.wait_for(writer.drain(), self.limits.handshake_timeout)

    async def _api_reply(
        self, conn: _Conn, reader: asyncio.StreamReader, head: RequestHead
    ) -> tuple[int, str, bytes, list[tuple[str, str]]]:
        origin = head.get("origin")
        allowed = self.origins.allows(origin)
        cors = (
            [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
            if origin and allowed
            else [("Vary", "Origin")]
        )
        path = head.path
        call = path[len("/api/") :] if path.startswith("/api/") else None
        known = call in httpapi.POST_CALLS or call in httpapi.BITMAP_CALLS
        if not known:
            return 404, "Not Found", b"Not found\n", []
        label = f"{origin or '-'} api/{call}"
        body = b""
        if head.method == "POST":  # read (and bound) the body first: closing with it unread
            if head.get("transfer-encoding") is not None:  # would reset the connection
                return 411, "Length Required", b"", cors
            length_text = head.get("content-length") or "0"
            if not length_text.isdigit() or int(length_text) > httpapi.MAX_BODY:
                return 413, "Content Too Large", b"", cors
            body = await asyncio.wait_for(
                reader.readexactly(int(length_text)), self.limits.handshake_timeout
            )
        if not allowed:
            self._note(f"{label} -> 403")
            return 403, "Forbidden", _json({"result": ORIGIN_REFUSED}), [_JSON_TYPE]
        if head.method == "OPTIONS":
            return 204, "No Content", b"", [*cors, *_preflight(head)]
        if call in httpapi.BITMAP_CALLS:
            if head.method not in ("GET", "HEAD"):
                return 405, "Method Not Allowed", b"", [*cors, ("Allow", "GET")]
            if call == "GetStatus.bmp":
                doc = {
                    "result": httpapi.OK,
                    "version": self._dispatch("GetVersion").partition(":")[2],
                    "service": "nhicard",
                }
            else:
                assert self._worker is not None
                conn.busy = True
                try:
                    future = self._worker.submit(lambda: json.dumps(self._card_status()))
                    status: str = await asyncio.wait_for(
                        asyncio.wrap_future(future), self.limits.card_deadline
                    )
                    doc = json.loads(status)
                except TimeoutError:
                    doc = {"result": DEADLINE_CODE, "card": "0"}
                finally:
                    conn.busy = False
            self._note(f"{label} -> {_outcome(doc['result'])}")
            bmp = httpapi.status_bitmap(doc)
            return (
                200,
                "OK",
                bmp if head.method == "GET" else b"",
                [*cors, ("Content-Type", "image/bmp"), ("Cache-Control", "no-store")],
            )
        if head.method != "POST":
            return 405, "Method Not Allowed", b"", [*cors, ("Allow", "POST")]
        assert call is not None
        command = httpapi.command_for(call, httpapi.parse_body(body))
        reply = UNKNOWN if command is None else await self._answer(conn, command)
        answer = httpapi.json_reply(call, reply)
        self._note(f"{label} -> {_outcome(answer['result'])}")
        return 200, "OK", _json(answer), [*cors, _JSON_TYPE, ("Cache-Control", "no-store")]

    def _note(self, line: str) -> None:
        if self._log is not None:
            self._log(line)


_JSON_TYPE = ("Content-Type", "application/json; charset=utf-8")


def _json(doc: dict[str, str]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def _outcome(reply: str) -> str:
    return reply if reply.isdigit() and reply != httpapi.OK else "ok"


def _preflight(head: RequestHead) -> list[tuple[str, str]]:
    """CORS preflight answer for an allowed origin, with Private Network Access."""
    out = [
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Max-Age", "600"),
    ]
    wanted = head.get("access-control-request-headers")
    if wanted:
        names = [n.strip() for n in wanted.split(",")]
        if all(n and n.replace("-", "").isalnum() for n in names):
            out.append(("Access-Control-Allow-Headers", ", ".join(names)))
    if (head.get("access-control-request-private-network") or "").lower() == "true":
        out.append(("Access-Control-Allow-Private-Network", "true"))
    if (head.get("access-control-request-local-network") or "").lower() == "true":
        out.append(("Access-Control-Allow-Local-Network", "true"))
    return out


def _listen(host: str, port: int) -> socket.socket:
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
