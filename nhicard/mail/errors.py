"""Typed errors of the mail layer, each a subclass of an exit-code class of ``nhicard.core.errors``.

| error | exit | when |
|---|---|---|
| :class:`MailSourceMissing` | 2 | the ``.eml`` / mbox file or Maildir directory does not exist |
| :class:`ImapUrlInvalid` | 2 | the ``--imap`` URL cannot be used (bad form, password in it) |
| :class:`ImapMailboxMissing` | 2 | the IMAP server has no such mailbox (folder) |
| :class:`ImapUnavailable` | 7 | connection, TLS, STARTTLS missing, protocol failure |
| :class:`MailNotFound` | 8 | no verification mail (yet): the site's mail did not come |
| :class:`MailUnreadable` | 8 | a mail too large or too deeply nested to read safely |
| :class:`ForeignLink` | 8 | the mail's link leads outside the profile's allowed hosts |
| :class:`ImapLoginRefused` | 9 | the IMAP server refused the mailbox user name / password |
"""

from __future__ import annotations

from typing import Any

from nhicard.core.errors import AuthRefused, NetworkError, SiteRejected, UsageError
from nhicard.core.i18n import Text


class MailSourceMissing(UsageError):
    """The mail file or Maildir named by the user does not exist (exit 2)."""


class ImapUrlInvalid(UsageError):
    """The IMAP URL is malformed or carries a password (exit 2)."""


class ImapMailboxMissing(UsageError):
    """The IMAP server has no mailbox of that name (exit 2)."""


class ImapUnavailable(NetworkError):
    """The IMAP server cannot be reached or used safely (exit 7)."""


class ImapLoginRefused(AuthRefused):
    """The IMAP server refused the user's mailbox credentials (exit 9)."""


class MailNotFound(SiteRejected):
    """No verification mail matched (exit 8); ``examined`` and ``matched`` tell how many mails
    were looked at and how many looked like the verification mail but had no usable link."""

    def __init__(self, message: Text, *, examined: int, matched: int = 0, **kw: Any) -> None:
        data = dict(kw.pop("data", None) or {})
        data.update(examined=examined, matched=matched)
        super().__init__(message, data=data, **kw)
        self.examined = examined
        self.matched = matched


class MailUnreadable(SiteRejected):
    """A mail that cannot be read safely: larger than the size cap, MIME nested too deeply,
    or not a regular file (exit 8). Sources holding several mails skip it and go on."""


class ForeignLink(SiteRejected):
    """The verification mail's link points outside the allowed hosts: a security refusal
    (exit 8). ``host`` is the refused host; the link itself is kept in ``data["link"]``."""

    def __init__(self, message: Text, *, host: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.host = host
