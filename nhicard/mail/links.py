"""Finding the verification link in a mail's bodies.

First choice: in an HTML part, the ``<a href>`` whose visible text contains the profile's
label (「健保卡註冊認證作業」). Fallback: in a plain-text part (or, failing that, in the HTML
hrefs), the first URL that the profile's URL pattern accepts.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from bs4.element import Tag

_URL = re.compile(r"""https?://[^\s<>"'\u3000-\u303f\uff01-\uff5e]+""", re.I)
_TRAILING = ".,;:!?)]}>"
_SPACE = re.compile(r"\s+")


def _soup(html: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(html, "html.parser")


def _anchors(html: str) -> Iterator[tuple[str, str]]:
    """``(visible text, href)`` of every ``<a href>``."""
    for a in _soup(html).find_all("a", href=True):
        if isinstance(a, Tag):
            href = a.get("href")
            if isinstance(href, str):
                yield _SPACE.sub("", a.get_text()), href.strip()


def labelled_links(html_parts: Iterable[str], label: str) -> list[str]:
    """Hrefs of the anchors whose text contains ``label`` (white space ignored)."""
    wanted = _SPACE.sub("", label)
    found: list[str] = []
    for html in html_parts:
        found.extend(href for text, href in _anchors(html) if wanted and wanted in text)
    return found


def html_hrefs(html_parts: Iterable[str]) -> list[str]:
    """Every anchor's href, in order."""
    return [href for html in html_parts for _text, href in _anchors(html)]


def text_urls(text_parts: Iterable[str]) -> list[str]:
    """Every ``http(s)://`` URL written in plain text, trailing punctuation trimmed."""
    urls: list[str] = []
    for text in text_parts:
        for match in _URL.finditer(text):
            url = match.group(0).rstrip(_TRAILING)
            if url:
                urls.append(url)
    return urls


def first_matching(urls: Iterable[str], pattern: re.Pattern[str]) -> str | None:
    """The first URL the profile's pattern accepts."""
    return next((u for u in urls if pattern.search(u)), None)
