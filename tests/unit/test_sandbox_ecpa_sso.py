"""The eCPA single sign-on token: signed, short-lived, single-use, for one audience."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.core.errors import AuthRefused
from nhicard.sandbox.sso import ReplayGuard, SsoSigner, SsoVerifier

NOW = datetime(2024, 5, 1, 4, 0, 0, tzinfo=UTC)
RP = "https://127.0.0.1:8442"


def pair(secret: bytes = b"s" * 32) -> tuple[SsoSigner, SsoVerifier]:
    signer = SsoSigner.from_secret(secret)
    return signer, SsoVerifier(signer.public_key, audience=RP)


def reason(verifier: SsoVerifier, token: str, now: datetime = NOW) -> str | None:
    with pytest.raises(AuthRefused) as info:
        verifier.verify(token, now)
    return info.value.reason


def test_round_trip_carries_name_and_id() -> None:
    signer, verifier = pair()
    token = signer.issue(audience=RP, uid="A123456789", name="王小明", now=NOW)
    claims = verifier.verify(token, NOW + timedelta(seconds=10))
    assert (claims.uid, claims.name, claims.audience, claims.issuer) == (
        "A123456789",
        "王小明",
        RP,
        "ecpa-sandbox",
    )
    assert claims.expires_at - claims.issued_at == timedelta(seconds=120)
    assert len(claims.token_id) == 32


def test_same_secret_same_key_other_secret_refused() -> None:
    signer, _ = pair(b"a" * 32)
    _, same = pair(b"a" * 32)
    _, other = pair(b"b" * 32)
    token = signer.issue(audience=RP, uid="A123456789", name="王小明", now=NOW)
    assert reason(other, token) == "bad-signature"
    assert same.verify(token, NOW).name == "王小明"


def test_single_use() -> None:
    signer, verifier = pair()
    token = signer.issue(audience=RP, uid="A123456789", name="王小明", now=NOW)
    verifier.verify(token, NOW)
    assert reason(verifier, token) == "replayed"


def test_shared_guard_blocks_replay_across_verifiers() -> None:
    signer = SsoSigner.from_secret(b"k" * 32)
    guard = ReplayGuard()
    one = SsoVerifier(signer.public_key, audience=RP, replay_guard=guard)
    two = SsoVerifier(signer.public_key, audience=RP, replay_guard=guard)
    token = signer.issue(audience=RP, uid="A1", name="n", now=NOW)
    one.verify(token, NOW)
    assert reason(two, token) == "replayed"


def test_expired_and_future_tokens_refused_and_not_consumed() -> None:
    signer, verifier = pair()
    token = signer.issue(audience=RP, uid="A123456789", name="王小明", now=NOW)
    assert reason(verifier, token, NOW + timedelta(seconds=126)) == "expired"
    assert reason(verifier, token, NOW - timedelta(seconds=6)) == "not-yet-valid"
    # neither refusal used the token up
    assert verifier.verify(token, NOW + timedelta(seconds=124)).uid == "A123456789"


def test_wrong_audience() -> None:
    signer, verifier = pair()
    token = signer.issue(audience="https://127.0.0.1:9999", uid="A1", name="n", now=NOW)
    assert reason(verifier, token) == "wrong-audience"


def test_tampered_claims_refused() -> None:
    signer, verifier = pair()
    token = signer.issue(audience=RP, uid="A123456789", name="王小明", now=NOW)
    other = signer.issue(audience=RP, uid="B223456789", name="李四", now=NOW)
    assert re.fullmatch(r"(?:[0-9A-F]{2}){64,}", token)  # uppercase hex, as the real one
    head, _, sig = bytes.fromhex(token).decode().split(".")
    _, body, _ = bytes.fromhex(other).decode().split(".")
    forged = f"{head}.{body}.{sig}".encode().hex().upper()
    assert reason(verifier, forged) == "bad-signature"
    assert reason(verifier, token.lower()) == "malformed"  # hex, but not the site's form


def test_refusal_message_is_bilingual_with_hint() -> None:
    _, verifier = pair()
    with pytest.raises(AuthRefused) as info:
        verifier.verify("v1.abc", NOW)
    assert info.value.message.zh and info.value.message.en
    assert info.value.hint is not None and "eCPA" in info.value.hint.en


@settings(max_examples=300)
@given(
    st.one_of(st.text(max_size=300), st.from_regex(r"v1\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,90}"))
)
def test_arbitrary_input_only_raises_auth_refused(token: str) -> None:
    _, verifier = pair()
    with pytest.raises(AuthRefused) as info:
        verifier.verify(token, NOW)
    assert info.value.reason in {"malformed", "bad-signature"}
