"""A fetched page: its URL, status, text, parsed tree, forms, and the things one can click."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urljoin

from bs4 import BeautifulSoup, NavigableString, Tag

from nhicard.core.i18n import T
from nhicard.web.aspnet import PostBack, is_aspnet_form, parse_postback
from nhicard.web.errors import ControlAmbiguous, ControlNotFound, FormNotFound, PageUnparsable
from nhicard.web.form import Form, Key, element_text
from nhicard.web.formdata import SUBMITTABLE, is_button, is_submit_button, nearest
from nhicard.web.text import label_variants, normalize, normalize_label

_LOCATION_RE = re.compile(
    r"(?:window\.|document\.)?location(?:\.href)?\s*=\s*['\"]([^'\"]+)['\"]"
    r"|window\.open\(\s*['\"]([^'\"]+)['\"]"
)
CLICKABLE = ("a", "button", "input")
HEADINGS = (
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "legend",
    "caption",
    "th",
    "td",
    "strong",
    "b",
    "div",
    "span",
    "p",
)


# Bounds on the work one page may cause: the sites' pages have a few thousand elements and
# one or two forms; a hostile page with 200,000 nested elements or 100,000 forms would take
# a minute to parse and walk.
MAX_ELEMENTS = 50_000
MAX_FORMS = 200
_TAG_START = re.compile(r"<[A-Za-z]")
_FORM_START = re.compile(r"<form[\s/>]", re.I)


def _too_big(what_zh: str, what_en: str, count: int, limit: int) -> PageUnparsable:
    return PageUnparsable(
        T(
            "網頁過於龐大,不予解析:{n} 個{zh}(上限 {max})",
            "the page is too large to read: {n} {en} (at most {max})",
        ).format(n=count, zh=what_zh, en=what_en, max=limit),
        hint=T(
            "網站可能異常或不是健保署的網站;請稍後再試,或檢查網站設定檔。",
            "The site may be broken or not the NHI's; try later or check the site profile.",
        ),
        reason="page-too-large",
    )


def check_page_size(text: str) -> None:
    """:class:`PageUnparsable` (exit 11) for a page over :data:`MAX_ELEMENTS` elements or
    :data:`MAX_FORMS` forms; counted with a linear scan before any parsing."""
    forms = sum(1 for _ in _FORM_START.finditer(text))
    if forms > MAX_FORMS:
        raise _too_big("表單", "forms", forms, MAX_FORMS)
    elements = sum(1 for _ in _TAG_START.finditer(text))
    if elements > MAX_ELEMENTS:
        raise _too_big("元素", "elements", elements, MAX_ELEMENTS)


def parse_html(text: str) -> BeautifulSoup:
    """Parse HTML with the standard-library parser; failure, or a page over the bounds of
    :func:`check_page_size` → :class:`PageUnparsable`."""
    check_page_size(text)
    try:
        return BeautifulSoup(text, "html.parser")
    except Exception as exc:  # noqa: BLE001 - html.parser/bs4 raise assorted errors on junk
        raise PageUnparsable(
            T("無法解析網頁內容", "the page's HTML cannot be parsed"),
            detail=type(exc).__name__,
        ) from exc


HIDDEN_TEXT_TAGS = frozenset({"script", "style", "noscript", "template"})


def visible_text_of(soup: BeautifulSoup) -> str:
    """The document's text without what ``HIDDEN_TEXT_TAGS`` hold, whitespace collapsed: the
    strings ``get_text(" ")`` gives once those elements are removed, read without removing
    them (and so without parsing the page a second time)."""
    types = soup.interesting_string_types or Tag.MAIN_CONTENT_STRING_TYPES
    kinds = {types} if isinstance(types, type) else set(types)
    pieces: list[str] = []
    stack = list(reversed(soup.contents))
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node.name not in HIDDEN_TEXT_TAGS:
                stack.extend(reversed(node.contents))
        elif isinstance(node, NavigableString) and type(node) in kinds:
            pieces.append(node)
    return " ".join(" ".join(pieces).split())


@dataclass(frozen=True)
class Click:
    """What clicking an element does: a GET of ``url``, a form submission with ``button``,
    or an ASP.NET postback on ``form``."""

    kind: Literal["get", "submit", "postback"]
    element: Tag
    url: str = ""
    form: Form | None = None
    postback: PostBack | None = None


@dataclass
class Page:
    """One response of the browser. ``serial`` increases with every page the browser loads."""

    url: str
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    serial: int = 0

    @cached_property
    def soup(self) -> BeautifulSoup:
        soup = parse_html(self.text)
        # the text as parsed, before a filled-in form can change the tree
        self.__dict__.setdefault("visible_text", visible_text_of(soup))
        return soup

    @cached_property
    def visible_text(self) -> str:
        """The page's text without scripts and styles, whitespace collapsed."""
        soup = self.soup  # parsing records the text
        return self.__dict__.get("visible_text") or visible_text_of(soup)

    @property
    def title(self) -> str:
        el = self.soup.find("title")
        return element_text(el) if isinstance(el, Tag) else ""

    def json(self) -> Any:
        """The body as JSON (for XHR endpoints); invalid JSON → :class:`PageUnparsable`."""
        try:
            return json.loads(self.text)
        except ValueError as exc:
            raise PageUnparsable(
                T("回應不是有效的 JSON", "the response is not valid JSON"), detail=str(exc)
            ) from exc

    def find_marker(self, markers: tuple[str, ...] | list[str]) -> str | None:
        """The first marker whose text the page shows (compared normalised: 台/臺, width,
        whitespace, case), or None."""
        text = normalize(self.visible_text)
        compact = text.replace(" ", "")
        for marker in markers:
            wanted = normalize(marker)
            if wanted and (wanted in text or wanted.replace(" ", "") in compact):
                return marker
        return None

    # -- forms -------------------------------------------------------------------------
    def forms(self) -> list[Form]:
        return [
            Form(el, page_url=self.url, page_serial=self.serial)
            for el in self.soup.find_all("form")
        ]

    def form(self, key: str | int | None = None) -> Form:
        """A form by id, name or index; with no key the ASP.NET form (the one carrying
        ``__VIEWSTATE``), else the first form. None found → :class:`FormNotFound`."""
        forms = self.forms()
        chosen: Form | None = None
        if isinstance(key, int):
            chosen = forms[key] if -len(forms) <= key < len(forms) else None
        elif key:
            chosen = next(
                (f for f in forms if key in (f.element.get("id"), f.element.get("name"))), None
            )
        else:
            chosen = next((f for f in forms if is_aspnet_form(f)), forms[0] if forms else None)
        if chosen is None:
            raise FormNotFound(
                T("頁面上找不到表單{key}", "no form{key} on the page").format(
                    key=f" '{key}'" if key is not None else ""
                ),
                hint=T(
                    "網站可能已改版;請以 --save-pages 保存頁面。",
                    "The site may have changed; save the pages with --save-pages.",
                ),
            )
        return chosen

    def region(self, key: Key) -> Tag:
        """The part of the page a heading names (e.g. the column headed 「健保卡」): an element
        with that id, else the nearest ancestor of the heading that holds form controls."""
        names: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key.names)
        labels: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key.labels)
        for name in names:
            found = self.soup.find(id=name)
            if isinstance(found, Tag):
                return found
        for label in labels:
            wanted = label_variants(label)
            for heading in self.soup.find_all(HEADINGS):
                if not wanted & label_variants(element_text(heading)):
                    continue
                for ancestor in heading.parents:
                    if isinstance(ancestor, Tag) and ancestor.find(SUBMITTABLE) is not None:
                        return ancestor
        shown = " / ".join(dict.fromkeys([*names, *labels]))
        raise ControlNotFound(
            T(
                "頁面上找不到「{key}」區塊(網站可能已改版)",
                "no section '{key}' on the page (the site may have changed)",
            ).format(key=shown),
            hint=T(
                "請以 --save-pages 保存頁面,並更新網站設定檔(profile)。",
                "Save the pages with --save-pages and update the site profile.",
            ),
        )

    # -- clicking ----------------------------------------------------------------------
    def _clickables(self) -> list[Tag]:
        return [el for el in self.soup.find_all(CLICKABLE) if el.name != "input" or is_button(el)]

    @staticmethod
    def _click_texts(el: Tag) -> list[str]:
        texts = [element_text(el)] if el.name != "input" else [str(el.get("value") or "")]
        for attr in ("title", "alt", "aria-label"):
            if el.get(attr):
                texts.append(str(el.get(attr)))
        for img in el.find_all("img"):
            if img.get("alt"):
                texts.append(str(img.get("alt")))
        return [t for t in texts if t.strip()]

    def find_clickable(self, key: Key) -> Tag:
        """A link or button by id/name, else by its visible text (exact, then containing).
        None → :class:`ControlNotFound`; several different ones → :class:`ControlAmbiguous`."""
        names: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key.names)
        labels: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key.labels)
        pool = self._clickables()
        for name in names:
            for el in pool:
                if name in (el.get("id"), el.get("name")):
                    return el
        for label in labels:
            wanted = label_variants(label)
            flat = normalize_label(label)
            exact = [
                el for el in pool if any(wanted & label_variants(t) for t in self._click_texts(el))
            ]
            hits = exact or [
                el
                for el in pool
                if len(flat) >= 2
                and any(flat in v for t in self._click_texts(el) for v in label_variants(t))
            ]
            if not hits:
                continue
            distinct = {self._signature(el) for el in hits}
            if len(distinct) > 1:
                raise ControlAmbiguous(
                    T(
                        "頁面上有多個連結或按鈕符合「{label}」",
                        "several links or buttons on the page match '{label}'",
                    ).format(label=label)
                )
            return hits[0]
        shown = " / ".join(dict.fromkeys([*names, *labels]))
        raise ControlNotFound(
            T(
                "頁面上找不到「{key}」連結或按鈕(網站可能已改版)",
                "no link or button '{key}' on the page (the site may have changed)",
            ).format(key=shown),
            hint=T(
                "請以 --save-pages 保存頁面,並更新網站設定檔(profile)。",
                "Save the pages with --save-pages and update the site profile.",
            ),
        )

    @staticmethod
    def _signature(el: Tag) -> tuple[str, str, str, str]:
        return (
            el.name or "",
            str(el.get("href") or ""),
            str(el.get("name") or el.get("id") or ""),
            str(el.get("onclick") or ""),
        )

    def click(self, key: Key) -> Click:
        """What clicking the link/button ``key`` would do (see :class:`Click`)."""
        el = self.find_clickable(key)
        owner = self._owner_form(el)
        script = str(el.get("onclick") or "")
        href = str(el.get("href") or "") if el.name == "a" else ""
        parsed = parse_postback(script) or parse_postback(href)
        if (
            el.name != "a"
            and is_submit_button(el)
            and owner is not None
            and (parsed is None or not parsed.client_submit)
        ):
            return Click("submit", el, form=owner)
        if parsed is not None:
            form = owner or self.form()
            return Click("postback", el, form=form, postback=parsed)
        if href and not href.strip().lower().startswith("javascript:") and href.strip() != "#":
            return Click("get", el, url=urljoin(self.url, href.strip()))
        located = _LOCATION_RE.search(script) or _LOCATION_RE.search(href)
        if located:
            return Click("get", el, url=urljoin(self.url, located.group(1) or located.group(2)))
        raise ControlNotFound(
            T(
                "「{text}」只執行網頁程式,無法模擬點選",
                "'{text}' only runs page script that cannot be replayed",
            ).format(text=" ".join(self._click_texts(el)) or el.name),
            reason="script-only",
        )

    def _owner_form(self, el: Tag) -> Form | None:
        form_id = el.get("form")
        target = self.soup.find("form", id=str(form_id)) if form_id else nearest(el, "form")
        if not isinstance(target, Tag):
            return None
        return Form(target, page_url=self.url, page_serial=self.serial)
