"""macOS: PC/SC is built in (CryptoTokenKit's ``com.apple.ctkpcscd``), ``/etc/hosts``, the
keychains, a launchd agent."""

from __future__ import annotations

import plistlib
import re
import socket
from collections.abc import Mapping
from pathlib import Path, PurePath

from nhicard.core.i18n import T, Text
from nhicard.platform.base import (
    RUNNING,
    Command,
    LoginService,
    PolicyPlace,
    ServiceSpec,
    ServiceState,
    TrustStore,
    posix_hosts_command,
    reuse_address,
)

NAME = "macos"
HOSTS_NEWLINE = b"\n"
TRUST_STORES = (TrustStore.KEYCHAIN,)
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


def hosts_editor() -> Text:
    """How a person edits the hosts file by hand (completes "… add that line with …")."""
    return T("執行 sudo nano /etc/hosts ", "sudo nano /etc/hosts")


def hosts_command(path: PurePath, line: str, mark: str, *, removing: bool) -> str:
    return posix_hosts_command(path, line, mark, removing=removing)


def pcsc_asks_polkit(root: Path = Path("/")) -> bool:
    """macOS's PC/SC has no polkit."""
    return False


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


# -- trust store: the login keychain ------------------------------------------------------------


def login_keychain(home: Path) -> Path:
    return home / "Library" / "Keychains" / "login.keychain-db"


def keychain_add_command(home: Path, ca_file: Path) -> list[str]:
    return [
        "security",
        "add-trusted-cert",
        "-r",
        "trustRoot",
        "-k",
        str(login_keychain(home)),
        str(ca_file),
    ]


def keychain_find_command(home: Path, name: str) -> list[str]:
    return ["security", "find-certificate", "-a", "-Z", "-c", name, str(login_keychain(home))]


def keychain_delete_command(home: Path, sha1: str) -> list[str]:
    return ["security", "delete-certificate", "-Z", sha1, str(login_keychain(home))]


def parse_keychain_hashes(output: str) -> list[str]:
    """SHA-1 hashes in ``security find-certificate -Z`` output (``SHA-1 hash: 0A1B…``)."""
    return [h.upper() for h in re.findall(r"SHA-1 hash:\s*([0-9A-Fa-f]{40})", output)]


# -- login service: a launchd agent -------------------------------------------------------------


def launchd_plist_path(home: Path, label: str) -> Path:
    return home / "Library" / "LaunchAgents" / f"{label}.plist"


def launchd_plist(label: str, command: list[str]) -> bytes:
    return plistlib.dumps(
        {
            "Label": label,
            "ProgramArguments": command,
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
        }
    )


def parse_launchd_state(output: str) -> str | None:
    """``state = running`` in ``launchctl print`` output → ``"running"``."""
    m = re.search(r"^\s*state\s*=\s*(\S+)", output, re.M)
    return m[1] if m else None


def login_service(spec: ServiceSpec, home: Path, uid: int) -> LoginService:
    plist = launchd_plist_path(home, spec.label)
    domain = f"gui/{uid}"
    return LoginService(
        kind="launchd",
        target=str(plist),
        describe=T(
            "登入時啟動的 launchd agent {t}", "a launchd agent started at login: {t}"
        ).format(t=str(plist)),
        query=("launchctl", "print", f"{domain}/{spec.label}"),
        running=lambda output: parse_launchd_state(output) == "running",
        file=plist,
        content=launchd_plist(spec.label, list(spec.command)),
        start=(
            Command(
                ("launchctl", "bootstrap", domain, str(plist)),
                T("無法啟用 launchd 服務", "cannot start the launchd agent"),
            ),
        ),
        stop=(Command(("launchctl", "bootout", f"{domain}/{spec.label}")),),
    )


def prepare_listener(sock: socket.socket) -> None:
    reuse_address(sock)


# -- browser policy: managed preferences of Chrome and Edge --------------------------------------

MANAGED_PREFERENCES = Path("/Library/Managed Preferences")


def managed_preferences_plist(domain: str) -> Path:
    """The plist of a preference domain's forced (managed) values, which Chrome and Edge read
    as mandatory policy: ``/Library/Managed Preferences/<domain>.plist``. A configuration
    profile (MDM) writes the same file and replaces it on its next run."""
    return MANAGED_PREFERENCES / f"{domain}.plist"


def browser_policy_places() -> tuple[PolicyPlace, ...]:
    return (
        PolicyPlace(
            "chrome",
            "plist",
            str(managed_preferences_plist("com.google.Chrome")),
            ("/Applications/Google Chrome.app",),
        ),
        PolicyPlace(
            "edge",
            "plist",
            str(managed_preferences_plist("com.microsoft.Edge")),
            ("/Applications/Microsoft Edge.app",),
        ),
    )
