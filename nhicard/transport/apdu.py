"""APDU exchange over a :class:`~nhicard.transport.connection.Connection`: status words, GET RESPONSE
on 61xx, resend with Le on 6Cxx, tracing.

``transceive`` is what the card layer uses. Every APDU sent and received is logged at
``TRAFFIC`` (``nhicard.transport.traffic``) to the ``nhicard.transport.apdu`` logger (``-vv`` shows it), with the
byte ranges the caller marks as personal printed as ``**``.
"""

from __future__ import annotations

import time
from enum import IntEnum

from nhicard.core.errors import CardFailure
from nhicard.core.i18n import T
from nhicard.transport.connection import Connection
from nhicard.transport.traffic import TRAFFIC, MaskRanges, PersonalBytes, traffic_logger

MAX_ROUNDS = 32  # GET RESPONSE / Le retries for one command before giving up
LOGGER = "nhicard.transport.apdu"


class StatusWord(IntEnum):
    """The status words (SW1 SW2) we name; a card may answer others (see :func:`describe_sw`)."""

    OK = 0x9000
    NO_INFORMATION = 0x6200
    DATA_MAY_BE_CORRUPTED = 0x6281
    END_OF_FILE = 0x6282
    FILE_INVALIDATED = 0x6283
    VERIFICATION_FAILED = 0x6300
    MEMORY_FAILURE = 0x6581
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCED_DATA_INVALIDATED = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    COMMAND_NOT_ALLOWED = 0x6986
    INCORRECT_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1_P2 = 0x6A86
    LC_INCONSISTENT_WITH_P1_P2 = 0x6A87
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    WRONG_P1_P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


SW_DESCRIPTIONS: dict[StatusWord, str] = {
    StatusWord.OK: "ok",
    StatusWord.NO_INFORMATION: "warning: no information given, non-volatile memory unchanged",
    StatusWord.DATA_MAY_BE_CORRUPTED: "warning: part of returned data may be corrupted",
    StatusWord.END_OF_FILE: "warning: end of file reached before reading Le bytes",
    StatusWord.FILE_INVALIDATED: "warning: selected file invalidated",
    StatusWord.VERIFICATION_FAILED: "warning: verification failed",
    StatusWord.MEMORY_FAILURE: "memory failure",
    StatusWord.WRONG_LENGTH: "wrong length",
    StatusWord.LOGICAL_CHANNEL_NOT_SUPPORTED: "logical channel not supported",
    StatusWord.SECURE_MESSAGING_NOT_SUPPORTED: "secure messaging not supported",
    StatusWord.SECURITY_STATUS_NOT_SATISFIED: "security status not satisfied",
    StatusWord.AUTH_METHOD_BLOCKED: "authentication method blocked",
    StatusWord.REFERENCED_DATA_INVALIDATED: "referenced data invalidated",
    StatusWord.CONDITIONS_NOT_SATISFIED: "conditions of use not satisfied",
    StatusWord.COMMAND_NOT_ALLOWED: "command not allowed (no current EF)",
    StatusWord.INCORRECT_DATA: "incorrect parameters in the data field",
    StatusWord.FUNCTION_NOT_SUPPORTED: "function not supported",
    StatusWord.FILE_NOT_FOUND: "file or application not found",
    StatusWord.RECORD_NOT_FOUND: "record not found",
    StatusWord.NOT_ENOUGH_MEMORY: "not enough memory space in the file",
    StatusWord.INCORRECT_P1_P2: "incorrect parameters P1-P2",
    StatusWord.LC_INCONSISTENT_WITH_P1_P2: "Lc inconsistent with P1-P2",
    StatusWord.REFERENCED_DATA_NOT_FOUND: "referenced data not found",
    StatusWord.WRONG_P1_P2: "wrong parameters P1-P2",
    StatusWord.INS_NOT_SUPPORTED: "instruction not supported",
    StatusWord.CLA_NOT_SUPPORTED: "class not supported",
    StatusWord.NO_PRECISE_DIAGNOSIS: "no precise diagnosis",
}


def format_sw(sw: int) -> str:
    """``0x6A82`` → ``"6A 82"``."""
    return f"{sw >> 8:02X} {sw & 0xFF:02X}"


def describe_sw(sw: int) -> str:
    """A readable name of a status word, e.g. ``"file or application not found"``."""
    if sw in SW_DESCRIPTIONS:
        return SW_DESCRIPTIONS[StatusWord(sw)]
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


def exchange(
    conn: Connection,
    apdu: bytes,
    *,
    mask: MaskRanges = (),
) -> tuple[bytes, int]:
    """Send ``apdu`` and collect the whole answer: follow ``61xx`` with GET RESPONSE and
    resend with Le on ``6Cxx``. Returns (data, final status word); raises CardFailure only
    for transmission problems (including a card that keeps answering 61xx/6Cxx).

    ``mask``: [start, end) offsets in the whole response data that are personal (traced as
    ``**``)."""
    data = b""
    command = apdu
    le_retried = False
    log = traffic_logger(LOGGER)
    for _ in range(MAX_ROUNDS):
        if log:
            log.log(TRAFFIC, "APDU > %s", hexbytes(command))
        started = time.perf_counter()
        chunk, sw = conn.transmit(command)
        if log:
            ms = (time.perf_counter() - started) * 1000
            log.log(
                TRAFFIC,
                "APDU < %s%s%s (%s) %.1f ms",
                PersonalBytes(chunk, mask, len(data)),
                " " if chunk else "",
                format_sw(sw),
                describe_sw(sw),
                ms,
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
    mask: MaskRanges = (),
    command: str = "APDU",
) -> bytes:
    """Like :func:`exchange` but returns only the data and raises :class:`ApduError` (with
    ``.sw``) unless the card answered 90 00."""
    data, sw = exchange(conn, apdu, mask=mask)
    if sw != StatusWord.OK:
        raise ApduError(sw, command)
    return data
