"""Server-side sessions keyed by a random cookie, for the sandbox eCPA and e-learning sites.

All three sandbox sites run on 127.0.0.1, and browsers share cookies across ports of one host,
so every site uses its own cookie name. Sessions live in memory (a restart signs everyone out,
as a real server farm restart would); a session expires after ``idle`` without requests.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

DEFAULT_IDLE_SECONDS = 20 * 60  # ASP.NET's default session timeout


@dataclass
class Session:
    sid: str
    data: dict[str, Any] = field(default_factory=dict)
    last_seen: float = 0.0
    fresh: bool = True  # the cookie still has to be sent


class MemorySessions:
    """A dictionary of sessions behind one cookie name."""

    def __init__(
        self,
        cookie_name: str,
        *,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cookie_name = cookie_name
        self.idle_seconds = idle_seconds
        self._monotonic = monotonic
        self._sessions: dict[str, Session] = {}

    def load(self, request: Request) -> Session | None:
        """The request's live session, or None."""
        self._expire()
        sid = request.cookies.get(self.cookie_name)
        session = self._sessions.get(sid) if sid else None
        if session is not None:
            session.last_seen = self._monotonic()
            session.fresh = False
        return session

    def load_or_create(self, request: Request) -> Session:
        return self.load(request) or self.create()

    def create(self) -> Session:
        session = Session(sid=secrets.token_urlsafe(24), last_seen=self._monotonic())
        self._sessions[session.sid] = session
        return session

    def rotate(self, session: Session) -> Session:
        """A new id for the same data (after a login, against session fixation)."""
        self._sessions.pop(session.sid, None)
        renewed = self.create()
        renewed.data = session.data
        return renewed

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.sid, None)

    def attach(self, response: Response, session: Session) -> Response:
        """Send the cookie when the session is new (or renewed)."""
        if session.fresh:
            response.set_cookie(
                self.cookie_name,
                session.sid,
                path="/",
                secure=True,
                httponly=True,
                samesite="lax",
            )
        return response

    def clear_cookie(self, response: Response) -> Response:
        response.delete_cookie(self.cookie_name, path="/", secure=True, httponly=True)
        return response

    def _expire(self) -> None:
        limit = self._monotonic() - self.idle_seconds
        for sid in [s for s, sess in self._sessions.items() if sess.last_seen < limit]:
            del self._sessions[sid]
