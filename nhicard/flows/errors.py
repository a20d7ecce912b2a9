"""Typed errors of the flows (each a subclass of an exit-code class of nhicard.core.errors)."""

from __future__ import annotations

from nhicard.core.errors import NetworkError


class SessionExpired(NetworkError):
    """The site dropped our session mid-flow (its 「逾時」 page): exit 7, the flow may start
    again from its first page."""
