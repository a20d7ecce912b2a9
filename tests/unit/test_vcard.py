"""The virtual card: APDU answers, faults, and the vpcd wire protocol (against a fake vpcd
listening on loopback)."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from nhicard.card.profile import encode_name
from nhicard.cli.main import exit_code_for
from nhicard.core.errors import UsageError
from nhicard.sandbox.data import load_data
from nhicard.sandbox.vcard import (
    HPC_ATR,
    MOICA_ATR,
    UNLISTED_ATR,
    CardPulled,
    FaultSpec,
    VirtualCard,
    profile_bytes,
)
from nhicard.sandbox.vpcd import CONNECTED, PULLED, VpcdCardClient, slot_port

SELECT_NHI = bytes.fromhex("00A4040010D1580000010000000000000000001100")
SELECT_SAM = bytes.fromhex("00A4040010D1580000010000000000000000003100")
READ_PROFILE = bytes.fromhex("00CA110002000000")


def card(faults: str = "", index: int = 0) -> VirtualCard:
    vc = VirtualCard(load_data().cards[index], FaultSpec.parse(faults), rng=lambda n: b"\x42" * n)
    vc.insert()
    return vc


def test_fault_spec_parsing() -> None:
    assert FaultSpec.parse(None) == FaultSpec()
    spec = FaultSpec.parse(
        " t0, 6C ,remove-after=3,delay=20,hpc,moica,garbage-profile,short-profile,"
        "unknown-atr,select-6d00,bad-auth,terminated"
    )
    assert spec == FaultSpec(True, True, 3, 20, True, True, True, True, True, True, True, True)
    assert str(FaultSpec.parse("delay=5,t0")) == "t0,delay=5"
    assert str(FaultSpec()) == ""


@pytest.mark.parametrize("spec", ["nope", "delay", "delay=x", "t0=1", "remove-after=-1"])
def test_bad_fault_specs(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        FaultSpec.parse(spec)
    assert exit_code_for(info.value) == 2
    assert info.value.hint is not None and "remove-after=N" in info.value.hint.en


def test_healthy_card_answers() -> None:
    vc = card()
    record = load_data().cards[0]
    assert vc.process(SELECT_NHI) == b"\x90\x00"
    assert vc.process(READ_PROFILE) == profile_bytes(record) + b"\x90\x00"
    assert vc.process(READ_PROFILE[:-1]) == profile_bytes(record) + b"\x90\x00"
    assert vc.process(bytes.fromhex("00CA240002000000")) == b"0\x90\x00"
    assert vc.process(bytes.fromhex("00CA000002000000")) == b"000012345678\x90\x00"
    assert vc.process(bytes.fromhex("0084000008")) == b"\x42" * 8 + b"\x90\x00"
    assert vc.last_challenge == b"\x42" * 8
    assert vc.process(SELECT_SAM) == b"\x90\x00" and vc.selected == "sam"
    assert vc.process(bytes.fromhex("00B0000000")) == b"\x6d\x00"  # unknown INS
    assert vc.process(bytes.fromhex("80CA110000")) == b"\x6e\x00"  # unknown CLA
    assert vc.process(bytes.fromhex("00A4040002AAAA")) == b"\x6a\x82"  # unknown AID
    assert vc.process(b"\x00") == b"\x67\x00"
    assert vc.atr == record.atr


def test_profile_bytes_layout() -> None:
    record = load_data().cards[1]
    data = profile_bytes(record)
    assert len(data) == 57
    assert data[12:32] == "林峯".encode("big5hkscs") + b"\x00" * 16
    assert data[32:42] == b"F126112341"
    assert data[42:49] == b"0770315" and data[49:50] == b"M" and data[50:57] == b"1081120"


def test_encode_name_never_splits_a_character() -> None:
    """A name that does not fit is refused whole (the card model's rule), never cut."""
    assert encode_name("一" * 10) == "一".encode("big5hkscs") * 10
    with pytest.raises(
        ValueError, match="takes 22 bytes in Big5-HKSCS; the card's name field holds 20"
    ):
        encode_name("一" * 11)
    assert len(encode_name("")) == 20


def test_t0_fault_answers_in_chunks() -> None:
    vc = card("t0")
    assert vc.process(READ_PROFILE) == b"\x61\x39"
    first = vc.process(bytes.fromhex("00C0000039"))
    assert len(first) == 34 and first[-2:] == b"\x61\x19"
    second = vc.process(bytes.fromhex("00C0000019"))
    assert len(second) == 27 and second[-2:] == b"\x90\x00"
    assert vc.process(bytes.fromhex("00C0000010")) == b"\x69\x85"  # nothing pending


def test_6c_fault() -> None:
    vc = card("6c")
    assert vc.process(READ_PROFILE) == b"\x6c\x39"
    assert vc.process(READ_PROFILE[:-1] + b"\x39")[-2:] == b"\x90\x00"
    assert vc.process(READ_PROFILE[:-1])[-2:] == b"\x90\x00"  # no Le at all: answered


def test_remove_after_and_delay() -> None:
    slept: list[float] = []
    vc = VirtualCard(
        load_data().cards[0], FaultSpec.parse("remove-after=2,delay=15"), sleep=slept.append
    )
    vc.insert()
    vc.process(SELECT_NHI)
    vc.process(READ_PROFILE)
    with pytest.raises(CardPulled):
        vc.process(READ_PROFILE)
    assert slept == [0.015, 0.015]
    vc.insert()  # inserted again: the count starts over
    assert vc.process(SELECT_NHI) == b"\x90\x00"


@pytest.mark.parametrize(
    ("faults", "atr", "select", "profile"),
    [
        ("hpc", HPC_ATR, b"\x90\x00", b"\x6a\x86"),
        ("moica", MOICA_ATR, b"\x6a\x82", b"\x6d\x00"),
        ("select-6d00", None, b"\x6d\x00", b"\x90\x00"),
        ("unknown-atr", UNLISTED_ATR, b"\x90\x00", b"\x90\x00"),
    ],
)
def test_card_kind_faults(faults: str, atr: bytes | None, select: bytes, profile: bytes) -> None:
    vc = card(faults)
    assert vc.atr == (atr or load_data().cards[0].atr)
    assert vc.process(SELECT_NHI) == select
    assert vc.process(READ_PROFILE)[-2:] == profile


def test_profile_faults_and_terminated() -> None:
    assert len(card("garbage-profile").process(READ_PROFILE)) == 59
    assert card("garbage-profile").process(READ_PROFILE)[:12] != b"000012345678"
    assert len(card("short-profile").process(READ_PROFILE)) == 22
    assert card("terminated").process(bytes.fromhex("00CA240002000000")) == b"1\x90\x00"


def test_mutual_auth_and_bad_auth() -> None:
    from nhicard.sandbox.algorithms import mutual_auth_answer

    host = bytes(range(32))
    apdu = bytes.fromhex("0082111220") + host + b"\x10"
    good, bad = card(), card("bad-auth")
    for vc in (good, bad):
        assert vc.process(apdu) == b"\x69\x85"  # no challenge yet
        vc.process(bytes.fromhex("0084000008"))
    expected = mutual_auth_answer(load_data().cards[0].auth_key, host, b"\x42" * 8)
    assert good.process(apdu) == expected + b"\x90\x00"
    bad_answer = bad.process(apdu)
    assert len(bad_answer) == 18 and bad_answer[:16] != expected
    assert good.process(apdu) == b"\x69\x85"  # the challenge is used up
    assert good.process(bytes.fromhex("0082000020") + host + b"\x10") == b"\x6a\x86"


def test_slot_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NHICARD_VPCD_PORT", raising=False)
    assert slot_port(0) == 35963 and slot_port(1) == 35964
    monkeypatch.setenv("NHICARD_VPCD_PORT", "40000")
    assert slot_port(1) == 40001
    assert slot_port(0, base=5000) == 5000


class FakeVpcd:
    """The vpcd side of the protocol on a loopback port, driven by the test."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.server.settimeout(10)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(10)

    def send(self, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(struct.pack(">H", len(payload)) + payload)

    def recv(self) -> bytes:
        assert self.conn is not None
        header = self._exact(2)
        return self._exact(struct.unpack(">H", header)[0])

    def _exact(self, n: int) -> bytes:
        assert self.conn is not None
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.server.close()


def test_vpcd_protocol_and_reconnect() -> None:
    vpcd = FakeVpcd()
    events: list[str] = []
    client = VpcdCardClient(card(), port=vpcd.port, on_event=events.append, retry_interval=0.05)
    thread, stop = client.start_thread()
    try:
        vpcd.accept()
        vpcd.send(b"\x01")  # power on: no answer
        vpcd.send(b"\x04")  # ATR request
        assert vpcd.recv() == load_data().cards[0].atr
        vpcd.send(SELECT_NHI)
        assert vpcd.recv() == b"\x90\x00"
        vpcd.send(b"\x02")  # reset: no answer
        vpcd.send(bytes.fromhex("00CA000002000000"))
        assert vpcd.recv() == b"000012345678\x90\x00"
        # vpcd goes away (pcscd restarted): the card connects again
        assert vpcd.conn is not None
        vpcd.conn.close()
        vpcd.accept()
        vpcd.send(b"\x04")
        assert vpcd.recv() == load_data().cards[0].atr
        assert events[:2] == [CONNECTED, "disconnected"] and events[-1] == CONNECTED
        # pulled on demand: the connection closes and stays closed until connect()
        client.disconnect()
        with pytest.raises((ConnectionError, OSError)):
            vpcd.send(b"\x04")
            vpcd.recv()
        vpcd.server.settimeout(0.5)
        with pytest.raises(TimeoutError):
            vpcd.server.accept()  # stays out while pulled
        client.connect()
        vpcd.accept()
        vpcd.send(b"\x04")
        assert vpcd.recv() == load_data().cards[0].atr
    finally:
        stop.set()
        thread.join(5)
        vpcd.close()
    assert not thread.is_alive()


def test_vpcd_remove_after_pulls_the_card() -> None:
    vpcd = FakeVpcd()
    events: list[str] = []
    client = VpcdCardClient(card("remove-after=1"), port=vpcd.port, on_event=events.append)
    thread, stop = client.start_thread()
    try:
        vpcd.accept()
        vpcd.send(SELECT_NHI)
        assert vpcd.recv() == b"\x90\x00"
        vpcd.send(READ_PROFILE)
        with pytest.raises(ConnectionError):
            vpcd.recv()
        deadline = time.monotonic() + 5
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert events == [CONNECTED, PULLED]
        assert not client.connected.is_set()
    finally:
        stop.set()
        thread.join(5)
        vpcd.close()
