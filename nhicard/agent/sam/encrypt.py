"""EnCrypt (the card + password login) and its inverse, as published (nhi-agent.md).

key1 = SHA1(card number (12 ASCII) + local date ``YYYYMMDD``) ‖ ``27 06 58 66``; the password is
3DES-ECB/PKCS#5 encrypted with key1, "IV-padded" (every 7 bytes followed by one random byte,
the last chunk zero-filled to 7 first) and encrypted again, without further padding, with the
static key ``L_KEY1``; the result is uppercase hex. The date is the Asia/Taipei date: the server
decrypts with its own date, so a wrong clock or time zone around midnight breaks logins.

``SecureGetBasicWithParam`` as published by the interoperability analysis (nhi-agent.md): the
password argument is not used; the ``GetBasic`` string (without prefix) encoded as Big5-HKSCS,
IV-padded as above, encrypted with single DES in ECB mode under the ASCII key ``MMDDYYYY`` of
the date (Asia/Taipei, as EnCrypt), as uppercase hex. Like EnCrypt it depends on the date.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import date

from nhicard.agent.base import AgentError, BasicData, check_password_length
from nhicard.agent.sam import tdes
from nhicard.core.errors import AuthRefused
from nhicard.core.i18n import T

L_KEY1 = b"272526864181565247277656"
KEY1_SUFFIX = bytes.fromhex("27065866")

Rng = Callable[[int], bytes]
"""``rng(n)`` returns n random bytes (default :func:`secrets.token_bytes`)."""


class EncryptedDataInvalid(AuthRefused):
    """The hex could not be decrypted: wrong card number or date (clock / time zone), or not
    an EnCrypt value at all."""


def _invalid(why: str) -> EncryptedDataInvalid:
    return EncryptedDataInvalid(
        T("無法解開加密的密碼資料", "the encrypted password data cannot be decrypted"),
        hint=T(
            "請確認電腦的日期、時間與時區(Asia/Taipei)正確。",
            "Check the computer's date, time and time zone (Asia/Taipei).",
        ),
        detail=why,
        reason="encrypted-data-invalid",
    )


def password_key(card_number: str, today: date) -> bytes:
    """key1 = SHA1(card number + YYYYMMDD) ‖ 27 06 58 66 (24 bytes)."""
    digest = hashlib.sha1((card_number + today.strftime("%Y%m%d")).encode("ascii")).digest()
    return digest + KEY1_SUFFIX


def iv_pad(data: bytes, rng: Rng) -> bytes:
    """Every 7 bytes followed by one random byte; the last chunk zero-filled to 7 first."""
    out = bytearray()
    for i in range(0, len(data), 7):
        out += data[i : i + 7].ljust(7, b"\0") + rng(1)
    return bytes(out)


def iv_unpad(data: bytes) -> bytes:
    """Inverse of :func:`iv_pad` for 3DES ciphertext: drop each 8th byte, then the zero fill
    (the inner ciphertext is a multiple of 8 bytes, the fill is shorter than 7)."""
    kept = b"".join(data[i : i + 7] for i in range(0, len(data), 8))
    return kept[: len(kept) // 8 * 8]


def encrypt_blob(card_number: str, plaintext: bytes, today: date, rng: Rng | None = None) -> str:
    inner = tdes.encrypt(password_key(card_number, today), plaintext)
    outer = tdes.ecb_encrypt_raw(L_KEY1, iv_pad(inner, rng or secrets.token_bytes))
    return outer.hex().upper()


def decrypt_blob(card_number: str, hexstr: str, today: date) -> bytes:
    """Inverse of :func:`encrypt_blob`; raises :class:`EncryptedDataInvalid`."""
    try:
        outer = bytes.fromhex(hexstr)
    except ValueError:
        raise _invalid("not hex") from None
    if not outer or len(outer) % 8:
        raise _invalid("length is not a positive multiple of 8 bytes")
    try:
        inner = iv_unpad(tdes.ecb_decrypt_raw(L_KEY1, outer))
        return tdes.decrypt(password_key(card_number, today), inner)
    except tdes.PaddingInvalid as exc:
        raise _invalid(str(exc)) from None


def encrypt_password(card_number: str, pwd: str, today: date, rng: Rng | None = None) -> str:
    """``EnCrypt?Pwd=``: 8009 unless 6–12 characters."""
    check_password_length(pwd)
    return encrypt_blob(card_number, pwd.encode("utf-8"), today, rng)


def decrypt_password(card_number: str, hexstr: str, today: date) -> str:
    """What the sandbox server does with an EnCrypt value (``today`` = server's Taipei date)."""
    raw = decrypt_blob(card_number, hexstr, today)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("plaintext is not UTF-8") from None


def secure_basic_key(today: date) -> bytes:
    """The single-DES key: the date as ASCII ``MMDDYYYY`` (8 bytes)."""
    return today.strftime("%m%d%Y").encode("ascii")


def _des(key: bytes) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    """Single DES (ECB, no padding) as 3DES with K1 = K2 = K3."""
    triple = key * 3
    return (
        lambda data: tdes.ecb_encrypt_raw(triple, data),
        lambda data: tdes.ecb_decrypt_raw(triple, data),
    )


def encrypt_secure_basic(basic: BasicData, today: date, rng: Rng | None = None) -> str:
    """``SecureGetBasicWithParam?Pwd=`` as published (the password is not used): Big5-HKSCS
    basic data, IV-padded, single DES under ``MMDDYYYY``, uppercase hex."""
    try:
        raw = basic.to_wire().encode("big5hkscs")
    except UnicodeEncodeError:
        from nhicard.agent.errors import agent_error

        raise agent_error("8010", detail="the name has no Big5-HKSCS form") from None
    encrypt_raw, _ = _des(secure_basic_key(today))
    return encrypt_raw(iv_pad(raw, rng or secrets.token_bytes)).hex().upper()


def decrypt_secure_basic(hexstr: str, today: date) -> BasicData:
    """Inverse of :func:`encrypt_secure_basic` (what a server reading it does; ``today`` is
    its own Taipei date); raises :class:`EncryptedDataInvalid`."""
    try:
        outer = bytes.fromhex(hexstr)
    except ValueError:
        raise _invalid("not hex") from None
    if not outer or len(outer) % 8:
        raise _invalid("length is not a positive multiple of 8 bytes")
    _, decrypt_raw = _des(secure_basic_key(today))
    plain = decrypt_raw(outer)
    raw = b"".join(plain[i : i + 7] for i in range(0, len(plain), 8)).rstrip(b"\0")
    try:
        return BasicData.from_wire(raw.decode("big5hkscs"))
    except (UnicodeDecodeError, AgentError):
        raise _invalid("not Big5-HKSCS basic data (wrong date?)") from None
