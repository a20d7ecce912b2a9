"""PC/SC return codes and their translation into nhicard's typed errors.

The numeric values are those of the PC/SC specification (identical in pcsc-lite, WinSCard
and PCSC.framework), kept here so that the mapping can be tested without pyscard.
"""

from __future__ import annotations

import sys

from nhicard.errors import CardAbsent, CardFailure, NhicardError, PcscUnavailable, ReaderError
from nhicard.i18n import T, Text

SCARD_S_SUCCESS = 0x00000000
SCARD_F_INTERNAL_ERROR = 0x80100001
SCARD_E_CANCELLED = 0x80100002
SCARD_E_INVALID_HANDLE = 0x80100003
SCARD_E_INVALID_PARAMETER = 0x80100004
SCARD_E_NO_MEMORY = 0x80100006
SCARD_E_INSUFFICIENT_BUFFER = 0x80100008
SCARD_E_UNKNOWN_READER = 0x80100009
SCARD_E_TIMEOUT = 0x8010000A
SCARD_E_SHARING_VIOLATION = 0x8010000B
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_E_UNKNOWN_CARD = 0x8010000D
SCARD_E_PROTO_MISMATCH = 0x8010000F
SCARD_E_NOT_READY = 0x80100010
SCARD_E_INVALID_VALUE = 0x80100011
SCARD_E_SYSTEM_CANCELLED = 0x80100012
SCARD_F_COMM_ERROR = 0x80100013
SCARD_F_UNKNOWN_ERROR = 0x80100014
SCARD_E_INVALID_ATR = 0x80100015
SCARD_E_NOT_TRANSACTED = 0x80100016
SCARD_E_READER_UNAVAILABLE = 0x80100017
SCARD_E_READER_UNSUPPORTED = 0x8010001A
SCARD_E_CARD_UNSUPPORTED = 0x8010001C
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_E_SERVICE_STOPPED = 0x8010001E
SCARD_E_UNEXPECTED = 0x8010001F
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_W_UNSUPPORTED_CARD = 0x80100065
SCARD_W_UNRESPONSIVE_CARD = 0x80100066
SCARD_W_UNPOWERED_CARD = 0x80100067
SCARD_W_RESET_CARD = 0x80100068
SCARD_W_REMOVED_CARD = 0x80100069

CODE_NAMES: dict[int, str] = {
    value: name
    for name, value in dict(globals()).items()
    if name.startswith("SCARD_") and isinstance(value, int)
}

# Codes meaning "this context no longer talks to a live pcscd": re-establish once and retry.
STALE_CONTEXT_CODES = frozenset(
    {SCARD_E_INVALID_HANDLE, SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_F_COMM_ERROR}
)


def normalize(code: int) -> int:
    """PC/SC codes come back signed on some platforms (WinSCard LONG); make them unsigned."""
    return code & 0xFFFFFFFF


def code_name(code: int) -> str:
    """``0x8010000B`` → ``"SCARD_E_SHARING_VIOLATION (0x8010000B)"``."""
    code = normalize(code)
    return f"{CODE_NAMES.get(code, 'PC/SC error')} (0x{code:08X})"


def _service_hint() -> Text:
    if sys.platform.startswith("win"):
        return T(
            "請啟動 Windows 的「智慧卡」服務(SCardSvr):services.msc → Smart Card → 啟動。",
            "Start the Windows 'Smart Card' service (SCardSvr): services.msc → Smart Card → Start.",
        )
    if sys.platform == "darwin":
        return T(
            "macOS 內建 PC/SC;請重新插拔讀卡機,或重新開機。",
            "PC/SC is built into macOS; replug the reader or restart the computer.",
        )
    return T(
        "請安裝並啟動 pcscd:sudo apt install pcscd && sudo systemctl start pcscd.socket",
        "Install and start pcscd: sudo apt install pcscd && sudo systemctl start pcscd.socket",
    )


def service_unavailable(detail: str | None = None) -> PcscUnavailable:
    """PC/SC service (pcscd / SCardSvr) not running or not reachable."""
    return PcscUnavailable(
        T(
            "PC/SC 服務未執行,無法存取讀卡機",
            "the PC/SC service is not running; readers are unreachable",
        ),
        hint=_service_hint(),
        reason="no-service",
        detail=detail,
    )


def library_missing(detail: str | None = None) -> PcscUnavailable:
    """The PC/SC client library (or pyscard) cannot be loaded."""
    return PcscUnavailable(
        T(
            "找不到 PC/SC 函式庫(pyscard / libpcsclite)",
            "the PC/SC library (pyscard / libpcsclite) is missing",
        ),
        hint=T(
            "請安裝 libpcsclite1 與 pyscard(pip install pyscard)。",
            "Install libpcsclite1 and pyscard (pip install pyscard).",
        ),
        reason="no-library",
        detail=detail,
    )


def no_readers() -> ReaderError:
    return ReaderError(
        T("找不到讀卡機", "no smart card reader found"),
        hint=T(
            "請插上讀卡機(USB),稍候數秒再試;用 `nhicard reader list` 檢查。",
            "Plug in the reader (USB), wait a few seconds and retry; check with `nhicard reader list`.",
        ),
        reason="no-reader",
    )


def sharing_violation(reader: str) -> CardFailure:
    """Another program holds the card exclusively (SCARD_E_SHARING_VIOLATION)."""
    return CardFailure(
        T(
            "讀卡機「{reader}」中的卡片正被其他程式獨占使用",
            "the card in “{reader}” is in use by another program",
        ).format(reader=reader),
        hint=T(
            "請關閉其他使用讀卡機的程式(例如醫院 HIS、其他讀卡軟體)後再試。",
            "Close the other program using the reader (for example a clinic's HIS or another card tool) and retry.",
        ),
        reason="sharing-violation",
        detail=code_name(SCARD_E_SHARING_VIOLATION),
    )


def card_absent(reader: str, detail: str | None = None, *, removed: bool = False) -> CardAbsent:
    if removed:
        message = T(
            "讀卡機「{reader}」中的卡片在讀取中被移除",
            "the card in “{reader}” was removed while being read",
        )
        reason = "card-removed"
    else:
        message = T("讀卡機「{reader}」中沒有卡片", "no card in reader “{reader}”")
        reason = "no-card"
    return CardAbsent(
        message.format(reader=reader),
        hint=T(
            "請將健保卡晶片朝上、朝內插入讀卡機,讀取完成前勿拔出。",
            "Insert the NHI card chip first and facing up; do not pull it out before reading finishes.",
        ),
        reason=reason,
        detail=detail,
    )


def translate(code: int, *, reader: str | None = None, during: str = "") -> NhicardError:
    """Turn a failing PC/SC return code into the typed error the user sees."""
    code = normalize(code)
    detail = code_name(code) + (f" during {during}" if during else "")
    where = reader or "?"
    if code in (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED):
        return service_unavailable(detail)
    if code == SCARD_E_INVALID_HANDLE:
        err = service_unavailable(detail)
        err.reason = "stale-context"
        return err
    if code == SCARD_E_NO_READERS_AVAILABLE:
        return no_readers()
    if code in (SCARD_E_UNKNOWN_READER, SCARD_E_READER_UNAVAILABLE, SCARD_E_READER_UNSUPPORTED):
        return ReaderError(
            T(
                "讀卡機「{reader}」無法使用(已拔除或故障)",
                "reader “{reader}” is not available (unplugged or faulty)",
            ).format(reader=where),
            hint=T("請重新插拔讀卡機後再試。", "Replug the reader and retry."),
            reason="reader-unavailable",
            detail=detail,
        )
    if code == SCARD_E_SHARING_VIOLATION:
        return sharing_violation(where)
    if code == SCARD_E_NO_SMARTCARD:
        return card_absent(where, detail)
    if code == SCARD_W_REMOVED_CARD:
        return card_absent(where, detail, removed=True)
    if code in (SCARD_W_UNRESPONSIVE_CARD, SCARD_W_UNPOWERED_CARD, SCARD_E_INVALID_ATR):
        return CardFailure(
            T(
                "讀卡機「{reader}」中的卡片沒有回應", "the card in “{reader}” does not respond"
            ).format(reader=where),
            hint=T(
                "請確認卡片插入方向(晶片朝上、朝內)並清潔晶片後重插。",
                "Check the card's orientation (chip first, facing up), clean the chip and reinsert it.",
            ),
            reason="card-mute",
            detail=detail,
        )
    if code in (SCARD_W_UNSUPPORTED_CARD, SCARD_E_CARD_UNSUPPORTED, SCARD_E_PROTO_MISMATCH):
        return CardFailure(
            T(
                "讀卡機「{reader}」不支援這張卡片", "reader “{reader}” does not support this card"
            ).format(reader=where),
            hint=T("請確認插入的是健保卡。", "Make sure the inserted card is an NHI card."),
            reason="card-unsupported",
            detail=detail,
        )
    if code == SCARD_W_RESET_CARD:
        return CardFailure(
            T("卡片被其他程式重置", "the card was reset by another program"),
            hint=T("請再試一次。", "Try again."),
            reason="card-reset",
            detail=detail,
        )
    return CardFailure(
        T("與讀卡機「{reader}」通訊失敗", "communication with reader “{reader}” failed").format(
            reader=where
        ),
        hint=T(
            "請重新插卡後再試;若持續發生,請重新插拔讀卡機。",
            "Reinsert the card and retry; if it persists, replug the reader.",
        ),
        reason="transmit-failed",
        detail=detail,
    )
