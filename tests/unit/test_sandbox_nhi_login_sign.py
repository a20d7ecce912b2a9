"""The sandbox NHI site's check of the agent fields: the card + password login accepts a
signature over the 16-digit random alone (the official page script's ``InnerAuthHC`` path,
nhi-agent.md) and, since the real server's answer to the other form is not known, over
version + random too; the H_Sign path (apply, verify) accepts only version + random. Each
signed text is single-use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from nhicard.core.i18n import Text
from nhicard.sandbox import nhi_messages as msg
from nhicard.sandbox import nhi_rules as rules
from nhicard.sandbox.data import load_data
from nhicard.sandbox.keys import sign_h_sign
from nhicard.sandbox.store import RegistrationStore

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CARD = "000012345678"
BASIC = f"{CARD},A123456789,王小明,0650101,M,0"
VERSION = "0011"
RANDOM = "1234567890123456"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RegistrationStore]:
    s = RegistrationStore.open(tmp_path, scrypt_n=2**10)
    yield s
    s.close()


def check(
    store: RegistrationStore,
    sign: str,
    *,
    random_alone: bool,
    version: str = VERSION,
    random: str = RANDOM,
) -> rules.CardIdentity | Text:
    return rules.check_agent_fields(
        basic=BASIC,
        version=version,
        random=random,
        sign=sign,
        public_key=KEY.public_key(),
        data=load_data(None),
        store=store,
        now=NOW,
        random_alone=random_alone,
    )


def test_login_accepts_the_random_signed_alone(store: RegistrationStore) -> None:
    sign = sign_h_sign(KEY, CARD, RANDOM)
    card = check(store, sign, random_alone=True)
    assert card == rules.CardIdentity(CARD, "A123456789", "王小明")


def test_login_accepts_version_plus_random_too(store: RegistrationStore) -> None:
    """Not sourced either way for the real server, so the sandbox accepts it."""
    sign = sign_h_sign(KEY, CARD, VERSION + RANDOM)
    assert isinstance(check(store, sign, random_alone=True), rules.CardIdentity)


def test_h_sign_path_refuses_the_random_signed_alone(store: RegistrationStore) -> None:
    sign = sign_h_sign(KEY, CARD, RANDOM)
    assert check(store, sign, random_alone=False) == msg.CARD_NOT_VERIFIED
    good = sign_h_sign(KEY, CARD, VERSION + RANDOM)
    assert isinstance(check(store, good, random_alone=False), rules.CardIdentity)


def test_a_random_alone_signature_is_single_use_whatever_the_version(
    store: RegistrationStore,
) -> None:
    sign = sign_h_sign(KEY, CARD, RANDOM)
    assert isinstance(check(store, sign, random_alone=True), rules.CardIdentity)
    assert check(store, sign, random_alone=True) == msg.CARD_NOT_VERIFIED
    # the version is not signed in this form: changing it must not make a replay new
    assert check(store, sign, random_alone=True, version="0001") == msg.CARD_NOT_VERIFIED


def test_login_refuses_a_signature_over_another_random(store: RegistrationStore) -> None:
    sign = sign_h_sign(KEY, CARD, "6543210987654321")
    assert check(store, sign, random_alone=True) == msg.CARD_NOT_VERIFIED
    wrong_card = sign_h_sign(KEY, "000023456789", RANDOM)
    assert check(store, wrong_card, random_alone=True) == msg.CARD_NOT_VERIFIED
