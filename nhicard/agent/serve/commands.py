"""The official component's command set, answered from a card agent for ``agent serve``:
the replies (``Command:payload`` or the bare official code), and the card worker every
port's card work goes through.

``GetRandom`` is the agent's: ours (``direct``) draws it from the OS's CSPRNG
(:func:`secrets.token_bytes`), unlike the official component's ``rand()`` seeded with the time.
``H_Sign?Random=`` (``SignHC``) takes version+random (20 characters) or the 16-digit random
alone, as the official page script sends it on its card + password path.

Card work runs on one worker thread (the card lock) that ``GetVersion`` and ``GetRandom``
never wait for; each card (and SAM) operation has a deadline and answers ``8013`` when it
runs out. Requests are never logged with their arguments (``EnCrypt?Pwd=`` carries a
password): :func:`command_name` is what may be logged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from nhicard.agent.base import CardAgent, h_sign_argument_ok
from nhicard.agent.errors import (
    AgentCardAbsent,
    AgentCardFailure,
    AgentError,
    AgentNetworkError,
    AgentPcscUnavailable,
    AgentReaderError,
)
from nhicard.agent.serve import httpapi
from nhicard.agent.serve.transport import Conn, Limits
from nhicard.core.errors import (
    CardAbsent,
    CardFailure,
    NetworkError,
    NhicardError,
    PcscUnavailable,
    ReaderError,
)

if TYPE_CHECKING:
    from nhicard.agent.serve.origins import OriginPolicy

UNKNOWN = "9999"
ORIGIN_REFUSED = "4041"
DEADLINE_CODE = "8013"  # the card (or SAM) did not finish in time: cannot access the card
CARD_COMMANDS = ("GetBasic", "H_Sign", "EnCrypt", "SecureGetBasicWithParam")

Log = Callable[[str], None]
_T = TypeVar("_T")


def code_for(exc: NhicardError) -> str:
    """The official code to answer for an error (errors without one get their category's)."""
    if isinstance(exc, AgentError) and exc.official_code:
        return exc.official_code
    fallbacks: Sequence[tuple[type[NhicardError], str]] = (
        (AgentPcscUnavailable, "7001"),
        (PcscUnavailable, "7001"),
        (AgentReaderError, "7002"),
        (ReaderError, "7002"),
        (AgentCardAbsent, "8013"),
        (CardAbsent, "8013"),
        (AgentCardFailure, "8011"),
        (CardFailure, "8011"),
        (AgentNetworkError, "4061"),
        (NetworkError, "4061"),
    )
    return next((code for cls, code in fallbacks if isinstance(exc, cls)), UNKNOWN)


def command_name(request: str) -> str:
    """The command part of a request, safe to log (no arguments)."""
    name = request.partition("?")[0]
    return name if name.isascii() and name.isalnum() or name == "H_Sign" else "?"


def outcome(reply: str) -> str:
    """A reply as logged: its code, or ``ok``."""
    return reply if reply.isdigit() and reply != httpapi.OK else "ok"


def dispatch(agent: CardAgent, request: str) -> str:
    """Answer one request as the official component would."""
    name, _, query = request.partition("?")
    key, _, value = query.partition("=")
    try:
        if request == "GetVersion":
            return "GetVersion:" + agent.get_version()
        if request == "GetRandom":
            return "GetRandom:" + agent.get_random()
        if request == "GetBasic":
            return "GetBasic:" + agent.get_basic().to_wire()
        if name == "H_Sign" and key == "Random":
            # version+random (20, the H_Sign path) or the 16-digit random alone (what the
            # official page script sends on its card + password path, InnerAuthHC)
            if not h_sign_argument_ok(value):
                return UNKNOWN
            return "H_Sign:" + agent.h_sign(value)
        if name == "EnCrypt" and key == "Pwd":
            return "EnCrypt:" + agent.encrypt_password(value)
        if name == "SecureGetBasicWithParam" and key == "Pwd":
            return "SecureGetBasicWithParam:" + agent.secure_get_basic(value)
    except NhicardError as exc:
        return code_for(exc)
    return UNKNOWN


class CardWorker:
    """One daemon thread doing card work in order: the card lock. A caller waits for its
    result only until its own deadline; a card that hangs holds this thread, not the server
    (and a daemon thread does not keep the process from exiting)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="agent-card", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], _T]) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._queue.put((fn, future))
        return future

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(exc)


class Commands:
    """The command set on top of one card agent: replies at once when they need no card,
    else from the card worker (started by :meth:`start`) within ``card_deadline``."""

    def __init__(self, agent: CardAgent, *, card_deadline: float, note: Log) -> None:
        self.agent = agent
        self.card_deadline = card_deadline
        self._note = note
        self._worker: CardWorker | None = None

    def start(self) -> None:
        self._worker = CardWorker()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    async def _on_card(self, fn: Callable[[], _T]) -> _T:
        """``fn`` on the card worker; TimeoutError at the deadline."""
        assert self._worker is not None
        future = self._worker.submit(fn)
        return await asyncio.wait_for(asyncio.wrap_future(future), self.card_deadline)

    async def answer(self, conn: Conn, request: str) -> str:
        """The reply to one command: at once when it needs no card, else from the card
        worker within the deadline (then ``8013``)."""
        conn.busy = True
        try:
            if request.partition("?")[0] not in CARD_COMMANDS:
                return self.dispatch(request)
            try:
                return await self._on_card(lambda: self.dispatch(request))
            except TimeoutError:
                self._note(f"{command_name(request)}: no answer within the deadline")
                return DEADLINE_CODE
        finally:
            conn.busy = False
            conn.served += 1

    def dispatch(self, request: str) -> str:
        try:
            return dispatch(self.agent, request)
        except Exception as exc:  # noqa: BLE001 - keep serving other requests
            self._note(f"internal error in {command_name(request)}: {exc!r}")
            return UNKNOWN

    async def card_status(self, conn: Conn) -> dict[str, str]:
        """``result`` and ``card`` of the status bitmap, from the card worker."""
        conn.busy = True
        try:
            return await self._on_card(self._card_status)
        except TimeoutError:
            return {"result": DEADLINE_CODE, "card": "0"}
        finally:
            conn.busy = False

    def _card_status(self) -> dict[str, str]:
        check = getattr(self.agent, "check_card", None)
        if check is None:
            return {"result": UNKNOWN, "card": "0"}
        try:
            check()
        except NhicardError as exc:
            return {"result": code_for(exc), "card": "0"}
        return {"result": httpapi.OK, "card": "1"}


class CommandPort:
    """What each port answering the component's commands holds (the WebSocket port and the
    HTTP API ports): the commands, the origin policy, the limits, the ``Server`` header and
    the log."""

    def __init__(
        self,
        commands: Commands,
        origins: OriginPolicy,
        limits: Limits,
        *,
        server_header: str,
        note: Log,
    ) -> None:
        self.commands = commands
        self.origins = origins
        self.limits = limits
        self._server_header = server_header
        self._note = note
