"""EnCrypt (the card + password login) and its inverse, as published (nhi-agent.md).

key1 = SHA1(card number (12 ASCII) + local date ``YYYYMMDD``) ‖ ``27 06 58 66``; the password is
3DES-ECB/PKCS#5 encrypted with key1, "IV-padded" (every 7 bytes followed by one random byte,
the last chunk zero-filled to 7 first) and encrypted again, without further padding, with the
static key ``L_KEY1``; the result is uppercase hex. The date is the Asia/Taipei date: the server
decrypts with its own date, so a wrong clock or time zone around midnight breaks logins.

``SecureGetBasicWithParam`` is not public. We define it (documented choice) as the same
construction applied to the UTF-8 text ``<GetBasic payload>,<pwd>``, keyed like EnCrypt, so a
server that can decrypt EnCrypt can read it and check that the basic data and the password
arrived together.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import date

from nhicard.agent import tdes
from nhicard.agent.base import AgentError, BasicData, check_password_length
from nhicard.errors import AuthRefused
from nhicard.i18n import T

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


def encrypt_secure_basic(
    card_number: str, basic: BasicData, pwd: str, today: date, rng: Rng | None = None
) -> str:
    """``SecureGetBasicWithParam?Pwd=`` (our definition, see the module docstring)."""
    check_password_length(pwd)
    text = basic.to_wire() + "," + pwd
    return encrypt_blob(card_number, text.encode("utf-8"), today, rng)


def decrypt_secure_basic(card_number: str, hexstr: str, today: date) -> tuple[BasicData, str]:
    """Inverse of :func:`encrypt_secure_basic`: the basic data and the password."""
    raw = decrypt_blob(card_number, hexstr, today)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("plaintext is not UTF-8") from None
    fields = text.split(",")
    if len(fields) < 7:
        raise _invalid("not basic data followed by a password")
    # the password is everything after the 6th field (it may itself contain commas); the
    # name, the 3rd field, is assumed comma-free here
    try:
        basic = BasicData.from_wire(",".join(fields[:6]))
    except AgentError:
        raise _invalid("the basic data inside is malformed") from None
    return basic, ",".join(fields[6:])
