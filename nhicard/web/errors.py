"""Typed errors of the web engine, each a subclass of the CLI's exit-code classes."""

from __future__ import annotations

from typing import Any

from nhicard.core.errors import NhicardError, SiteChanged, SiteRejected, UsageError
from nhicard.core.i18n import Text


class ControlNotFound(SiteChanged):
    """The page has no control matching the profile's names and labels (exit 11)."""


class ControlAmbiguous(SiteChanged):
    """Several controls match one label: the profile must name the control (exit 11)."""


class FormNotFound(SiteChanged):
    """The page has no form, or not the one asked for (exit 11)."""


class PageUnparsable(SiteChanged):
    """The HTML could not be read at all (exit 11)."""


class UnsupportedForm(SiteChanged):
    """The form uses an encoding or control this engine does not submit (exit 11)."""


class ForeignFormTarget(SiteChanged):
    """A form submission (its action, or a 307/308 redirect of it) would go to a host the
    profile does not name: refused before anything is sent (exit 11)."""


class ChoiceRejected(SiteRejected):
    """A value is not among a drop-down's options, or matches several (exit 8).

    ``data["candidates"]`` lists the options offered to the user.
    """

    def __init__(self, message: Text, *, candidates: list[str], **kw: Any) -> None:
        data = dict(kw.pop("data", None) or {})
        data["candidates"] = candidates
        super().__init__(message, data=data, **kw)
        self.candidates = candidates


class PageStateRejected(SiteRejected):
    """ASP.NET refused the posted page state (``__VIEWSTATE`` MAC or ``__EVENTVALIDATION``),
    answering its HTTP 500 error page (exit 8).

    The site checked our request and refused it before acting on it: nothing was submitted.
    It is exit 8 rather than the 5xx exit 7 because the site is working and refused this
    request on purpose; a fresh run (fresh pages, fresh state) is what helps, not waiting.
    """


class ProfileError(UsageError):
    """A site profile is missing, malformed or incomplete (exit 2)."""


class StaleForm(NhicardError):
    """A form of an earlier page was submitted; ASP.NET state must come from the current page.

    This is a programming error in a flow (exit 1)."""
