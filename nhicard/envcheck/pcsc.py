"""Group ``pcsc``: the PC/SC service, a context, the readers, their state, exclusive use.

Everything PC/SC goes through the card engineer's ``nhicard.pcsc`` package (the only place
that touches pyscard); the service check is per OS (``platform_*``)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from nhicard.core.errors import NhicardError, PcscUnavailable
from nhicard.core.i18n import T, Text
from nhicard.envcheck import Check, CheckEnv, Finding, failed, passed, warned
from nhicard.envcheck.usb import name_holders
from nhicard.pcsc import codes
from nhicard.platform import RUNNING, STOPPED

if TYPE_CHECKING:
    from nhicard.pcsc.readers import ReaderInfo

GROUP = "pcsc"


def reader_names(env: CheckEnv) -> list[str]:
    from nhicard.pcsc.names import list_reader_names

    lister = env.list_reader_names or list_reader_names  # injectable for unit tests
    names: list[str] = env.memo("reader-names", lister)
    return names


def establish_context() -> None:
    """Make a PC/SC context and release it; the typed error when that fails."""
    from nhicard.pcsc.context import PcscContext

    with PcscContext() as ctx:
        _ = ctx.handle


def readers(env: CheckEnv) -> list[ReaderInfo]:
    from nhicard.card.session import answers_nhi_select
    from nhicard.pcsc.readers import list_readers

    lister = env.list_readers or partial(  # injectable for unit tests
        list_readers, probe=answers_nhi_select
    )
    infos: list[ReaderInfo] = env.memo("readers", lister)
    return infos


def error_finding(err: NhicardError, fallback_fix: Text | None = None) -> Finding:
    """A failed finding from one of our typed errors (its message, hint and detail)."""
    return failed(err.message, err.hint or fallback_fix, err.detail or err.reason or "")


def on_windows(env: CheckEnv) -> bool:
    return env.platform.NAME == "windows"


def windows_no_service(err: NhicardError) -> bool:
    """On Windows 8 and later the Smart Card service runs only while a reader is plugged in,
    so "no service" there usually means "no reader": the reader checks still run."""
    return isinstance(err, PcscUnavailable) and err.reason == "no-service"


def check_service(env: CheckEnv) -> Finding:
    plat = env.platform
    state = plat.pcsc_service_state(env.environ)
    if state.state == RUNNING:
        return passed(T("PC/SC 服務執行中", "the PC/SC service is running"), state.detail)
    if state.state == STOPPED and on_windows(env):
        # not blocking: pcsc.context and pcsc.readers run and say "plug in the reader"
        return warned(
            T(
                "Windows「智慧卡」服務已停止:通常是因為沒有插上讀卡機",
                "the Windows Smart Card service is stopped: usually no reader is plugged in",
            ),
            codes.windows_plug_in_first(),
            state.detail,
        )
    if state.state == STOPPED:
        return failed(
            T("PC/SC 服務未執行", "the PC/SC service is not running"),
            plat.pcsc_service_fix(),
            state.detail,
        )
    return warned(
        T("無法確定 PC/SC 服務狀態", "the state of the PC/SC service is unknown"),
        plat.pcsc_service_fix(),
        state.detail,
    )


def check_context(env: CheckEnv) -> Finding:
    establish = env.establish_context or establish_context  # injectable for unit tests
    try:
        establish()
    except NhicardError as err:
        if on_windows(env) and windows_no_service(err):
            said = codes.service_unavailable(err.detail, system="win32")
            return warned(said.message, said.hint, err.detail or "")  # pcsc.readers runs
        return error_finding(err, env.platform.pcsc_service_fix())
    return passed(T("已建立 PC/SC 連線環境", "PC/SC context established"))


def check_readers(env: CheckEnv) -> Finding:
    try:
        names = reader_names(env)
    except NhicardError as err:
        if on_windows(env) and windows_no_service(err):
            return failed(
                T(
                    "找不到讀卡機(Windows「智慧卡」服務未執行)",
                    "no card reader found (the Windows Smart Card service is not running)",
                ),
                codes.windows_plug_in_first(),
                err.detail or "",
            )
        return error_finding(err, env.platform.reader_driver_fix())
    if not names:
        return failed(
            T("找不到讀卡機", "no card reader found"),
            env.platform.reader_driver_fix(),
        )
    return passed(
        T("{n} 台讀卡機", "{n} reader(s)").format(n=len(names)),
        "; ".join(f"#{i} {n}" for i, n in enumerate(names)),
    )


def _describe(info: ReaderInfo) -> str:
    text = f"#{info.index} {info.name}: {info.state}"
    if info.card_label is not None:
        text += f" ({info.card_label.en})"
    return text


def check_reader_state(env: CheckEnv) -> Finding:
    from nhicard.pcsc.readers import ReaderState

    try:
        infos = readers(env)
    except NhicardError as err:
        return error_finding(err)
    detail = "; ".join(_describe(i) for i in infos)
    mute = [i for i in infos if i.state == ReaderState.MUTE]
    gone = [i for i in infos if i.state == ReaderState.UNAVAILABLE]
    if mute:
        return warned(
            T(
                "讀卡機 {r} 中的卡片沒有回應",
                "the card in {r} does not respond",
            ).format(r=mute[0].name),
            T(
                "取出卡片,確認晶片朝上、朝內後重新插入;仍無回應時卡片可能損壞。",
                "Take the card out and insert it again, chip first and facing up; if it "
                "still does not respond the card may be damaged.",
            ),
            detail,
        )
    if gone:
        return warned(
            T("讀卡機 {r} 無法使用", "the reader {r} is unavailable").format(r=gone[0].name),
            T("重新插拔讀卡機的 USB 線。", "Unplug the reader and plug it in again."),
            detail,
        )
    states = ", ".join(f"#{i.index} {i.state}" for i in infos)
    return passed(T("讀卡機狀態:{s}", "reader states: {s}").format(s=states), detail)


def check_exclusive(env: CheckEnv) -> Finding:
    """A reader whose card another program holds exclusively (sharing violation)."""
    from nhicard.pcsc.readers import ReaderState, connect_card

    try:
        infos = readers(env)
    except NhicardError as err:
        return error_finding(err)
    held: list[str] = []
    shared: list[str] = []
    for info in infos:
        if info.state != ReaderState.IN_USE:
            continue
        try:
            conn = connect_card(info.name)
        except NhicardError as err:
            if err.reason == "sharing-violation":
                held.append(info.name)
                continue
            raise
        conn.close()
        shared.append(info.name)
    if held:
        finding = warned(
            T(
                "讀卡機 {r} 的卡片被其他程式獨占使用",
                "the card in {r} is held exclusively by another program",
            ).format(r=", ".join(held)),
            T(
                "關閉正在使用讀卡機的程式(如醫療院所 HIS 系統、其他讀卡軟體)後再試。",
                "Close the program using the reader (e.g. a clinic's HIS software or another "
                "card tool) and try again.",
            ),
            "; ".join(held),
        )
        return name_holders(env, finding)  # the program, where the OS can tell
    if shared:
        return passed(
            T(
                "其他程式以共用模式使用 {r}(不影響讀卡)",
                "another program uses {r} in shared mode (reading still works)",
            ).format(r=", ".join(shared)),
            "; ".join(shared),
        )
    return passed(T("沒有讀卡機被其他程式占用", "no reader is held by another program"))


def checks() -> list[Check]:
    return [
        Check("pcsc.service", GROUP, check_service),
        Check("pcsc.context", GROUP, check_context, needs=("system.pyscard", "pcsc.service")),
        Check("pcsc.readers", GROUP, check_readers, needs=("pcsc.context",)),
        Check("pcsc.reader-state", GROUP, check_reader_state, needs=("pcsc.readers",)),
        Check("pcsc.exclusive", GROUP, check_exclusive, needs=("pcsc.readers",)),
    ]
