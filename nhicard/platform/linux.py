"""Linux: pcsc-lite's ``pcscd`` and its socket (and polkit), ``/etc/hosts``, distribution
packages, the browsers' NSS databases and the system store, a systemd user service."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from nhicard.core.i18n import T, Text
from nhicard.platform.base import (
    RUNNING,
    STOPPED,
    UNKNOWN,
    Command,
    LoginService,
    PolicyPlace,
    ServiceSpec,
    ServiceState,
    TrustStore,
    posix_hosts_command,
    reuse_address,
)

NAME = "linux"
HOSTS_NEWLINE = b"\n"
TRUST_STORES = (TrustStore.NSSDB, TrustStore.SYSTEM_STORE)
DEFAULT_PCSC_SOCKET = "/run/pcscd/pcscd.comm"
# Since 2024 one Linux package (a tar.xz inside); the 2021 manual's era had per-distribution
# ones (mLNHIICC_Setup.Ubuntu.zip, mLNHIICC_Setup.fedora.zip).
COMPONENT_DOWNLOAD = "https://cloudicweb.nhi.gov.tw/cloudic/system/SMC/CMS_mNHIICC_Setup.Linux.zip"
COMPONENT_DIR = "/usr/local/share/NHIICC"


def pcsc_socket_path(environ: Mapping[str, str]) -> Path:
    """pcsc-lite's client socket: ``PCSCLITE_CSOCK_NAME``, else the default."""
    return Path(environ.get("PCSCLITE_CSOCK_NAME") or DEFAULT_PCSC_SOCKET)


def pcsc_service_state(environ: Mapping[str, str], *, timeout: float = 2.0) -> ServiceState:
    """``running`` when the pcscd socket accepts a connection.

    (With systemd socket activation the socket exists before pcscd runs; a connection then
    starts it, which is what a PC/SC client would do too.)"""
    path = pcsc_socket_path(environ)
    if not path.exists():
        return ServiceState(STOPPED, f"{path}: no such socket")
    if not path.is_socket():
        return ServiceState(UNKNOWN, f"{path}: exists but is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except OSError as exc:
            return ServiceState(STOPPED, f"{path}: {exc.strerror or exc}")
    return ServiceState(RUNNING, f"{path}: accepting connections")


def pcsc_service_fix() -> Text:
    return T(
        "啟動 PC/SC 服務:sudo systemctl start pcscd(沒有 systemd 時直接執行 sudo pcscd);"
        "尚未安裝時:sudo apt install pcscd(Fedora:sudo dnf install pcsc-lite)。",
        "Start the PC/SC service: sudo systemctl start pcscd (without systemd run sudo pcscd); "
        "if it is not installed: sudo apt install pcscd (Fedora: sudo dnf install pcsc-lite).",
    )


def pcsc_library_fix() -> Text:
    return T(
        "安裝 PC/SC 函式庫:sudo apt install libpcsclite1 pcscd(Fedora:sudo dnf install pcsc-lite-libs)。",
        "Install the PC/SC library: sudo apt install libpcsclite1 pcscd "
        "(Fedora: sudo dnf install pcsc-lite-libs).",
    )


def pyscard_fix() -> Text:
    return T(
        "安裝 pyscard:Debian/Ubuntu 用 sudo apt install python3-pyscard(不需編譯器;venv 或 "
        "pipx 需加 --system-site-packages;Fedora:sudo dnf install python3-pyscard),或 "
        "pip install pyscard,從原始碼建置需要 sudo apt install gcc python3-dev libpcsclite-dev。",
        "Install pyscard: on Debian/Ubuntu sudo apt install python3-pyscard (no compiler; a "
        "venv or pipx needs --system-site-packages; Fedora: sudo dnf install python3-pyscard), "
        "or pip install pyscard, which builds from source and needs sudo apt install gcc "
        "python3-dev libpcsclite-dev.",
    )


def reader_driver_fix() -> Text:
    return T(
        "接上讀卡機;仍看不到時安裝 CCID 驅動程式:sudo apt install libccid"
        "(Fedora:sudo dnf install pcsc-lite-ccid),然後 sudo systemctl restart pcscd。",
        "Plug in the reader; if it still does not show, install the CCID driver: "
        "sudo apt install libccid (Fedora: sudo dnf install pcsc-lite-ccid), "
        "then sudo systemctl restart pcscd.",
    )


def hosts_file_path(environ: Mapping[str, str]) -> Path:
    return Path("/etc/hosts")


def hosts_editor() -> Text:
    """How a person edits the hosts file by hand (completes "… add that line with …")."""
    return T("以 sudo 編輯 /etc/hosts ", "sudo")


def hosts_command(path: PurePath, line: str, mark: str, *, removing: bool) -> str:
    return posix_hosts_command(path, line, mark, removing=removing)


def component_download_url() -> str:
    return COMPONENT_DOWNLOAD


def component_install_dir(environ: Mapping[str, str]) -> Path:
    return Path(COMPONENT_DIR)


def trusted_roots_note() -> Text:
    return T(
        "瀏覽器使用 NSS 憑證庫(~/.pki/nssdb 與 Firefox 設定檔),官方元件把自己的根憑證匯入其中"
        "(2020 版「NHI SelfRoot CA」;2024 版組織名稱 nhi-localhost-ca);系統根憑證在 "
        "/etc/ssl/certs(update-ca-certificates)。",
        "Browsers use the NSS databases (~/.pki/nssdb and Firefox profiles), where the "
        "component imports its own root CA (2020 builds: 'NHI SelfRoot CA'; 2024 builds: "
        "organisation nhi-localhost-ca); system roots live in /etc/ssl/certs "
        "(update-ca-certificates).",
    )


# -- pcsc-lite with polkit -----------------------------------------------------------------------

POLKIT_POLICY = "usr/share/polkit-1/actions/org.debian.pcsc-lite.policy"
PCSCD_PROGRAMS = ("usr/sbin/pcscd", "usr/bin/pcscd")


def pcsc_asks_polkit(root: Path = Path("/")) -> bool:
    """Whether pcscd asks polkit about each client (pcsc-lite built with polkit: Debian 13,
    Fedora, Arch): its polkit policy is installed, or the pcscd program links libpolkit.
    Such a pcscd refuses a login service or an SSH session unless a rule grants it."""
    if (root / POLKIT_POLICY).is_file():
        return True
    for program in PCSCD_PROGRAMS:
        try:
            data = (root / program).read_bytes()
        except OSError:
            continue
        return b"libpolkit-gobject-1.so" in data
    return False


# -- trust stores: NSS databases (Chromium, Chrome, Firefox) and the system store ---------------

SYSTEM_CA_DIR = Path("/usr/local/share/ca-certificates")
NSS_TOOLS = T(
    "請安裝 NSS 工具:sudo apt-get install libnss3-tools(Fedora:nss-tools)",
    "Install the NSS tools: sudo apt-get install libnss3-tools (Fedora: nss-tools)",
)


def find_nssdbs(home: Path) -> list[Path]:
    """The user's NSS databases (directories with ``cert9.db``): Chromium/Chrome's shared
    ``~/.pki/nssdb`` and each Firefox profile (also snap and flatpak installs)."""
    candidates = [home / ".pki" / "nssdb"]
    for base in (
        home / ".mozilla" / "firefox",
        home / "snap" / "firefox" / "common" / ".mozilla" / "firefox",
        home / ".var" / "app" / "org.mozilla.firefox" / ".mozilla" / "firefox",
        home / "snap" / "chromium" / "current" / ".pki",
    ):
        if base.is_dir():
            candidates += sorted(p.parent for p in base.glob("*/cert9.db"))
    return [p for p in dict.fromkeys(candidates) if (p / "cert9.db").exists()]


def nss_list_command(db: Path) -> list[str]:
    """Lists the database (read-only): fails when ``db`` is not a usable NSS database."""
    return ["certutil", "-L", "-d", f"sql:{db}"]


def nss_find_command(db: Path, nickname: str) -> list[str]:
    return ["certutil", "-L", "-d", f"sql:{db}", "-n", nickname, "-a"]


def nss_add_command(db: Path, nickname: str, ca_file: Path) -> list[str]:
    return ["certutil", "-A", "-d", f"sql:{db}", "-n", nickname, "-t", "C,,", "-i", str(ca_file)]


def nss_delete_command(db: Path, nickname: str) -> list[str]:
    return ["certutil", "-D", "-d", f"sql:{db}", "-n", nickname]


def parse_pems(output: str) -> list[str]:
    """The PEM certificates in ``certutil -L -a`` output."""
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", output, re.S)


def system_store_update_command(*, fresh: bool = False) -> list[str]:
    return ["update-ca-certificates", *(["--fresh"] if fresh else [])]


# -- login service: a systemd user unit ---------------------------------------------------------


def systemd_unit_path(home: Path, name: str) -> Path:
    return home / ".config" / "systemd" / "user" / f"{name}.service"


def systemd_unit(description: str, command: Sequence[str]) -> str:
    quoted = " ".join(_systemd_quote(a) for a in command)
    return (
        "[Unit]\n"
        f"Description={description}\n"
        "After=pcscd.socket\n\n"
        "[Service]\n"
        f"ExecStart={quoted}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _systemd_quote(arg: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:=+-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def login_service(spec: ServiceSpec, home: Path, uid: int) -> LoginService:
    unit = systemd_unit_path(home, spec.name)
    systemctl = ("systemctl", "--user")
    return LoginService(
        kind="systemd-user",
        target=str(unit),
        describe=T(
            "登入時啟動的 systemd 使用者服務 {t}", "a systemd user service started at login: {t}"
        ).format(t=str(unit)),
        query=(*systemctl, "is-active", unit.name),
        running=lambda output: output.strip() == "active",
        file=unit,
        content=systemd_unit(spec.description, spec.command).encode(),
        tool="systemctl",
        tool_missing=T(
            "需要 systemd(或用 --no-service)", "systemd is needed (or use --no-service)"
        ),
        start=(
            Command((*systemctl, "daemon-reload"), T("systemctl 失敗", "systemctl failed")),
            Command(
                (*systemctl, "enable", "--now", unit.name),
                T("無法啟用登入服務", "cannot enable the login service"),
            ),
        ),
        stop=(Command((*systemctl, "disable", "--now", unit.name)),),
        after_stop=(Command((*systemctl, "daemon-reload")),),
    )


def prepare_listener(sock: socket.socket) -> None:
    reuse_address(sock)


# -- browser policy: the managed-policy directories of Chromium, Chrome and Edge ----------------

# Chromium reads the files of the directory in name order and, for a policy set in several of
# them, the last one wins (lists are not merged): our name sorts after the usual ones.
POLICY_FILE = "zz-nhicard-local-network-access.json"
BROWSER_POLICY_PLACES = (
    PolicyPlace(
        "chromium",
        "json-dir",
        "/etc/chromium/policies/managed",
        ("/etc/chromium", "/usr/bin/chromium", "/usr/lib/chromium"),
    ),
    PolicyPlace(
        "chrome",
        "json-dir",
        "/etc/opt/chrome/policies/managed",
        ("/etc/opt/chrome", "/opt/google/chrome"),
    ),
    PolicyPlace(
        "edge",
        "json-dir",
        "/etc/opt/edge/policies/managed",
        ("/etc/opt/edge", "/opt/microsoft/msedge"),
    ),
)


def browser_policy_places() -> tuple[PolicyPlace, ...]:
    """Debian's Chromium reads ``/etc/chromium/policies/managed/*.json``, Google Chrome
    ``/etc/opt/chrome/…`` and Microsoft Edge ``/etc/opt/edge/…``: every JSON file there is
    mandatory policy; a policy set by several files takes the value of the last by name."""
    return BROWSER_POLICY_PLACES
