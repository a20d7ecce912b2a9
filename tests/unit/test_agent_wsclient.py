"""nhicard.agent.client.wsclient: the single-threaded WebSocket client behind ``--agent nhiicc``.

Against websockets' own server (plain ws:// on loopback) for the protocol's corners, and
against ``agent serve``'s server over TLS 1.3 for the reason the client exists: nothing reads
the socket on another thread while the caller writes it."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.server import ServerConnection

from nhicard.agent.client.nhiicc import NhiiccAgent
from nhicard.agent.client.wsclient import WebSocketClient
from nhicard.agent.serve.origins import OriginPolicy
from nhicard.agent.serve.service import AgentService
from tests.support.envcheck_servers import TestCA, server_context, websocket_server

GOV = "https://cloudicweb.nhi.gov.tw"


@contextmanager
def ws_server(
    handler: Callable[[ServerConnection], None], **kw: Any
) -> Iterator[tuple[str, list[str]]]:
    """A ws:// server on loopback; yields its URL and the Origin headers it saw."""
    origins: list[str] = []

    def wrapped(ws: ServerConnection) -> None:
        origins.append(ws.request.headers.get("Origin", "") if ws.request else "")
        with contextlib.suppress(Exception):
            handler(ws)

    with websocket_server(wrapped, **kw) as url:
        yield url, origins


@contextmanager
def connected(url: str, origin: str | None = GOV, **kw: Any) -> Iterator[WebSocketClient]:
    """An opened client, closed afterwards."""
    client = WebSocketClient(
        url, origin=origin, ssl_context=None, max_size=kw.pop("max_size", 65536)
    )
    client.open(kw.pop("timeout", 3))
    try:
        yield client
    finally:
        client.close()


def test_text_reply_and_origin_header() -> None:
    def echo(ws: ServerConnection) -> None:
        for message in ws:
            ws.send(f"echo:{message}")

    with ws_server(echo) as (url, origins), connected(url) as client:
        client.send_text("GetVersion", 3)
        assert client.recv(3) == "echo:GetVersion"
        client.send_text("二", 3)
        assert client.recv(3) == "echo:二"
    assert origins == [GOV]


def test_fragmented_and_binary_replies_and_pings_in_between() -> None:
    def chatty(ws: ServerConnection) -> None:
        for _message in ws:
            ws.ping(b"are you there")
            ws.send(iter(["Get", "Basic", ":payload"]))  # three frames, one message
            ws.send(b"\x01\x02")

    with ws_server(chatty) as (url, _), connected(url) as client:
        client.send_text("GetBasic", 3)
        assert client.recv(3) == "GetBasic:payload"
        assert client.recv(3) == b"\x01\x02"


def test_server_closing_after_its_reply() -> None:
    def once(ws: ServerConnection) -> None:
        ws.recv()
        ws.send("4041")
        ws.close(1008, "origin not allowed")

    with ws_server(once) as (url, _), connected(url) as client:
        client.send_text("GetBasic", 3)
        assert client.recv(3) == "4041"
        with pytest.raises(ConnectionClosed):
            client.recv(3)


def test_refused_upgrade_is_an_invalid_handshake() -> None:
    def refuse(ws: ServerConnection, request: Any) -> Any:
        return ws.respond(403, "no\n")

    with (
        ws_server(lambda ws: None, process_request=refuse) as (url, _),
        pytest.raises(InvalidStatus) as refused,
        connected(url),
    ):
        pass
    assert refused.value.response.status_code == 403
    assert isinstance(refused.value, InvalidHandshake)


def test_a_silent_peer_ends_at_the_deadlines() -> None:
    """A TCP listener that never answers the upgrade, then a server that never replies."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as mute:
        url = f"ws://127.0.0.1:{mute.getsockname()[1]}/echo"
        started = time.monotonic()
        with pytest.raises(TimeoutError), connected(url, timeout=0.5):
            pass
        assert time.monotonic() - started < 2

    def silent(ws: ServerConnection) -> None:
        for _message in ws:
            pass

    with ws_server(silent) as (url, _), connected(url) as client:
        client.send_text("H_Sign?Random=1", 3)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.recv(0.5)
        assert time.monotonic() - started < 2


def test_oversized_reply_is_refused() -> None:
    def big(ws: ServerConnection) -> None:
        for _message in ws:
            ws.send("x" * 5000)

    with ws_server(big) as (url, _), connected(url, max_size=1000) as client:
        client.send_text("GetBasic", 3)
        with pytest.raises(ConnectionClosed):
            client.recv(3)


class _Agent:
    """Only what GetVersion needs."""

    def get_version(self) -> str:
        return "0011"


def test_over_tls13_no_other_thread_touches_the_socket(tmp_path: Any) -> None:
    """The reason for this client: websockets' threading client read the TLS socket on its
    own thread while the caller wrote it; over TLS 1.3 about one connection in 300 lost its
    request. Here every read and write is the caller's: no thread is started, and many
    connections in a row to ``agent serve``'s server over TLS 1.3 all answer."""
    ca = TestCA(tmp_path / "ca", "NHI SelfRoot CA (test)")
    cert = ca.issue("127.0.0.1")
    service = AgentService(
        _Agent(),  # type: ignore[arg-type]
        origins=OriginPolicy(["https://*.gov.tw"]),
        port=0,
        ssl_context=server_context(cert),
    )
    with service.start_in_thread():
        before = set(threading.enumerate())  # others may end meanwhile; none may start
        versions: set[str] = set()
        for _ in range(60):
            agent = NhiiccAgent(service.url, origin=GOV, ca_bundle=str(ca.pem))
            try:
                assert agent.get_version() == "0011"
                assert set(threading.enumerate()) <= before
                ws = agent._ws  # noqa: SLF001 - the negotiated TLS version
                assert ws is not None
                versions.add(str(ws._sock.version()))  # type: ignore[union-attr]  # noqa: SLF001
            finally:
                agent.close()
    assert versions == {"TLSv1.3"}
    assert ssl.HAS_TLSv1_3
