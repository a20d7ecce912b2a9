"""The card-facing interface: what every layer above PC/SC needs of a card.

A :class:`Connection` sends one command APDU and returns the response data and status word.
``nhicard.pcsc.connection.PcscConnection`` is the adapter over pyscard; the virtual card
(``nhicard.sandbox.vcard``) and the tests' scripted cards are others. ``nhicard.transport.apdu`` builds
the exchange (GET RESPONSE, Le retry, tracing) on top of it.
"""

from __future__ import annotations

from typing import Protocol


class Connection(Protocol):
    """A card in a reader: its reader's name, its ATR and a transmit."""

    reader: str
    atr: bytes

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command APDU; return (response data, status word such as 0x9000)."""
        ...
