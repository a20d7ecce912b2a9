"""The nhiicc backend: reply parsing, and the WebSocket client against our own component
(``AgentService`` in a thread, and ``nhicard agent serve`` as a subprocess on the real
pcscd + vpcd stack with the sandbox SAM)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from nhicard.agent.base import BasicData
from nhicard.agent.client.direct import DirectAgent
from nhicard.agent.client.factory import open_agent, probe_component
from nhicard.agent.client.nhiicc import NhiiccAgent, parse_reply
from nhicard.agent.errors import (
    AgentCardFailure,
    AgentComponentBroken,
    AgentError,
    AgentNetworkError,
    AgentUsageError,
)
from nhicard.agent.sam import encrypt
from nhicard.agent.sam.client import SamEndpoint
from nhicard.agent.serve.service import AgentService, OriginPolicy, origin_matches, sandbox_origins
from nhicard.agent.serve.tls import ensure_server_certificate
from nhicard.cli.main import exit_code_for
from nhicard.core.clock import taipei_date
from nhicard.sandbox.data import load_data
from nhicard.sandbox.keys import SandboxKeys, verify_h_sign
from nhicard.sandbox.sam import SamServer, SamServerThread
from nhicard.sandbox.vcard import FaultSpec, InProcessConnection, VirtualCard
from nhicard.sites.sandbox_endpoints import SandboxEndpoints, write_endpoints
from nhicard.transport.connection import Connection
from tests.support.cli import nhicard_executable

DATA = load_data()
WANG = DATA.cards[0]
WANG_WIRE = "000012345678,A123456789,王小明,0640101,M,0"
VR = "0011" + "1111222233334444"
GOV = "https://cloudicweb.nhi.gov.tw"


def fake_sandbox_endpoints(directory: Path, sam_port: int) -> SandboxEndpoints:
    """What a sandbox would write, its sites never started (only the SAM runs here)."""
    return SandboxEndpoints(
        nhi_url="https://127.0.0.1:18440",
        ecpa_url="https://127.0.0.1:18441",
        elearn_url="https://127.0.0.1:18442",
        ca_bundle=str(directory / "ca.pem"),
        sam=f"127.0.0.1:{sam_port}",
        agent_origins=("https://127.0.0.1:18440",),
    )


# -- reply parsing ------------------------------------------------------------------------------


def test_parse_reply() -> None:
    assert parse_reply("GetVersion", "GetVersion:0011") == "0011"
    assert parse_reply("GetBasic", "GetBasic:" + WANG_WIRE) == WANG_WIRE
    assert parse_reply("GetBasic", ("GetBasic:" + WANG_WIRE).encode()) == WANG_WIRE
    with pytest.raises(AgentCardFailure) as info:
        parse_reply("H_Sign", "8006")
    assert (info.value.official_code, exit_code_for(info.value)) == ("8006", 6)
    with pytest.raises(AgentComponentBroken) as broken:
        parse_reply("GetVersion", "9999")
    assert exit_code_for(broken.value) == 1
    for code in ("4041", "4021"):
        with pytest.raises(AgentNetworkError) as net:
            parse_reply("GetBasic", code)
        assert net.value.official_code == code and "--agent direct" in net.value.hint.en  # type: ignore[union-attr]
    with pytest.raises(AgentError) as other:
        parse_reply("GetBasic", "GetRandom:1234")
    assert other.value.official_code is None and exit_code_for(other.value) == 7


@settings(max_examples=300)
@given(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)),
    st.sampled_from(
        ["GetVersion", "GetRandom", "GetBasic", "H_Sign", "EnCrypt", "SecureGetBasicWithParam"]
    ),
)
def test_garbage_replies_give_typed_errors(reply: str | bytes, command: str) -> None:
    from nhicard.agent.client import nhiicc

    try:
        payload = parse_reply(command, reply)
        {
            "GetVersion": nhiicc.parse_version,
            "GetRandom": nhiicc.parse_random,
            "GetBasic": BasicData.from_wire,
            "H_Sign": nhiicc.parse_signature,
            "EnCrypt": lambda p: nhiicc.parse_hex("EnCrypt", p),
            "SecureGetBasicWithParam": lambda p: nhiicc.parse_hex("S", p),
        }[command](payload)
    except AgentError:
        return


def test_origin_patterns(tmp_path: Path) -> None:
    assert origin_matches("https://*.gov.tw", "https://cloudicweb.nhi.gov.tw")
    assert origin_matches("https://*.gov.tw", "https://ecpa.dgpa.gov.tw:443")
    assert not origin_matches("https://*.gov.tw", "https://gov.tw")
    assert not origin_matches("https://*.gov.tw", "http://cloudicweb.nhi.gov.tw")
    assert not origin_matches("https://*.gov.tw", "https://evil.gov.tw.example.com")
    assert not origin_matches("https://*.gov.tw", "https://evil.com/x.gov.tw")
    assert not origin_matches("https://*.gov.tw", "https://a.gov.tw:8443")
    assert origin_matches("https://127.0.0.1:8440", "https://127.0.0.1:8440")
    assert not origin_matches("https://127.0.0.1:8440", "https://127.0.0.1:8441")
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(
        json.dumps(
            {
                "nhi_url": "https://127.0.0.1:8440/cloudic/system/mlogin.aspx",
                "ecpa_url": "https://127.0.0.1:8441/",
                "sam": "x",
            }
        )
    )
    assert sandbox_origins(endpoints) == ["https://127.0.0.1:8440", "https://127.0.0.1:8441"]
    policy = OriginPolicy(["https://*.gov.tw"], sandbox_endpoints=endpoints)
    assert policy.allows("https://127.0.0.1:8441") and policy.allows(GOV)
    assert policy.allows(None)  # a local program, not a web page
    assert not policy.allows("null") and not policy.allows("file://")
    opted_in = OriginPolicy(["https://*.gov.tw"], allow_null=True)
    assert opted_in.allows("null") and opted_in.allows("file://")
    assert not policy.allows("https://example.com")
    assert sandbox_origins(tmp_path / "missing.json") == []


# -- client against the service in a thread ------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SandboxKeys:
    return SandboxKeys.load_or_create(tmp_path_factory.mktemp("sam"))


@pytest.fixture(scope="module")
def sam(keys: SandboxKeys) -> Iterator[SamServerThread]:
    with SamServer(DATA, keys).serve_in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return ensure_server_certificate(tmp_path_factory.mktemp("agent-tls"))


class SwitchableCard:
    """An opener whose virtual card a test can change."""

    def __init__(self) -> None:
        self.card = VirtualCard(WANG)

    @contextmanager
    def __call__(self, reader: str | None) -> Iterator[Connection]:
        yield InProcessConnection(self.card)


@pytest.fixture(scope="module")
def service(sam: SamServerThread, keys: SandboxKeys, tls):  # type: ignore[no-untyped-def]
    cards = SwitchableCard()
    agent = DirectAgent(
        reader=None, sam=SamEndpoint("127.0.0.1", sam.port, keys.wrap_key), card_opener=cards
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    svc = AgentService(agent, origins=OriginPolicy(["https://*.gov.tw"]), port=0, ssl_context=ctx)
    svc.cards = cards  # type: ignore[attr-defined]
    with svc.start_in_thread():
        yield svc


def client(service: AgentService, tls, origin: str = GOV, **kw: object) -> NhiiccAgent:  # type: ignore[no-untyped-def]
    return NhiiccAgent(service.url, origin=origin, ca_bundle=str(tls.ca_file), **kw)  # type: ignore[arg-type]


def test_commands_over_wss(service: AgentService, tls, keys: SandboxKeys) -> None:  # type: ignore[no-untyped-def]
    with client(service, tls) as agent:
        assert agent.get_version() == "0011"
        assert len(agent.get_random()) == 16
        assert agent.get_basic().to_wire() == WANG_WIRE
        sig = agent.h_sign(VR)
        assert verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig)
        today = taipei_date(datetime.now(UTC))
        hexstr = agent.encrypt_password("abc123")
        assert encrypt.decrypt_password(WANG.card_number, hexstr, today) == "abc123"
        basic = encrypt.decrypt_secure_basic(agent.secure_get_basic("abc123"), today)
        assert basic.to_wire() == WANG_WIRE
        with pytest.raises(AgentUsageError) as info:
            agent.encrypt_password("123")
        assert info.value.official_code == "8009"


def test_raw_protocol(service: AgentService, tls) -> None:  # type: ignore[no-untyped-def]
    ctx = ssl.create_default_context(cafile=str(tls.ca_file))
    with connect(service.url, ssl=ctx, origin=GOV) as ws:  # type: ignore[arg-type]
        for request, reply in [
            ("GetVersion", "GetVersion:0011"),
            ("GetBasic", "GetBasic:" + WANG_WIRE),
            ("Hello", "9999"),
            ("H_Sign?Random=short", "9999"),
            ("EnCrypt?Pwd=12345", "8009"),
        ]:
            ws.send(request)
            assert ws.recv(timeout=10) == reply, request
        # as published, the password is not used: any length gives the encrypted basic data
        before = taipei_date(datetime.now(UTC))
        ws.send("SecureGetBasicWithParam?Pwd=1234567890123")
        prefix, _, hexstr = str(ws.recv(timeout=10)).partition(":")
        after = taipei_date(datetime.now(UTC))
        assert prefix == "SecureGetBasicWithParam"
        with contextlib.suppress(encrypt.EncryptedDataInvalid):  # a call across midnight
            assert encrypt.decrypt_secure_basic(hexstr, before).to_wire() == WANG_WIRE
            return
        assert encrypt.decrypt_secure_basic(hexstr, after).to_wire() == WANG_WIRE


def test_card_errors_travel_as_official_codes(service: AgentService, tls) -> None:  # type: ignore[no-untyped-def]
    service.cards.card = VirtualCard(WANG, FaultSpec(bad_auth=True))  # type: ignore[attr-defined]
    try:
        with client(service, tls) as agent, pytest.raises(AgentCardFailure) as info:
            agent.h_sign(VR)
        assert info.value.official_code == "8006"
        service.cards.card = VirtualCard(WANG, FaultSpec(remove_after=1))  # type: ignore[attr-defined]
        with client(service, tls) as agent, pytest.raises(AgentError) as pulled:
            agent.get_basic()
        assert (pulled.value.official_code, exit_code_for(pulled.value)) == ("8013", 5)
    finally:
        service.cards.card = VirtualCard(WANG)  # type: ignore[attr-defined]


def test_origin_refused_is_4041(service: AgentService, tls) -> None:  # type: ignore[no-untyped-def]
    """agent serve refuses the origin with 403 at the handshake; our client reads it as the
    official component's 4041 reply: the same error, message and exit code."""
    agent = client(service, tls, origin="https://evil.example.com")
    with agent, pytest.raises(AgentNetworkError) as info:
        agent.get_version()
    assert (info.value.official_code, exit_code_for(info.value)) == ("4041", 7)
    assert "4041" in str(info.value)
    with pytest.raises(AgentNetworkError) as replied:
        parse_reply("GetVersion", "4041")  # what the official component sends
    assert str(info.value) == str(replied.value)
    assert info.value.hint == replied.value.hint
    assert "HTTP 403 at the WebSocket handshake: Origin not allowed" in (info.value.detail or "")


def test_tls_is_verified(service: AgentService) -> None:
    with NhiiccAgent(service.url, origin=GOV) as agent, pytest.raises(AgentNetworkError) as info:
        agent.get_version()
    assert "NHI SelfRoot CA" in (info.value.detail or "")
    with pytest.raises(AgentNetworkError):
        NhiiccAgent("ws://example.com:7777/echo").get_version()


def test_wrong_host_header_and_plain_get(service: AgentService, tls) -> None:  # type: ignore[no-untyped-def]
    ctx = ssl.create_default_context(cafile=str(tls.ca_file))

    def get(host: str) -> bytes:
        with (
            socket.create_connection(("127.0.0.1", service.port)) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
        ):
            s.sendall(f"GET /echo HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            return s.recv(4096)

    assert get("evil.example.com").startswith(b"HTTP/1.1 403")
    page = get(f"127.0.0.1:{service.port}")
    assert page.startswith(b"HTTP/1.1 200") and b"text/html" in page


def test_factory_auto_prefers_the_component(service: AgentService, tls, sam, keys) -> None:  # type: ignore[no-untyped-def]
    endpoint = SamEndpoint("127.0.0.1", sam.port, keys.wrap_key)
    lines: list[object] = []
    with open_agent(
        "auto",
        reader=None,
        agent_url=service.url,
        sam=endpoint,
        origin=GOV,
        ca_bundle=str(tls.ca_file),
        log=lines.append,
        probe_timeout=10,  # the default 1 s is too tight on a loaded test machine
    ) as agent:
        assert agent.selection.kind == "nhiicc"
        assert "answered GetVersion 0011" in agent.selection.reason.en
        assert agent.get_basic().to_wire() == WANG_WIRE
    assert "nhiicc" in str(lines[0])
    probe = probe_component(service.url, origin=GOV, ca_bundle=str(tls.ca_file), timeout=10)
    assert (probe.ok, probe.version) == (True, "0011")


def test_factory_auto_falls_back_to_direct(sam, keys) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"wss://127.0.0.1:{s.getsockname()[1]}/echo"
    endpoint = SamEndpoint("127.0.0.1", sam.port, keys.wrap_key)
    started = time.monotonic()
    agent = open_agent(
        "auto", reader=None, agent_url=url, sam=endpoint, origin=GOV, card_opener=SwitchableCard()
    )
    assert time.monotonic() - started < 3
    assert agent.selection.kind == "direct"
    assert "did not answer GetVersion" in agent.selection.reason.en
    assert agent.get_basic().to_wire() == WANG_WIRE
    assert (
        open_agent("direct", reader=None, agent_url=url, sam=endpoint, origin=GOV).selection.kind
        == "direct"
    )
    probe = probe_component(url, origin=GOV)
    assert not probe.ok and probe.error is not None


# -- `nhicard agent serve` as a subprocess on the real PC/SC stack -------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(virtual_cards, sam, keys, tmp_path: Path):  # type: ignore[no-untyped-def]
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    SandboxKeys.load_or_create(sandbox)  # the wrap key the CLI reads for --profile sandbox
    write_endpoints(sandbox, fake_sandbox_endpoints(sandbox, sam.port))
    server_keys = SandboxKeys.load_or_create(sandbox)
    port = _free_port()
    env = dict(
        os.environ,
        NHICARD_SANDBOX_DIR=str(sandbox),
        NHICARD_STATE_DIR=str(tmp_path),
        LANG="C.UTF-8",
    )
    virtual_cards.insert(WANG.card_number)
    with SamServer(DATA, server_keys).serve_in_thread() as own_sam:
        write_endpoints(sandbox, fake_sandbox_endpoints(sandbox, own_sam.port))
        proc = subprocess.Popen(
            [
                nhicard_executable(),
                "--profile",
                "sandbox",
                "-r",
                "Virtual PCD 00 00",
                "-v",
                "agent",
                "serve",
                "--port",
                str(port),
                "--http-port",
                "0",
                "--https-port",
                "0",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        # the service logs a line per request: drained on a thread, else a full pipe (64 KiB,
        # ≈ 1,400 requests) would block the service's writes
        lines: list[str] = []
        drain = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
        drain.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None:
                        drain.join(5)
                        raise AssertionError("".join(lines)) from None
                    time.sleep(0.1)
            yield {
                "url": f"wss://127.0.0.1:{port}/echo",
                "ca": str(sandbox / "ca.pem"),
                "keys": server_keys,
                "proc": proc,
                "log": (drain, lines),
                "cards": virtual_cards,
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


@pytest.mark.pcsc
def test_agent_serve_subprocess(served) -> None:  # type: ignore[no-untyped-def]
    ca, url = served["ca"], served["url"]
    with NhiiccAgent(url, origin="https://127.0.0.1:18440", ca_bundle=ca) as agent:
        assert agent.get_version() == "0011"
        assert agent.get_basic().to_wire() == WANG_WIRE
        sig = agent.h_sign(VR)
        assert verify_h_sign(served["keys"].sam_public_key, WANG.card_number, VR, sig)
    with NhiiccAgent(url, origin=GOV, ca_bundle=ca) as agent:
        hexstr = agent.encrypt_password("abc123")
        assert (
            encrypt.decrypt_password(WANG.card_number, hexstr, taipei_date(datetime.now(UTC)))
            == "abc123"
        )
    with (
        NhiiccAgent(url, origin="https://evil.example.com", ca_bundle=ca) as agent,
        pytest.raises(AgentNetworkError) as info,
    ):
        agent.get_basic()
    assert info.value.official_code == "4041", (info.value, info.value.detail)
    served["cards"].insert(WANG.card_number, faults="bad-auth")
    with (
        NhiiccAgent(url, origin=GOV, ca_bundle=ca) as agent,
        pytest.raises(AgentCardFailure) as refused,
    ):
        agent.h_sign(VR)
    assert refused.value.official_code == "8006"
    served["cards"].remove()
    with NhiiccAgent(url, origin=GOV, ca_bundle=ca) as agent, pytest.raises(AgentError) as absent:
        agent.get_basic()
    assert (absent.value.official_code, exit_code_for(absent.value)) == ("7004", 5), (
        absent.value,
        absent.value.detail,
    )
    proc = served["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    drain, lines = served["log"]
    drain.join(5)
    log = "".join(lines)
    assert "wss://127.0.0.1:" in log and "GetBasic -> ok" in log
    assert "https://evil.example.com WebSocket -> 403" in log
    assert "abc123" not in log and "EnCrypt -> ok" in log


@pytest.mark.pcsc
def test_agent_serve_signs_the_random_alone_as_the_official_page_sends_it(served) -> None:  # type: ignore[no-untyped-def]
    """SignHC / H_Sign with only the 16-digit random (the card + password path,
    InnerAuthHC) through a real `agent serve`, the SAM and the card; the H_Sign form too."""
    ca, url = served["ca"], served["url"]
    with NhiiccAgent(url, origin=GOV, ca_bundle=ca) as agent:
        random16 = agent.get_random()
        assert len(random16) == 16 and random16.isdigit()
        alone = agent.h_sign(random16)
        assert verify_h_sign(served["keys"].sam_public_key, WANG.card_number, random16, alone)
        both = agent.h_sign("0011" + random16)
        assert verify_h_sign(
            served["keys"].sam_public_key, WANG.card_number, "0011" + random16, both
        )
        assert alone != both


@pytest.mark.pcsc
def test_agent_serve_port_in_use_is_exit_7(pcsc, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.cli import run_nhicard

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_nhicard(
            "--lang",
            "en",
            "agent",
            "serve",
            "--port",
            str(busy.getsockname()[1]),
            "--no-tls",
            env={"NHICARD_STATE_DIR": str(tmp_path)},
        )
    assert result.returncode == 7, result.stderr
    assert "cannot listen on 127.0.0.1" in result.stderr and "--port" in result.stderr


def test_agent_serve_usage_errors(tmp_path: Path) -> None:
    from tests.support.cli import run_nhicard

    cert = tmp_path / "c.pem"
    cert.write_text("x")
    result = run_nhicard("--lang", "en", "agent", "serve", "--cert", str(cert))
    assert result.returncode == 2 and "--cert and --key go together" in result.stderr


def test_local_agent_certificate(tmp_path: Path) -> None:
    import ipaddress
    import stat

    from cryptography import x509

    (tmp_path / "ca-key.pem").write_text("left by an older version")
    first = ensure_server_certificate(tmp_path)
    assert stat.S_IMODE(first.key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.pem", "server-key.pem", "server.pem"]
    cert = x509.load_pem_x509_certificate(first.cert_file.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "iccert.nhi.gov.tw"}
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    ca = x509.load_pem_x509_certificate(first.ca_file.read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical and constraints.value.excluded_subtrees is None
    permitted = constraints.value.permitted_subtrees or []
    assert {g.value for g in permitted if isinstance(g, x509.DNSName)} == {
        "localhost",
        "iccert.nhi.gov.tw",
    }
    assert {g.value for g in permitted if isinstance(g, x509.IPAddress)} == {
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    }
    before, ca_before = first.cert_file.read_bytes(), first.ca_file.read_bytes()
    assert ensure_server_certificate(tmp_path) == first
    assert first.cert_file.read_bytes() == before  # reused, not reissued
    expiring = cert.not_valid_after_utc - timedelta(days=10)
    ensure_server_certificate(tmp_path, now=expiring)
    assert first.cert_file.read_bytes() != before  # renewed near expiry
    assert first.ca_file.read_bytes() != ca_before  # by a new CA: the old key is gone
    assert not (tmp_path / "ca-key.pem").exists()


def test_name_constrained_ca_signs_nothing_else(tmp_path: Path) -> None:
    """A CA made like the agent's (same constraints) cannot vouch for another site: the
    verifier of ``cryptography`` (like browsers) refuses a leaf for any other name."""
    from cryptography.x509 import DNSName, load_pem_x509_certificate
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    from nhicard.agent.serve.tls import PERMITTED
    from nhicard.net import certs

    now = datetime.now(UTC)
    ca_key = certs.new_key()
    ca = certs.make_ca(
        ca_key,
        certs.name("test"),
        valid_from=now - timedelta(hours=1),
        valid_until=now + timedelta(days=2),
        permitted=PERMITTED,
    )

    def leaf(host: str):  # type: ignore[no-untyped-def]
        return certs.issue_server_cert(
            ca, ca_key, certs.new_key(), common_name=host, hosts=[host],
            valid_from=now - timedelta(hours=1), valid_until=now + timedelta(days=1),
        )  # fmt: skip

    verifier = PolicyBuilder().store(Store([ca])).time(now)
    good = verifier.build_server_verifier(DNSName("iccert.nhi.gov.tw"))
    good.verify(leaf("iccert.nhi.gov.tw"), [])
    bad = verifier.build_server_verifier(DNSName("www.google.com"))
    with pytest.raises(VerificationError):
        bad.verify(leaf("www.google.com"), [])
    assert load_pem_x509_certificate(certs.certificate_pem(ca)) == ca


# -- log: / connected: frames of the component ---------------------------------------------
@contextmanager
def chatty_component(tmp_path: Path, *, notices: int = 2) -> Iterator[tuple[str, Path]]:
    """A WSS component that greets with ``connected:`` and sends ``log:`` frames before each
    reply, as the official one may (the pages alert() them)."""
    from websockets.sync.server import ServerConnection

    from tests.support.envcheck_servers import TestCA, server_context, websocket_server

    ca = TestCA(tmp_path / "chatty-ca", "NHI SelfRoot CA (test)")
    cert = ca.issue("chatty")

    def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            ws.send("connected:NHIICC")
            for message in ws:
                for n in range(notices):
                    ws.send(f"log:step {n} of {message}")
                ws.send("GetVersion:0011" if message == "GetVersion" else "9999")

    with websocket_server(handler, ssl=server_context(cert)) as url:
        yield url, ca.pem


def test_log_and_connected_frames_are_not_replies(tmp_path: Path) -> None:
    with chatty_component(tmp_path) as (url, ca_pem):
        agent = NhiiccAgent(url, ca_bundle=str(ca_pem), read_timeout=5)
        try:
            assert agent.get_version() == "0011"
            with pytest.raises(AgentError) as unknown:
                agent.get_random()  # the 9999 after the log frames is the reply
            assert unknown.value.official_code == "9999"
        finally:
            agent.close()
    assert agent.notices[0] == "connected:NHIICC"
    assert "log:step 1 of GetVersion" in agent.notices
    assert agent.notices[-1] == "log:step 1 of GetRandom"


def test_endless_log_frames_still_end_at_the_deadline(tmp_path: Path) -> None:
    with chatty_component(tmp_path, notices=100_000) as (url, ca_pem):
        agent = NhiiccAgent(url, ca_bundle=str(ca_pem), read_timeout=1)
        started = time.monotonic()
        try:
            with pytest.raises(AgentError) as late:
                agent.get_version()
        finally:
            agent.close()
    assert time.monotonic() - started < 4
    assert "in time" in late.value.message.en
    assert len(agent.notices) <= 32
