"""The SAM wire format (nhi-agent.md, "The SAM exchange behind H_Sign"), shared by our SAM
client and the sandbox SAM server.

Every packet ends with ASCII ``<E>``. Wrapped packets are 3DES-ECB/PKCS#5 ciphertext followed
by ``<E>``. Ciphertext can itself contain the bytes ``<E>``, so the extractors here accept the
first ``<E>`` that ends a well-formed packet (8-byte aligned ciphertext that decrypts with
valid padding and the expected content) instead of blindly the first one.

The extractors work on a byte buffer and return ``None`` while more bytes are needed, so the
same code serves a blocking socket and an asyncio stream. Malformed input raises
:class:`SamProtocolError`, never anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nhicard.agent.sam import tdes
from nhicard.core.errors import NetworkError
from nhicard.core.i18n import T

END = b"<E>"
HELLO = b"Hello "
PEM_BEGIN = b"-----BEGIN PUBLIC KEY-----"
PEM_END = b"-----END PUBLIC KEY-----"
MAX_HELLO = 4096  # a wrapped hello with an RSA key up to 4096 bits fits
MAX_MESSAGE = 2048
MAX_NONCE_BLOCK = 512

LIVENESS_REQUEST = b"77" + END


class SamProtocolError(NetworkError):
    """A SAM packet that does not follow the wire format."""

    def __init__(self, why: str) -> None:
        super().__init__(
            T("認證伺服器(SAM)封包格式錯誤", "malformed packet in the SAM exchange"),
            detail=why,
            reason="sam-protocol",
        )
        self.why = why


# -- framing --------------------------------------------------------------------------


def wrap(key: bytes, plaintext: bytes) -> bytes:
    """3DES(key, plaintext) + ``<E>``."""
    return tdes.encrypt(key, plaintext) + END


def extract_clear(buf: bytes, max_size: int = MAX_MESSAGE) -> tuple[bytes, int] | None:
    """A clear packet: everything up to the first ``<E>`` → (body, bytes consumed)."""
    i = buf.find(END)
    if i < 0:
        if len(buf) > max_size:
            raise SamProtocolError(f"no <E> within {max_size} bytes")
        return None
    if i > max_size:
        raise SamProtocolError(f"packet longer than {max_size} bytes")
    return buf[:i], i + len(END)


def extract_wrapped(
    buf: bytes,
    key: bytes,
    accept: Callable[[bytes], bool],
    max_size: int = MAX_MESSAGE,
) -> tuple[bytes, int] | None:
    """A wrapped packet → (plaintext, bytes consumed).

    Tries every ``<E>`` in order; the packet ends at the first one preceded by a non-empty,
    8-byte aligned ciphertext that decrypts and whose plaintext ``accept`` approves.
    """
    start = 0
    while True:
        i = buf.find(END, start)
        if i < 0 or i > max_size:
            break
        if i and i % 8 == 0:
            try:
                plain = tdes.decrypt(key, buf[:i])
            except tdes.PaddingInvalid:
                plain = None
            if plain is not None and accept(plain):
                return plain, i + len(END)
        start = i + 1
    if len(buf) > max_size + len(END):
        raise SamProtocolError(f"no valid wrapped packet within {max_size} bytes")
    return None


_LEN_PREFIX = re.compile(rb" (\d{1,4}) ")


def extract_length_prefixed(buf: bytes) -> tuple[bytes, int] | None:
    """`` N `` + N raw bytes + ``<E>`` (step 3, the client nonce) → (block, consumed)."""
    if not buf:
        return None
    if buf[:1] != b" ":
        raise SamProtocolError("length-prefixed block does not start with a space")
    m = _LEN_PREFIX.match(buf)
    if m is None:
        if len(buf) > 6 or not buf[1:].isdigit():
            raise SamProtocolError("length prefix is not ' <digits> '")
        return None
    n = int(m.group(1))
    if not 1 <= n <= MAX_NONCE_BLOCK:
        raise SamProtocolError(f"block length {n} out of range")
    end = m.end() + n
    if len(buf) < end + len(END):
        return None
    if buf[end : end + len(END)] != END:
        raise SamProtocolError("block is not followed by <E>")
    return buf[m.end() : end], end + len(END)


def length_prefixed(block: bytes) -> bytes:
    return b" %d " % len(block) + block + END


# -- session messages -------------------------------------------------------------------


@dataclass(frozen=True)
class SamMessage:
    """``NN<tag=len>value<tag=len>value…<E>``: a two-digit kind and tagged fields."""

    kind: str
    fields: tuple[tuple[str, bytes], ...]

    def get(self, tag: str) -> bytes | None:
        return next((v for t, v in self.fields if t == tag), None)

    def encode(self) -> bytes:
        out = bytearray(self.kind.encode("ascii"))
        for tag, value in self.fields:
            out += b"<%s=%d>" % (tag.encode("ascii"), len(value)) + value
        return bytes(out + END)


_FIELD_HEAD = re.compile(rb"<([a-z]{1,8})=(\d{1,4})>")


def parse_message(plain: bytes) -> SamMessage:
    """Parse a session message (decrypted) or a clear liveness message."""
    if len(plain) < 2 + len(END) or not plain.endswith(END):
        raise SamProtocolError("message does not end with <E>")
    kind = plain[:2]
    if not kind.isdigit() or not kind.isascii():
        raise SamProtocolError("message kind is not two digits")
    body = plain[2 : -len(END)]
    fields: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(body):
        m = _FIELD_HEAD.match(body, pos)
        if m is None:
            raise SamProtocolError(f"bad field header at offset {pos + 2}")
        n = int(m.group(2))
        value = body[m.end() : m.end() + n]
        if len(value) != n:
            raise SamProtocolError(f"field {m.group(1).decode()} is truncated")
        fields.append((m.group(1).decode("ascii"), value))
        pos = m.end() + n
        if len(fields) > 8:
            raise SamProtocolError("too many fields")
    return SamMessage(kind.decode("ascii"), tuple(fields))


def is_message(plain: bytes) -> bool:
    """``accept`` predicate for :func:`extract_wrapped` of session messages."""
    try:
        parse_message(plain)
    except SamProtocolError:
        return False
    return True


def expect(msg: SamMessage, kind: str, layout: tuple[tuple[str, int | None], ...]) -> list[bytes]:
    """Check a message's kind and fields (tag, exact length or None) → the values."""
    if msg.kind != kind:
        raise SamProtocolError(f"expected message {kind}, got {msg.kind}")
    if len(msg.fields) != len(layout):
        raise SamProtocolError(f"message {kind} has {len(msg.fields)} fields")
    values = []
    for (tag, value), (want_tag, want_len) in zip(msg.fields, layout, strict=True):
        if tag != want_tag:
            raise SamProtocolError(f"message {kind}: expected <{want_tag}>, got <{tag}>")
        if want_len is not None and len(value) != want_len:
            raise SamProtocolError(f"message {kind}: <{tag}> has {len(value)} bytes")
        values.append(value)
    return values


# -- hello ---------------------------------------------------------------------------------


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_rsa_public(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise SamProtocolError(f"public key unreadable: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SamProtocolError("public key is not RSA")
    if not 1024 <= key.key_size <= 4096:
        raise SamProtocolError(f"RSA key size {key.key_size} out of range")
    return key


def is_hello(plain: bytes) -> bool:
    return plain.startswith(HELLO)


def encode_client_hello(key: rsa.RSAPublicKey) -> bytes:
    """Step 1 plaintext: ``Hello `` + PEM public key without its final newline."""
    return HELLO + public_pem(key).rstrip(b"\n")


def parse_client_hello(plain: bytes) -> rsa.RSAPublicKey:
    if not plain.startswith(HELLO + PEM_BEGIN):
        raise SamProtocolError("client hello does not start with 'Hello ' and a PEM key")
    pem = plain[len(HELLO) :]
    if not pem.rstrip(b"\n").endswith(PEM_END):
        raise SamProtocolError("client hello does not end with the PEM key")
    return _load_rsa_public(pem.rstrip(b"\n") + b"\n")


def encode_server_hello(key: rsa.RSAPublicKey, nonce_block: bytes) -> bytes:
    """Step 2 plaintext: ``Hello `` + PEM (with its newline) + `` N `` + N-byte RSA block.
    For RSA-1024 the key sits at 6..0x116 and the block at 0x11B..0x19B."""
    return HELLO + public_pem(key) + b" %d " % len(nonce_block) + nonce_block


def parse_server_hello(plain: bytes) -> tuple[rsa.RSAPublicKey, bytes]:
    if not plain.startswith(HELLO + PEM_BEGIN):
        raise SamProtocolError("server hello does not start with 'Hello ' and a PEM key")
    end = plain.find(PEM_END)
    if end < 0:
        raise SamProtocolError("server hello has no complete PEM key")
    pem_end = end + len(PEM_END)
    key = _load_rsa_public(plain[len(HELLO) : pem_end] + b"\n")
    rest = plain[pem_end:]
    if rest.startswith(b"\n"):
        rest = rest[1:]
    m = _LEN_PREFIX.match(rest)
    if m is None:
        raise SamProtocolError("server hello lacks the ' <length> ' before the nonce block")
    block = rest[m.end() :]
    if len(block) != int(m.group(1)):
        raise SamProtocolError("server hello nonce block has the wrong length")
    return key, block
