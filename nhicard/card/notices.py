"""Warnings that travel as plain strings but can still be shown in the user's language."""

from __future__ import annotations

from nhicard.core.i18n import Text


class Notice(str):
    """A warning: its string value is the English text (stable for logs and scripts); the
    bilingual original is kept in ``text`` so the CLI can show it in ``--lang``."""

    text: Text

    def __new__(cls, text: Text) -> Notice:
        obj = super().__new__(cls, text.en)
        obj.text = text
        return obj

    def render(self, lang: str) -> str:
        return self.text.render(lang)


def render_notice(value: str, lang: str) -> str:
    """A warning in ``lang`` when it is a :class:`Notice`, else as it is."""
    return value.render(lang) if isinstance(value, Notice) else value
