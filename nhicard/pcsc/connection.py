"""The PC/SC implementation of :class:`nhicard.transport.connection.Connection` (shared mode, T0|T1,
disconnect with SCARD_LEAVE_CARD so other programs holding the reader are not disturbed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from nhicard.core.errors import CardFailure
from nhicard.core.i18n import T
from nhicard.pcsc import codes
from nhicard.pcsc.context import PcscContext, ScardCallError, check, scard

R = TypeVar("R")

# Seconds one APDU exchange may take before the card counts as not answering. Real cards
# answer in tens of milliseconds; ``--apdu-timeout`` / NHICARD_APDU_TIMEOUT change it.
DEFAULT_APDU_TIMEOUT = 5.0
apdu_timeout = DEFAULT_APDU_TIMEOUT


def set_apdu_timeout(seconds: float) -> None:
    """The deadline of every APDU exchange from now on (the CLI's ``--apdu-timeout``)."""
    global apdu_timeout
    apdu_timeout = seconds


def card_not_answering(reader: str, seconds: float) -> CardFailure:
    return CardFailure(
        T(
            "卡片沒有回應:{reader} 中的卡片 {s} 秒內未回覆指令",
            "the card does not answer: the card in {reader} gave no reply within {s} s",
        ).format(reader=reader, s=f"{seconds:g}"),
        hint=T(
            "請取出卡片、擦拭晶片後重新插入;若讀卡機本身無回應,請重新插拔讀卡機。"
            "--apdu-timeout 可調整等待秒數。",
            "Take the card out, wipe its chip and insert it again; if the reader itself hangs, "
            "unplug it and plug it back in. --apdu-timeout changes how long to wait.",
        ),
        reason="card-not-answering",
    )


def call_with_deadline(call: Callable[[], R], seconds: float) -> tuple[bool, R | None]:
    """Run a blocking PC/SC ``call`` in a worker thread and wait at most ``seconds``.

    Returns ``(True, result)``, or ``(False, None)`` when the call is still running (it is
    left behind in its daemon thread). The wait is interruptible: Ctrl-C raises
    KeyboardInterrupt here at once, even while the card keeps the call blocked."""
    done = threading.Event()
    box: list[Any] = []

    def work() -> None:
        try:
            box.append((True, call()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=work, name="pcsc-transmit", daemon=True).start()
    if not done.wait(seconds):
        return False, None
    ok, value = box[0]
    if not ok:
        raise value
    return True, value


class PcscConnection:
    """A card handle from ``SCardConnect`` in shared mode; see :func:`open_card`."""

    def __init__(
        self, context: PcscContext, reader: str, hcard: Any, protocol: int, atr: bytes
    ) -> None:
        self.context = context
        self.reader = reader
        self.atr = atr
        self.protocol = protocol
        self._hcard = hcard
        # set when an exchange outlived its deadline: the handle is busy in a blocked call
        # (pcsc-lite would block any further call on it), so it is abandoned, never reused
        self.stuck = False

    @classmethod
    def connect(cls, context: PcscContext, reader: str) -> PcscConnection:
        """Connect shared, T0|T1. Raises ScardCallError (the caller translates and retries)."""
        sc = scard()

        seconds = apdu_timeout

        def bounded(call: Callable[[], Any]) -> Any:
            try:
                answered, result = call_with_deadline(call, seconds)
            except KeyboardInterrupt:
                context.abandon()
                raise
            if not answered:  # a reader or card that hangs pcscd (a transmit never ending)
                context.abandon()
                raise card_not_answering(reader, seconds)
            return result

        def op(handle: Any) -> tuple[Any, int]:
            hcard, protocol = check(
                bounded(
                    lambda: sc.SCardConnect(
                        handle,
                        reader,
                        sc.SCARD_SHARE_SHARED,
                        sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1,
                    )
                ),
                "SCardConnect",
            )
            return hcard, protocol

        hcard, protocol = context.run(op)
        try:
            _name, _state, _proto, atr = check(
                bounded(lambda: sc.SCardStatus(hcard)), "SCardStatus"
            )
        except ScardCallError:
            sc.SCardDisconnect(hcard, sc.SCARD_LEAVE_CARD)
            raise
        return cls(context, reader, hcard, protocol, bytes(atr))

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self._hcard is None:
            raise CardFailure(T("連線已關閉", "the card connection is closed"), reason="closed")
        if self.stuck:
            raise card_not_answering(self.reader, apdu_timeout)
        sc = scard()
        hcard, protocol, command = self._hcard, self.protocol, list(apdu)
        seconds = apdu_timeout
        try:
            answered, result = call_with_deadline(
                lambda: sc.SCardTransmit(hcard, protocol, command), seconds
            )
        except KeyboardInterrupt:  # Ctrl-C while the card has our command: handle stays busy
            self._abandon()
            raise
        if not answered:
            self._abandon()
            raise card_not_answering(self.reader, seconds)
        try:
            response = check(result, "SCardTransmit")
        except ScardCallError as err:
            raise codes.translate(err.code, reader=self.reader, during=err.during) from None
        data = bytes(response)
        if len(data) < 2:
            if self._card_gone():
                raise codes.card_absent(self.reader, "empty answer, card gone", removed=True)
            raise CardFailure(
                T("卡片回應過短", "the card's answer is too short"),
                reason="short-response",
                detail=data.hex(" ").upper() or "empty",
            )
        return data[:-2], (data[-2] << 8) | data[-1]

    def _card_gone(self, settle: float = 0.5) -> bool:
        """After an empty answer: is the card gone? (vpcd and some drivers answer nothing
        when the card is pulled mid-command; the removal shows up a moment later.)"""
        sc = scard()
        deadline = time.monotonic() + settle
        while True:
            result = sc.SCardStatus(self._hcard)
            code = codes.normalize(result[0])
            if code in (codes.SCARD_W_REMOVED_CARD, codes.SCARD_E_NO_SMARTCARD):
                return True
            if code == codes.SCARD_S_SUCCESS and self._reader_empty():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _reader_empty(self) -> bool:
        sc = scard()
        try:
            states = self.context.run(
                lambda handle: check(
                    sc.SCardGetStatusChange(handle, 0, [(self.reader, sc.SCARD_STATE_UNAWARE)]),
                    "SCardGetStatusChange",
                )
            )
        except ScardCallError:
            return False
        return any(bits & sc.SCARD_STATE_EMPTY for _name, bits, _atr in states)

    def _abandon(self) -> None:
        """Give up a handle whose transmit is still blocked: no more calls on it or on its
        context (pcsc-lite serialises them, so they would block too)."""
        self.stuck = True
        self.context.abandon()

    def close(self) -> None:
        """Disconnect, leaving the card as it is (SCARD_LEAVE_CARD). Idempotent."""
        hcard, self._hcard = self._hcard, None
        if hcard is not None and not self.stuck:
            sc = scard()
            sc.SCardDisconnect(hcard, sc.SCARD_LEAVE_CARD)
