"""The sandbox SAM server and our SAM client, over real loopback sockets."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nhicard.agent.errors import AgentCardFailure, AgentError, AgentNetworkError
from nhicard.agent.sam import wire as samwire
from nhicard.agent.sam.client import ClientKeys, SamClient, SamEndpoint
from nhicard.cli.main import exit_code_for
from nhicard.sandbox.algorithms import mutual_auth_answer
from nhicard.sandbox.data import load_data
from nhicard.sandbox.keys import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    WRAP_KEY_FILE,
    SandboxKeys,
    load_public_key,
    verify_h_sign,
)
from nhicard.sandbox.sam import SamServer, SamServerThread

DATA = load_data()
WANG = DATA.cards[0]
VR = "0011" + "1234567890123456"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> SandboxKeys:
    return SandboxKeys.load_or_create(tmp_path_factory.mktemp("sam"))


@pytest.fixture(scope="module")
def sam(keys: SandboxKeys) -> Iterator[SamServerThread]:
    server = SamServer(DATA, keys, read_timeout=3.0, session_timeout=10.0)
    with server.serve_in_thread() as running:
        yield running


def endpoint(sam: SamServerThread, keys: SandboxKeys) -> SamEndpoint:
    return SamEndpoint("127.0.0.1", sam.port, keys.wrap_key)


def sign(sam: SamServerThread, keys: SandboxKeys, card_number: str, auth_key: bytes) -> str:
    challenge = bytes(range(8))
    with SamClient(endpoint(sam, keys)) as client:
        client.open()
        au32 = client.exchange_challenge(card_number, challenge)
        return client.exchange_signature(mutual_auth_answer(auth_key, au32, challenge), VR)


def test_client_keys_made_ahead_are_used_once_each(
    sam: SamServerThread, keys: SandboxKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handshake takes the key made ahead (on another thread), never the same key twice;
    with refill the next is ready after each take; sessions with those keys sign."""
    import threading

    from nhicard.agent.sam import client as sam_module

    made: list[tuple[object, str]] = []
    real = sam_module.new_client_key

    def recording() -> object:
        key = real()
        made.append((key, threading.current_thread().name))
        return key

    monkeypatch.setattr(sam_module, "new_client_key", recording)
    ahead = ClientKeys(refill=True)
    ahead.prepare()
    ahead.prepare()  # one key in making at a time
    taken: list[object] = []
    take = ahead.take
    monkeypatch.setattr(ahead, "take", lambda: taken.append(take()) or taken[-1])
    for _ in range(3):
        with SamClient(endpoint(sam, keys), keys=ahead) as client:
            client.open()
            au32 = client.exchange_challenge(WANG.card_number, bytes(range(8)))
            answer = mutual_auth_answer(WANG.auth_key, au32, bytes(range(8)))
            sig = client.exchange_signature(answer, VR)
        assert verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig)
    assert len(taken) == 3 and len({id(k) for k in taken}) == 3
    makers = {id(key): name for key, name in made}
    assert all(makers[id(k)] == "sam-client-key" for k in taken)  # none on the caller's thread
    once = ClientKeys()
    first = once.take()  # nothing prepared: made on the spot
    assert (first, threading.current_thread().name) in made
    assert once.take() is not first


def test_keys_are_saved_with_mode_0600_and_reloaded(tmp_path: Path) -> None:
    first = SandboxKeys.load_or_create(tmp_path)
    for name in (PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, WRAP_KEY_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    again = SandboxKeys.load_or_create(tmp_path)
    assert again.wrap_key == first.wrap_key and len(first.wrap_key) == 24
    assert again.sam_public_key.public_numbers() == first.sam_public_key.public_numbers()
    assert first.sam_public_key.key_size == 1024
    assert SandboxKeys.load(tmp_path).wrap_key == first.wrap_key
    assert load_public_key(tmp_path).public_numbers() == first.sam_public_key.public_numbers()


def test_signature_verifies_with_the_sandbox_public_key(
    sam: SamServerThread, keys: SandboxKeys
) -> None:
    sig = sign(sam, keys, WANG.card_number, WANG.auth_key)
    assert len(sig) == 256 and sig == sig.upper()
    assert verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig)
    assert not verify_h_sign(keys.sam_public_key, "000023456789", VR, sig)
    assert not verify_h_sign(keys.sam_public_key, WANG.card_number, "0011" + "0" * 16, sig)
    assert not verify_h_sign(keys.sam_public_key, WANG.card_number, VR, sig[:-2] + "00")
    assert not verify_h_sign(keys.sam_public_key, WANG.card_number, VR, "zz" * 128)


def test_wrong_card_answer_is_8006(sam: SamServerThread, keys: SandboxKeys) -> None:
    with pytest.raises(AgentCardFailure) as info:
        sign(sam, keys, WANG.card_number, b"\x00" * 16)
    assert info.value.official_code == "8006" and exit_code_for(info.value) == 6
    assert "8006" in str(info.value) and "卡片回傳無法認卡" in str(info.value)


def test_unknown_card_is_8006(sam: SamServerThread, keys: SandboxKeys) -> None:
    with pytest.raises(AgentCardFailure) as info:
        sign(sam, keys, "999999999999", WANG.auth_key)
    assert info.value.official_code == "8006"


def test_wrong_wrap_key_fails_the_handshake(sam: SamServerThread) -> None:
    client = SamClient(SamEndpoint("127.0.0.1", sam.port, b"\x01" * 24), timeout=1)
    with pytest.raises(AgentNetworkError) as info, client:
        client.open()
    assert info.value.official_code == "8301"


def test_unreachable_sam_is_4061() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    with pytest.raises(AgentNetworkError) as info:
        SamClient(SamEndpoint("127.0.0.1", port, b"\x01" * 24)).open()
    assert info.value.official_code == "4061" and exit_code_for(info.value) == 7
    assert "無法連接服務網站" in str(info.value)


def _send_raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := s.recv(4096):
            got += chunk
        return got


@settings(
    max_examples=40,
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(st.binary(max_size=400))
def test_server_survives_garbage(sam: SamServerThread, keys: SandboxKeys, data: bytes) -> None:
    # garbage gets no answer (the server closes), and the server keeps working
    _send_raw(sam.port, data)
    assert sam.server.stats.errors == []


def test_server_still_signs_after_garbage(sam: SamServerThread, keys: SandboxKeys) -> None:
    assert _send_raw(sam.port, b"\xff" * 100 + b"<E>") == b""
    assert _send_raw(sam.port, samwire.wrap(keys.wrap_key, b"Hello not a key")) == b""
    assert verify_h_sign(
        keys.sam_public_key, WANG.card_number, VR, sign(sam, keys, WANG.card_number, WANG.auth_key)
    )
    assert sam.server.stats.errors == []


def test_liveness_check_answers_ok_in_clear(sam: SamServerThread, keys: SandboxKeys) -> None:
    client = SamClient(endpoint(sam, keys))
    with client:
        client.open()  # includes 77<E> → 04<rc=2>OK<E>
        client._send(samwire.LIVENESS_REQUEST, "8306")
        assert client._read(samwire.extract_clear, "8306") == b"04<rc=2>OK"


def _scripted_connector(reply: bytes):  # type: ignore[no-untyped-def]
    def connect(address: tuple[str, int], timeout: float) -> socket.socket:
        ours, theirs = socket.socketpair()
        theirs.sendall(reply)
        theirs.close()
        return ours

    return connect


@settings(max_examples=150)
@given(st.binary(max_size=700))
def test_client_given_garbage_raises_typed_errors(reply: bytes) -> None:
    client = SamClient(
        SamEndpoint("sam.invalid", 1, bytes(range(24))),
        timeout=2,
        connector=_scripted_connector(reply),
    )
    with pytest.raises(AgentError) as info, client:
        client.open()
    assert info.value.official_code in {"8300", "8301", "8302", "8303", "8304", "8305", "8306"}
