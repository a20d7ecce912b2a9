"""Linux: pcsc-lite's ``pcscd`` and its socket, ``/etc/hosts``, distribution packages."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path

from nhicard.envcheck.platforms import RUNNING, STOPPED, UNKNOWN, ServiceState, hosts_line_fix
from nhicard.i18n import T, Text

NAME = "linux"
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
        "安裝 pyscard:pip install pyscard(從原始碼建置需要 swig 與 libpcsclite-dev:"
        "sudo apt install swig libpcsclite-dev)。",
        "Install pyscard: pip install pyscard (building it from source needs swig and "
        "libpcsclite-dev: sudo apt install swig libpcsclite-dev).",
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


def hosts_fix(environ: Mapping[str, str]) -> Text:
    return hosts_line_fix(hosts_file_path(environ), "以 sudo 編輯 /etc/hosts ", "sudo")


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
