"""PC/SC return codes and their translation into nhicard's typed errors.

The numeric values are those of the PC/SC specification (identical in pcsc-lite, WinSCard
and PCSC.framework), kept here so that the mapping can be tested without pyscard.
"""

from __future__ import annotations

import sys

from nhicard.core.errors import CardAbsent, CardFailure, NhicardError, PcscUnavailable, ReaderError
from nhicard.core.i18n import T, Text
from nhicard.pcsc import polkit

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
SCARD_E_NO_ACCESS = 0x80100027
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_W_UNSUPPORTED_CARD = 0x80100065
SCARD_W_UNRESPONSIVE_CARD = 0x80100066
SCARD_W_UNPOWERED_CARD = 0x80100067
SCARD_W_RESET_CARD = 0x80100068
SCARD_W_REMOVED_CARD = 0x80100069
# pcsc-lite ≥ 1.9.9 returns it when pcscd drops the client because polkit refused it (or
# could not be asked): pcscd logs "Rejected unauthorized PC/SC client". polkit is on by
# default since pcsc-lite 2.0.1 (Debian 13); pcsc_stringify_error says "Access denied."
SCARD_W_SECURITY_VIOLATION = 0x8010006A

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


def _cat(*parts: Text) -> Text:
    """Texts one after another, in both languages."""
    return Text("".join(p.zh for p in parts), "".join(p.en for p in parts))


def on_windows(system: str | None = None) -> bool:
    """Whether ``system`` (a ``sys.platform`` value, default this computer's) is Windows."""
    return (system or sys.platform).startswith("win")


def _uses_pcsc_lite(system: str | None) -> bool:
    """pcsc-lite (and so, maybe, polkit): everything but Windows and macOS."""
    system = system or sys.platform
    return not on_windows(system) and system != "darwin"


WINDOWS_START_SERVICE = T(
    "以系統管理員身分執行 sc start SCardSvr,或 services.msc → Smart Card(智慧卡)→ 啟動。",
    "as administrator run sc start SCardSvr, or services.msc → Smart Card → Start.",
)


def windows_plug_in_first(start_service: Text = WINDOWS_START_SERVICE) -> Text:
    """Windows 8 and later start the Smart Card service when a reader is plugged in and stop
    it when the last one is removed: "service stopped" usually means "no reader"."""
    first = T(
        "請先插上讀卡機(USB):Windows 在插上讀卡機時才啟動「智慧卡」服務(SCardSvr),"
        "拔掉最後一台時就停止它。讀卡機已插上仍然如此時,再啟動服務:",
        "Plug in the reader (USB) first: Windows starts the Smart Card service (SCardSvr) "
        "when a reader is plugged in and stops it when the last one is removed. If a reader "
        "is plugged in and this persists, start the service: ",
    )
    return _cat(first, start_service)


def service_hint(system: str | None = None) -> Text:
    """How to start the PC/SC service (the one "start pcscd" hint): the platform's one wording (``pcsc_service_fix``,
    which env check gives too); on Windows plugging in a reader comes first."""
    if on_windows(system):
        return windows_plug_in_first()
    from nhicard import platform

    return platform.current(system).pcsc_service_fix()


def service_unavailable(detail: str | None = None, *, system: str | None = None) -> PcscUnavailable:
    """PC/SC service (pcscd / SCardSvr) not running or not reachable; on Windows usually
    because no reader is plugged in (``system``: a ``sys.platform`` value, default ours)."""
    if on_windows(system):
        message = T(
            "Windows「智慧卡」服務未執行:通常是因為沒有插上讀卡機",
            "the Windows Smart Card service is not running: usually no reader is plugged in",
        )
    else:
        message = T(
            "PC/SC 服務未執行,無法存取讀卡機",
            "the PC/SC service is not running; readers are unreachable",
        )
    return PcscUnavailable(message, hint=service_hint(system), reason="no-service", detail=detail)


def polkit_fix(user: str | None = None) -> Text:
    """What to do when polkit refuses PC/SC to ``user`` (default: whoever runs this): the
    local desktop session, or the rule an administrator installs (printed in full)."""
    name = user or polkit.current_user() or "USERNAME"
    return T(
        "pcsc-lite 用 polkit 決定誰能使用讀卡機,預設只允許坐在本機桌面前登入的使用者;"
        "SSH 連線、登入服務與排程工作都會被拒,pcscd 連不上 polkit 時連 root 也會被拒。"
        "請在本機桌面的工作階段中執行;或請系統管理員把下面的規則存成 {path},"
        "讓使用者 {user} 取得 {pcsc} 與 {card} 授權:\n{rule}",
        "pcsc-lite asks polkit who may use readers, and polkit allows only users at the local "
        "desktop by default: SSH sessions, login services and scheduled jobs are refused, and "
        "when pcscd cannot reach polkit even root is. Run it from the local desktop session, "
        "or have an administrator save the rule below as {path}, granting the user {user} "
        "{pcsc} and {card}:\n{rule}",
    ).format(
        path=polkit.RULES_PATH,
        user=name,
        pcsc=polkit.ACCESS_PCSC,
        card=polkit.ACCESS_CARD,
        rule=polkit.rule_text(name).rstrip("\n"),
    )


def access_refused(
    detail: str | None = None, *, reader: str | None = None, system: str | None = None
) -> PcscUnavailable:
    """The PC/SC service refused this program (SCARD_W_SECURITY_VIOLATION): with pcsc-lite,
    polkit said no (or could not be asked); for the card in ``reader`` when given."""
    if _uses_pcsc_lite(system):
        if reader is None:
            message = T(
                "PC/SC 服務拒絕了這個程式:polkit 未授權它使用 PC/SC",
                "PC/SC refused this program: polkit did not authorize it to use PC/SC",
            )
        else:
            message = T(
                "PC/SC 服務拒絕這個程式使用讀卡機「{reader}」中的卡片:polkit 未授權",
                "PC/SC refused this program the card in “{reader}”: polkit did not authorize it",
            ).format(reader=reader)
        hint = polkit_fix()
    else:
        message = T(
            "PC/SC 服務拒絕了這個程式的存取", "the PC/SC service denied this program access"
        )
        hint = T(
            "請以登入桌面的使用者身分執行(不要以服務、排程工作或其他使用者身分執行)。",
            "Run it as the user signed in at the desktop (not as a service, a scheduled task "
            "or another user).",
        )
    return PcscUnavailable(message, hint=hint, reason="access-refused", detail=detail)


def pcsc_failed(detail: str, *, system: str | None = None) -> PcscUnavailable:
    """A PC/SC call that involves no reader (context, listing) failed with a code we have no
    better words for: ``detail`` names it; the hint points at the service, never the card."""
    message = T("PC/SC 服務回報錯誤", "the PC/SC service reported an error")
    if on_windows(system):
        hint = _cat(
            T(
                "請重新插拔讀卡機;仍然如此時,重新啟動「智慧卡」服務:",
                "Replug the reader; if this persists, restart the Smart Card service: ",
            ),
            WINDOWS_START_SERVICE,
        )
    elif _uses_pcsc_lite(system):
        hint = T(
            "請重新啟動 pcscd(sudo systemctl restart pcscd)後再試。若 pcscd 的紀錄"
            "(journalctl -u pcscd -n 20)寫著「Rejected unauthorized PC/SC client」,就是 polkit "
            "拒絕了這個程式:請在本機桌面的工作階段中執行,或請系統管理員在 {dir} 加入 polkit "
            "規則,授予 {pcsc} 與 {card}。",
            "Restart pcscd (sudo systemctl restart pcscd) and retry. If pcscd's log "
            "(journalctl -u pcscd -n 20) says 'Rejected unauthorized PC/SC client', polkit "
            "refused this program: run it from the local desktop session, or have an "
            "administrator add a polkit rule in {dir} granting {pcsc} and {card}.",
        ).format(dir=polkit.RULES_DIR, pcsc=polkit.ACCESS_PCSC, card=polkit.ACCESS_CARD)
    else:
        hint = service_hint(system)
    return PcscUnavailable(message, hint=hint, reason="pcsc-failed", detail=detail)


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


def translate(
    code: int, *, reader: str | None = None, during: str = "", system: str | None = None
) -> NhicardError:
    """Turn a failing PC/SC return code into the typed error the user sees.

    ``reader`` is the reader the call was about (None for a context, a listing, a wait on
    all readers); ``system`` a ``sys.platform`` value (default this computer's)."""
    code = normalize(code)
    detail = code_name(code) + (f" during {during}" if during else "")
    where = reader or "?"
    if code in (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED):
        return service_unavailable(detail, system=system)
    if code == SCARD_E_INVALID_HANDLE:
        err = service_unavailable(detail, system=system)
        err.reason = "stale-context"
        return err
    if code == SCARD_W_SECURITY_VIOLATION:
        return access_refused(detail, reader=reader, system=system)
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
    if reader is None:
        return pcsc_failed(detail, system=system)
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
