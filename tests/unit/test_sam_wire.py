"""The SAM wire format: framing with <E>, session messages, hellos; garbage → typed errors."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.agent.sam import tdes
from nhicard.agent.sam import wire as samwire
from nhicard.agent.sam.wire import SamMessage, SamProtocolError

KEY = bytes(range(24))


def test_wrap_is_3des_ecb_pkcs5_plus_end_marker() -> None:
    packet = samwire.wrap(KEY, b"hello")
    assert packet.endswith(b"<E>") and len(packet) == 8 + 3
    assert tdes.decrypt(KEY, packet[:-3]) == b"hello"
    assert samwire.extract_wrapped(packet + b"next", KEY, lambda p: True) == (b"hello", 11)


def test_extract_wrapped_waits_for_more_bytes() -> None:
    packet = samwire.wrap(KEY, b"01<id=1>x<E>")
    for cut in range(len(packet)):
        assert samwire.extract_wrapped(packet[:cut], KEY, samwire.is_message) is None


def test_an_end_marker_inside_the_ciphertext_is_skipped() -> None:
    c1 = tdes.ecb_encrypt_raw(KEY, b"ABCDEFGH")  # decrypts with invalid padding on its own
    c2 = b"<E>" + b"\x01\x02\x03\x04\x05"  # ciphertext that happens to start with <E>
    c3 = tdes.ecb_encrypt_raw(KEY, b"\x08" * 8)  # a full padding block
    buf = c1 + c2 + c3 + b"<E>"
    plain, used = samwire.extract_wrapped(buf, KEY, lambda p: True)  # type: ignore[misc]
    assert used == len(buf)
    assert plain == b"ABCDEFGH" + tdes.ecb_decrypt_raw(KEY, c2)


def test_oversized_garbage_is_refused() -> None:
    with pytest.raises(SamProtocolError):
        samwire.extract_wrapped(b"\x00" * 5000, KEY, lambda p: True)
    with pytest.raises(SamProtocolError):
        samwire.extract_clear(b"x" * 5000)


def test_session_message_encoding() -> None:
    msg = SamMessage("01", (("id", b"000012345678"), ("rn", b"\x00<E>\xff\x01\x02\x03")))
    wire = msg.encode()
    assert wire == b"01<id=12>000012345678<rn=8>\x00<E>\xff\x01\x02\x03<E>"
    assert samwire.parse_message(wire) == msg
    assert samwire.expect(msg, "01", (("id", 12), ("rn", 8))) == [
        msg.fields[0][1],
        msg.fields[1][1],
    ]
    ok = samwire.parse_message(b"04<rc=2>OK<si=3>ABC<E>")
    assert ok.get("rc") == b"OK" and ok.get("si") == b"ABC"


@pytest.mark.parametrize(
    "bad",
    [b"", b"01", b"0x<E>", b"01<id=12>short<E>", b"01<ID=1>x<E>", b"01<id=1>xy<E>", b"01junk<E>"],
)
def test_malformed_messages(bad: bytes) -> None:
    with pytest.raises(SamProtocolError):
        samwire.parse_message(bad)


def test_expect_checks_kind_tags_and_lengths() -> None:
    msg = samwire.parse_message(b"02<au=3>abc<E>")
    for layout in ((("au", 32),), (("rn", 3),), (("au", 3), ("x", 1))):
        with pytest.raises(SamProtocolError):
            samwire.expect(msg, "02", layout)  # type: ignore[arg-type]
    with pytest.raises(SamProtocolError):
        samwire.expect(msg, "04", (("au", 3),))


def test_server_hello_layout_for_rsa_1024() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    block = bytes(range(128))
    plain = samwire.encode_server_hello(key, block)
    # the positions nhi-agent.md gives: key at 6..0x116, " 128 ", block at 0x11B..0x19B
    assert plain[:6] == b"Hello "
    assert plain[6:0x116] == samwire.public_pem(key) and plain[0x115:0x116] == b"\n"
    assert plain[0x116:0x11B] == b" 128 "
    assert plain[0x11B:0x19B] == block and len(plain) == 0x19B
    parsed_key, parsed_block = samwire.parse_server_hello(plain)
    assert parsed_block == block
    assert parsed_key.public_numbers() == key.public_numbers()


def test_client_hello_strips_the_final_newline() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    plain = samwire.encode_client_hello(key)
    assert plain.startswith(b"Hello -----BEGIN PUBLIC KEY-----\n")
    assert plain.endswith(b"-----END PUBLIC KEY-----")
    assert samwire.parse_client_hello(plain).public_numbers() == key.public_numbers()


def test_length_prefixed_block() -> None:
    wire = samwire.length_prefixed(b"\x01" * 128)
    assert wire[:5] == b" 128 " and wire.endswith(b"<E>")
    assert samwire.extract_length_prefixed(wire) == (b"\x01" * 128, len(wire))
    assert samwire.extract_length_prefixed(wire[:50]) is None
    assert samwire.extract_length_prefixed(b" 12") is None
    for bad in (b"x128 ", b" 0 <E>", b" 3 abcX<E>", b" 1234567"):
        with pytest.raises(SamProtocolError):
            samwire.extract_length_prefixed(bad)


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_garbage_gives_typed_errors_only(data: bytes) -> None:
    parsers = (
        lambda: samwire.parse_message(data),
        lambda: samwire.parse_server_hello(data),
        lambda: samwire.parse_client_hello(data),
        lambda: samwire.extract_length_prefixed(data),
        lambda: samwire.extract_clear(data),
        lambda: samwire.extract_wrapped(data, KEY, samwire.is_message),
        lambda: samwire.extract_wrapped(data, KEY, samwire.is_hello, 64),
    )
    for parse in parsers:
        with contextlib.suppress(SamProtocolError):
            parse()


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_hello_with_garbage_after_the_prefix(tail: bytes) -> None:
    for data in (b"Hello -----BEGIN PUBLIC KEY-----" + tail, b"Hello " + tail):
        for parse in (samwire.parse_server_hello, samwire.parse_client_hello):
            with contextlib.suppress(SamProtocolError):
                parse(data)
