"""The mail layer: message sources (``.eml``, mbox, Maildir, IMAP) and finding the NHI
verification mail (認證通知信) and its link 「健保卡註冊認證作業」.

Core code: no click, no printing; typed errors from :mod:`nhicard.mail.errors`.

``ImapSource`` is imported on first use (``imaplib`` compiles its regexes at import: ≈ 10 ms
that a ``--maildir`` / ``--eml`` / ``--mbox`` run never needs).
"""

from typing import TYPE_CHECKING, Any

from nhicard.mail.errors import (
    ForeignLink,
    ImapLoginRefused,
    ImapMailboxMissing,
    ImapUnavailable,
    ImapUrlInvalid,
    MailNotFound,
    MailSourceMissing,
    MailUnreadable,
)
from nhicard.mail.message import MailItem
from nhicard.mail.since import parse_since
from nhicard.mail.sources import EmlSource, MaildirSource, MboxSource, MessageSource, SearchHint
from nhicard.mail.verification import (
    MailMarkers,
    VerificationMail,
    WaitTick,
    find_verification_mail,
    wait_for_verification_mail,
)

if TYPE_CHECKING:
    from nhicard.mail.imap import ImapSource


def __getattr__(name: str) -> Any:
    if name == "ImapSource":
        from nhicard.mail.imap import ImapSource

        return ImapSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EmlSource",
    "ForeignLink",
    "ImapLoginRefused",
    "ImapMailboxMissing",
    "ImapSource",
    "ImapUnavailable",
    "ImapUrlInvalid",
    "MailItem",
    "MailMarkers",
    "MailNotFound",
    "MailSourceMissing",
    "MailUnreadable",
    "MaildirSource",
    "MboxSource",
    "MessageSource",
    "SearchHint",
    "VerificationMail",
    "WaitTick",
    "find_verification_mail",
    "parse_since",
    "wait_for_verification_mail",
]
