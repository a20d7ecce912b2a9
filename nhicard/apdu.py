"""APDU exchange: status words, GET RESPONSE on 61xx, resend with Le on 6Cxx, tracing.

``transceive`` is what the card layer uses; the tracer (``-vv``) gets one line per APDU
sent and received, with the byte ranges the caller marks as personal printed as ``**``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from nhicard.errors import CardFailure
from nhicard.i18n import T
from nhicard.pcsc.connection import Connection

Tracer = Callable[[str], None]
MaskRanges = Sequence[tuple[int, int]]  # [start, end) offsets in the whole response data

SW_OK = 0x9000
MAX_ROUNDS = 32  # GET RESPONSE / Le retries for one command before giving up

STATUS_WORDS: dict[int, str] = {
    0x9000: "ok",
    0x6200: "warning: no information given, non-volatile memory unchanged",
    0x6281: "warning: part of returned data may be corrupted",
    0x6282: "warning: end of file reached before reading Le bytes",
    0x6283: "warning: selected file invalidated",
    0x6300: "warning: verification failed",
    0x6581: "memory failure",
    0x6700: "wrong length",
    0x6881: "logical channel not supported",
    0x6882: "secure messaging not supported",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6984: "referenced data invalidated",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6A80: "incorrect parameters in the data field",
    0x6A81: "function not supported",
    0x6A82: "file or application not found",
    0x6A83: "record not found",
    0x6A84: "not enough memory space in the file",
    0x6A86: "incorrect parameters P1-P2",
    0x6A87: "Lc inconsistent with P1-P2",
    0x6A88: "referenced data not found",
    0x6B00: "wrong parameters P1-P2",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


def format_sw(sw: int) -> str:
    """``0x6A82`` → ``"6A 82"``."""
    return f"{sw >> 8:02X} {sw & 0xFF:02X}"


def describe_sw(sw: int) -> str:
    """A readable name of a status word, e.g. ``"file or application not found"``."""
    if sw in STATUS_WORDS:
        return STATUS_WORDS[sw]
    high, low = sw >> 8, sw & 0xFF
    if high == 0x61:
        return f"{low or 256} more bytes available (GET RESPONSE)"
    if high == 0x6C:
        return f"wrong Le, exact length is {low or 256}"
    if high == 0x63 and low & 0xF0 == 0xC0:
        return f"verification failed, {low & 0x0F} tries left"
    return "unknown status word"


class ApduError(CardFailure):
    """The card answered a status word other than 90 00; ``sw`` holds it."""

    def __init__(self, sw: int, command: str = "APDU") -> None:
        super().__init__(
            T(
                "卡片回應錯誤 {sw}({name}),指令 {command}",
                "the card answered {sw} ({name}) to {command}",
            ).format(sw=format_sw(sw), name=describe_sw(sw), command=command),
            hint=T(
                "請重新插卡後再試;若持續發生,卡片可能已損壞。",
                "Reinsert the card and retry; if it persists the card may be damaged.",
            ),
            reason="card-error",
            detail=f"SW {format_sw(sw)}",
        )
        self.sw = sw
        self.command = command


def hexbytes(data: bytes) -> str:
    return " ".join(f"{b:02X}" for b in data)


def with_le(apdu: bytes, le: int) -> bytes:
    """The same command with expected length ``le`` (replacing or appending the Le byte)."""
    if len(apdu) < 4:
        raise ValueError("an APDU has at least 4 header bytes")
    if len(apdu) == 4:  # case 1: append Le
        return apdu + bytes([le])
    if len(apdu) == 5:  # case 2: replace Le
        return apdu[:4] + bytes([le])
    lc = apdu[4]
    body = apdu[: 5 + lc]
    return body + bytes([le])  # case 3 gains Le, case 4 has it replaced


def get_response(le: int) -> bytes:
    """GET RESPONSE ``00 C0 00 00 le``."""
    return bytes([0x00, 0xC0, 0x00, 0x00, le])


def _masked_hex(data: bytes, offset: int, mask: MaskRanges) -> str:
    out = []
    for i, b in enumerate(data, start=offset):
        hidden = any(start <= i < end for start, end in mask)
        out.append("**" if hidden else f"{b:02X}")
    return " ".join(out)


def exchange(
    conn: Connection,
    apdu: bytes,
    *,
    tracer: Tracer | None = None,
    mask: MaskRanges = (),
) -> tuple[bytes, int]:
    """Send ``apdu`` and collect the whole answer: follow ``61xx`` with GET RESPONSE and
    resend with Le on ``6Cxx``. Returns (data, final status word); raises CardFailure only
    for transmission problems (including a card that keeps answering 61xx/6Cxx)."""
    data = b""
    command = apdu
    le_retried = False
    for _ in range(MAX_ROUNDS):
        if tracer:
            tracer(f"APDU > {hexbytes(command)}")
        started = time.perf_counter()
        chunk, sw = conn.transmit(command)
        if tracer:
            ms = (time.perf_counter() - started) * 1000
            body = _masked_hex(chunk, len(data), mask)
            tracer(
                f"APDU < {(body + ' ') if body else ''}{format_sw(sw)} ({describe_sw(sw)}) {ms:.1f} ms"
            )
        high = sw >> 8
        if high == 0x6C and not le_retried:
            command = with_le(command, sw & 0xFF)
            le_retried = True
            continue
        data += chunk
        if high == 0x61:
            command = get_response(sw & 0xFF)
            le_retried = False
            continue
        return data, sw
    raise CardFailure(
        T("卡片回應不斷要求重送,放棄讀取", "the card kept asking for more exchanges; giving up"),
        hint=T("請重新插卡後再試。", "Reinsert the card and retry."),
        reason="too-many-rounds",
        detail=hexbytes(apdu[:4]),
    )


def transceive(
    conn: Connection,
    apdu: bytes,
    *,
    tracer: Tracer | None = None,
    mask: MaskRanges = (),
    command: str = "APDU",
) -> bytes:
    """Like :func:`exchange` but returns only the data and raises :class:`ApduError` (with
    ``.sw``) unless the card answered 90 00."""
    data, sw = exchange(conn, apdu, tracer=tracer, mask=mask)
    if sw != SW_OK:
        raise ApduError(sw, command)
    return data
