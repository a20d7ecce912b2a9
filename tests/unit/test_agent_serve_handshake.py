"""``agent serve`` refuses an origin at the WebSocket handshake (issue 23, item 4): a ``403``
naming the reason and never a ``101``; and our client of the component (``--agent nhiicc``)
reads that refusal as the ``4041`` it reads from the official component, which answers the
first message with ``4041`` instead (same error, message and exit code).

Plain ``ws://`` on loopback; over TLS and through a real ``agent serve`` in
tests/stack/test_agent_serve_safety.py and tests/stack/test_agent_nhiicc.py."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.http11 import Response
from websockets.sync.server import ServerConnection

from nhicard.agent.client.nhiicc import NhiiccAgent, handshake_refusal, parse_reply
from nhicard.agent.errors import AgentNetworkError
from nhicard.agent.serve.service import AgentService, OriginPolicy
from nhicard.cli.main import exit_code_for
from tests.support.agents import GOV, WANG, GatedAgent
from tests.support.cli import run_nhicard
from tests.support.envcheck_servers import websocket_server

EVIL = "https://evil.example.com"


@contextmanager
def plain_service(agent: GatedAgent) -> Iterator[AgentService]:
    """``agent serve`` on plain ws:// allowing only the NHI origin."""
    service = AgentService(
        agent,  # type: ignore[arg-type]
        origins=OriginPolicy([GOV]),
        port=0,
        ssl_context=None,
    ).start_in_thread()
    try:
        yield service
    finally:
        service.shutdown()


def upgrade(port: int, extra: str, until: bytes | None = None) -> bytes:
    """A raw WebSocket upgrade of /echo, then a masked text frame "GetBasic"; every byte the
    server sends until it closes the connection (or has sent ``until``)."""
    mask = b"\x01\x02\x03\x04"
    frame = b"\x81\x88" + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"GetBasic"))
    request = (
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request + frame)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
            if until is not None and until in out:
                break
    return out


def official_4041() -> AgentNetworkError:
    """What the official component's ``4041`` reply becomes."""
    with pytest.raises(AgentNetworkError) as info:
        parse_reply("GetVersion", "4041")
    return info.value


# -- the server -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (f"Origin: {EVIL}\r\n", b"Origin not allowed\n"),
        ("Origin: null\r\n", b"Origin not allowed\n"),
        (
            "Sec-Fetch-Site: cross-site\r\n",
            b"Origin missing on a cross-site request: not allowed\n",
        ),
    ],
)
def test_refused_origin_gets_403_and_never_101(headers: str, reason: bytes) -> None:
    agent = GatedAgent()
    with plain_service(agent) as service:
        reply = upgrade(service.port, headers)
    top, _, body = reply.partition(b"\r\n\r\n")
    status_line = top.split(b"\r\n")[0]
    assert status_line == b"HTTP/1.1 403 Forbidden", reply[:300]
    assert b"sec-websocket-accept" not in top.lower() and reply.count(b"HTTP/1.1") == 1
    assert body == reason  # and nothing after it: the frame was never read as a message
    assert b"content-type: text/plain" in top.lower()
    assert agent.card_calls == []


def test_allowed_origin_still_upgrades() -> None:
    with plain_service(GatedAgent()) as service:
        answer = b"GetBasic:" + WANG.to_wire().encode()
        reply = upgrade(service.port, f"Origin: {GOV}\r\n", until=answer)
    assert reply.startswith(b"HTTP/1.1 101 ") and answer in reply


# -- our client: 403 at the handshake and 4041 as a reply are one error ---------------------------


def test_client_reads_the_handshake_403_as_4041() -> None:
    with plain_service(GatedAgent()) as service:
        with (
            NhiiccAgent(service.url, origin=EVIL) as agent,
            pytest.raises(AgentNetworkError) as info,
        ):
            agent.get_version()
        with NhiiccAgent(service.url, origin=GOV) as allowed:
            assert allowed.get_basic() == WANG
        url = service.url
    error, official = info.value, official_4041()
    assert (error.official_code, exit_code_for(error)) == ("4041", exit_code_for(official))
    assert (type(error), error.message, error.hint) == (
        type(official),
        official.message,
        official.hint,
    )
    assert error.detail == f"{url}: HTTP 403 at the WebSocket handshake: Origin not allowed"


def test_client_still_reads_4041_replies() -> None:
    """The official component upgrades, then answers 4041 and closes (1008)."""

    def component(ws: ServerConnection) -> None:
        ws.recv()
        ws.send("4041")
        ws.close(1008, "origin not allowed")

    with (
        websocket_server(component) as url,
        NhiiccAgent(url, origin=EVIL) as agent,
        pytest.raises(AgentNetworkError) as info,
    ):
        agent.get_version()
    official = official_4041()
    assert (info.value.official_code, info.value.text) == ("4041", official.text)  # same detail


@pytest.mark.parametrize(
    ("status", "body"),
    [(403, "Host not allowed\n"), (500, "Origin not allowed\n"), (404, "")],
)
def test_other_refusals_are_not_4041(status: int, body: str) -> None:
    def refuse(ws: ServerConnection, request: Any) -> Any:
        return ws.respond(status, body)

    with (
        websocket_server(lambda ws: None, process_request=refuse) as url,
        NhiiccAgent(url, origin=GOV) as agent,
        pytest.raises(AgentNetworkError) as info,
    ):
        agent.get_version()
    assert info.value.official_code is None and exit_code_for(info.value) == 7
    assert f"HTTP {status}" in (info.value.detail or "")


def test_handshake_refusal_reads_only_a_403() -> None:
    def status(code: int, body: bytes) -> InvalidStatus:
        return InvalidStatus(Response(code, "x", Headers(), body))

    refused = handshake_refusal("ws://127.0.0.1:1/echo", status(403, b"Origin not allowed\n"))
    assert refused is not None and refused.official_code == "4041"
    odd = handshake_refusal("ws://x", status(403, b"\x1b[31mno\xff\nsecond line"))
    assert (
        odd is not None
        and odd.detail == "ws://x: HTTP 403 at the WebSocket handshake: [31mno\ufffd"
    )
    assert handshake_refusal("ws://x", status(403, b"")) is not None
    assert handshake_refusal("ws://x", status(403, b"Host not allowed\n")) is None
    assert handshake_refusal("ws://x", status(401, b"Origin not allowed\n")) is None
    assert handshake_refusal("ws://x", InvalidURI("x", "bad")) is None
    assert handshake_refusal("ws://x", OSError("refused")) is None


# -- through the CLI --------------------------------------------------------------------------------


def agent_status_error(url: str, tmp_path: Path) -> str:
    """``agent status``'s answer from the component at ``url`` (it asks with the NHI
    origin), in English."""
    (tmp_path / "no-db").mkdir(parents=True)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    done = run_nhicard(
        "--lang", "en", "--agent-url", url, "agent", "status", "--hosts-file", str(hosts),
        "--nssdb", str(tmp_path / "no-db"), "--format", "json",
        env={"NHICARD_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)["answers"]
    assert answers["ok"] is False, answers
    return str(answers["error"])


def test_cli_reports_the_refusal_as_4041_either_way(tmp_path: Path) -> None:
    """An ``agent serve`` that does not allow the NHI origin refuses ``agent status``'s probe
    at the handshake; an official component answers 4041: the user reads the same error."""
    service = AgentService(
        GatedAgent(),  # type: ignore[arg-type]
        origins=OriginPolicy(["https://only.example.org"]),
        port=0,
        ssl_context=None,
    ).start_in_thread()
    try:
        refused = agent_status_error(service.url, tmp_path / "serve")
    finally:
        service.shutdown()

    def component(ws: ServerConnection) -> None:
        ws.recv()
        ws.send("4041")

    with websocket_server(component) as url:
        replied = agent_status_error(url, tmp_path / "official")
    assert "[4041]" in refused and "the component refused this web origin" in refused
    # the same message; only the technical detail in brackets says which way it came
    assert refused.partition(" (")[0] == replied.partition(" (")[0]
    assert refused.endswith(": HTTP 403 at the WebSocket handshake: Origin not allowed)")
    assert replied.endswith("(reply to GetVersion)")
