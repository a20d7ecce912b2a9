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

:class:`AgentService` only puts the parts together, one module each:

- :mod:`~nhicard.agent.serve.transport`: listeners, admission under the connection cap, TLS
  handshake, per-connection deadlines, the ``Host`` check;
- :mod:`~nhicard.agent.serve.websocket`: the WebSocket port;
- :mod:`~nhicard.agent.serve.apiport`: the HTTP API ports, CORS;
- :mod:`~nhicard.agent.serve.commands`: the command set and the card worker (card lock and
  deadlines);
- :mod:`~nhicard.agent.serve.origins`: who may ask (origins, ``Host``).

Safe by default: ``Host`` must name this computer; an origin that is not allowed (``null``
and ``file://`` included, unless opted in) gets a ``403`` at the WebSocket handshake (never the
``101`` upgrade), and on the HTTP API a ``403`` with ``4041`` before any card work, without
CORS headers.
"""

from __future__ import annotations

import asyncio
import ssl
import threading

from nhicard.agent import COMPONENT_HTTP_PORT, COMPONENT_HTTPS_PORT, COMPONENT_PORT
from nhicard.agent.base import CardAgent
from nhicard.agent.serve.apiport import ApiPort
from nhicard.agent.serve.commands import Commands, Log, dispatch
from nhicard.agent.serve.httpwire import BadRequest, RequestHead, parse_head
from nhicard.agent.serve.origins import (
    ALLOWED_HOSTS,
    DEFAULT_ORIGINS,
    NULL_ORIGINS,
    BadOrigin,
    OriginPolicy,
    origin_matches,
    sandbox_origins,
    url_origin,
)
from nhicard.agent.serve.transport import Conn, Limits, Listener, Transport, open_listeners
from nhicard.agent.serve.transport import listen as _listen
from nhicard.agent.serve.websocket import RESOURCE, WebSocketPort
from nhicard.core.closing import ClosesOnExit

__all__ = [  # also what other code and tests import from here
    "ALLOWED_HOSTS",
    "DEFAULT_ORIGINS",
    "NULL_ORIGINS",
    "AgentService",
    "BadOrigin",
    "BadRequest",
    "Limits",
    "OriginPolicy",
    "_listen",
    "dispatch",
    "origin_matches",
    "parse_head",
    "sandbox_origins",
    "url_origin",
]

DEFAULT_PORT = COMPONENT_PORT
DEFAULT_HTTP_PORT = COMPONENT_HTTP_PORT
DEFAULT_HTTPS_PORT = COMPONENT_HTTPS_PORT


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
        if https_port is not None and ssl_context is None:
            raise ValueError("the HTTPS API needs a TLS context")
        self.agent = agent
        self.origins = origins
        self.limits = limits or Limits()
        self._log = log
        self._tls = ssl_context is not None
        self._thread: threading.Thread | None = None
        self._commands = Commands(agent, card_deadline=self.limits.card_deadline, note=self._note)
        self._websocket = WebSocketPort(
            self._commands, origins, self.limits, server_header=server_header, note=self._note
        )
        self._api = ApiPort(
            self._commands, origins, self.limits, server_header=server_header, note=self._note
        )
        listeners = open_listeners(
            host,
            [
                ("ws", port, ssl_context),
                ("http", http_port, None),
                ("https", https_port, ssl_context),
            ],
        )
        self._transport = Transport(listeners, self.limits, self._route)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._transport.listeners[0].sock.getsockname()[1])

    @property
    def http_port(self) -> int | None:
        return self._transport.port_of("http")

    @property
    def https_port(self) -> int | None:
        return self._transport.port_of("https")

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
        return self._transport.connection_count

    # -- running -----------------------------------------------------------------------------
    def serve_forever(self) -> None:
        self._commands.start()
        try:
            asyncio.run(self._transport.serve())
        finally:
            self._commands.stop()
            self._transport.close_sockets()

    def close(self) -> None:
        """Leave ``with``: :meth:`shutdown`."""
        self.shutdown()

    def shutdown(self) -> None:
        self._transport.request_stop()
        if self._thread is not None:
            self._thread.join(5)
        elif not self._transport.started:
            self._transport.close_sockets()

    def start_in_thread(self) -> AgentService:
        self._thread = threading.Thread(target=self.serve_forever, name="agent-serve", daemon=True)
        self._thread.start()
        self._transport.ready.wait(10)
        return self

    # -- the parts ---------------------------------------------------------------------------
    async def _route(
        self,
        listener: Listener,
        conn: Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        raw: bytes,
        head: RequestHead,
    ) -> None:
        if listener.role == "ws":
            await self._websocket.handle(conn, reader, writer, raw, head)
        else:
            await self._api.handle(conn, reader, writer, head)

    def _note(self, line: str) -> None:
        if self._log is not None:
            self._log(line)
