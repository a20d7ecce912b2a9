"""Server-side rules of the sandbox NHI registration site, as pure functions.

Each check returns None when the input is acceptable, else the site's message
(:mod:`nhicard.sandbox.nhi_messages`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from nhicard.core.i18n import Text
from nhicard.sandbox import nhi_messages as msg
from nhicard.sandbox.data import SandboxData
from nhicard.sandbox.keys import verify_h_sign
from nhicard.sandbox.registry import canonical_household_id
from nhicard.sandbox.store import RegistrationStore

_HOUSEHOLD_ID = re.compile(r"[A-Z0-9]{8}")
_NEIGHBORHOOD = re.compile(r"[0-9]{1,3}")
_PASSWORD = re.compile(r"[!-~]+")  # printable ASCII without space
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+")
_PHONE = re.compile(r"0[0-9]{1,3}-?[0-9]{5,8}(#[0-9]{1,6})?")
_MOBILE = re.compile(r"09[0-9]{8}")
_CARD = re.compile(r"[0-9]{12}")
_VERSION = re.compile(r"[0-9A-Za-z]{4}")
_RANDOM = re.compile(r"[0-9]{16}")
_SIGN = re.compile(r"[0-9A-Fa-f]{256}")


@dataclass(frozen=True)
class CardIdentity:
    """The card a signed 讀取 proved to be present."""

    card_number: str
    id_number: str
    name: str


def household_id_problem(value: str) -> Text | None:
    canon = canonical_household_id(value)
    if not canon:
        return msg.HOUSEHOLD_REQUIRED
    return None if _HOUSEHOLD_ID.fullmatch(canon) else msg.HOUSEHOLD_FORMAT


def neighborhood_problem(value: str) -> Text | None:
    v = value.strip()
    if not _NEIGHBORHOOD.fullmatch(v) or int(v) == 0:
        return msg.NEIGHBORHOOD_FORMAT
    return None


def password_problem(password: str, confirm: str) -> Text | None:
    if not 6 <= len(password) <= 12:
        return msg.PASSWORD_LENGTH
    if not _PASSWORD.fullmatch(password):
        return msg.PASSWORD_CHARS
    if password != confirm:
        return msg.PASSWORD_CONFIRM
    return None


def email_problem(value: str) -> Text | None:
    v = value.strip()
    return None if len(v) <= 254 and _EMAIL.fullmatch(v) else msg.EMAIL_FORMAT


def normalize_phone(value: str) -> str:
    return re.sub(r"[\s()]", "", value)


def phone_problem(value: str) -> Text | None:
    return None if _PHONE.fullmatch(normalize_phone(value)) else msg.PHONE_FORMAT


def mobile_problem(value: str) -> Text | None:
    v = re.sub(r"[\s\-]", "", value)
    return None if _MOBILE.fullmatch(v) else msg.MOBILE_FORMAT


def check_agent_fields(
    *,
    basic: str,
    version: str,
    random: str,
    sign: str,
    public_key: RSAPublicKey,
    data: SandboxData,
    store: RegistrationStore,
    now: datetime,
    random_alone: bool = False,
) -> CardIdentity | Text:
    """Verify what 讀取 posted: ``hidBasic`` (``card_no,id_no,name,birthROC7,sex,term``),
    ``hidVersion`` + ``hidRandom`` signed by the SAM in ``hidSign`` for that card number; the
    card must be one the sandbox knows, with that ID number.

    ``random_alone`` is the card + password path (the login): there the official page script
    (``InnerAuthHC``, nhi-agent.md) has only the 16-digit random signed, so a signature over
    ``hidRandom`` alone is accepted; one over version + random is accepted too, since what
    the real server does with that form is not known. Each signed text is single-use, keyed
    by what was signed (a random-alone signature cannot be replayed under another version)."""
    if not (basic and version and random and sign):
        return msg.NOT_READ
    fields = basic.split(",")
    if (
        len(fields) != 6
        or not _CARD.fullmatch(fields[0])
        or not _VERSION.fullmatch(version)
        or not _RANDOM.fullmatch(random)
        or not _SIGN.fullmatch(sign)
    ):
        return msg.CARD_NOT_VERIFIED
    card_number, id_number, name = fields[0], fields[1].strip().upper(), fields[2].strip()
    signed = signed_text(public_key, card_number, version, random, sign, random_alone)
    if signed is None:
        return msg.CARD_NOT_VERIFIED
    if not store.claim_nonce(f"h_sign:{card_number}:{signed}", now):
        return msg.CARD_NOT_VERIFIED
    record = data.card(card_number)
    if record is None or record.id_number.upper() != id_number:
        return msg.CARD_DATA_MISMATCH
    return CardIdentity(card_number, id_number, name or record.name)


def signed_text(
    public_key: RSAPublicKey,
    card_number: str,
    version: str,
    random: str,
    sign: str,
    random_alone: bool,
) -> str | None:
    """What ``sign`` is the SAM's signature over (after the card number): version + random,
    or, when ``random_alone`` allows it, the random alone; None when neither."""
    candidates = (random, version + random) if random_alone else (version + random,)
    for text in candidates:
        if verify_h_sign(public_key, card_number, text, sign.upper()):
            return text
    return None
