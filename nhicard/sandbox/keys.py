"""The sandbox SAM's keys: an RSA-1024 signing/handshake key and the 24-byte wrapping key
(the sandbox's stand-in for the published L_KEY), kept per sandbox directory.

Files (PEM / hex, mode 0600): ``sam_private_key.pem``, ``sam_public_key.pem``,
``sam_wrap_key.hex`` (read by :mod:`nhicard.sites.sandbox_endpoints`). Creation is atomic (write a
temp file, hard-link it into place), so two processes starting at once end up with the same
keys.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nhicard.core.atomicfile import create_file_once
from nhicard.net.certs import private_key_pem
from nhicard.sandbox.algorithms import h_sign_message
from nhicard.sites.sandbox_endpoints import WRAP_KEY_FILE, load_wrap_key
from nhicard.sites.sandbox_endpoints import bad_key_file as _bad_keys

PRIVATE_KEY_FILE = "sam_private_key.pem"
PUBLIC_KEY_FILE = "sam_public_key.pem"


def _load_private(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise _bad_keys(path, type(exc).__name__) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _bad_keys(path, "not an RSA key")
    return key


@dataclass(frozen=True)
class SandboxKeys:
    """The sandbox SAM's RSA key pair and wrapping key."""

    sam_private_key: rsa.RSAPrivateKey = field(repr=False)
    wrap_key: bytes = field(repr=False)

    @property
    def sam_public_key(self) -> rsa.RSAPublicKey:
        return self.sam_private_key.public_key()

    @classmethod
    def load_or_create(cls, directory: Path) -> SandboxKeys:
        """Load the keys of a sandbox directory, creating any that are missing."""
        d = Path(directory)
        priv = d / PRIVATE_KEY_FILE
        if not priv.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
            create_file_once(priv, private_key_pem(key))
        private_key = _load_private(priv)
        pub = d / PUBLIC_KEY_FILE
        if not pub.exists():
            create_file_once(
                pub,
                private_key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ),
            )
        if not (d / WRAP_KEY_FILE).exists():
            create_file_once(
                d / WRAP_KEY_FILE, secrets.token_bytes(24).hex().encode("ascii") + b"\n"
            )
        return cls(private_key, load_wrap_key(d))

    @classmethod
    def load(cls, directory: Path) -> SandboxKeys:
        """Load existing keys; raise :class:`UsageError` if they are missing."""
        d = Path(directory)
        priv = d / PRIVATE_KEY_FILE
        if not priv.exists():
            raise _bad_keys(priv, "missing (is the sandbox set up?)")
        return cls(_load_private(priv), load_wrap_key(d))


def load_public_key(directory: Path) -> rsa.RSAPublicKey:
    """The SAM public key of a sandbox directory (what the sandbox sites verify with)."""
    path = Path(directory) / PUBLIC_KEY_FILE
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise _bad_keys(path, type(exc).__name__) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise _bad_keys(path, "not an RSA key")
    return key


def sign_h_sign(private_key: rsa.RSAPrivateKey, card_number: str, version_plus_random: str) -> str:
    """The sandbox H_Sign: RSA PKCS#1 v1.5 SHA-256 over card number ‖ version+random, as 256
    uppercase hex characters (for a 1024-bit key)."""
    sig = private_key.sign(
        h_sign_message(card_number, version_plus_random), padding.PKCS1v15(), hashes.SHA256()
    )
    return sig.hex().upper()


def verify_h_sign(
    public_key: rsa.RSAPublicKey, card_number: str, version_plus_random: str, sig_hex: str
) -> bool:
    """True when ``sig_hex`` is the sandbox SAM's H_Sign of this card and these 20 characters.
    Never raises for malformed input."""
    if not isinstance(sig_hex, str) or len(sig_hex) != 256:
        return False
    try:
        sig = bytes.fromhex(sig_hex)
        message = h_sign_message(card_number, version_plus_random)
    except (ValueError, UnicodeEncodeError, AttributeError):
        return False
    try:
        public_key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True
