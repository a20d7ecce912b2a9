"""Windows: the Smart Card service ``SCardSvr`` (WinSCard), the hosts file under
``%SystemRoot%``, the certificate store."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import PureWindowsPath

from nhicard.envcheck.platforms import RUNNING, STOPPED, UNKNOWN, ServiceState, hosts_line_fix
from nhicard.i18n import T, Text

NAME = "windows"
SERVICE = "SCardSvr"
COMPONENT_DOWNLOAD = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/Setup.zip"
_STATE_RE = re.compile(r"^\s*STATE\s*:\s*(\d+)\s+(\w+)", re.MULTILINE)

CommandRunner = Callable[[Sequence[str]], tuple[int, str]]


def run_command(argv: Sequence[str], timeout: float = 5.0) -> tuple[int, str]:
    """Run a command, return (exit status, stdout+stderr as text)."""
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, errors="replace"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, str(exc)
    return proc.returncode, proc.stdout + proc.stderr


def parse_sc_query(output: str) -> str:
    """The service state in ``sc query`` output: ``running``, ``stopped`` or ``unknown``.

    ``sc`` prints ``STATE : 4  RUNNING`` (the number is the same in every UI language)."""
    match = _STATE_RE.search(output)
    if not match:
        return UNKNOWN
    code = int(match.group(1))
    if code == 4:
        return RUNNING
    if code == 1:
        return STOPPED
    return UNKNOWN


def pcsc_service_state(
    environ: Mapping[str, str], *, run: CommandRunner = run_command
) -> ServiceState:
    """State of ``SCardSvr`` from ``sc query SCardSvr``."""
    status, output = run(["sc", "query", SERVICE])
    state = parse_sc_query(output)
    line = next((ln.strip() for ln in output.splitlines() if "STATE" in ln), output.strip())
    return ServiceState(state, f"sc query {SERVICE} (exit {status}): {line[:120]}")


def pcsc_service_fix() -> Text:
    return T(
        "啟動 Windows「智慧卡」服務:以系統管理員執行 sc start SCardSvr,或 services.msc → "
        "Smart Card(智慧卡)→ 啟動,啟動類型設為「自動」。",
        "Start the Windows Smart Card service: as administrator run sc start SCardSvr, or "
        "services.msc → Smart Card → Start, startup type Automatic.",
    )


def pcsc_library_fix() -> Text:
    return T(
        "winscard.dll 是 Windows 的一部分;找不到時請執行 Windows Update 或 sfc /scannow。",
        "winscard.dll is part of Windows; if it is missing run Windows Update or sfc /scannow.",
    )


def pyscard_fix() -> Text:
    return T(
        "安裝 pyscard:py -m pip install pyscard。", "Install pyscard: py -m pip install pyscard."
    )


def reader_driver_fix() -> Text:
    return T(
        "接上讀卡機;裝置管理員中「智慧卡讀卡機」若有驚嘆號,請安裝廠商驅動程式"
        "(如虹堡 EZ100PU)或執行 Windows Update。",
        "Plug in the reader; if Device Manager shows it with a warning under 'Smart card "
        "readers', install the vendor's driver (e.g. Castles EZ100PU) or run Windows Update.",
    )


def hosts_file_path(environ: Mapping[str, str]) -> PureWindowsPath:
    root = environ.get("SystemRoot") or environ.get("SYSTEMROOT") or r"C:\Windows"
    return PureWindowsPath(root, "System32", "drivers", "etc", "hosts")


def hosts_fix(environ: Mapping[str, str]) -> Text:
    return hosts_line_fix(
        hosts_file_path(environ), "以系統管理員身分用記事本", "Notepad run as administrator"
    )


def component_download_url() -> str:
    return COMPONENT_DOWNLOAD


def component_install_dir(environ: Mapping[str, str]) -> None:
    """Not published for this OS: the component is found by its port instead."""
    return None


def trusted_roots_note() -> Text:
    return T(
        "Windows 與 Chrome/Edge 使用系統憑證存放區:certlm.msc → 受信任的根憑證授權單位,"
        "官方元件安裝時把「NHI SelfRoot CA」匯入其中。",
        "Windows, Chrome and Edge use the system certificate store: certlm.msc → Trusted Root "
        "Certification Authorities, where the component's installer imports 'NHI SelfRoot CA'.",
    )
