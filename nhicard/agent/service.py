"""``nhicard agent serve``: a local stand-in for the official component (nhi-agent.md).

A WebSocket server (TLS by default) on 127.0.0.1, resource ``/echo``, answering the official
command set on top of any :class:`~nhicard.agent.base.CardAgent` (the CLI uses the direct
backend):

- ``GetVersion``, ``GetRandom``, ``GetBasic``, ``H_Sign?Random=<20>``, ``EnCrypt?Pwd=``,
  ``SecureGetBasicWithParam?Pwd=``; failures as the bare official code; anything else
  (including an H_Sign argument that is not 20 characters) ``9999``.
- ``Origin`` checked against patterns (``https://*.gov.tw`` style: scheme, host with an
  optional leading ``*.`` for any subdomain, optional port; no port = the scheme's default).
  Other origins get ``4041`` for every command. ``null``, ``file://`` and a missing Origin
  (not a browser) pass, as with the official component.
- ``Host`` must be ``localhost``, ``127.0.0.1``, ``[::1]`` or ``iccert.nhi.gov.tw`` (the
  official rule; it also stops DNS-rebinding pages). A plain HTTPS GET gets a small page.

Requests are never logged with their arguments (``EnCrypt?Pwd=`` carries a password).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nhicard.agent.base import CardAgent
from nhicard.agent.errors import (
    AgentCardAbsent,
    AgentCardFailure,
    AgentError,
    AgentNetworkError,
    AgentPcscUnavailable,
    AgentReaderError,
)
from nhicard.errors import (
    CardAbsent,
    CardFailure,
    NetworkError,
    NhicardError,
    PcscUnavailable,
    ReaderError,
)
from nhicard.i18n import T

DEFAULT_PORT = 7777
DEFAULT_ORIGINS = ("https://*.gov.tw",)
ALWAYS_ALLOWED_ORIGINS = ("null", "file://")
ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1", "iccert.nhi.gov.tw")
RESOURCE = "/echo"
UNKNOWN = "9999"
ORIGIN_REFUSED = "4041"
MAX_REQUEST = 4096

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
Log = Callable[[str], None]


# -- origins -------------------------------------------------------------------------------


def _split(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def origin_matches(pattern: str, origin: str) -> bool:
    """Does ``origin`` (``scheme://host[:port]``) match ``pattern``?"""
    p = _split(pattern.replace("*.", "wildcard-label.", 1) if "*." in pattern else pattern)
    o = _split(origin)
    if p is None or o is None:
        return False
    p_scheme, p_host, p_port = p
    o_scheme, o_host, o_port = o
    if p_scheme != o_scheme:
        return False
    if (o_port or _DEFAULT_PORTS.get(o_scheme)) != (p_port or _DEFAULT_PORTS.get(p_scheme)):
        return False
    if p_host.startswith("wildcard-label."):
        suffix = p_host[len("wildcard-label") :]  # ".gov.tw"
        return o_host.endswith(suffix) and len(o_host) > len(suffix)
    return o_host == p_host


def url_origin(url: str) -> str | None:
    """``https://127.0.0.1:8440/cloudic/x.aspx`` → ``https://127.0.0.1:8440``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def sandbox_origins(endpoints_file: Path) -> list[str]:
    """The running sandbox's web origins (``agent_origin`` and its sites), or []."""
    try:
        doc = json.loads(endpoints_file.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(doc, dict):
        return []
    out: list[str] = []
    agent_origin = doc.get("agent_origin")
    for value in agent_origin if isinstance(agent_origin, list) else [agent_origin]:
        if isinstance(value, str) and value:
            out.append(value)
    for key in ("nhi_url", "ecpa_url", "elearn_url"):
        value = doc.get(key)
        origin = url_origin(value) if isinstance(value, str) else None
        if origin and origin not in out:
            out.append(origin)
    return out


class OriginPolicy:
    """Fixed patterns plus, optionally, the running sandbox's origins (re-read each time, so
    a sandbox started after the server is honoured)."""

    def __init__(self, patterns: Iterable[str], *, sandbox_endpoints: Path | None = None):
        self.patterns = tuple(patterns)
        self.sandbox_endpoints = sandbox_endpoints

    def current_patterns(self) -> list[str]:
        extra = sandbox_origins(self.sandbox_endpoints) if self.sandbox_endpoints else []
        return [*self.patterns, *extra]

    def allows(self, origin: str | None) -> bool:
        if origin is None or origin.strip() in ALWAYS_ALLOWED_ORIGINS:
            return True
        if origin.startswith("file://"):
            return True
        return any(origin_matches(p, origin) for p in self.current_patterns())


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


# -- server --------------------------------------------------------------------------------


def _host_allowed(host_header: str | None) -> bool:
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host in ALLOWED_HOSTS


_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>nhicard agent</title></head>"
    "<body><p>nhicard agent: NHI card agent (WebSocket at /echo)</p></body></html>"
)


class AgentService:
    """The WebSocket server. :meth:`serve_forever` blocks; :meth:`shutdown` from another
    thread stops it; :meth:`start_in_thread` does both for tests."""

    def __init__(
        self,
        agent: CardAgent,
        *,
        origins: OriginPolicy,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        ssl_context: Any = None,
        log: Log | None = None,
        server_header: str = "nhicard-agent/1.0",
    ) -> None:
        from websockets.sync.server import serve

        self.agent = agent
        self.origins = origins
        self._log = log
        self._lock = threading.Lock()  # one card: one command at a time
        self._tls = ssl_context is not None
        self._thread: threading.Thread | None = None
        try:
            self._server = serve(
                self._handle,
                host,
                port,
                ssl=ssl_context,
                process_request=self._process_request,
                server_header=server_header,
                compression=None,
                max_size=MAX_REQUEST,
                open_timeout=10,
                ping_interval=None,
            )
        except OSError as exc:
            raise NetworkError(
                T("無法在 {host}:{port} 開始服務", "cannot listen on {host}:{port}").format(
                    host=host, port=port
                ),
                hint=T(
                    "該埠可能已被使用(例如官方元件正在執行);請用 --port 換一個埠。",
                    "The port may be in use (e.g. by the official component); choose another "
                    "with --port.",
                ),
                detail=exc.strerror or str(exc),
                reason="listen-failed",
            ) from None

    @property
    def port(self) -> int:
        return int(self._server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"{'wss' if self._tls else 'ws'}://127.0.0.1:{self.port}{RESOURCE}"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(10)

    def start_in_thread(self) -> AgentService:
        self._thread = threading.Thread(target=self.serve_forever, name="agent-serve", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> AgentService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- websockets callbacks ----------------------------------------------------------------
    def _process_request(self, connection: Any, request: Any) -> Any:
        path = request.path.split("?", 1)[0]
        if not _host_allowed(request.headers.get("Host")):
            return connection.respond(HTTPStatus.FORBIDDEN, "Host not allowed\n")
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            response = connection.respond(HTTPStatus.OK, _PAGE)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            return response
        if path != RESOURCE:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")
        return None

    def _handle(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        origin = connection.request.headers.get("Origin")
        allowed = self.origins.allows(origin)
        try:
            for message in connection:
                if not isinstance(message, str):
                    reply = UNKNOWN
                elif not allowed:
                    reply = ORIGIN_REFUSED
                else:
                    with self._lock:
                        try:
                            reply = dispatch(self.agent, message)
                        except Exception as exc:  # noqa: BLE001 - keep serving other requests
                            self._note(f"internal error in {command_name(message)}: {exc!r}")
                            reply = UNKNOWN
                self._note(
                    f"{origin or '-'} {command_name(message) if isinstance(message, str) else '?'}"
                    f" -> {reply if reply.isdigit() else 'ok'}"
                )
                connection.send(reply)
        except ConnectionClosed:
            return

    def _note(self, line: str) -> None:
        if self._log is not None:
            self._log(line)
