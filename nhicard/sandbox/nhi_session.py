"""``ASP.NET_SessionId`` sessions of the sandbox NHI site, expiring on the sandbox clock.

A request whose cookie names no live session (timed out, dropped by a fault, or from before a
restart) is told apart from a first visit, so the site can say the session expired.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "ASP.NET_SessionId"


@dataclass
class NhiSession:
    sid: str
    last_seen: datetime
    data: dict[str, Any] = field(default_factory=dict)
    fresh: bool = True


@dataclass(frozen=True)
class SessionLookup:
    session: NhiSession | None
    expired: bool  # a cookie was sent but names no live session


class NhiSessions:
    """In-memory sessions keyed by a random 24-character id (as ASP.NET's)."""

    def __init__(self, clock: Callable[[], datetime], timeout: timedelta) -> None:
        self._clock = clock
        self.timeout = timeout
        self._sessions: dict[str, NhiSession] = {}
        self._lock = threading.Lock()

    def lookup(self, request: Request) -> SessionLookup:
        sid = request.cookies.get(COOKIE_NAME)
        now = self._clock()
        with self._lock:
            for key in [k for k, s in self._sessions.items() if now - s.last_seen > self.timeout]:
                del self._sessions[key]
            session = self._sessions.get(sid) if sid else None
            if session is not None:
                session.last_seen = now
                session.fresh = False
        return SessionLookup(session, expired=bool(sid) and session is None)

    def create(self) -> NhiSession:
        alphabet = "abcdefghijklmnopqrstuvwxyz012345"
        session = NhiSession(
            "".join(secrets.choice(alphabet) for _ in range(24)), last_seen=self._clock()
        )
        with self._lock:
            self._sessions[session.sid] = session
        return session

    def drop(self, session: NhiSession) -> None:
        with self._lock:
            self._sessions.pop(session.sid, None)

    def attach(self, response: Response, session: NhiSession) -> Response:
        if session.fresh:
            response.set_cookie(
                COOKIE_NAME, session.sid, path="/", secure=True, httponly=True, samesite="lax"
            )
        return response
