"""A PC/SC context that survives a restart of the PC/SC service.

pyscard is imported here (and in the other modules of this package) lazily. Every PC/SC call
goes through :meth:`PcscContext.run`, which re-establishes a stale context once,
transparently (pcscd restarted since the context was made), and retries the call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from nhicard.core.closing import ClosesOnExit
from nhicard.pcsc import codes

R = TypeVar("R")

# pcscd refuses a client (polkit) by closing its socket at once. When that close comes before
# the client library's first write, pcsc-lite reports SCARD_E_NO_SERVICE (a failed write), not
# SCARD_W_SECURITY_VIOLATION (seen in 1 of 30 `env check` runs against a pcscd 2.3.3 that
# could not reach polkit). So "no service" is asked again: a pcscd that is really absent
# answers that at once each time.
ESTABLISH_RETRIES = 2


class ScardCallError(Exception):
    """A PC/SC call returned ``code``; translated to a typed error by the caller."""

    def __init__(self, code: int, during: str) -> None:
        super().__init__(f"{codes.code_name(code)} during {during}")
        self.code = codes.normalize(code)
        self.during = during


def scard() -> ModuleType:
    """pyscard's ``smartcard.scard`` module; PcscUnavailable when it cannot be loaded."""
    try:
        import smartcard.scard as module
    except ImportError as exc:  # pyscard absent, or libpcsclite missing
        raise codes.library_missing(str(exc)) from None
    except OSError as exc:
        raise codes.library_missing(str(exc)) from None
    return module


def check(result: Any, during: str) -> Any:
    """Unpack a pyscard result tuple ``(hresult, *values)``; raise ScardCallError on failure.

    Returns the single value, a tuple of values, or None."""
    if isinstance(result, (tuple, list)):
        hresult, values = result[0], result[1:]
    else:
        hresult, values = result, ()
    if codes.normalize(hresult) != codes.SCARD_S_SUCCESS:
        raise ScardCallError(hresult, during)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class PcscContext(ClosesOnExit):
    """One PC/SC context (``SCardEstablishContext``), created on first use.

    Use one per thread that blocks in ``SCardGetStatusChange`` (pcsc-lite serialises calls
    on one context)."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._lock = threading.RLock()

    @property
    def handle(self) -> Any:
        with self._lock:
            if self._handle is None:
                self._handle = self._establish()
            return self._handle

    def _establish(self) -> Any:
        sc = scard()
        result = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        for _ in range(ESTABLISH_RETRIES):
            if codes.normalize(result[0]) != codes.SCARD_E_NO_SERVICE:
                break
            result = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        try:
            return check(result, "SCardEstablishContext")
        except ScardCallError as err:
            raise codes.translate(err.code, during=err.during) from None

    def close(self) -> None:
        """Leave ``with``: :meth:`release`."""
        self.release()

    def release(self) -> None:
        """Release the context (errors ignored: it may already be dead)."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            # a dead context cannot be released cleanly; nothing to do about it
            with contextlib.suppress(Exception):
                scard().SCardReleaseContext(handle)

    def abandon(self) -> None:
        """Forget the context without releasing it: a call on it is blocked for good (a card
        that does not answer), and releasing would block too. The next use makes a new one."""
        with self._lock:
            self._handle = None

    def run(self, op: Callable[[Any], R]) -> R:
        """Run ``op(handle)``; on a stale-context code re-establish once and run it again.

        ``op`` raises :class:`ScardCallError` (via :func:`check`) on failure."""
        fresh = self._handle is None
        try:
            return op(self.handle)
        except ScardCallError as err:
            if fresh or err.code not in codes.STALE_CONTEXT_CODES:
                raise
        self.release()
        return op(self.handle)


_shared: PcscContext | None = None
_shared_lock = threading.Lock()


def shared_context() -> PcscContext:
    """The process-wide context for short calls (listing, connecting)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PcscContext()
        return _shared
