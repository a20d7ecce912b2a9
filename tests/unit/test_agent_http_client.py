"""``--agent nhiicc`` / ``auto`` over the Windows builds' HTTP API when the component's
WebSocket does not answer (issue 12, item 2), against ``agent serve``'s HTTP API on real
sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from nhicard.agent.client.factory import open_agent, probe_http_api
from nhicard.agent.client.nhiicc_http import NhiiccHttpAgent
from nhicard.agent.errors import AgentError, AgentNetworkError
from nhicard.agent.sam.client import SamEndpoint
from nhicard.agent.serve.service import AgentService
from tests.support.agents import GOV, WANG, GatedAgent, start, tls  # noqa: F401

SAM = SamEndpoint("127.0.0.1", 9, b"\0" * 24)


@pytest.fixture
def service(tls) -> Iterator[AgentService]:  # type: ignore[no-untyped-def]  # noqa: F811
    svc = start(tls, GatedAgent())
    try:
        yield svc
    finally:
        svc.shutdown()


def dead_wss() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"wss://127.0.0.1:{s.getsockname()[1]}/echo"


@pytest.mark.parametrize("kind", ["auto", "nhiicc"])
def test_falls_back_to_the_http_api(service: AgentService, tls, kind: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    lines: list[object] = []
    with open_agent(
        kind, reader=None, agent_url=dead_wss(), sam=SAM, origin=GOV,
        ca_bundle=str(tls.ca_file), api_urls=service.api_urls, log=lines.append,
    ) as agent:  # fmt: skip
        assert agent.selection.kind == "nhiicc"
        assert "HTTP API" in agent.selection.reason.en
        assert agent.get_version() == "0011"
        assert agent.get_random() == "1234567890123456"
        assert agent.get_basic() == WANG
        assert agent.h_sign("0011" + "1" * 16) == "A" * 256
        assert agent.encrypt_password("abc123") == "ABCDEF"
        assert agent.secure_get_basic("abc123") == "0123"
        with pytest.raises(AgentError) as info:
            agent.encrypt_password("123")
        assert info.value.official_code == "8009"


def test_https_base_is_verified(service: AgentService, tls) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    https = service.api_urls[1]
    assert https.startswith("https://")
    with NhiiccHttpAgent(https, origin=GOV, ca_bundle=str(tls.ca_file)) as agent:
        assert agent.get_version() == "0011"
    with NhiiccHttpAgent(https, origin=GOV) as agent, pytest.raises(AgentNetworkError):
        agent.get_version()  # the system roots do not know our CA


def test_refused_origin_and_bad_bases(service: AgentService) -> None:
    with NhiiccHttpAgent(service.api_urls[0], origin="https://evil.example.com") as agent:
        with pytest.raises(AgentNetworkError) as info:
            agent.get_basic()
        assert info.value.official_code == "4041"
    with pytest.raises(AgentNetworkError):
        NhiiccHttpAgent("http://192.0.2.1:59001/api/")
    assert probe_http_api([dead_wss().replace("wss", "http").replace("/echo", "/api/")],
                          origin=GOV, ca_bundle=None, timeout=1) is None  # fmt: skip
    assert service.agent.card_calls == []  # type: ignore[attr-defined]
