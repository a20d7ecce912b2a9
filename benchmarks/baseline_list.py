"""Baseline for ``nhicard reader list --json``: the least a pyscard script does to list the
readers with each one's state and ATR (one SCardGetStatusChange for all, as nhicard asks),
printing them as JSON."""

from __future__ import annotations

import json
import sys

from smartcard import scard as sc


def state_name(bits: int) -> str:
    if bits & (sc.SCARD_STATE_UNAVAILABLE | sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_IGNORE):
        return "unavailable"
    if bits & sc.SCARD_STATE_PRESENT:
        if bits & sc.SCARD_STATE_MUTE:
            return "mute"
        return "in-use" if bits & (sc.SCARD_STATE_INUSE | sc.SCARD_STATE_EXCLUSIVE) else "present"
    return "empty" if bits & sc.SCARD_STATE_EMPTY else "unavailable"


def main() -> None:
    hresult, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    if hresult != sc.SCARD_S_SUCCESS:
        sys.exit(f"SCardEstablishContext: {sc.SCardGetErrorMessage(hresult)}")
    hresult, names = sc.SCardListReaders(ctx, [])
    if hresult != sc.SCARD_S_SUCCESS:
        sys.exit(f"SCardListReaders: {sc.SCardGetErrorMessage(hresult)}")
    records = []
    if names:
        hresult, states = sc.SCardGetStatusChange(
            ctx, 0, [(n, sc.SCARD_STATE_UNAWARE) for n in names]
        )
        if hresult != sc.SCARD_S_SUCCESS:
            sys.exit(f"SCardGetStatusChange: {sc.SCardGetErrorMessage(hresult)}")
        for index, (name, bits, atr) in enumerate(states):
            state = state_name(bits)
            shown = bytes(atr).hex(" ").upper() if atr and state != "empty" else None
            records.append({"index": index, "name": name, "state": state, "atr": shown})
    sc.SCardReleaseContext(ctx)
    print(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
