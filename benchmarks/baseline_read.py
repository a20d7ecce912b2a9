"""Baseline for ``nhicard card read --json``: the least a pyscard script does to read the same
card with the same PC/SC calls and the same APDUs, printing the raw answers as JSON.

PC/SC calls, as nhicard makes them: establish a context, list the readers, get their states
(to choose the reader that holds a card), connect shared T=0|T=1, get the card's status (ATR),
transmit SELECT + READ PROFILE + READ CARD DATA, disconnect leaving the card, release.
The APDUs are checked against nhicard's own ``-vv`` trace by the harness (run.py).
"""

from __future__ import annotations

import json
import sys

from smartcard import scard as sc

APDUS = (
    bytes.fromhex("00A4040010D1580000010000000000000000001100"),  # SELECT the NHI applet
    bytes.fromhex("00CA110002000000"),  # READ PROFILE
    bytes.fromhex("00CA240002000000"),  # READ CARD DATA
)


def fail(what: str, hresult: int) -> None:
    sys.exit(f"{what}: {sc.SCardGetErrorMessage(hresult)}")


def main() -> None:
    hresult, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    if hresult != sc.SCARD_S_SUCCESS:
        fail("SCardEstablishContext", hresult)
    hresult, names = sc.SCardListReaders(ctx, [])
    if hresult != sc.SCARD_S_SUCCESS or not names:
        fail("SCardListReaders", hresult)
    reader = names[0]
    if len(names) > 1:
        hresult, states = sc.SCardGetStatusChange(
            ctx, 0, [(n, sc.SCARD_STATE_UNAWARE) for n in names]
        )
        if hresult != sc.SCARD_S_SUCCESS:
            fail("SCardGetStatusChange", hresult)
        with_card = [name for name, bits, _atr in states if bits & sc.SCARD_STATE_PRESENT]
        if not with_card:
            sys.exit("no card in any reader")
        reader = with_card[0]
    hresult, hcard, protocol = sc.SCardConnect(
        ctx, reader, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
    )
    if hresult != sc.SCARD_S_SUCCESS:
        fail("SCardConnect", hresult)
    hresult, _name, _state, _proto, atr = sc.SCardStatus(hcard)
    if hresult != sc.SCARD_S_SUCCESS:
        fail("SCardStatus", hresult)
    answers = []
    for apdu in APDUS:
        hresult, response = sc.SCardTransmit(hcard, protocol, list(apdu))
        if hresult != sc.SCARD_S_SUCCESS:
            fail("SCardTransmit", hresult)
        if response[-2:] != [0x90, 0x00]:
            sys.exit(f"the card answered {bytes(response[-2:]).hex()} to {apdu.hex()}")
        answers.append(bytes(response[:-2]).hex())
    sc.SCardDisconnect(hcard, sc.SCARD_LEAVE_CARD)
    sc.SCardReleaseContext(ctx)
    print(json.dumps({"reader": reader, "atr": bytes(atr).hex(), "answers": answers}))


if __name__ == "__main__":
    main()
