"""Group ``system``: operating system, Python, nhicard and pyscard versions, PC/SC library."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable

from nhicard import __version__
from nhicard.core.i18n import T
from nhicard.envcheck import Check, CheckEnv, Finding, failed, passed, warned

GROUP = "system"
MIN_PYTHON = (3, 11)


def check_os(env: CheckEnv) -> Finding:
    system = env.sys_platform or sys.platform
    desc = env.os_description or platform.platform()
    if system.startswith(("linux", "win")) or system == "darwin":
        return passed(T("作業系統:{os}", "operating system: {os}").format(os=desc), system)
    return warned(
        T("作業系統 {os} 未經測試", "operating system {os} is not tested").format(os=desc),
        T(
            "nhicard 支援 Windows、macOS 與 Linux;其他系統請自行確認 PC/SC 可用。",
            "nhicard supports Windows, macOS and Linux; elsewhere check that PC/SC works.",
        ),
        system,
    )


def check_python(env: CheckEnv) -> Finding:
    info = env.python_version or tuple(sys.version_info[:3])
    text = ".".join(str(p) for p in info)
    if tuple(info[:2]) >= MIN_PYTHON:
        return passed(T("Python {v}", "Python {v}").format(v=text), sys.executable)
    return failed(
        T("Python {v} 太舊(需要 3.11 以上)", "Python {v} is too old (3.11 or later needed)").format(
            v=text
        ),
        T("請安裝 Python 3.11 以上版本。", "Install Python 3.11 or later."),
        sys.executable,
    )


def check_nhicard(env: CheckEnv) -> Finding:
    return passed(T("nhicard {v}", "nhicard {v}").format(v=__version__), __file__)


def _pyscard_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyscard")
    except PackageNotFoundError:
        return None


def check_pyscard(env: CheckEnv) -> Finding:
    lookup: Callable[[], str | None] = env.pyscard_version or _pyscard_version
    found = lookup()
    if found:
        return passed(T("pyscard {v}", "pyscard {v}").format(v=found))
    return failed(
        T("未安裝 pyscard(無法使用讀卡機)", "pyscard is not installed (readers cannot be used)"),
        env.platform.pyscard_fix(),
    )


def _library() -> tuple[str | None, str]:
    from nhicard.pcsc.library import pcsc_library_description, pcsc_library_name

    return pcsc_library_name(), pcsc_library_description()


def check_pcsc_library(env: CheckEnv) -> Finding:
    lookup: Callable[[], tuple[str | None, str]] = env.pcsc_library or _library
    name, desc = lookup()
    if name:
        return passed(T("PC/SC 函式庫:{d}", "PC/SC library: {d}").format(d=desc), name)
    return failed(
        T("找不到 PC/SC 函式庫", "the PC/SC library was not found"),
        env.platform.pcsc_library_fix(),
        desc,
    )


def checks() -> list[Check]:
    return [
        Check("system.os", GROUP, check_os),
        Check("system.python", GROUP, check_python),
        Check("system.nhicard", GROUP, check_nhicard),
        Check("system.pyscard", GROUP, check_pyscard),
        Check("system.pcsc-library", GROUP, check_pcsc_library),
    ]
