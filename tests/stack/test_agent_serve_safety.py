"""``agent serve`` is safe to leave running (issue 12, item 1), over real sockets: strict
origins (``null``/``file://`` refused unless opted in, malformed origins and patterns), strict
``Host``, a refused origin's ``403`` at the WebSocket handshake (never a ``101``), the
connection cap with eviction, idle and
handshake timeouts, 3,000 idle connections not delaying a page, the card lock held only for
card work, card deadlines, the HTTP API's origin check before any card work, CORS and Private
Network Access, the status bitmaps, and a quick stop on SIGTERM / SIGINT."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from nhicard.agent.serve import httpapi
from nhicard.agent.serve.origins import (
    BadOrigin,
    Origin,
    host_allowed,
    origin_matches,
    parse_pattern,
)
from nhicard.agent.serve.service import AgentService, BadRequest, Limits, OriginPolicy, parse_head
from nhicard.agent.serve.tls import ServerCertificate, ensure_server_certificate
from tests.support.agents import GOV, WANG, GatedAgent, start
from tests.support.cli import nhicard_executable, run_nhicard
from tests.support.ports import free_port, wait_listening


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    return ensure_server_certificate(tmp_path_factory.mktemp("agent-tls"))


def client_context(tls) -> ssl.SSLContext:  # type: ignore[no-untyped-def]
    """The test clients' trust. TLS 1.2 at most: these tests drive the server with
    websockets' threading client, which reads on one thread while it writes on another, and
    with TLS 1.3 (session tickets arriving after the handshake) about one connection in 300
    then lost its request on this machine. nhicard's own client (``nhicard.agent.client.wsclient``)
    is single-threaded and is tested over TLS 1.3 (tests/unit/test_agent_wsclient.py)."""
    ctx = ssl.create_default_context(cafile=str(tls.ca_file))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@pytest.fixture
def service(tls) -> Iterator[AgentService]:  # type: ignore[no-untyped-def]
    svc = start(tls)
    try:
        yield svc
    finally:
        svc.shutdown()


def ws(service: AgentService, tls, origin: str | None = GOV):  # type: ignore[no-untyped-def]
    headers = {} if origin is None else {"Origin": origin}
    return connect(
        service.url, ssl=client_context(tls), additional_headers=headers, open_timeout=10
    )


# -- origins and hosts ---------------------------------------------------------------------------


def test_origin_pattern_validation() -> None:
    assert parse_pattern("https://*.gov.tw").host == "*.gov.tw"
    assert parse_pattern("https://127.0.0.1:8440").port == 8440
    assert parse_pattern("http://localhost").port == 80
    for bad in (
        "https://a.*.gov.tw",
        "https://*gov.tw",
        "https://*.*.gov.tw",
        "*.gov.tw",
        "ftp://x.gov.tw",
        "https://x.gov.tw/path",
        "https://x.gov.tw:99999",
        "https://*.127.0.0.1",
        "https://evil.com\\.gov.tw",
        "https://a b.gov.tw",
        "https://-a.gov.tw",
        "https://user@x.gov.tw",
        " https://x.gov.tw",
    ):
        with pytest.raises(BadOrigin):
            parse_pattern(bad)
    with pytest.raises(BadOrigin):
        OriginPolicy(["https://*.gov.tw", "https://a.*.tw"])


def test_malformed_origins_never_match() -> None:
    for origin in (
        "https://evil.com\\.gov.tw",
        "https://a b.gov.tw",
        "https://evil.com%2e.gov.tw",
        "https://x.gov.tw/",
        "https://x.gov.tw:443x",
        "https://x.gov.tw\r\n",
    ):
        assert not origin_matches("https://*.gov.tw", origin), origin
    assert origin_matches("https://*.gov.tw", "https://A.NHI.gov.tw")
    policy = OriginPolicy(["https://*.gov.tw"])
    assert not policy.allows("null") and not policy.allows("file://")
    assert not policy.allows("file:///home/x/page.html")
    assert policy.allows(None)


def test_host_header_validation() -> None:
    for good in ("localhost", "localhost:7777", "127.0.0.1:59001", "[::1]", "[::1]:7777",
                 "iccert.nhi.gov.tw", "ICCERT.nhi.gov.tw:7777"):  # fmt: skip
        assert host_allowed(good), good
    for bad in ("localhost:evil", "[::1]evil", "evil.com", "127.0.0.1:99999", "localhost:",
                "local host", "127.0.0.2", "iccert.nhi.gov.tw.evil.com", "", None,
                "localhost:7777:1", "[::2]"):  # fmt: skip
        assert not host_allowed(bad), bad


def raw_request(port: int, request: bytes, tls_ctx: ssl.SSLContext | None = None) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        sock = tls_ctx.wrap_socket(raw, server_hostname="localhost") if tls_ctx else raw
        with sock:
            sock.sendall(request)
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
            return out


def upgrade_request(host: str = "localhost:7777", extra: str = "") -> bytes:
    """A browser's WebSocket upgrade of /echo, then a masked text frame "GetBasic" that a
    server that upgraded would answer."""
    head = (
        f"GET /echo HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()
    mask = b"\x01\x02\x03\x04"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"GetBasic"))
    return head + b"\x81\x88" + mask + payload


def refused_at_handshake(reply: bytes, reason: bytes) -> None:
    """One HTTP 403 naming ``reason``, then the end of the connection: no 101, no frame."""
    top, _, body = reply.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 403 "), reply[:200]
    assert reply.count(b"HTTP/1.1") == 1 and b"101" not in top.split(b"\r\n")[0]
    assert b"sec-websocket-accept" not in top.lower()
    assert body == reason, body


@pytest.mark.parametrize("host", ["localhost:evil", "[::1]evil", "evil.example.com"])
def test_bad_host_headers_are_refused_on_every_port(service: AgentService, tls, host: str) -> None:  # type: ignore[no-untyped-def]
    reply = raw_request(
        service.port, upgrade_request(host, f"Origin: {GOV}\r\n"), client_context(tls)
    )
    refused_at_handshake(reply, b"Host not allowed\n")
    api = f"POST /api/GetBasic HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode()
    assert service.http_port is not None
    assert raw_request(service.http_port, api).startswith(b"HTTP/1.1 403")


@pytest.mark.parametrize(
    "origin",
    ["null", "file://", "https://evil.com\\.gov.tw", "https://a b.gov.tw", "https://x.com"],
)
def test_refused_origin_gets_403_at_the_handshake(service: AgentService, tls, origin: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 23, item 4: no WebSocket ever opens for a refused origin (no 101, no frame
    answered), and no card work is done for it."""
    reply = raw_request(
        service.port, upgrade_request(extra=f"Origin: {origin}\r\n"), client_context(tls)
    )
    refused_at_handshake(reply, b"Origin not allowed\n")
    with pytest.raises(InvalidStatus) as refused:
        ws(service, tls, origin)
    assert refused.value.response.status_code == 403
    assert service.agent.card_calls == []  # type: ignore[attr-defined]
    with ws(service, tls) as conn:  # an allowed page on the same port still gets the card
        conn.send("GetBasic")
        assert conn.recv(timeout=10) == "GetBasic:" + WANG.to_wire()


def test_null_origin_only_when_opted_in(tls) -> None:  # type: ignore[no-untyped-def]
    svc = start(tls, origins=OriginPolicy(["https://*.gov.tw"], allow_null=True))
    try:
        with ws(svc, tls, "null") as conn:
            conn.send("GetBasic")
            assert conn.recv(timeout=10) == "GetBasic:" + WANG.to_wire()
    finally:
        svc.shutdown()


def test_missing_origin_is_a_local_program(service: AgentService, tls) -> None:  # type: ignore[no-untyped-def]
    with ws(service, tls, None) as conn:
        conn.send("GetVersion")
        assert conn.recv(timeout=10) == "GetVersion:0011"


# -- bounded connections and time -----------------------------------------------------------------


# Another process (as an attacker would be) opening idle connections and holding them until
# its stdin closes: argv = port count port count ...; prints how many it holds.
HOLD_IDLE = """
import socket, sys
held = []
args = sys.argv[1:]
for port, count in zip(args[::2], args[1::2]):
    for _ in range(int(count)):
        held.append(socket.create_connection(("127.0.0.1", int(port)), timeout=30))
print(len(held), flush=True)
sys.stdin.read()
"""


def test_idle_connections_cannot_starve_a_page(tls) -> None:  # type: ignore[no-untyped-def]
    import resource
    import sys

    svc = start(tls, limits=Limits(max_connections=16, handshake_timeout=60, idle_timeout=300))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4000 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert svc.http_port is not None
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_IDLE, str(svc.port), "3000", str(svc.http_port), "40"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    sockets: list[object] = []
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "3040"  # 3,000 without a TLS hello
        for _ in range(40):  # and open WebSockets that say nothing
            sockets.append(ws(svc, tls).__enter__())
        assert svc.connection_count <= 16
        started = time.monotonic()
        with ws(svc, tls) as conn:
            conn.send("GetVersion")
            assert conn.recv(timeout=5) == "GetVersion:0011"
        reply = raw_request(
            svc.http_port,
            f"POST /api/GetVersion HTTP/1.1\r\nHost: localhost\r\nOrigin: {GOV}\r\n"
            "Content-Length: 0\r\n\r\n".encode(),
        )
        assert b'"version": "0011"' in reply
        assert time.monotonic() - started < 3
    finally:
        holder.communicate("", timeout=30)
        for c in sockets:
            c.close()  # type: ignore[attr-defined]
        svc.shutdown()


def test_handshake_and_idle_timeouts(tls) -> None:  # type: ignore[no-untyped-def]
    svc = start(tls, limits=Limits(handshake_timeout=0.5, idle_timeout=0.5))
    try:
        with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as raw:
            started = time.monotonic()
            assert raw.recv(10) == b""  # closed by the server, no TLS hello sent
            assert time.monotonic() - started < 5
        assert svc.http_port is not None
        with socket.create_connection(("127.0.0.1", svc.http_port), timeout=10) as raw:
            raw.sendall(b"POST /api/GetBasic HTTP/1.1\r\n")  # and never the rest
            assert raw.recv(10) == b""
        with ws(svc, tls) as conn:
            time.sleep(1.5)
            with pytest.raises(ConnectionClosed):
                conn.send("GetVersion")
                conn.recv(timeout=5)
    finally:
        svc.shutdown()


def test_card_lock_only_for_card_work_and_deadline(tls) -> None:  # type: ignore[no-untyped-def]
    agent = GatedAgent()
    svc = start(tls, agent, limits=Limits(card_deadline=1.0))
    try:
        agent.gate.clear()  # the card hangs
        with ws(svc, tls) as slow, ws(svc, tls) as quick:
            started = time.monotonic()
            slow.send("GetBasic")
            quick.send("GetVersion")
            assert quick.recv(timeout=5) == "GetVersion:0011"
            quick.send("GetRandom")
            assert quick.recv(timeout=5) == "GetRandom:1234567890123456"
            assert time.monotonic() - started < 0.9  # not behind the hanging card
            assert slow.recv(timeout=5) == "8013"  # the official code, at the deadline
            assert 0.9 < time.monotonic() - started < 4
            quick.send("H_Sign?Random=" + "0011" + "1" * 16)
            assert quick.recv(timeout=5) == "8013"  # the card is still stuck
        agent.gate.set()
        time.sleep(0.2)
        with ws(svc, tls) as conn:
            conn.send("GetBasic")
            assert conn.recv(timeout=5) == "GetBasic:" + WANG.to_wire()
    finally:
        agent.gate.set()
        svc.shutdown()


# -- HTTP API ---------------------------------------------------------------------------------------


def api(port: int, call: str, *, origin: str | None = GOV, body: str = "",
        method: str = "POST", extra: str = "", tls_ctx: ssl.SSLContext | None = None,
        ) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    head = f"{method} /api/{call} HTTP/1.1\r\nHost: localhost:{port}\r\n"
    if origin is not None:
        head += f"Origin: {origin}\r\n"
    data = body.encode()
    head += "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
    head += f"Content-Length: {len(data)}\r\n{extra}\r\n"
    reply = raw_request(port, head.encode() + data, tls_ctx)
    top, _, content = reply.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, content


def test_http_api_calls(service: AgentService, tls) -> None:  # type: ignore[no-untyped-def]
    port = service.http_port
    assert port is not None
    status, headers, body = api(port, "GetVersion")
    assert status == 200 and json.loads(body) == {"result": "0000", "version": "0011"}
    assert headers["access-control-allow-origin"] == GOV
    assert json.loads(api(port, "GetRandom")[2])["random"] == "1234567890123456"
    assert json.loads(api(port, "GetBasic")[2]) == {
        "result": "0000", "card_no": "000012345678", "as_id": "A123456789", "name": "王小明",
        "birthday": "0640101", "sex": "M", "card_termination": "0",
    }  # fmt: skip
    signed = json.loads(api(port, "SignHC", body=json.dumps({"random": "0011" + "2" * 16}))[2])
    assert signed == {"result": "0000", "sign": "A" * 256}
    assert json.loads(api(port, "SignHC", body='{"random": "short"}')[2]) == {"result": "9999"}
    assert json.loads(api(port, "EncryptPwd", body='{"pwd": "abc123"}')[2])["data"] == "ABCDEF"
    assert json.loads(api(port, "GetEncryptBasic", body='{"pwd": "abc123"}')[2])["data"] == "0123"
    assert service.https_port is not None
    status, headers, body = api(service.https_port, "GetVersion", tls_ctx=client_context(tls))
    assert status == 200 and json.loads(body)["version"] == "0011"
    assert api(port, "Nothing")[0] == 404
    assert api(port, "GetBasic", method="GET")[0] == 405
    assert api(port, "SignHC", body="x" * 5000)[0] == 413  # bounded body
    chunked = "Transfer-Encoding: chunked\r\n"
    assert api(port, "GetBasic", extra=chunked)[0] == 411


def test_serve_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = str(busy.getsockname()[1])
        result = run_nhicard(
            "--lang", "en", "agent", "serve", "--port", str(free_port()), "--http-port", taken,
            env={"NHICARD_STATE_DIR": str(tmp_path)},
        )  # fmt: skip
    assert result.returncode == 7, result.stderr
    assert f"cannot listen on 127.0.0.1:{taken}" in result.stderr


@pytest.mark.parametrize("origin", ["https://evil.example.com", "null", "file://"])
def test_http_api_refuses_before_card_work(service: AgentService, origin: str) -> None:
    assert service.http_port is not None
    for call, body in [("GetBasic", ""), ("SignHC", '{"random":"00111111222233334444"}'),
                       ("EncryptPwd", '{"pwd":"abc123"}'), ("GetCardStatus.bmp", "")]:  # fmt: skip
        method = "GET" if call.endswith(".bmp") else "POST"
        status, headers, body_out = api(
            service.http_port, call, origin=origin, body=body, method=method
        )
        assert status == 403, call
        assert "access-control-allow-origin" not in headers
        assert json.loads(body_out) == {"result": "4041"}
    assert service.agent.card_calls == []  # type: ignore[attr-defined]


def test_preflight_and_private_network_access(service: AgentService) -> None:
    assert service.http_port is not None
    extra = (
        "Access-Control-Request-Method: POST\r\n"
        "Access-Control-Request-Headers: content-type\r\n"
        "Access-Control-Request-Private-Network: true\r\n"
    )
    status, headers, _ = api(service.http_port, "GetBasic", method="OPTIONS", extra=extra)
    assert status == 204
    assert headers["access-control-allow-origin"] == GOV
    assert headers["access-control-allow-private-network"] == "true"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "content-type"
    status, headers, _ = api(
        service.http_port, "GetBasic", method="OPTIONS", extra=extra, origin="https://x.com"
    )
    assert status == 403 and "access-control-allow-private-network" not in headers
    assert service.agent.card_calls == []  # type: ignore[attr-defined]


def test_status_bitmaps(service: AgentService) -> None:
    assert service.http_port is not None
    status, headers, bmp = api(service.http_port, "GetStatus.bmp?tick=1", method="GET")
    assert status == 200 and headers["content-type"] == "image/bmp"
    assert headers["access-control-allow-origin"] == GOV
    assert json.loads(httpapi.decode_status_bitmap(bmp)) == {
        "result": "0000", "version": "0011", "service": "nhicard",
    }  # fmt: skip
    _, _, bmp = api(service.http_port, "GetCardStatus.bmp?tick=2", method="GET")
    assert json.loads(httpapi.decode_status_bitmap(bmp)) == {"result": "0000", "card": "1"}
    service.agent.card_present = False  # type: ignore[attr-defined]
    _, _, bmp = api(service.http_port, "GetCardStatus.bmp?tick=3", method="GET")
    assert json.loads(httpapi.decode_status_bitmap(bmp)) == {"result": "7004", "card": "0"}


def test_bitmap_encoding() -> None:
    doc = {"result": "0000", "name": "王"}
    bmp = httpapi.status_bitmap(doc)
    width = int.from_bytes(bmp[18:22], "little")
    assert bmp[:2] == b"BM" and int.from_bytes(bmp[2:6], "little") == len(bmp)
    assert len(bmp) == 54 + -(-width * 3 // 4) * 4
    assert json.loads(httpapi.decode_status_bitmap(bmp)) == doc
    # pixel 0 is (blue, green, red) = the first three characters
    assert bmp[54:57] == b'{"r'
    with pytest.raises(ValueError):
        httpapi.status_bitmap({"x": "y" * 4000})


# -- the command line ----------------------------------------------------------------------------


def test_bad_origin_pattern_is_a_usage_error() -> None:
    result = run_nhicard("--lang", "en", "agent", "serve", "--origin", "https://a.*.gov.tw")
    assert result.returncode == 2, result.stderr
    assert "bad --origin" in result.stderr and "leftmost" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_warns_on_null_and_stops_quickly(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "agent", "serve", "--port", str(port),
         "--http-port", "0", "--https-port", "0", "--allow-null-origin"],
        env={**os.environ, "NHICARD_STATE_DIR": str(tmp_path)},
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(port, proc)
        held = socket.create_connection(("127.0.0.1", port))  # an idle client does not delay it
        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 2.5
        held.close()
        err = proc.stderr.read() if proc.stderr else ""
        assert "--allow-null-origin lets pages whose origin is null" in err
        assert "(+ null, file://)" in err and "Stopped." in err
        assert (tmp_path / "agent-tls" / "ca.pem").exists()
        assert not (tmp_path / "agent-tls" / "ca-key.pem").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- parsers over arbitrary input: our typed errors, nothing else ---------------------------------


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_origin_and_host_parsers_never_crash(text: str) -> None:
    for wildcard in (False, True):
        try:
            parsed = Origin.parse(text, wildcard=wildcard)
        except BadOrigin:
            continue
        assert parsed.scheme in ("http", "https", "ws", "wss") and 0 < parsed.port < 65536
    assert host_allowed(text) in (True, False)
    assert OriginPolicy(["https://*.gov.tw"]).allows(text) in (True, False)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_request_head_and_body_parsers_never_crash(data: bytes) -> None:
    try:
        head = parse_head(data)
        head.get("origin")
    except BadRequest:
        pass
    assert isinstance(httpapi.parse_body(data), dict)
    with contextlib.suppress(ValueError):
        httpapi.decode_status_bitmap(data)


# -- a slow card through the real pcscd + vpcd ------------------------------------------------------


@pytest.mark.pcsc
def test_slow_card_meets_the_deadline_and_stop_is_quick(virtual_cards, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    virtual_cards.insert(None, faults="delay=1500")  # every APDU takes 1.5 s
    port = free_port()
    proc = subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "-r", virtual_cards.reader_name(0), "-v",
         "agent", "serve", "--port", str(port), "--no-tls", "--http-port", "0",
         "--https-port", "0", "--card-deadline", "1"],
        env={**os.environ, "NHICARD_STATE_DIR": str(tmp_path)},
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(port, proc)
        url = f"ws://127.0.0.1:{port}/echo"
        with (
            connect(url, additional_headers={"Origin": GOV}, open_timeout=10) as slow,
            connect(url, additional_headers={"Origin": GOV}, open_timeout=10) as quick,
        ):
            started = time.monotonic()
            slow.send("GetBasic")
            quick.send("GetVersion")
            assert quick.recv(timeout=5) == "GetVersion:0011"
            quick.send("GetRandom")
            assert len(quick.recv(timeout=5)) == len("GetRandom:") + 16
            assert time.monotonic() - started < 0.9  # not behind the slow card
            assert slow.recv(timeout=10) == "8013"
            assert 0.9 < time.monotonic() - started < 3
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # while the card is still busy with its APDUs
        assert proc.wait(10) == 0
        assert time.monotonic() - stopping < 2.5
        err = proc.stderr.read() if proc.stderr else ""
        assert "GetBasic: no answer within the deadline" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- a web page of unknown origin: Sec-Fetch-Site without Origin (issue 23, item 4) ---------------


@pytest.mark.parametrize("site", ["cross-site", "same-site", "CROSS-SITE"])
def test_page_without_origin_is_refused_before_card_work(
    service: AgentService, tls: ServerCertificate, site: str
) -> None:
    assert service.http_port is not None
    fetch = f"Sec-Fetch-Site: {site}\r\n"
    for call, method in [("GetCardStatus.bmp", "GET"), ("GetBasic", "POST")]:
        status, headers, body = api(
            service.http_port, call, origin=None, method=method, extra=fetch
        )
        assert (status, json.loads(body)) == (403, {"result": "4041"}), call
        assert "access-control-allow-origin" not in headers
    reply = raw_request(service.port, upgrade_request(extra=fetch), client_context(tls))
    refused_at_handshake(reply, b"Origin missing on a cross-site request: not allowed\n")
    with pytest.raises(InvalidStatus) as refused:
        ws_headers(service, tls, {"Sec-Fetch-Site": site})
    assert refused.value.response.status_code == 403
    assert service.agent.card_calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("site", [None, "none", "same-origin"])
def test_program_without_origin_keeps_working(
    service: AgentService, tls: ServerCertificate, site: str | None
) -> None:
    assert service.http_port is not None
    extra = "" if site is None else f"Sec-Fetch-Site: {site}\r\n"
    status, _, bmp = api(
        service.http_port, "GetCardStatus.bmp", origin=None, method="GET", extra=extra
    )
    assert status == 200
    assert json.loads(httpapi.decode_status_bitmap(bmp)) == {"result": "0000", "card": "1"}
    with ws_headers(service, tls, {} if site is None else {"Sec-Fetch-Site": site}) as conn:
        conn.send("GetBasic")
        assert conn.recv(timeout=10) == "GetBasic:" + WANG.to_wire()
    assert service.agent.card_calls == ["check", "GetBasic"]  # type: ignore[attr-defined]


def ws_headers(
    service: AgentService, tls: ServerCertificate, headers: dict[str, str]
) -> ClientConnection:
    return connect(
        service.url, ssl=client_context(tls), additional_headers=headers, open_timeout=10
    )


@pytest.mark.pcsc
def test_cross_site_img_gets_no_card_work_through_agent_serve(
    virtual_cards, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """What a cross-site ``<img src=".../api/GetCardStatus.bmp">`` sends (no Origin,
    ``Sec-Fetch-Site: cross-site``) is refused by a real ``agent serve``: the card sees no
    APDU. A program (no Sec-Fetch-Site) still gets the card's status, and its APDUs."""
    client = virtual_cards.insert(None)
    port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "-r", virtual_cards.reader_name(0), "-v",
         "agent", "serve", "--port", str(port), "--no-tls", "--http-port", str(http_port),
         "--https-port", "0"],
        env={**os.environ, "NHICARD_STATE_DIR": str(tmp_path)},
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(http_port, proc)
        before = client.card.apdu_count
        for site in ("cross-site", "same-site"):
            status, headers, body = api(
                http_port, "GetCardStatus.bmp", origin=None, method="GET",
                extra=f"Sec-Fetch-Site: {site}\r\n",
            )  # fmt: skip
            assert (status, json.loads(body)) == (403, {"result": "4041"}), site
            assert "access-control-allow-origin" not in headers
        assert client.card.apdu_count == before  # no SELECT, nothing
        status, _, bmp = api(http_port, "GetCardStatus.bmp", origin=None, method="GET")
        assert status == 200
        assert json.loads(httpapi.decode_status_bitmap(bmp)) == {"result": "0000", "card": "1"}
        assert client.card.apdu_count > before  # a program's request reaches the card
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        err = proc.stderr.read() if proc.stderr else ""
        assert "- api/GetCardStatus.bmp -> 403" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- idle connections cost no TLS state (issue 23, item 2) ----------------------------------------


def page_over_tls(port: int, ca_file: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    return raw_request(port, request, ctx)


def test_idle_connections_cost_no_tls_buffers(tmp_path: Path) -> None:
    """3,000 connections that never send a ClientHello to a real ``agent serve``: admitted as
    bare sockets, they cost the server a few MiB, not 256 KiB each (before: 41 → 937 MiB)."""
    import resource
    import sys

    import psutil

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4000 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = free_port()
    proc = subprocess.Popen(
        [nhicard_executable(), "--lang", "en", "agent", "serve", "--port", str(port),
         "--http-port", "0", "--https-port", "0"],
        env={**os.environ, "NHICARD_STATE_DIR": str(tmp_path)},
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    holder = None
    try:
        wait_listening(port, proc)
        ca_file = tmp_path / "agent-tls" / "ca.pem"
        assert page_over_tls(port, ca_file).startswith(b"HTTP/1.1 200")
        server = psutil.Process(proc.pid)
        before = server.memory_info().rss
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_IDLE, str(port), "3000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "3000"
        # answered after the 3,000 ahead of it in the accept queue were taken
        assert page_over_tls(port, ca_file).startswith(b"HTTP/1.1 200")
        grown = server.memory_info().rss - before
        assert grown < 64 * 2**20, f"{grown / 2**20:.0f} MiB for 3,000 idle connections"
    finally:
        if holder is not None:
            holder.communicate("", timeout=30)
        proc.terminate()
        proc.wait(10)
