"""Triple-DES in ECB mode with PKCS#5 padding, as the NHI component and SAM use it."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.padding import PKCS7

try:  # cryptography >= 43 keeps 3DES among the "decrepit" algorithms
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - cryptography 42
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[no-redef]

BLOCK = 8


class PaddingInvalid(ValueError):
    """Ciphertext length or PKCS#5 padding is wrong (wrong key or corrupted data)."""


def _cipher(key: bytes) -> Cipher[modes.ECB]:
    if len(key) not in (16, 24):
        raise ValueError("3DES key must be 16 or 24 bytes")
    return Cipher(TripleDES(key), modes.ECB())


def pkcs5_pad(data: bytes) -> bytes:
    """PKCS#5 padding: PKCS#7 over the 8-byte 3DES block (``cryptography``'s padder)."""
    padder = PKCS7(BLOCK * 8).padder()
    return padder.update(data) + padder.finalize()


def pkcs5_unpad(data: bytes) -> bytes:
    """Inverse of :func:`pkcs5_pad`; :class:`PaddingInvalid` on a bad length or padding."""
    if not data or len(data) % BLOCK:
        raise PaddingInvalid("length is not a positive multiple of 8")
    unpadder = PKCS7(BLOCK * 8).unpadder()
    try:
        return unpadder.update(data) + unpadder.finalize()
    except ValueError:
        raise PaddingInvalid("bad PKCS#5 padding") from None


def ecb_encrypt_raw(key: bytes, data: bytes) -> bytes:
    """3DES-ECB without padding; ``data`` must be a multiple of 8 bytes."""
    if len(data) % BLOCK:
        raise ValueError("data is not a multiple of 8 bytes")
    enc = _cipher(key).encryptor()
    return enc.update(data) + enc.finalize()


def ecb_decrypt_raw(key: bytes, data: bytes) -> bytes:
    """Inverse of :func:`ecb_encrypt_raw`; raises :class:`PaddingInvalid` on a bad length."""
    if len(data) % BLOCK:
        raise PaddingInvalid("ciphertext is not a multiple of 8 bytes")
    dec = _cipher(key).decryptor()
    return dec.update(data) + dec.finalize()


def encrypt(key: bytes, plaintext: bytes) -> bytes:
    """3DES-ECB with PKCS#5 padding."""
    return ecb_encrypt_raw(key, pkcs5_pad(plaintext))


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`encrypt`; raises :class:`PaddingInvalid` for a wrong key or garbage."""
    return pkcs5_unpad(ecb_decrypt_raw(key, ciphertext))
