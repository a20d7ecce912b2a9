"""ASP.NET WebForms state for the sandbox sites: signed ``__VIEWSTATE`` and
``__EVENTVALIDATION``, ``__VIEWSTATEGENERATOR``, and the ASP.NET error page.

``__VIEWSTATE`` is base64 of a JSON payload (page id, step, session id, issue time, and a small
dictionary of page state) followed by its HMAC-SHA256 under the sandbox secret. A forged,
altered, foreign-session or out-of-step state is refused like ASP.NET refuses it: "Validation
of viewstate MAC failed." ``__EVENTVALIDATION`` is a signed list of hashes of (control, value)
pairs the page offered (drop-down options, buttons, postback targets); a posted value outside
it is refused: "Invalid postback or callback argument."
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAC_LEN = 32
VIEWSTATE_MAC_FAILED = "Validation of viewstate MAC failed."
INVALID_POSTBACK = "Invalid postback or callback argument."
EVENT_TARGET = "__EVENTTARGET"
EVENT_ARGUMENT = "__EVENTARGUMENT"
STATE_FIELDS = ("__EVENTTARGET", "__EVENTARGUMENT", "__VIEWSTATE", "__VIEWSTATEGENERATOR",
                "__EVENTVALIDATION")  # fmt: skip


class WebFormsStateError(Exception):
    """A posted WebForms state was refused; ``message`` is ASP.NET's own text."""

    message = VIEWSTATE_MAC_FAILED

    def __init__(self, why: str) -> None:
        super().__init__(f"{self.message} ({why})")
        self.why = why


class ViewStateError(WebFormsStateError):
    message = VIEWSTATE_MAC_FAILED


class EventValidationError(WebFormsStateError):
    message = INVALID_POSTBACK


@dataclass(frozen=True)
class ViewState:
    """What a valid ``__VIEWSTATE`` carried."""

    page: str
    step: str
    session_id: str
    issued_at: float
    data: dict[str, Any] = field(default_factory=dict)


def viewstate_generator(page_path: str) -> str:
    """The ``__VIEWSTATEGENERATOR`` of a page: 8 upper-case hex digits fixed per page."""
    return hashlib.sha1(page_path.lower().encode("utf-8")).hexdigest()[:8].upper()


def _sign(secret: bytes, purpose: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, purpose + b"\0" + payload, hashlib.sha256).digest()


def _pack(secret: bytes, purpose: bytes, payload: bytes) -> str:
    return base64.b64encode(payload + _sign(secret, purpose, payload)).decode("ascii")


def _unpack(secret: bytes, purpose: bytes, token: str, error: type[WebFormsStateError]) -> bytes:
    if not token:
        raise error("missing")
    try:
        raw = base64.b64decode(token.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise error("not base64") from None
    if len(raw) <= MAC_LEN:
        raise error("too short")
    payload, mac = raw[:-MAC_LEN], raw[-MAC_LEN:]
    if not hmac.compare_digest(mac, _sign(secret, purpose, payload)):
        raise error("bad MAC")
    return payload


class ViewStateCodec:
    """Issues and checks signed ``__VIEWSTATE`` values."""

    PURPOSE = b"viewstate"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(
        self,
        *,
        page: str,
        step: str,
        session_id: str,
        now: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> str:
        payload = {"p": page, "s": step, "sid": session_id, "t": round(now.timestamp(), 3)}
        payload["d"] = dict(data or {})
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return _pack(self._secret, self.PURPOSE, body)

    def check(
        self, token: str, *, page: str, session_id: str, step: str | None = None
    ) -> ViewState:
        """The state carried by ``token``; :class:`ViewStateError` unless it was issued by us
        for this page and session (and, if given, this step)."""
        payload = _unpack(self._secret, self.PURPOSE, token, ViewStateError)
        try:
            doc = json.loads(payload.decode("utf-8"))
            state = ViewState(
                page=str(doc["p"]),
                step=str(doc["s"]),
                session_id=str(doc["sid"]),
                issued_at=float(doc["t"]),
                data=dict(doc.get("d") or {}),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ViewStateError("unreadable payload") from None
        if state.page != page:
            raise ViewStateError("issued for another page")
        if not hmac.compare_digest(state.session_id.encode(), session_id.encode()):
            raise ViewStateError("issued for another session")
        if step is not None and state.step != step:
            raise ViewStateError("issued for another step")
        return state


def _pair_hash(control: str, value: str) -> str:
    digest = hashlib.sha256(control.encode("utf-8") + b"\0" + value.encode("utf-8"))
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class EventValidation:
    """The (control, value) pairs a page allows to be posted back."""

    session_id: str
    allowed: frozenset[str]

    def allows(self, control: str, value: str) -> bool:
        return _pair_hash(control, value) in self.allowed


class EventValidationCodec:
    """Issues and checks signed ``__EVENTVALIDATION`` values."""

    PURPOSE = b"eventvalidation"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, allowed: Mapping[str, Iterable[str]], *, session_id: str) -> str:
        """``allowed`` maps a control name to its allowed values: the options of a select,
        the caption of a submit button, ``""`` for a postback target (``__EVENTTARGET``)."""
        hashes = sorted({_pair_hash(c, v) for c, values in allowed.items() for v in values})
        body = json.dumps({"sid": session_id, "h": hashes}, separators=(",", ":"))
        return _pack(self._secret, self.PURPOSE, body.encode("ascii"))

    def load(self, token: str, *, session_id: str) -> EventValidation:
        payload = _unpack(self._secret, self.PURPOSE, token, EventValidationError)
        try:
            doc = json.loads(payload.decode("ascii"))
            sid = str(doc["sid"])
            allowed = frozenset(str(h) for h in doc["h"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise EventValidationError("unreadable payload") from None
        if not hmac.compare_digest(sid.encode(), session_id.encode()):
            raise EventValidationError("issued for another session")
        return EventValidation(sid, allowed)

    def check(
        self,
        token: str,
        form: Mapping[str, str],
        *,
        session_id: str,
        validated: Iterable[str],
    ) -> EventValidation:
        """Refuse ``form`` unless every validated control it posts (and its
        ``__EVENTTARGET``) carries a value the page offered."""
        ev = self.load(token, session_id=session_id)
        target = form.get(EVENT_TARGET, "")
        if target and not ev.allows(EVENT_TARGET, target):
            raise EventValidationError(f"postback target {target!r} not offered")
        for control in validated:
            if control in form and not ev.allows(control, form[control]):
                raise EventValidationError(f"value of {control!r} not offered")
        return ev


def server_error_page(message: str, *, path: str = "/") -> str:
    """ASP.NET's "Server Error in '/' Application." page for ``message`` (status 500)."""
    kind = "HttpException" if message == VIEWSTATE_MAC_FAILED else "ArgumentException"
    esc = html.escape(message)
    return (
        "<!DOCTYPE html>\n<html><head><title>" + esc + "</title>"
        '<meta charset="utf-8"></head>'
        "<body bgcolor=\"white\"><span><h1>Server Error in '/' Application."
        '<hr width="100%" size="1" color="silver"></h1>'
        f"<h2><i>{esc}</i></h2></span>"
        f"<b>Description: </b>An unhandled exception occurred during the execution of the "
        f"current web request.<br><br><b>Exception Details: </b>System.Web.{kind}: {esc}"
        f"<br><br><b>Requested URL: </b>{html.escape(path)}"
        "</body></html>\n"
    )
