"""The sandbox stand-ins for the secret real algorithms (sites.md, "Sandbox-only algorithms")."""

from __future__ import annotations

import hashlib
import hmac


def mutual_auth_answer(auth_key: bytes, challenge32: bytes, card_challenge8: bytes) -> bytes:
    """The virtual card's answer to MUTUAL AUTH: HMAC-SHA256(auth_key, challenge32 ‖ the
    card's last GET CHALLENGE bytes), first 16 bytes."""
    return hmac.new(auth_key, challenge32 + card_challenge8, hashlib.sha256).digest()[:16]


def h_sign_message(card_number: str, version_plus_random: str) -> bytes:
    """What the sandbox SAM signs (RSA-1024, PKCS#1 v1.5, SHA-256) for H_Sign."""
    return card_number.encode("ascii") + version_plus_random.encode("ascii")
