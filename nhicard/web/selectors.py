"""The site profiles' CSS selectors (``message_selectors``, ``name_selectors``), matched
without compiling them with soupsieve when they can be.

soupsieve's first ``compile`` builds its tokenizer's regular expressions, each with an
identifier class spanning every code point under ``re.IGNORECASE``: ≈ 60–200 ms per process,
more than a whole sandbox request. The profiles only use a small part of CSS — type, ``#id``
and ``.class`` selectors, the child and descendant combinators, ``:not()``, ``:has()`` and
``:-soup-contains("…")`` — so that part is parsed and matched here, with soupsieve's meaning
(results in document order; ``:-soup-contains`` over the element's text without comments;
a ``<template>``'s contents outside the document). Anything else (attribute selectors, other pseudo-classes,
escapes, comments, non-ASCII names) goes to soupsieve, as before; a selector this module
accepts is one soupsieve accepts too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup, Tag
from bs4.element import CData, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction

_WS = " \t\n\r\f"
_IDENT_RE = re.compile(r"-?[A-Za-z_][-A-Za-z0-9_]*")
_STRING_RE = re.compile(r"\"([^\"\\\r\n\f]*)\"|'([^'\\\r\n\f]*)'")
_SPECIAL_STRINGS = (Comment, Declaration, CData, ProcessingInstruction, Doctype)
DESCENDANT = " "
CHILD = ">"


class Compound:
    """A compound selector: ``tag#id.class:not(…):has(…):-soup-contains(…)``.

    (Plain classes, not dataclasses: this module is imported by every web command, and a
    dataclass costs ≈ 0.5 ms to create.)"""

    __slots__ = ("tag", "ids", "classes", "contains", "nots", "has")

    def __init__(
        self,
        tag: str | None,
        ids: tuple[str, ...],
        classes: tuple[str, ...],
        contains: tuple[tuple[str, ...], ...],  # each: any of these texts
        nots: tuple[SelectorList, ...],
        has: tuple[tuple[Relative, ...], ...],  # each: any of these relative selectors
    ) -> None:
        self.tag = tag
        self.ids = ids
        self.classes = classes
        self.contains = contains
        self.nots = nots
        self.has = has


class Complex:
    """Compounds joined by combinators: ``parts[i]`` is (combinator to the left, compound);
    the first combinator is ``None``."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[tuple[str | None, Compound], ...]) -> None:
        self.parts = parts


class Relative:
    """A relative selector of ``:has()``: one compound, a child or a descendant of the
    element being tested (soupsieve's strict rules allow no more inside ``:has()``)."""

    __slots__ = ("combinator", "compound")

    def __init__(self, combinator: str, compound: Compound) -> None:
        self.combinator = combinator
        self.compound = compound


SelectorList = tuple[Complex, ...]


class _Unsupported(Exception):
    """The selector is outside the part of CSS this module handles (soupsieve takes it)."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1
        return self.pos > start

    def ident(self) -> str:
        match = _IDENT_RE.match(self.text, self.pos)
        if match is None:
            raise _Unsupported
        end = match.end()
        if end < len(self.text) and (self.text[end] == "\\" or ord(self.text[end]) >= 0x80):
            raise _Unsupported  # an escape or a non-ASCII identifier character follows
        self.pos = end
        return match.group(0)

    def selector_list(self, closing: str) -> SelectorList:
        items = [self.complex()]
        while True:
            self.skip_ws()
            char = self.peek()
            if char == ",":
                self.pos += 1
                self.skip_ws()
                items.append(self.complex())
            elif char == closing:
                return tuple(items)
            else:
                raise _Unsupported

    def complex(self) -> Complex:
        self.skip_ws()
        parts: list[tuple[str | None, Compound]] = [(None, self.compound())]
        while True:
            combinator = self.combinator()
            if combinator is None:
                break
            parts.append((combinator, self.compound()))
        return Complex(tuple(parts))

    def relative(self) -> Relative:
        self.skip_ws()
        first = CHILD if self.peek() == CHILD else DESCENDANT
        if first == CHILD:
            self.pos += 1
            self.skip_ws()
        relative = Relative(first, self.compound())
        if self.combinator() is not None:
            raise _Unsupported
        return relative

    def combinator(self) -> str | None:
        """A combinator between two compounds, or None at the end of a complex selector."""
        spaced = self.skip_ws()
        char = self.peek()
        if char == CHILD:
            self.pos += 1
            self.skip_ws()
            return CHILD
        if char in ("+", "~"):
            raise _Unsupported
        if char in ("", ",", ")"):
            return None
        if spaced:
            return DESCENDANT
        raise _Unsupported

    def compound(self) -> Compound:
        tag: str | None = None
        ids: list[str] = []
        classes: list[str] = []
        contains: list[tuple[str, ...]] = []
        nots: list[SelectorList] = []
        has: list[tuple[Relative, ...]] = []
        if _IDENT_RE.match(self.text, self.pos):
            tag = self.ident().lower()
        simple = tag is not None
        while True:
            char = self.peek()
            if char == "#":
                self.pos += 1
                ids.append(self.ident())
            elif char == ".":
                self.pos += 1
                classes.append(self.ident())
            elif char == ":":
                self.pos += 1
                name = self.ident()
                if self.peek() != "(":
                    raise _Unsupported
                self.pos += 1
                self.skip_ws()
                if name == "not":
                    nots.append(self.selector_list(")"))
                elif name == "has":
                    has.append(self.relatives())
                elif name == "-soup-contains":
                    contains.append(self.strings())
                else:
                    raise _Unsupported
                self.pos += 1  # the closing parenthesis
            else:
                break
            simple = True
        if not simple:
            raise _Unsupported
        return Compound(tag, tuple(ids), tuple(classes), tuple(contains), tuple(nots), tuple(has))

    def relatives(self) -> tuple[Relative, ...]:
        items = [self.relative()]
        while True:
            self.skip_ws()
            char = self.peek()
            if char == ",":
                self.pos += 1
                items.append(self.relative())
            elif char == ")":
                return tuple(items)
            else:
                raise _Unsupported

    def strings(self) -> tuple[str, ...]:
        values: list[str] = []
        while True:
            match = _STRING_RE.match(self.text, self.pos)
            if match is None:
                raise _Unsupported
            values.append(match.group(1) if match.group(1) is not None else match.group(2))
            self.pos = match.end()
            self.skip_ws()
            char = self.peek()
            if char == ",":
                self.pos += 1
                self.skip_ws()
            elif char == ")":
                return tuple(values)
            else:
                raise _Unsupported


_CACHE: dict[str, SelectorList | None] = {}


def parse(selector: str) -> SelectorList | None:
    """The selector as this module matches it, or None when soupsieve must take it."""
    if selector in _CACHE:
        return _CACHE[selector]
    parser = _Parser(selector)
    try:
        parsed: SelectorList | None = parser.selector_list("")
        if parser.pos != len(selector):
            parsed = None
    except _Unsupported:
        parsed = None
    _CACHE[selector] = parsed
    return parsed


def selector_error(selector: str) -> Exception | None:
    """soupsieve's ``SelectorSyntaxError`` when ``selector`` is not valid CSS, else None
    (soupsieve is asked only about selectors this module does not handle)."""
    if parse(selector) is not None:
        return None
    import soupsieve

    try:
        soupsieve.compile(selector)
    except soupsieve.SelectorSyntaxError as exc:
        return exc
    return None


def select_valid(root: Tag, selector: str) -> list[Tag] | None:
    """:func:`select`, or None when ``selector`` is not valid CSS."""
    if selector_error(selector) is not None:
        return None
    return select(root, selector)


def select(root: Tag, selector: str) -> list[Tag]:
    """The descendants of ``root`` that ``selector`` matches, in document order — what
    ``root.select(selector)`` returns (and raises: ``SelectorSyntaxError``)."""
    parsed = parse(selector)
    if parsed is None or root._is_xml:
        return list(root.select(selector))
    return [el for el in _descendant_tags(root, enter=True) if _matches_list(el, parsed)]


# -- matching (soupsieve's rules: a <template>'s contents are not part of the document, so
# navigation stops at one both ways; the document object is no element's parent) -----------
def _is_template(el: Tag) -> bool:
    return (el.name or "").lower() == "template"


def _descendant_tags(el: Tag, *, enter: bool = False) -> Iterator[Tag]:
    """Tags below ``el`` in document order, not entering templates (``el`` itself only if
    ``enter``)."""
    if _is_template(el) and not enter:
        return
    stack = list(reversed(el.contents))
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            yield node
            if not _is_template(node):
                stack.extend(reversed(node.contents))


def _children_tags(el: Tag) -> Iterator[Tag]:
    if not _is_template(el):
        for node in el.contents:
            if isinstance(node, Tag):
                yield node


def _parent(el: Tag) -> Tag | None:
    parent = el.parent
    if parent is None or isinstance(parent, BeautifulSoup) or _is_template(parent):
        return None
    return parent


def _matches_list(el: Tag, selectors: SelectorList) -> bool:
    return any(_matches_complex(el, c.parts, len(c.parts) - 1) for c in selectors)


def _matches_complex(el: Tag, parts: tuple[tuple[str | None, Compound], ...], i: int) -> bool:
    combinator, compound = parts[i]
    if not _matches_compound(el, compound):
        return False
    if combinator is None:
        return True
    parent = _parent(el)
    if combinator == CHILD:
        return parent is not None and _matches_complex(parent, parts, i - 1)
    while parent is not None:
        if _matches_complex(parent, parts, i - 1):
            return True
        parent = _parent(parent)
    return False


def _matches_relative(el: Tag, relative: Relative) -> bool:
    candidates = _children_tags(el) if relative.combinator == CHILD else _descendant_tags(el)
    return any(_matches_compound(c, relative.compound) for c in candidates)


def _matches_compound(el: Tag, compound: Compound) -> bool:
    if compound.tag is not None and (el.name or "").lower() != compound.tag:
        return False
    if compound.ids:
        ident = el.get("id")
        if any(i != ident for i in compound.ids):
            return False
    if compound.classes:
        value = el.get("class")
        classes = value.split() if isinstance(value, str) else (value or [])
        if any(c not in classes for c in compound.classes):
            return False
    if compound.contains:
        text = _content_text(el)
        if not all(any(t in text for t in texts) for texts in compound.contains):
            return False
    if any(_matches_list(el, selectors) for selectors in compound.nots):
        return False
    return all(any(_matches_relative(el, r) for r in group) for group in compound.has)


def _content_text(el: Tag) -> str:
    """The element's text as ``:-soup-contains`` sees it: every string below it except
    comments, declarations and the like, and nothing inside a template."""
    if _is_template(el):
        return ""
    pieces: list[str] = []
    stack = list(reversed(el.contents))
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if not _is_template(node):
                stack.extend(reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, _SPECIAL_STRINGS):
            pieces.append(str(node))
    return "".join(pieces)
