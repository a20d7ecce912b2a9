"""Fakes shared by the unit tests: a scripted card connection."""

from __future__ import annotations

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
