"""Typed errors. Each class carries the exit code of the CLI contract.

The core raises these; ``nhicard.cli.main`` maps them to messages and exit codes in one place.
A message is a bilingual :class:`~nhicard.i18n.Text`; ``hint`` tells the user what to do.
"""

from __future__ import annotations

from typing import Any

from nhicard.i18n import Text


class NhicardError(Exception):
    """Base of every error nhicard raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: Text,
        *,
        hint: Text | None = None,
        reason: str | None = None,
        detail: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(str(message))
        self.message = message
        self.hint = hint
        self.reason = reason  # short machine-readable code, e.g. "sharing-violation"
        self.detail = detail  # technical detail (not translated), e.g. a PC/SC code
        self.data = data or {}

    def render(self, lang: str) -> str:
        text = self.message.render(lang)
        if self.detail:
            text += f" ({self.detail})"
        return text


class UsageError(NhicardError):
    exit_code = 2


class PcscUnavailable(NhicardError):
    exit_code = 3


class ReaderError(NhicardError):
    """No reader, reader not found, or ambiguous reader choice."""

    exit_code = 4


class CardAbsent(NhicardError):
    """No card, card removed, or not an NHI card."""

    exit_code = 5


class CardFailure(NhicardError):
    """The card answered with an error, or its data is unreadable."""

    exit_code = 6


class NetworkError(NhicardError):
    exit_code = 7


class SiteRejected(NhicardError):
    exit_code = 8


class AuthRefused(NhicardError):
    exit_code = 9


class ChecksFailed(NhicardError):
    exit_code = 10


class SiteChanged(NhicardError):
    """The page is not what the profile describes; ``saved_page`` is where we kept it."""

    exit_code = 11

    def __init__(self, message: Text, *, saved_page: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.saved_page = saved_page


class NotAvailable(NhicardError):
    """A feature that this build or this setup does not provide (said plainly, exit 1)."""

    exit_code = 1
