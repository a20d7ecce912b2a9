"""The sandbox registration store: registrations, single-use expiring links, lockout."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.sandbox.store import (
    AlreadyRegistered,
    LinkState,
    RegistrationStore,
    check_password,
    hash_password,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CARD = "000012345678"


@pytest.fixture
def store(tmp_path: Path) -> RegistrationStore:
    s = RegistrationStore.open(tmp_path, scrypt_n=2**10)
    yield s
    s.close()


def register(store: RegistrationStore, password: str = "secret12", card: str = CARD) -> str:
    store.apply(
        card_number=card,
        id_number="A123456789",
        name="王小明",
        password=password,
        email="wang@example.com",
        phone="0212345678",
        mobile="0912345678",
        now=T0,
    )
    token = store.issue_link(card, T0)
    assert store.complete_verification(token, T0).state is LinkState.VALID
    return token


def test_application_is_pending_until_the_link_is_used(store: RegistrationStore) -> None:
    store.apply(card_number=CARD, id_number="A123456789", name="王小明", password="secret12",
                email="a@b.tw", phone="0212345678", mobile="0912345678", now=T0)  # fmt: skip
    assert store.get_registration(CARD) is None
    pending = store.get_application(CARD)
    assert pending is not None and pending.verified is False
    token = store.issue_link(CARD, T0)
    assert store.check_link(token, T0).state is LinkState.VALID
    assert store.authenticate(CARD, "secret12", T0).ok is False  # not verified yet
    assert store.complete_verification(token, T0 + timedelta(hours=1)).state is LinkState.VALID
    done = store.get_registration(CARD)
    assert done is not None and done.verified and done.verified_at == T0 + timedelta(hours=1)
    assert store.authenticate(CARD, "secret12", T0).ok is True


def test_link_is_single_use(store: RegistrationStore) -> None:
    token = register(store)
    assert store.check_link(token, T0).state is LinkState.USED
    assert store.complete_verification(token, T0).state is LinkState.USED
    assert store.check_link("no-such-token", T0).state is LinkState.UNKNOWN


def test_link_expires_after_its_ttl(store: RegistrationStore) -> None:
    store.apply(card_number=CARD, id_number="A123456789", name="王小明", password="secret12",
                email="a@b.tw", phone="0212345678", mobile="0912345678", now=T0)  # fmt: skip
    token = store.issue_link(CARD, T0, timedelta(hours=2))
    almost = T0 + timedelta(hours=2) - timedelta(seconds=1)
    assert store.check_link(token, almost).state is LinkState.VALID
    late = store.complete_verification(token, T0 + timedelta(hours=2))
    assert late.state is LinkState.EXPIRED
    assert store.get_registration(CARD) is None


def test_reapplying_voids_the_earlier_link(store: RegistrationStore) -> None:
    kw = dict(card_number=CARD, id_number="A123456789", name="王小明", email="a@b.tw",
              phone="0212345678", mobile="0912345678", now=T0)  # fmt: skip
    store.apply(password="first123", **kw)  # type: ignore[arg-type]
    first = store.issue_link(CARD, T0)
    store.apply(password="second12", **kw)  # type: ignore[arg-type]
    assert store.check_link(first, T0).state is LinkState.USED


def test_a_registered_card_cannot_apply_again(store: RegistrationStore) -> None:
    register(store)
    with pytest.raises(AlreadyRegistered) as err:
        register(store)
    assert exit_code_for(err.value) == 8 and err.value.reason == "already-registered"


def test_three_wrong_passwords_lock_ten_minutes_and_three_locks_revoke(
    store: RegistrationStore,
) -> None:
    register(store)
    now = T0
    for lock in range(1, 4):
        first = store.authenticate(CARD, "wrong-1", now)
        second = store.authenticate(CARD, "wrong-2", now)
        assert (first.ok, first.attempts_left) == (False, 2)
        assert (second.ok, second.attempts_left) == (False, 1)
        third = store.authenticate(CARD, "wrong-3", now)
        if lock < 3:
            assert third.locked_until == now + timedelta(minutes=10)
            assert third.revoked is False
            # while locked even the right password is refused
            during = store.authenticate(CARD, "secret12", now + timedelta(minutes=9))
            assert (during.ok, during.locked_until) == (False, third.locked_until)
            now += timedelta(minutes=10)
        else:
            assert third.revoked is True and third.locked_until is None
    assert store.authenticate(CARD, "secret12", now + timedelta(days=1)).revoked is True


def test_a_correct_password_resets_the_failure_count(store: RegistrationStore) -> None:
    register(store)
    store.authenticate(CARD, "wrong-1", T0)
    store.authenticate(CARD, "wrong-2", T0)
    assert store.authenticate(CARD, "secret12", T0).ok
    assert store.authenticate(CARD, "wrong-3", T0).attempts_left == 2


def test_unknown_card_never_authenticates(store: RegistrationStore) -> None:
    result = store.authenticate("999999999999", "whatever", T0)
    assert (result.ok, result.locked_until, result.revoked) == (False, None, False)


def test_password_is_stored_only_as_salted_scrypt(store: RegistrationStore, tmp_path: Path) -> None:
    register(store, password="Plain-Pw9")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("registrations.sqlite3*"))
    assert b"Plain-Pw9" not in raw
    row = sqlite3.connect(store.path).execute("SELECT password_hash FROM registrations").fetchone()
    assert row[0].startswith("scrypt$1024$8$1$")
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    assert hash_password("x" * 8, n=2**10) != hash_password("x" * 8, n=2**10)  # salted
    assert check_password("Plain-Pw9", row[0]) and not check_password("plain-pw9", row[0])
    assert check_password("x", "garbage") is False


def test_nonce_is_single_use(store: RegistrationStore) -> None:
    assert store.claim_nonce("h_sign:1", T0) is True
    assert store.claim_nonce("h_sign:1", T0) is False
    assert store.claim_nonce("h_sign:2", T0) is True


def test_state_survives_reopening(tmp_path: Path) -> None:
    first = RegistrationStore.open(tmp_path, scrypt_n=2**10)
    register(first)
    first.close()
    again = RegistrationStore.open(tmp_path)
    assert again.is_registered(CARD)
    assert again.authenticate(CARD, "secret12", T0).ok
    again.close()
