"""Typed errors. Each class carries a :class:`Category`: what kind of failure it is.

The core raises these; ``nhicard.cli.main`` renders them and maps each category to its exit
code (cli-contract.md) in one place — no module outside ``cli/`` knows an exit code.
A message is a bilingual :class:`~nhicard.core.i18n.Text`; ``hint`` tells the user what to do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from nhicard.core.i18n import Text


class Category(StrEnum):
    """What kind of failure an error is (the CLI contract gives each its exit code)."""

    OTHER = "other"  # a deliberate error of no more specific kind (a feature not available)
    USAGE = "usage"  # bad options, arguments or input files
    PCSC_UNAVAILABLE = "pcsc-unavailable"  # no PC/SC service or library
    NO_READER = "no-reader"  # no reader, the named reader not found, or ambiguous
    NO_CARD = "no-card"  # no card, card removed, or not an NHI card
    CARD_ERROR = "card-error"  # the card answered with an error, or its data is unreadable
    NETWORK = "network"  # network or TLS failure, site unreachable or answering 5xx
    SITE_REJECTED = "site-rejected"  # the site refused the input
    AUTH_REFUSED = "auth-refused"  # wrong password, signature refused, account locked
    CHECKS_FAILED = "checks-failed"  # env check found a failure
    SITE_CHANGED = "site-changed"  # the page is not what the profile describes
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM


class NhicardError(Exception):
    """Base of every error nhicard raises on purpose."""

    category = Category.OTHER

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

    @property
    def text(self) -> Text:
        """The message with the technical detail after it, in both languages (the CLI picks
        one)."""
        if not self.detail:
            return self.message
        suffix = f" ({self.detail})"
        return Text(self.message.zh + suffix, self.message.en + suffix)


class UsageError(NhicardError):
    category = Category.USAGE


class LocalIOError(UsageError):
    """A local file or stream nhicard cannot read or write: a full disk, permissions, a
    read-only file system, a closed standard stream. The message names the file (or stream)
    and the system's reason; the exit status is the usage error's, as Click's own for a file
    it cannot open."""


class PcscUnavailable(NhicardError):
    category = Category.PCSC_UNAVAILABLE


class ReaderError(NhicardError):
    """No reader, reader not found, or ambiguous reader choice."""

    category = Category.NO_READER


class CardAbsent(NhicardError):
    """No card, card removed, or not an NHI card."""

    category = Category.NO_CARD


class CardFailure(NhicardError):
    """The card answered with an error, or its data is unreadable."""

    category = Category.CARD_ERROR


class NetworkError(NhicardError):
    category = Category.NETWORK


class SiteRejected(NhicardError):
    category = Category.SITE_REJECTED


class AuthRefused(NhicardError):
    category = Category.AUTH_REFUSED


class ChecksFailed(NhicardError):
    category = Category.CHECKS_FAILED


class SiteChanged(NhicardError):
    """The page is not what the profile describes; ``saved_page`` is where we kept it."""

    category = Category.SITE_CHANGED

    def __init__(self, message: Text, *, saved_page: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.saved_page = saved_page


class NotAvailable(NhicardError):
    """A feature that this build or this setup does not provide (said plainly)."""

    category = Category.OTHER


class AlreadyReported(NhicardError):
    """The command has shown its results and what failed (e.g. ``card verify``'s cards and
    summary); only the exit status of ``category`` is left to give, with no message."""

    def __init__(self, category: Category, message: Text) -> None:
        super().__init__(message)
        self.category = category
