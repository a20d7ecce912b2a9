"""ASP.NET WebForms: postbacks and the page's own messages.

A postback is the page's form submitted with ``__EVENTTARGET`` / ``__EVENTARGUMENT`` set, as
the page's ``__doPostBack(target, argument)`` does. The state fields (``__VIEWSTATE``,
``__EVENTVALIDATION``, …) are whatever the *current* page carries: a :class:`Form` is bound to
the page it was parsed from, and the browser refuses a form of an older page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

import soupsieve
from bs4 import Tag

from nhicard.web.form import Form, Key
from nhicard.web.formdata import Submission
from nhicard.web.text import normalize

STATE_FIELDS = (
    "__VIEWSTATE",
    "__VIEWSTATEGENERATOR",
    "__VIEWSTATEENCRYPTED",
    "__EVENTVALIDATION",
    "__PREVIOUSPAGE",
)
EVENT_TARGET = "__EVENTTARGET"
EVENT_ARGUMENT = "__EVENTARGUMENT"

_Q = r"\\?['\"]"
_ARG = r"((?:[^'\"\\]|\\[^'\"])*)"
_DO_POSTBACK_RE = re.compile(rf"__doPostBack\(\s*{_Q}{_ARG}{_Q}\s*,\s*{_Q}{_ARG}{_Q}\s*\)")
_WITH_OPTIONS_RE = re.compile(
    r"WebForm_PostBackOptions\(\s*\"([^\"]*)\"\s*,\s*\"([^\"]*)\"\s*,\s*(true|false)\s*,"
    r"\s*\"([^\"]*)\"\s*,\s*\"([^\"]*)\"\s*,\s*(true|false)\s*,\s*(true|false)\s*\)"
)
_ALERT_RE = re.compile(r"alert\(\s*(['\"])((?:\\.|(?!\1).)*)\1\s*\)", re.S)

# ASP.NET's own texts when it refuses a posted page state (its "Server Error in '/'
# Application." page, HTTP 500): a __VIEWSTATE that fails its MAC or cannot be read, and a
# posted value outside __EVENTVALIDATION.
STATE_REJECTION_TEXTS = (
    "Validation of viewstate MAC failed",
    "The state information is invalid for this page",
    "Invalid postback or callback argument",
    "Invalid viewstate",
)


@dataclass(frozen=True)
class PostBack:
    """A postback a control's script performs: ``__doPostBack(target, argument)``.

    ``client_submit`` False means the button submits its form normally (the options form
    ``WebForm_DoPostBackWithOptions`` with clientSubmit=false); ``action`` overrides the URL.
    """

    target: str
    argument: str = ""
    client_submit: bool = True
    action: str = ""


_JS_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_JS_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.S)


def _js_unescape(value: str) -> str:
    """Decode a JavaScript string literal's escapes (``\\n``, ``\\'``, ``\\u81fa`` …)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) > 1:
            return chr(int(code[1:], 16))
        return _JS_ESCAPES.get(code, code)

    return _JS_ESCAPE_RE.sub(one, value)


def parse_postback(script: str) -> PostBack | None:
    """The postback in an ``href="javascript:…"``, ``onclick`` or ``onchange`` script."""
    if not script:
        return None
    script = html.unescape(script)
    found = _WITH_OPTIONS_RE.search(script)
    if found:
        return PostBack(
            target=found.group(1),
            argument=found.group(2),
            action=found.group(5),
            client_submit=found.group(7) == "true",
        )
    found = _DO_POSTBACK_RE.search(script)
    if found:
        return PostBack(_js_unescape(found.group(1)), _js_unescape(found.group(2)))
    return None


def state_fields(form: Form) -> dict[str, str]:
    """The ASP.NET state fields the form carries (name → value)."""
    out: dict[str, str] = {}
    for el in form.elements():
        name = str(el.get("name") or "")
        if name in STATE_FIELDS:
            out[name] = str(el.get("value") or "")
    return out


def is_aspnet_form(form: Form) -> bool:
    return "__VIEWSTATE" in state_fields(form)


def postback(form: Form, target: str, argument: str = "") -> Submission:
    """The request of ``__doPostBack(target, argument)`` on this form: every field as it is
    now (no submit button), with the event fields set."""
    form.ensure_field(EVENT_TARGET, target)
    form.ensure_field(EVENT_ARGUMENT, argument)
    return form.submission(None)


def control_postback(form: Form, key: Key) -> PostBack | None:
    """The postback a control triggers on change/click (AutoPostBack drop-downs, link
    buttons), read from its ``onchange``/``onclick``/``href`` script."""
    found = form.find_all(key)
    if not found:
        return None
    el = found[0]
    for attr in ("onchange", "onclick", "href"):
        parsed = parse_postback(str(el.get(attr) or ""))
        if parsed:
            return parsed
    return None


def change_postback(form: Form, key: Key) -> Submission:
    """The postback after changing an AutoPostBack control: its own script's target, else
    the control's name (what ASP.NET renders for AutoPostBack)."""
    parsed = control_postback(form, key)
    if parsed:
        return postback(form, parsed.target, parsed.argument)
    el = form.find(key)[0]
    return postback(form, str(el.get("name") or el.get("id") or ""))


def alert_texts(root: Tag) -> list[str]:
    """Texts of ``alert('…')`` calls in the page's scripts (how WebForms pages often report
    validation errors)."""
    out = []
    for script in root.find_all("script"):
        for match in _ALERT_RE.finditer(script.get_text()):
            text = _js_unescape(match.group(2)).strip()
            if text:
                out.append(text)
    return out


def page_messages(root: Tag, selectors: Iterable[str], *, alerts: bool = True) -> list[str]:
    """The page's own system/error messages: the non-empty texts of the elements the
    profile's CSS selectors name, then ``alert()`` texts, without duplicates."""
    out: list[str] = []
    for selector in selectors:
        try:
            hits = root.select(selector)
        except soupsieve.SelectorSyntaxError:  # a loaded profile has none (checked at load)
            continue
        for el in hits:
            text = " ".join(el.get_text(" ", strip=True).split())
            if text:
                out.append(text)
    if alerts:
        out.extend(alert_texts(root))
    unique: dict[str, str] = {}
    for message in out:
        unique.setdefault(normalize(message), message)
    return list(unique.values())


def state_rejection(text: str) -> str | None:
    """ASP.NET's reason when ``text`` (an error page) says it refused the posted page state
    (``__VIEWSTATE`` / ``__EVENTVALIDATION``), else None."""
    for marker in STATE_REJECTION_TEXTS:
        if marker in text:
            return marker
    return None
