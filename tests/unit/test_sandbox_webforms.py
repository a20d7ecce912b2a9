"""Signed ASP.NET WebForms state: __VIEWSTATE and __EVENTVALIDATION."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhicard.sandbox.webforms import (
    INVALID_POSTBACK,
    VIEWSTATE_MAC_FAILED,
    EventValidationCodec,
    EventValidationError,
    ViewStateCodec,
    ViewStateError,
    WebFormsStateError,
    server_error_page,
    viewstate_generator,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
SECRET = b"s" * 32


def issue(codec: ViewStateCodec, **kw: str) -> str:
    args = {"page": "UserAction", "step": "apply", "session_id": "sid1"} | kw
    return codec.issue(now=NOW, data={"city": "01"}, **args)


def test_viewstate_round_trip() -> None:
    codec = ViewStateCodec(SECRET)
    state = codec.check(issue(codec), page="UserAction", session_id="sid1", step="apply")
    assert (state.page, state.step, state.session_id) == ("UserAction", "apply", "sid1")
    assert state.issued_at == NOW.timestamp() and state.data == {"city": "01"}


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"page": "Verify"}, "issued for another page"),
        ({"session_id": "other"}, "issued for another session"),
        ({"step": "terms"}, "issued for another step"),
    ],
)
def test_viewstate_bound_to_page_session_and_step(kw: dict[str, str], why: str) -> None:
    codec = ViewStateCodec(SECRET)
    with pytest.raises(ViewStateError) as err:
        codec.check(issue(codec, **kw), page="UserAction", session_id="sid1", step="apply")
    assert err.value.why == why
    assert err.value.message == VIEWSTATE_MAC_FAILED


def test_tampered_or_foreign_viewstate_fails_the_mac() -> None:
    codec = ViewStateCodec(SECRET)
    raw = bytearray(base64.b64decode(issue(codec)))
    raw[5] ^= 0x01
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(ViewStateError, match="bad MAC"):
        codec.check(tampered, page="UserAction", session_id="sid1")
    foreign = issue(ViewStateCodec(b"x" * 32))
    with pytest.raises(ViewStateError, match="bad MAC"):
        codec.check(foreign, page="UserAction", session_id="sid1")
    with pytest.raises(ViewStateError, match="missing"):
        codec.check("", page="UserAction", session_id="sid1")


def test_event_validation_allows_only_offered_values() -> None:
    codec = EventValidationCodec(SECRET)
    token = codec.issue(
        {"ddlCity": ["", "01", "02"], "btnSubmit": ["下一步 Next"], "__EVENTTARGET": ["ddlCity"]},
        session_id="sid1",
    )
    ok = {"ddlCity": "02", "btnSubmit": "下一步 Next", "__EVENTTARGET": "ddlCity"}
    codec.check(token, ok, session_id="sid1", validated=["ddlCity", "btnSubmit"])
    for bad in (
        {"ddlCity": "99"},
        {"btnSubmit": "Next"},
        {"__EVENTTARGET": "ddlVillage"},
    ):
        with pytest.raises(EventValidationError) as err:
            codec.check(token, ok | bad, session_id="sid1", validated=["ddlCity", "btnSubmit"])
        assert err.value.message == INVALID_POSTBACK
    with pytest.raises(EventValidationError, match="another session"):
        codec.check(token, ok, session_id="sid2", validated=["ddlCity"])


def test_generator_and_error_page() -> None:
    gen = viewstate_generator("/cloudic/system/UserAction.aspx")
    assert (
        len(gen) == 8
        and gen == gen.upper()
        and gen == viewstate_generator("/CLOUDIC/system/useraction.aspx")
    )
    page = server_error_page(INVALID_POSTBACK, path="/x")
    assert "Server Error in '/' Application." in page
    assert "System.Web.ArgumentException: Invalid postback or callback argument." in page


@given(st.text(max_size=300))
def test_arbitrary_viewstate_raises_only_our_error(token: str) -> None:
    codec = ViewStateCodec(SECRET)
    with pytest.raises(WebFormsStateError):
        codec.check(token, page="UserAction", session_id="sid1")


@given(st.binary(max_size=300))
def test_arbitrary_base64_event_validation_raises_only_our_error(blob: bytes) -> None:
    codec = EventValidationCodec(SECRET)
    with pytest.raises(EventValidationError):
        codec.load(base64.b64encode(blob).decode(), session_id="sid1")
