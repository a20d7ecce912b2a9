"""The PC/SC implementation of :class:`nhicard.connection.Connection` (shared mode, T0|T1,
disconnect with SCARD_LEAVE_CARD so other programs holding the reader are not disturbed)."""

from __future__ import annotations

import time
from typing import Any

from nhicard.errors import CardFailure
from nhicard.i18n import T
from nhicard.pcsc import codes
from nhicard.pcsc.context import PcscContext, ScardCallError, check, scard


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

    @classmethod
    def connect(cls, context: PcscContext, reader: str) -> PcscConnection:
        """Connect shared, T0|T1. Raises ScardCallError (the caller translates and retries)."""
        sc = scard()

        def op(handle: Any) -> tuple[Any, int]:
            hcard, protocol = check(
                sc.SCardConnect(
                    handle,
                    reader,
                    sc.SCARD_SHARE_SHARED,
                    sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1,
                ),
                "SCardConnect",
            )
            return hcard, protocol

        hcard, protocol = context.run(op)
        try:
            _name, _state, _proto, atr = check(sc.SCardStatus(hcard), "SCardStatus")
        except ScardCallError:
            sc.SCardDisconnect(hcard, sc.SCARD_LEAVE_CARD)
            raise
        return cls(context, reader, hcard, protocol, bytes(atr))

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self._hcard is None:
            raise CardFailure(T("連線已關閉", "the card connection is closed"), reason="closed")
        sc = scard()
        try:
            response = check(
                sc.SCardTransmit(self._hcard, self.protocol, list(apdu)), "SCardTransmit"
            )
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

    def close(self) -> None:
        """Disconnect, leaving the card as it is (SCARD_LEAVE_CARD). Idempotent."""
        hcard, self._hcard = self._hcard, None
        if hcard is not None:
            sc = scard()
            sc.SCardDisconnect(hcard, sc.SCARD_LEAVE_CARD)
