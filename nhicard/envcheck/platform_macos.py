"""macOS: PC/SC is built in (CryptoTokenKit's ``com.apple.ctkpcscd``), ``/etc/hosts``, the
System keychain."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from nhicard.envcheck.platforms import RUNNING, ServiceState, hosts_line_fix
from nhicard.i18n import T, Text

NAME = "macos"
COMPONENT_DOWNLOAD = "https://cloudicweb.nhi.gov.tw/cloudic/System/SMC/mac.Install1.zip"


def pcsc_service_state(environ: Mapping[str, str]) -> ServiceState:
    """Always ``running``: macOS starts its PC/SC service on demand."""
    return ServiceState(RUNNING, "built into macOS (PCSC.framework, started on demand)")


def pcsc_service_fix() -> Text:
    return T(
        "macOS 內建 PC/SC;請重新插拔讀卡機,仍無效時重新開機。",
        "PC/SC is built into macOS; replug the reader, and restart the computer if that fails.",
    )


def pcsc_library_fix() -> Text:
    return T(
        "PCSC.framework 是 macOS 的一部分;找不到時請更新 macOS。",
        "PCSC.framework is part of macOS; if it is missing, update macOS.",
    )


def pyscard_fix() -> Text:
    return T(
        "安裝 pyscard:python3 -m pip install pyscard。",
        "Install pyscard: python3 -m pip install pyscard.",
    )


def reader_driver_fix() -> Text:
    return T(
        "接上讀卡機;macOS 內建 CCID 驅動程式,非 CCID 讀卡機請安裝廠商的 macOS 驅動程式。",
        "Plug in the reader; macOS has a built-in CCID driver, other readers need the "
        "vendor's macOS driver.",
    )


def hosts_file_path(environ: Mapping[str, str]) -> Path:
    return Path("/etc/hosts")


def hosts_fix(environ: Mapping[str, str]) -> Text:
    return hosts_line_fix(
        hosts_file_path(environ), "執行 sudo nano /etc/hosts ", "sudo nano /etc/hosts"
    )


def component_download_url() -> str:
    return COMPONENT_DOWNLOAD


def component_install_dir(environ: Mapping[str, str]) -> None:
    """Not published for this OS: the component is found by its port instead."""
    return None


def trusted_roots_note() -> Text:
    return T(
        "macOS 與 Safari/Chrome 使用鑰匙圈:鑰匙圈存取 → 系統 → 憑證,官方元件安裝時把"
        "「NHI SelfRoot CA」匯入並設為信任。",
        "macOS, Safari and Chrome use the keychain: Keychain Access → System → Certificates, "
        "where the component's installer imports 'NHI SelfRoot CA' and marks it trusted.",
    )
