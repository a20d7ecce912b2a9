"""Fakes shared by the unit tests: a scripted card connection, a card verification."""

from __future__ import annotations

from datetime import UTC, datetime

from nhicard.card.verification import Verification

NHI_ATR = bytes.fromhex("3BFF1800FF8131FE455448434331305445434F4744484E3224")
READ_PROFILE = bytes.fromhex("00CA110002000000")


class ScriptedConnection:
    """Answers each transmit with the next scripted response (hex, spaces allowed); records
    what was sent as upper-case spaced hex (``"00 CA 11 00 02 00 00 00"``)."""

    reader = "Scripted reader"

    def __init__(self, *responses: str, atr: bytes = NHI_ATR) -> None:
        self.atr = atr
        self.responses = [bytes.fromhex(r.replace(" ", "")) for r in responses]
        self.sent: list[str] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu.hex(" ").upper())
        response = self.responses.pop(0)
        return response[:-2], int.from_bytes(response[-2:], "big")


def verification(number: str = "000012345678", hour: int = 1) -> Verification:
    """A passed card verification at a fixed time (2026-11-27, ``hour`` UTC): what a report
    records for card ``number``."""
    return Verification(
        reader="Virtual PCD 00 00",
        atr=b"\x3b\x00",
        card_type="nhi",
        card_number=number,
        id_number="A123456789",
        reason=None,
        detail=None,
        verified_at=datetime(2026, 11, 27, hour, 30, tzinfo=UTC),
        total_ms=12.0,
        apdu_ms=10.0,
        apdu_count=3,
    )
