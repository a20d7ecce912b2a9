"""The sandbox eCPA's single sign-on token (``APReqEncodedData``).

eCPA is the civil service's sign-on hub: after a login it posts a hidden form field
``APReqEncodedData`` to the relying party's ``returnUrl`` (sites.md). The real token format is
not public beyond its shape: a recorded session shows a long uppercase-hex string (which
decodes as a Kerberos AP-REQ for realm ``ECPANEW.DGPA.GOV.TW``). The sandbox's has the same
outer shape, uppercase hex, over its own signed content (not Kerberos)::

    HEX( "v1.<base64url(JSON claims)>.<base64url(Ed25519 signature over "v1.<claims part>")>" )

Claims: ``iss`` (issuer), ``aud`` (the relying party's origin, ``https://host:port``), ``uid``
(the person's ID number), ``name``, ``iat`` / ``exp`` (Unix seconds; a token lives
:data:`DEFAULT_TTL`), ``jti`` (random token id). The relying party accepts a token only when the
signature, the audience and the time are right, and only once (:class:`ReplayGuard`).

The hub holds the private key, a relying party only the public key; both derive from the
sandbox's state secret (:meth:`SsoSigner.from_secret`), so nothing extra is stored on disk.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from nhicard.core.errors import AuthRefused
from nhicard.core.i18n import T, Text

VERSION = "v1"
ISSUER = "ecpa-sandbox"
DEFAULT_TTL = timedelta(seconds=120)
CLOCK_LEEWAY = timedelta(seconds=5)
MAX_TOKEN_LENGTH = 8192  # hex characters
_KDF_INFO = b"nhicard sandbox eCPA SSO Ed25519 key v1"

RETRY_HINT = T(
    "請回到人事服務網 eCPA 重新登入。",
    "Sign in again through eCPA (the personnel service network).",
)
MSG_MALFORMED = T("單一登入憑證格式錯誤。", "The single sign-on token is malformed.")
MSG_BAD_SIGNATURE = T("單一登入憑證簽章不符。", "The single sign-on token's signature is invalid.")
MSG_WRONG_AUDIENCE = T(
    "此單一登入憑證不是發給本網站的。", "The single sign-on token was issued for another site."
)
MSG_EXPIRED = T("單一登入憑證已過期。", "The single sign-on token has expired.")
MSG_NOT_YET_VALID = T("單一登入憑證尚未生效。", "The single sign-on token is not valid yet.")
MSG_REPLAYED = T("此單一登入憑證已使用過。", "The single sign-on token has already been used.")


@dataclass(frozen=True)
class SsoClaims:
    """What a verified token says."""

    issuer: str
    audience: str
    uid: str
    name: str
    issued_at: datetime
    expires_at: datetime
    token_id: str


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not text or any(c not in _B64_ALPHABET for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEX_TOKEN = re.compile(r"(?:[0-9A-F]{2})+")
_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _refused(message: Text, reason: str) -> AuthRefused:
    return AuthRefused(message, hint=RETRY_HINT, reason=reason)


def derive_private_key(secret: bytes) -> Ed25519PrivateKey:
    """The hub's Ed25519 key, derived from the sandbox state secret (HKDF-SHA256)."""
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(secret)
    return Ed25519PrivateKey.from_private_bytes(seed)


class SsoSigner:
    """Issues tokens (eCPA's side)."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        *,
        issuer: str = ISSUER,
        ttl: timedelta = DEFAULT_TTL,
        token_id: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self._key = private_key
        self.issuer = issuer
        self.ttl = ttl
        self._token_id = token_id

    @classmethod
    def from_secret(cls, secret: bytes, **kw: Any) -> SsoSigner:
        return cls(derive_private_key(secret), **kw)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def issue(self, *, audience: str, uid: str, name: str, now: datetime) -> str:
        """A signed token for ``audience`` (the relying party's origin)."""
        iat = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "uid": uid,
            "name": name,
            "iat": iat,
            "exp": iat + int(self.ttl.total_seconds()),
            "jti": self._token_id(),
        }
        body = _b64e(json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode())
        signed = f"{VERSION}.{body}"
        token = f"{signed}.{_b64e(self._key.sign(signed.encode('ascii')))}"
        return token.encode("ascii").hex().upper()


class ReplayGuard:
    """Remembers used token ids until they expire (thread-safe, in memory)."""

    def __init__(self) -> None:
        self._used: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def claim(self, token_id: str, expires_at: datetime, now: datetime) -> bool:
        """True the first time a token id is seen; False on every later attempt."""
        with self._lock:
            for jti in [j for j, exp in self._used.items() if exp + CLOCK_LEEWAY < now]:
                del self._used[jti]
            if token_id in self._used:
                return False
            self._used[token_id] = expires_at
            return True


class SsoVerifier:
    """Checks tokens (the relying party's side)."""

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        audience: str,
        issuer: str = ISSUER,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self._key = public_key
        self.audience = audience
        self.issuer = issuer
        self._guard = replay_guard or ReplayGuard()

    def verify(self, token: str, now: datetime) -> SsoClaims:
        """The token's claims, or :class:`~nhicard.core.errors.AuthRefused` with ``reason`` one of
        ``malformed``, ``bad-signature``, ``wrong-audience``, ``expired``, ``not-yet-valid``,
        ``replayed``. A token is consumed only when everything else is right."""
        claims = self._check_signature(token)
        parsed = _parse_claims(claims)
        if parsed.issuer != self.issuer:
            raise _refused(MSG_BAD_SIGNATURE, "bad-signature")
        if parsed.audience != self.audience:
            raise _refused(MSG_WRONG_AUDIENCE, "wrong-audience")
        if now > parsed.expires_at + CLOCK_LEEWAY:
            raise _refused(MSG_EXPIRED, "expired")
        if now + CLOCK_LEEWAY < parsed.issued_at:
            raise _refused(MSG_NOT_YET_VALID, "not-yet-valid")
        if not self._guard.claim(parsed.token_id, parsed.expires_at, now):
            raise _refused(MSG_REPLAYED, "replayed")
        return parsed

    def _check_signature(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise _refused(MSG_MALFORMED, "malformed")
        hexed = token.strip()
        if not _HEX_TOKEN.fullmatch(hexed):
            raise _refused(MSG_MALFORMED, "malformed")
        try:
            token = bytes.fromhex(hexed).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            raise _refused(MSG_MALFORMED, "malformed") from None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise _refused(MSG_MALFORMED, "malformed")
        try:
            body = _b64d(parts[1])
            signature = _b64d(parts[2])
        except (ValueError, binascii.Error):
            raise _refused(MSG_MALFORMED, "malformed") from None
        try:
            self._key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
        except InvalidSignature:
            raise _refused(MSG_BAD_SIGNATURE, "bad-signature") from None
        try:
            claims = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _refused(MSG_MALFORMED, "malformed") from None
        if not isinstance(claims, dict):
            raise _refused(MSG_MALFORMED, "malformed")
        return claims


def _parse_claims(claims: dict[str, Any]) -> SsoClaims:
    text_fields = ("iss", "aud", "uid", "name", "jti")
    if not all(isinstance(claims.get(k), str) for k in text_fields):
        raise _refused(MSG_MALFORMED, "malformed")
    times = (claims.get("iat"), claims.get("exp"))
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        raise _refused(MSG_MALFORMED, "malformed")
    try:
        issued = datetime.fromtimestamp(claims["iat"], UTC)
        expires = datetime.fromtimestamp(claims["exp"], UTC)
    except (OverflowError, OSError, ValueError):
        raise _refused(MSG_MALFORMED, "malformed") from None
    return SsoClaims(
        issuer=claims["iss"],
        audience=claims["aud"],
        uid=claims["uid"],
        name=claims["name"],
        issued_at=issued,
        expires_at=expires,
        token_id=claims["jti"],
    )
