"""Windows: the Smart Card service ``SCardSvr`` (WinSCard), the hosts file under
``%SystemRoot%``, the current user's certificate store, a Task Scheduler task."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath, PureWindowsPath

from nhicard.core.i18n import T, Text
from nhicard.platform.base import (
    RUNNING,
    STOPPED,
    UNKNOWN,
    Command,
    LoginService,
    PolicyPlace,
    Result,
    Runner,
    ServiceSpec,
    ServiceState,
    ServiceStatus,
    TrustStore,
    run_command,
)

NAME = "windows"
HOSTS_NEWLINE = b"\r\n"
TRUST_STORES = (TrustStore.WINDOWS_ROOT,)
SERVICE = "SCardSvr"
COMPONENT_DOWNLOAD = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/Setup.zip"

# ``sc query`` prints "<label> : <number>  <NAME>" lines. The labels are translated
# (STATE, ÉTAT, STATUS, ESTADO, 狀態 …); the numbers and the names after them are not.
_FIELD = re.compile(r"^[ \t]*[^\s:][^:\n]*:[ \t]*(\d+)(?:[ \t]+(\w+))?[ \t\r]*$", re.M)
_STATES = {
    "STOPPED": 1,
    "START_PENDING": 2,
    "STOP_PENDING": 3,
    "RUNNING": 4,
    "CONTINUE_PENDING": 5,
    "PAUSE_PENDING": 6,
    "PAUSED": 7,
}


def _sc_run(argv: Sequence[str]) -> Result:
    return run_command(argv, timeout=5.0)


def sc_state_line(output: str) -> tuple[int, str] | None:
    """(state number, the line) in ``sc query`` output, in any UI language: the field whose
    name after the number is a service state (``4  RUNNING``), else the second numbered field
    (the first is the service type)."""
    fields = list(_FIELD.finditer(output))
    for field in fields:
        if _STATES.get(field[2] or "") == int(field[1]):
            return int(field[1]), field[0].strip()
    if len(fields) >= 2 and 1 <= int(fields[1][1]) <= len(_STATES):
        return int(fields[1][1]), fields[1][0].strip()
    return None


def parse_sc_query(output: str) -> ServiceStatus:
    """The service state in ``sc query`` output: ``running``, ``stopped`` or ``unknown``."""
    found = sc_state_line(output)
    if found is None:
        return UNKNOWN
    return {4: RUNNING, 1: STOPPED}.get(found[0], UNKNOWN)


def pcsc_service_state(environ: Mapping[str, str], *, run: Runner = _sc_run) -> ServiceState:
    """State of ``SCardSvr`` from ``sc query SCardSvr``."""
    result = run(["sc", "query", SERVICE])
    output = result.stdout + result.stderr
    found = sc_state_line(output)
    line = found[1] if found else output.strip()
    return ServiceState(
        parse_sc_query(output), f"sc query {SERVICE} (exit {result.returncode}): {line[:120]}"
    )


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


def hosts_editor() -> Text:
    """How a person edits the hosts file by hand (completes "… add that line with …")."""
    return T("以系統管理員身分用記事本", "Notepad run as administrator")


def hosts_command(path: PurePath, line: str, mark: str, *, removing: bool) -> None:
    """No one-line command: the person reruns from a terminal opened as administrator."""
    return None


def pcsc_asks_polkit(root: Path = Path("/")) -> bool:
    """WinSCard has no polkit."""
    return False


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


# -- trust store: the current user's Root store --------------------------------------------------


def root_add_command(ca_file: Path) -> list[str]:
    return ["certutil", "-user", "-f", "-addstore", "Root", str(ca_file)]


def root_query_command(sha1: str) -> list[str]:
    return ["certutil", "-user", "-store", "Root", sha1]


def root_delete_command(sha1: str) -> list[str]:
    return ["certutil", "-user", "-delstore", "Root", sha1]


def parse_certutil_hashes(output: str) -> list[str]:
    """SHA-1 thumbprints in ``certutil -store`` output (``Cert Hash(sha1): 0a 1b …`` or
    without spaces, any language's label before the colon)."""
    out = []
    for line in output.splitlines():
        if "sha1" not in line.lower():
            continue
        digits = re.sub(r"[^0-9A-Fa-f]", "", line.split(":", 1)[-1])
        if len(digits) == 40:
            out.append(digits.upper())
    return out


# -- login service: a Task Scheduler task ------------------------------------------------------


def parse_schtasks_status(output: str) -> str | None:
    """The ``Status:`` field of ``schtasks /Query /FO LIST`` (``Running``, ``Ready``, …)."""
    m = re.search(r"^\s*(?:Status|狀態)\s*:\s*(.+?)\s*$", output, re.M)
    return m[1] if m else None


def _task_running(output: str) -> bool:
    status = parse_schtasks_status(output)
    return status is not None and status.lower() in ("running", "執行中")


def login_service(spec: ServiceSpec, home: Path, uid: int) -> LoginService:
    task = ("/TN", spec.name)
    return LoginService(
        kind="task-scheduler",
        target=spec.name,
        describe=T("登入時執行的排程工作 {t}", "a Task Scheduler task run at login: {t}").format(
            t=spec.name
        ),
        query=("schtasks", "/Query", *task, "/FO", "LIST"),
        running=_task_running,
        start=(
            Command(
                (
                    "schtasks",
                    "/Create",
                    "/F",
                    "/SC",
                    "ONLOGON",
                    "/RL",
                    "LIMITED",
                    *task,
                    "/TR",
                    subprocess.list2cmdline(list(spec.command)),
                ),
                T("無法建立排程工作", "cannot create the scheduled task"),
            ),
            Command(("schtasks", "/Run", *task)),
        ),
        stop=(
            Command(("schtasks", "/End", *task)),
            Command(
                ("schtasks", "/Delete", "/F", *task),
                T("無法刪除排程工作", "cannot delete the scheduled task"),
            ),
        ),
    )


# -- servers -------------------------------------------------------------------------------------


def prepare_listener(sock: socket.socket) -> None:
    """Windows' SO_REUSEADDR would let a second program bind the same port beside ours (or
    beside the official component) instead of failing; SO_EXCLUSIVEADDRUSE makes its bind
    fail. (Python defines the constant on Windows only.)"""
    exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
    if exclusive is not None:
        sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)


# -- browser policy: HKLM\Software\Policies of Chrome and Edge (reg.exe) ---------------------------

CHROME_POLICY_KEY = r"HKLM\Software\Policies\Google\Chrome"
EDGE_POLICY_KEY = r"HKLM\Software\Policies\Microsoft\Edge"


def browser_policy_places() -> tuple[PolicyPlace, ...]:
    """Chrome and Edge read machine policy from these keys whether or not either is
    installed, so both are always written (a list policy is the subkey of its name)."""
    return (
        PolicyPlace("chrome", "registry", CHROME_POLICY_KEY),
        PolicyPlace("edge", "registry", EDGE_POLICY_KEY),
    )


def reg_query_command(key: str) -> list[str]:
    return ["reg", "query", key]


def reg_add_command(key: str, name: str, data: str) -> list[str]:
    return ["reg", "add", key, "/v", name, "/t", "REG_SZ", "/d", data, "/f"]


def reg_delete_value_command(key: str, name: str) -> list[str]:
    return ["reg", "delete", key, "/v", name, "/f"]


def reg_delete_key_command(key: str) -> list[str]:
    return ["reg", "delete", key, "/f"]


_REG_VALUE = re.compile(r"^[ \t]+(\S.*?)[ \t]{2,}(REG_\w+)(?:[ \t]{2,}(.*?))?[ \t]*$", re.M)


def parse_reg_query(output: str) -> dict[str, str]:
    """The values of one key in ``reg query KEY`` output (``    1    REG_SZ    https://…``;
    the layout is the same in every UI language), name → data."""
    return {m[1]: m[3] or "" for m in _REG_VALUE.finditer(output)}
