"""The browser's form-data entry list: which controls a form sends, with which values.

The rules (WHATWG "constructing the entry list"): controls in document order; disabled
controls (and those inside a disabled ``<fieldset>``) skipped; only the chosen submit button
sent; checkboxes and radios only when checked (value default ``on``); a ``<select>`` sends its
selected options, or its first enabled option when none is selected. Finding the controls
(by name, id or label) is :mod:`nhicard.web.form`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bs4 import Tag

from nhicard.web.encoding import FORM_CONTENT_TYPE, urlencode_pairs

SUBMITTABLE = ("input", "select", "textarea", "button")
BUTTON_INPUT_TYPES = frozenset({"submit", "image", "button", "reset"})
SUBMIT_INPUT_TYPES = frozenset({"submit", "image"})
LINE_INPUT_TYPES = frozenset({"text", "search", "tel", "password", "url", "email", ""})


@dataclass(frozen=True)
class Option:
    """One ``<option>`` of a drop-down."""

    value: str
    text: str
    selected: bool
    disabled: bool


@dataclass(frozen=True)
class Submission:
    """A ready request: method, URL and the ordered pairs a browser would send."""

    method: str
    url: str
    pairs: tuple[tuple[str, str], ...]
    secret_names: frozenset[str] = frozenset()
    page_serial: int | None = None

    @property
    def content_type(self) -> str:
        return FORM_CONTENT_TYPE

    def body(self) -> bytes:
        """The urlencoded body (POST); empty for GET, whose pairs are in the URL."""
        return urlencode_pairs(self.pairs).encode("ascii") if self.method == "POST" else b""


def attr_of(el: Tag, name: str) -> str:
    value = el.get(name)
    if value is None:
        return ""
    if isinstance(value, list):  # class-like attributes
        return " ".join(value)
    return str(value)


def control_type(el: Tag) -> str:
    """``input`` types lower-cased (missing or unknown → ``text``); else the tag name, and
    ``<button>`` its type (default ``submit``)."""
    if el.name == "input":
        return attr_of(el, "type").strip().lower() or "text"
    if el.name == "button":
        kind = attr_of(el, "type").strip().lower()
        return kind if kind in ("submit", "reset", "button") else "submit"
    return el.name or ""


def is_button(el: Tag) -> bool:
    return el.name == "button" or (el.name == "input" and control_type(el) in BUTTON_INPUT_TYPES)


def is_submit_button(el: Tag) -> bool:
    if el.name == "button":
        return control_type(el) == "submit"
    return el.name == "input" and control_type(el) in SUBMIT_INPUT_TYPES


def option_value(opt: Tag) -> str:
    if opt.has_attr("value"):
        return attr_of(opt, "value")
    return " ".join(opt.get_text().split())


def option_disabled(opt: Tag) -> bool:
    if opt.has_attr("disabled"):
        return True
    parent = opt.parent
    return isinstance(parent, Tag) and parent.name == "optgroup" and parent.has_attr("disabled")


def nearest(el: Tag, *names: str) -> Tag | None:
    """The closest ancestor of ``el`` with one of these tag names, as ``find_parent`` finds it
    (a walk up ``.parents``, without building a bs4 filter for every call: forms ask this
    for every control and option of a page)."""
    for parent in el.parents:
        if parent.name in names:
            return parent
    return None


def select_options(el: Tag) -> list[Tag]:
    return [o for o in el.find_all("option") if nearest(o, "select") is el]


def select_state(el: Tag) -> list[Option]:
    """The options of a ``<select>`` with browser selectedness (explicit ``selected``; for a
    single-choice list the last explicit one, else the first enabled option)."""
    opts = select_options(el)
    multiple = el.has_attr("multiple")
    explicit = [o.has_attr("selected") for o in opts]
    if not multiple:
        chosen = max((i for i, s in enumerate(explicit) if s), default=None)
        if chosen is None and attr_of(el, "size") in ("", "0", "1"):
            chosen = next((i for i, o in enumerate(opts) if not option_disabled(o)), None)
        explicit = [i == chosen for i in range(len(opts))]
    return [
        Option(option_value(o), " ".join(o.get_text().split()), explicit[i], option_disabled(o))
        for i, o in enumerate(opts)
    ]


def inside(node: object, ancestor: Tag) -> bool:
    """True if ``node`` is a descendant of ``ancestor`` (identity, not bs4's equality)."""
    parents = getattr(node, "parents", ())
    return any(p is ancestor for p in parents)


def is_disabled(el: Tag) -> bool:
    """Disabled itself, or inside a disabled ``<fieldset>`` but not in its first legend."""
    if el.has_attr("disabled"):
        return True
    for fieldset in (p for p in el.parents if p.name == "fieldset"):
        if not fieldset.has_attr("disabled"):
            continue
        legend = fieldset.find("legend", recursive=False)
        if legend is None or not inside(el, legend):
            return True
    return False


def entry_list(elements: Iterable[Tag], submitter: Tag | None) -> Iterator[tuple[str, str]]:
    """The (name, value) pairs a browser sends for a form's ``elements`` (document order)
    submitted with button ``submitter`` (None: no button, as script's ``form.submit()``)."""
    for el in elements:
        if is_disabled(el):
            continue
        kind = control_type(el)
        name = attr_of(el, "name")
        if is_button(el):
            if el is not submitter:
                continue
            if kind == "image":
                prefix = f"{name}." if name else ""
                yield f"{prefix}x", "0"
                yield f"{prefix}y", "0"
            elif name:
                yield name, attr_of(el, "value")
            continue
        if not name:
            continue
        if el.name == "select":
            for opt in select_state(el):
                if opt.selected and not opt.disabled:
                    yield name, opt.value
        elif el.name == "textarea":
            text = el.get_text()
            if text.startswith("\r\n"):
                text = text[2:]
            elif text.startswith("\n"):
                text = text[1:]
            yield name, text
        elif kind in ("checkbox", "radio"):
            if el.has_attr("checked"):
                yield name, attr_of(el, "value") or "on"
        elif kind == "file":
            yield name, ""
        elif kind == "hidden" and name.lower() == "_charset_":
            yield name, "UTF-8"
        else:
            value = attr_of(el, "value")
            if kind in LINE_INPUT_TYPES:
                value = value.replace("\r", "").replace("\n", "")
            yield name, value
