"""EnCrypt / SecureGetBasic: the published construction, its inverse, the Asia/Taipei date."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.agent.base import BasicData
from nhicard.agent.errors import AgentUsageError
from nhicard.agent.sam import encrypt
from nhicard.agent.sam.encrypt import EncryptedDataInvalid
from nhicard.cli.main import exit_code_for
from nhicard.core.clock import taipei_date

CARD = "000012345678"
DAY = date(2025, 3, 9)


def counter_rng() -> encrypt.Rng:
    state = {"n": 0}

    def rng(n: int) -> bytes:
        out = bytes((state["n"] + i) & 0xFF for i in range(n))
        state["n"] += n
        return out

    return rng


def _3des(key: bytes, data: bytes, decrypt: bool = False) -> bytes:
    c = Cipher(TripleDES(key), modes.ECB())
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def test_encrypt_password_matches_an_independent_construction() -> None:
    # key1 = SHA1(card + YYYYMMDD) || 27 06 58 66; PKCS#5; IV-pad with rng bytes; L_KEY1
    key1 = hashlib.sha1(b"000012345678" + b"20250309").digest() + bytes.fromhex("27065866")
    inner = _3des(key1, b"secret12" + b"\x08" * 8)  # 8-byte password: a full padding block
    assert len(inner) == 16
    padded = inner[0:7] + b"\x00" + inner[7:14] + b"\x01" + inner[14:16] + b"\x00" * 5 + b"\x02"
    expected = _3des(b"272526864181565247277656", padded).hex().upper()
    assert encrypt.encrypt_password(CARD, "secret12", DAY, counter_rng()) == expected
    assert len(expected) == 48


@pytest.mark.parametrize("pwd", ["abc123", "Pass,word=1&", "中文密碼abc", "123456789012"])
def test_round_trip(pwd: str) -> None:
    hexstr = encrypt.encrypt_password(CARD, pwd, DAY)
    assert hexstr == hexstr.upper()
    assert encrypt.decrypt_password(CARD, hexstr, DAY) == pwd


def test_random_iv_bytes_change_the_output_but_not_the_password() -> None:
    a = encrypt.encrypt_password(CARD, "abc123", DAY)
    b = encrypt.encrypt_password(CARD, "abc123", DAY)
    assert a != b
    assert encrypt.decrypt_password(CARD, a, DAY) == encrypt.decrypt_password(CARD, b, DAY)


@pytest.mark.parametrize("pwd", ["", "12345", "1234567890123"])
def test_password_length_is_8009(pwd: str) -> None:
    with pytest.raises(AgentUsageError) as info:
        encrypt.encrypt_password(CARD, pwd, DAY)
    assert info.value.official_code == "8009"
    assert exit_code_for(info.value) == 2


def test_date_boundary_around_midnight_asia_taipei() -> None:
    # 15:59:59 UTC is 23:59:59 in Taipei; one second later it is the next day there
    before = datetime(2025, 3, 9, 15, 59, 59, tzinfo=UTC)
    after = datetime(2025, 3, 9, 16, 0, 0, tzinfo=UTC)
    assert taipei_date(before) == date(2025, 3, 9)
    assert taipei_date(after) == date(2025, 3, 10)
    assert taipei_date(datetime(2025, 3, 9, 16, 0, 0)) == date(2025, 3, 10)  # naive = UTC
    sent = encrypt.encrypt_password(CARD, "abc123", taipei_date(before))
    # a server that is one second later (already the next day in Taipei) cannot decrypt it
    with pytest.raises(EncryptedDataInvalid) as info:
        encrypt.decrypt_password(CARD, sent, taipei_date(after))
    assert exit_code_for(info.value) == 9
    assert "Asia/Taipei" in info.value.hint.en  # type: ignore[union-attr]
    assert encrypt.decrypt_password(CARD, sent, date(2025, 3, 9)) == "abc123"


def test_wrong_card_number_does_not_decrypt() -> None:
    sent = encrypt.encrypt_password(CARD, "abc123", DAY)
    with pytest.raises(EncryptedDataInvalid):
        encrypt.decrypt_password("000023456789", sent, DAY)


def test_iv_pad_layout() -> None:
    data = bytes(range(16))
    padded = encrypt.iv_pad(data, lambda n: b"\xee" * n)
    assert padded == (
        bytes(range(0, 7))
        + b"\xee"
        + bytes(range(7, 14))
        + b"\xee"
        + bytes([14, 15])
        + b"\x00" * 5
        + b"\xee"
    )
    assert encrypt.iv_unpad(padded) == data


def test_secure_get_basic_is_the_published_construction() -> None:
    """Big5-HKSCS basic data, IV-padded (7-byte chunks, last zero-filled, one random byte
    after each), single DES-ECB under the ASCII date MMDDYYYY, uppercase hex."""
    basic = BasicData(CARD, "A123456789", "林峯", "0770315", "M", "0")  # 峯: HKSCS only
    with pytest.raises(UnicodeEncodeError):
        basic.to_wire().encode("big5")
    plain = basic.to_wire().encode("big5hkscs")
    padded = b"".join(
        plain[i : i + 7].ljust(7, b"\0") + bytes([n]) for n, i in enumerate(range(0, len(plain), 7))
    )
    des = Cipher(TripleDES(b"03092025" * 3), modes.ECB()).encryptor()
    expected = (des.update(padded) + des.finalize()).hex().upper()
    assert encrypt.secure_basic_key(DAY) == b"03092025"
    assert encrypt.encrypt_secure_basic(basic, DAY, counter_rng()) == expected
    assert encrypt.decrypt_secure_basic(expected, DAY) == basic
    # another date's key does not read it
    with pytest.raises(EncryptedDataInvalid):
        encrypt.decrypt_secure_basic(expected, date(2025, 3, 10))
    # an EnCrypt value is not a SecureGetBasic value
    with pytest.raises(EncryptedDataInvalid):
        encrypt.decrypt_secure_basic(encrypt.encrypt_password(CARD, "abc123", DAY), DAY)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_decrypt_garbage_raises_only_typed_error(garbage: str) -> None:
    with contextlib.suppress(EncryptedDataInvalid):
        encrypt.decrypt_password(CARD, garbage, DAY)


@settings(max_examples=100)
@given(st.binary(min_size=8, max_size=64).filter(lambda b: len(b) % 8 == 0))
def test_decrypt_random_blocks_raises_only_typed_error(blob: bytes) -> None:
    with contextlib.suppress(EncryptedDataInvalid):
        encrypt.decrypt_secure_basic(blob.hex(), DAY)
