"""Bilingual text (zh-TW first, English second).

Every message a user can see is a :class:`Text` carrying both languages; the CLI picks one
with ``--lang``. The core never decides the language, it only builds ``Text`` values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

LANGS = ("zh-TW", "en")


@dataclass(frozen=True)
class Text:
    """A message in Traditional Chinese and English. ``str.format`` fields allowed."""

    zh: str
    en: str

    def render(self, lang: str = "zh-TW", **fields: Any) -> str:
        template = self.en if lang == "en" else self.zh
        return template.format(**fields) if fields else template

    def format(self, **fields: Any) -> Text:
        return Text(self.zh.format(**fields), self.en.format(**fields))

    def both(self) -> str:
        return f"{self.zh} / {self.en}"

    def __str__(self) -> str:  # used in exception text and logs
        return self.both()


def T(zh: str, en: str) -> Text:  # noqa: N802 - short constructor used everywhere
    return Text(zh, en)


def default_lang() -> str:
    """Language from the environment: NHICARD_LANG, then the locale, else zh-TW."""
    env = os.environ.get("NHICARD_LANG")
    if env in LANGS:
        return env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return (
                "zh-TW"
                if value.lower().startswith("zh")
                else ("en" if value.lower().startswith("en") else "zh-TW")
            )
    try:
        import locale  # only when no variable says: the rare case, kept off start-up

        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "en" if loc.lower().startswith("en") else "zh-TW"


def shown(value: str, limit: int = 60) -> str:
    """``value`` as a message may quote it: control characters escaped, bytes that were not
    UTF-8 (lone surrogates from argv or the environment) as ``\\xff``, cut at ``limit``."""

    def one(ch: str) -> str:
        if "\udc80" <= ch <= "\udcff":
            return f"\\x{ord(ch) - 0xDC00:02x}"
        return ch if ch.isprintable() else ascii(ch)[1:-1]

    safe = "".join(one(ch) for ch in value[: limit + 1])
    return safe[:limit] + "…" if len(safe) > limit else safe
