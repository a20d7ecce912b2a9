"""``nhicard agent install`` / ``uninstall`` / ``status``: make ``agent serve`` usable from a
person's own browser, and undo exactly that.

Install, in order (what a step would refuse that can be seen in advance — a damaged NSS
database, a hosts file that cannot be written — is refused before any change; each step is
undone in reverse when a later one fails: nothing is left half installed; a local file that
cannot be written or used is a :class:`LocalFileFailed`, the ``LocalIOError`` of the CLI
contract):

1. the server certificate (:mod:`nhicard.agent.serve.tls`: a name-constrained CA whose key is
   not kept);
2. trust of that CA: Linux: every NSS database of the user (``~/.pki/nssdb`` for Chromium and
   Chrome, each Firefox profile's ``cert9.db``) with ``certutil`` (Debian ``libnss3-tools``)
   and, as root, the system store (``update-ca-certificates``); macOS: the login keychain
   (``security add-trusted-cert``); Windows: the current user's Root store
   (``certutil -user -addstore Root``);
3. the hosts line ``127.0.0.1 iccert.nhi.gov.tw`` marked with a comment naming nhicard (the
   old file is first copied to ``<hosts>.nhicard-backup``); nothing is added when the name
   already points to this computer;
4. with ``--browser-policy`` (root/administrator only), the Chromium-family managed policy
   ``LocalNetworkAccessAllowedForUrls`` listing the sites that use the card
   (:mod:`nhicard.agent.serve.lna_policy`: Linux ``/etc/{chromium,opt/chrome,opt/edge}/
   policies/managed/zz-nhicard-local-network-access.json``, Windows the HKLM list keys of Chrome
   and Edge through ``reg.exe``, macOS ``/Library/Managed Preferences/com.google.Chrome.plist``
   and ``com.microsoft.Edge.plist``);
5. a login service running ``nhicard agent serve``: a systemd user unit, a launchd agent, or
   a Task Scheduler task. Where pcscd asks polkit about its clients (pcsc-lite 2: Debian 13,
   Fedora, Arch), a login service is refused the card unless a polkit rule grants it: as root,
   install adds that rule (and uninstall removes it); otherwise :func:`notices` gives the rule
   an administrator must add.

What differs per OS (paths, commands, their outputs, the hosts file) comes from
:mod:`nhicard.platform`; this module decides the order, records and undoes.

What was done is recorded in ``agent-install.json`` in the state dir; uninstall removes those
items (our nickname from each store, our marked hosts line, our service) and nothing else, so
running either twice is harmless.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import functools
import json
import os
import re
import shutil
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from nhicard import platform
from nhicard.agent import COMPONENT_HOST
from nhicard.agent.serve import lna_policy
from nhicard.agent.serve.origins import CARD_SITES, NHI_SITE
from nhicard.agent.serve.tls import CA_NAME, ensure_server_certificate
from nhicard.core.atomicfile import PUBLIC, replace_file
from nhicard.core.errors import LocalIOError, NotAvailable
from nhicard.core.files import cannot_read, cannot_write
from nhicard.core.i18n import T, Text
from nhicard.net import certs
from nhicard.pcsc import polkit
from nhicard.platform import TrustStore, linux, macos, windows
from nhicard.platform.base import (
    Command,
    LoginService,
    PolicyPlace,
    Result,
    Runner,
    ServiceSpec,
    run_command,
)
from nhicard.platform.hosts import HostsFile, write_in_place

MARK = "# added by nhicard agent install"
HOSTS_LINE = f"127.0.0.1 {COMPONENT_HOST} {MARK}"
NICKNAME = CA_NAME
SERVICE = "nhicard-agent"
LAUNCHD_LABEL = "tw.nhicard.agent"
SERVICE_DESCRIPTION = "nhicard card agent (local stand-in for the NHI card component)"
SYSTEM_CA_FILE = linux.SYSTEM_CA_DIR / "nhicard-agent-ca.crt"
STATE_FILE = "agent-install.json"
BACKUP_SUFFIX = ".nhicard-backup"


class InstallFailed(NotAvailable):
    """A step could not be done (privileges, a missing tool, a store that cannot be written);
    earlier steps have been undone."""


class LocalFileFailed(LocalIOError, InstallFailed):
    """A step could not write or use a local file (the hosts file, an NSS database, a rule
    file, the install record): a local file nhicard cannot write, with its exit status;
    earlier steps have been undone."""


def _file_failed(
    err: LocalIOError, *, hint: Text | None = None, reason: str | None = None
) -> LocalFileFailed:
    """``err`` (from :func:`~nhicard.core.files.cannot_write` or ``cannot_read``) as an
    install failure, with another ``hint``/``reason`` when given."""
    return LocalFileFailed(
        err.message, hint=hint or err.hint, reason=reason or err.reason, detail=err.detail
    )


@dataclass
class Machine:
    """What install looks at and changes; tests substitute every part."""

    system: str  # one of nhicard.platform.NAMES: "linux", "macos", "windows"
    home: Path
    state_dir: Path
    hosts_file: Path
    nssdbs: list[Path] | None = None  # None: find the user's databases
    is_root: bool = False
    uid: int = 0
    run: Runner = run_command
    which: Callable[[str], str | None] = shutil.which
    serve_command: list[str] = field(default_factory=list)
    system_ca_file: Path = SYSTEM_CA_FILE
    resolve: Callable[[str], list[str]] = field(default=lambda host: _resolve(host))
    hosts_is_system: bool = True  # False: status reads the given hosts file, not the resolver
    pcsc_polkit: bool = False  # pcscd asks polkit about its clients
    polkit_rules_dir: Path = Path(polkit.RULES_DIR)
    user: str | None = None  # the login name the service runs as
    policy_places: list[PolicyPlace] | None = None  # None: the OS's (Platform)
    policy_origins: tuple[str, ...] = CARD_SITES

    @classmethod
    def current(
        cls,
        state_dir: Path,
        *,
        hosts_file: Path | None = None,
        nssdbs: Sequence[Path] = (),
    ) -> Machine:
        system = platform.name_of(sys.platform)
        plat = platform.get(system)
        default_hosts = Path(plat.hosts_file_path(os.environ))
        return cls(
            system=system,
            home=Path.home(),
            state_dir=state_dir,
            hosts_file=hosts_file or default_hosts,
            hosts_is_system=hosts_file is None or Path(hosts_file) == default_hosts,
            nssdbs=list(nssdbs) or None,
            is_root=_is_admin(),
            uid=os.getuid() if hasattr(os, "getuid") else 0,
            serve_command=serve_command(),
            pcsc_polkit=plat.pcsc_asks_polkit(),
            user=polkit.current_user(),
        )

    @property
    def platform(self) -> platform.Platform:
        return platform.get(self.system)

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "agent-tls"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"


def _is_admin() -> bool:
    """root (POSIX), or a process with the administrators' token (Windows)."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None:
        return bool(geteuid() == 0)
    try:
        import ctypes

        return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return False


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def serve_command() -> list[str]:
    """How the login service starts ``nhicard agent serve``."""
    script = Path(sys.executable).parent / ("nhicard.exe" if sys.platform == "win32" else "nhicard")
    found = str(script) if script.exists() else shutil.which("nhicard")
    base = [found] if found else [sys.executable, "-c", "from nhicard.cli.main import main; main()"]
    return [*base, "agent", "serve"]


# -- one change: what it is, how to make it, how to undo it -----------------------------------


class ChangeKind(StrEnum):
    """What ``agent install`` changes besides trust stores (:class:`TrustStore`); the
    manifest's ``kind`` values."""

    CERTIFICATE = "certificate"
    HOSTS = "hosts"
    POLKIT_RULE = "polkit-rule"
    SERVICE = "service"
    BROWSER_POLICY = "browser-policy"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind | TrustStore
    target: str
    describe: Text

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "target": self.target, "description": self.describe.en}


def _fail(
    message: Text, *, detail: str | None = None, hint: Text | None = None, reason: str
) -> InstallFailed:
    return InstallFailed(message, detail=detail, hint=hint, reason=reason)


def _need_tool(m: Machine, tool: str, package: Text | None) -> None:
    if m.which(tool) is None:
        raise _fail(
            T("找不到 {tool}", "{tool} is not installed").format(tool=tool),
            hint=package,
            reason="tool-missing",
        )


def _checked(
    m: Machine,
    argv: Sequence[str],
    what: Text,
    *,
    error: type[InstallFailed] = InstallFailed,
    hint: Text | None = None,
) -> Result:
    """``argv`` run; ``error`` (its output as the detail) when it fails. ``hint``: what to
    do unless the failure is a refusal (then: administrator rights)."""
    result = m.run(argv)
    if result.returncode != 0:
        denied = re.search(
            r"permission denied|access is denied|not permitted|拒絕存取",
            result.stderr + result.stdout,
            re.I,
        )
        raise error(
            what,
            detail=f"{' '.join(argv[:3])} …: exit {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[:300]}",
            hint=_PRIVILEGE_HINT if denied else hint,
            reason="needs-privileges" if denied else "store-write-failed",
        )
    return result


_PRIVILEGE_HINT = T(
    "這一步需要系統管理員權限:Linux/macOS 請用 sudo 執行,Windows 請以系統管理員身分開啟終端機。",
    "This step needs administrator rights: run it with sudo on Linux/macOS, or from a terminal "
    "opened as administrator on Windows.",
)


# -- NSS databases (Linux browsers) -------------------------------------------------------------


def nss_has(m: Machine, db: Path) -> list[str]:
    """PEMs stored under our nickname in ``db`` (empty: none)."""
    result = m.run(linux.nss_find_command(db, NICKNAME))
    if result.returncode != 0:
        return []
    return linux.parse_pems(result.stdout)


def _nss_hint(db: Path) -> Text:
    return T(
        "請確認 {db} 是可寫入的完好 NSS 資料庫(certutil -L -d sql:{db} 能列出內容)、"
        "磁碟仍有空間;或不要把它交給 --nssdb。",
        "Check that {db} is a sound NSS database that can be written (certutil -L -d sql:{db} "
        "lists it) on a disk with free space; or leave it out of --nssdb.",
    ).format(db=str(db))


def nss_remove(m: Machine, db: Path) -> None:
    for _ in range(20):  # one entry per run of -D; old CAs may share the nickname
        if not nss_has(m, db):
            return
        _checked(
            m,
            linux.nss_delete_command(db, NICKNAME),
            T(
                "無法從 NSS 資料庫「{db}」移除 CA",
                "cannot remove the CA from the NSS database “{db}”",
            ).format(db=str(db)),
            error=LocalFileFailed,
            hint=_nss_hint(db),
        )


NSS_FILES = ("cert9.db", "key4.db")


def nss_check(m: Machine, db: Path) -> None:
    """:class:`LocalFileFailed` unless ``certutil`` can read the database in ``db`` (a damaged
    one): asked before anything is written, since a failed write still adds files to it. An
    empty directory is fine (``certutil -A`` makes a new database there)."""
    if not any((db / name).exists() for name in NSS_FILES):
        return
    _checked(
        m,
        linux.nss_list_command(db),
        T("無法使用 NSS 資料庫「{db}」", "cannot use the NSS database “{db}”").format(db=str(db)),
        error=LocalFileFailed,
        hint=_nss_hint(db),
    )


def nss_add(m: Machine, db: Path, ca_file: Path) -> None:
    nss_check(m, db)
    nss_remove(m, db)  # an older CA of ours (a renewed certificate makes a new CA)
    _checked(
        m,
        linux.nss_add_command(db, NICKNAME, ca_file),
        T(
            "無法把 CA 加入 NSS 資料庫「{db}」", "cannot add the CA to the NSS database “{db}”"
        ).format(db=str(db)),
        error=LocalFileFailed,
        hint=_nss_hint(db),
    )


def sha1_of(ca_file: Path) -> str:
    cert = certs.load_certificate(ca_file)
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - a store's lookup key


# -- login service -----------------------------------------------------------------------------


def login_service(m: Machine) -> LoginService:
    """The login service running ``agent serve`` as this machine's OS does it."""
    command = tuple(m.serve_command or serve_command())
    spec = ServiceSpec(SERVICE, LAUNCHD_LABEL, SERVICE_DESCRIPTION, command)
    return m.platform.login_service(spec, m.home, m.uid)


def _run_step(m: Machine, command: Command) -> None:
    if command.fails_as is None:
        m.run(command.argv)  # a failure does not matter (stopping what is not running)
    else:
        _checked(m, command.argv, command.fails_as)


def _service_installed(m: Machine, service: LoginService) -> bool:
    if service.file is not None:
        return service.file.exists()
    return m.run(service.query).returncode == 0


def service_add(m: Machine, service: LoginService) -> None:
    if service.tool is not None:
        _need_tool(m, service.tool, service.tool_missing)
    if service.file is not None:
        replace_file(service.file, service.content, mode=PUBLIC)
    for command in service.start:
        _run_step(m, command)


def service_remove(m: Machine, service: LoginService) -> None:
    if not _service_installed(m, service):
        return
    for command in service.stop:
        _run_step(m, command)
    if service.file is not None:
        service.file.unlink(missing_ok=True)
    for command in service.after_stop:
        _run_step(m, command)


# -- polkit (pcsc-lite 2) ----------------------------------------------------------------------


def polkit_rule_path(m: Machine) -> Path:
    return m.polkit_rules_dir / polkit.RULES_FILE


def _polkit_granted(m: Machine, user: str) -> bool:
    """Our rule for ``user`` is in place (False also when it cannot be read)."""
    try:
        return polkit_rule_path(m).read_text("utf-8") == polkit.rule_text(user)
    except (OSError, ValueError):
        return False


def _polkit_steps(m: Machine) -> list[Step]:
    """As root where pcscd asks polkit: the rule that lets the service use the readers."""
    user = m.user
    if not (m.pcsc_polkit and m.is_root and user) or _polkit_granted(m, user):
        return []
    path = polkit_rule_path(m)

    def add() -> None:
        try:
            replace_file(path, polkit.rule_text(user).encode(), mode=PUBLIC)
        except OSError as exc:
            raise _file_failed(
                cannot_write(path, exc, T("polkit 規則", "the polkit rule")),
                hint=_PRIVILEGE_HINT,
                reason="needs-privileges",
            ) from None

    return [
        Step(
            Change(
                ChangeKind.POLKIT_RULE,
                str(path),
                T(
                    "讓 {u} 的登入服務使用讀卡機的 polkit 規則 {t}",
                    "a polkit rule that lets the login service of {u} use the card readers: {t}",
                ).format(u=user, t=str(path)),
            ),
            add,
            functools.partial(_polkit_remove, path),
        )
    ]


def _polkit_remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise _fail(
            T("無法移除 polkit 規則 {f}", "cannot remove the polkit rule {f}").format(f=str(path)),
            detail=exc.strerror or str(exc),
            hint=_PRIVILEGE_HINT,
            reason="needs-privileges",
        ) from None


def polkit_needed(m: Machine) -> Text | None:
    """What an administrator must add where pcscd asks polkit and install could not add it
    (not root): the rule, and where it goes. None when nothing is needed or it is in place."""
    user = m.user
    if not m.pcsc_polkit or m.is_root or (user and _polkit_granted(m, user)):
        return None
    rule = polkit.rule_text(user or "USER")  # USER: a name this program could not tell
    return T(
        "此電腦的 pcscd 會向 polkit 詢問每個程式(pcsc-lite 2),登入服務預設會被拒絕使用讀卡機"
        "(0x8010006A)。請系統管理員把下列規則存為 {path},或改在桌面工作階段中執行 "
        "nhicard agent serve:\n{rule}",
        "pcscd on this computer asks polkit about each program (pcsc-lite 2): by default the "
        "login service is refused the card readers (0x8010006A). An administrator saves the "
        "rule below as {path}, or run nhicard agent serve in your desktop session instead:"
        "\n{rule}",
    ).format(path=str(polkit_rule_path(m)), rule=rule.rstrip("\n"))


def notices(m: Machine, *, service: bool = True) -> list[Text]:
    """What install cannot do itself and a person must do for the installed parts to work."""
    needed = polkit_needed(m) if service else None
    return [needed] if needed is not None else []


# -- hosts file ----------------------------------------------------------------------------------


def read_hosts(m: Machine) -> HostsFile:
    """The hosts file install changes (empty when it does not exist)."""
    try:
        return HostsFile.read(m.hosts_file)
    except FileNotFoundError:
        return HostsFile()


def _hosts_to_change(m: Machine) -> HostsFile | None:
    """The hosts file when our line is to be added (None: the name already points here);
    the refusal of a line pointing it elsewhere, or of a file that cannot be read."""
    try:
        hosts = read_hosts(m)
    except OSError as exc:
        raise _hosts_error(m, exc, reading=True) from None
    if hosts.has_line_with(MARK):
        return None
    addresses = hosts.addresses(COMPONENT_HOST)
    if addresses and addresses[0] in ("127.0.0.1", "::1"):
        return None
    if addresses:
        raise _fail(
            T("hosts 檔已把 {h} 指向 {a}", "the hosts file already maps {h} to {a}").format(
                h=COMPONENT_HOST, a=addresses[0]
            ),
            hint=T("請先手動移除 {f} 中的那一行。", "Remove that line from {f} first.").format(
                f=str(m.hosts_file)
            ),
            reason="hosts-conflict",
        )
    return hosts


def hosts_check(m: Machine) -> None:
    """Before any change: what :func:`hosts_add` would refuse, and a hosts file it must
    change that cannot be written (read-only, refused)."""
    if _hosts_to_change(m) is None or not m.hosts_file.exists():
        return
    try:
        with open(m.hosts_file, "r+b"):  # opening it so changes nothing
            pass
    except OSError as exc:
        raise _hosts_error(m, exc) from None


def hosts_add(m: Machine) -> bool:
    """Add our line unless the name already points here. True when the file changed."""
    hosts = _hosts_to_change(m)
    if hosts is None:
        return False
    new = hosts.with_line(HOSTS_LINE, default_newline=m.platform.HOSTS_NEWLINE)
    if not m.hosts_file.exists():
        try:
            replace_file(m.hosts_file, new.to_bytes(), mode=PUBLIC)
        except OSError as exc:
            raise _hosts_error(m, exc) from None
        return True
    backup = Path(str(m.hosts_file) + BACKUP_SUFFIX)
    try:  # hosts_check found it writable before any change
        shutil.copy2(m.hosts_file, backup)
    except OSError as exc:
        with contextlib.suppress(OSError):
            backup.unlink(missing_ok=True)  # half a copy (a full disk)
        raise _hosts_error(m, exc) from None
    try:
        write_in_place(m.hosts_file, new)
    except OSError as exc:
        try:
            write_in_place(m.hosts_file, hosts)  # the old bytes back over a half-written file
            backup.unlink(missing_ok=True)
        except OSError:
            pass  # the backup is what the file was: keep it
        raise _hosts_error(m, exc) from None
    return True


def hosts_remove(m: Machine) -> bool:
    """Remove our marked line(s), byte for byte. True when the file changed."""
    try:
        hosts = read_hosts(m)
    except OSError as exc:
        raise _hosts_error(m, exc) from None
    if not hosts.has_line_with(MARK):
        return False
    kept = hosts.without_lines_with(MARK)
    try:
        write_in_place(m.hosts_file, kept)
    except OSError as exc:
        raise _hosts_error(m, exc, removing=True) from None
    backup = Path(str(m.hosts_file) + BACKUP_SUFFIX)
    with contextlib.suppress(OSError):
        if backup.read_bytes() == kept.to_bytes():
            backup.unlink()  # the file is back as it was: the backup has served its purpose
    return True


def hosts_privilege_hint(m: Machine, *, removing: bool = False) -> Text:
    """How to make the hosts change by hand with administrator rights, then rerun."""
    cmd = m.platform.hosts_command(m.hosts_file, HOSTS_LINE, MARK, removing=removing)
    if cmd is None:
        return T(
            "請以系統管理員身分開啟終端機再執行一次。",
            "Run it again from a terminal opened as administrator.",
        )
    if removing:
        return T(f"請自行移除該行:{cmd}", f"Remove the line yourself: {cmd}")
    return T(
        f"請自行加入該行,再執行一次 nhicard agent install(它會認得這一行):{cmd}",
        f"Add the line yourself, then run nhicard agent install again (it recognises the "
        f"line): {cmd}",
    )


def _hosts_error(
    m: Machine, exc: OSError, *, removing: bool = False, reading: bool = False
) -> LocalFileFailed:
    """The hosts file that cannot be read or written: its path, the system's reason and, when
    refused, how to make the change by hand."""
    what = T("hosts 檔", "the hosts file")
    err = cannot_read(m.hosts_file, exc, what) if reading else cannot_write(m.hosts_file, exc, what)
    if isinstance(exc, PermissionError):
        return _file_failed(
            err, hint=hosts_privilege_hint(m, removing=removing), reason="needs-privileges"
        )
    if exc.errno == errno.EROFS:  # an immutable system, a container's bind mount
        hint = (
            T(
                "hosts 檔位於唯讀的檔案系統:請以系統允許的方式移除「{line}」。",
                "The hosts file is on a read-only file system: remove '{line}' the way your "
                "system allows.",
            )
            if removing
            else T(
                "hosts 檔位於唯讀的檔案系統:請以系統允許的方式(例如映像檔或容器的設定)加入"
                "「{line}」,再執行一次 nhicard agent install(它會認得這一行)。",
                "The hosts file is on a read-only file system: add '{line}' the way your system "
                "allows (its image or container settings, say), then run nhicard agent install "
                "again (it recognises the line).",
            )
        )
        return _file_failed(err, hint=hint.format(line=HOSTS_LINE))
    return _file_failed(err)


# -- the plan ------------------------------------------------------------------------------------


@dataclass
class Step:
    change: Change
    apply: Callable[[], object]
    undo: Callable[[], object]
    check: Callable[[], object] = lambda: None  # what apply would refuse, asked before any change


def _nssdb_steps(m: Machine) -> list[Step]:
    dbs = m.nssdbs if m.nssdbs is not None else linux.find_nssdbs(m.home)
    if dbs:
        _need_tool(m, "certutil", linux.NSS_TOOLS)
    return [
        Step(
            Change(
                TrustStore.NSSDB,
                str(db),
                T("在 NSS 資料庫 {t} 信任 CA", "trust the CA in the NSS database {t}").format(
                    t=str(db)
                ),
            ),
            functools.partial(nss_add, m, db, m.ca_file),
            functools.partial(nss_remove, m, db),
            functools.partial(nss_check, m, db),
        )
        for db in dbs
    ]


def _system_store_steps(m: Machine) -> list[Step]:
    if not (m.nssdbs is None and m.is_root and m.which("update-ca-certificates")):
        return []
    return [
        Step(
            Change(
                TrustStore.SYSTEM_STORE,
                str(m.system_ca_file),
                T("在系統憑證庫信任 CA({t})", "trust the CA in the system store ({t})").format(
                    t=str(m.system_ca_file)
                ),
            ),
            lambda: _system_add(m),
            lambda: _system_remove(m),
        )
    ]


def _keychain_steps(m: Machine) -> list[Step]:
    keychain = macos.login_keychain(m.home)
    return [
        Step(
            Change(
                TrustStore.KEYCHAIN,
                str(keychain),
                T("在登入鑰匙圈信任 CA({t})", "trust the CA in the login keychain ({t})").format(
                    t=str(keychain)
                ),
            ),
            lambda: _checked(
                m,
                macos.keychain_add_command(m.home, m.ca_file),
                T("無法把 CA 加入鑰匙圈", "cannot add the CA to the keychain"),
            ),
            lambda: _keychain_remove(m),
        )
    ]


def _windows_root_steps(m: Machine) -> list[Step]:
    return [
        Step(
            Change(
                TrustStore.WINDOWS_ROOT,
                "CurrentUser\\Root",
                T(
                    "在目前使用者的「受信任的根憑證授權單位」信任 CA",
                    "trust the CA in the current user's Root store",
                ),
            ),
            lambda: _checked(
                m,
                windows.root_add_command(m.ca_file),
                T(
                    "無法把 CA 加入 Windows 憑證存放區",
                    "cannot add the CA to the Windows certificate store",
                ),
            ),
            lambda: _windows_remove(m),
        )
    ]


_STORE_STEPS: dict[str, Callable[[Machine], list[Step]]] = {
    TrustStore.NSSDB: _nssdb_steps,
    TrustStore.SYSTEM_STORE: _system_store_steps,
    TrustStore.KEYCHAIN: _keychain_steps,
    TrustStore.WINDOWS_ROOT: _windows_root_steps,
}


def _trust_steps(m: Machine) -> list[Step]:
    """Trusting the CA in each of the OS's stores (Platform.TRUST_STORES), in order."""
    return [step for kind in m.platform.TRUST_STORES for step in _STORE_STEPS[kind](m)]


def _system_add(m: Machine) -> None:
    try:
        replace_file(m.system_ca_file, m.ca_file.read_bytes(), mode=PUBLIC)
    except OSError as exc:
        raise _file_failed(
            cannot_write(m.system_ca_file, exc, T("系統憑證庫的檔案", "the system store's file")),
            hint=_PRIVILEGE_HINT,
            reason="needs-privileges",
        ) from None
    _checked(
        m,
        linux.system_store_update_command(),
        T("update-ca-certificates 失敗", "update-ca-certificates failed"),
    )


def _system_remove(m: Machine) -> None:
    if m.system_ca_file.exists():
        m.system_ca_file.unlink()
        _checked(
            m,
            linux.system_store_update_command(fresh=True),
            T("update-ca-certificates 失敗", "update-ca-certificates failed"),
        )


def _keychain_remove(m: Machine) -> None:
    found = m.run(macos.keychain_find_command(m.home, NICKNAME))
    for sha1 in macos.parse_keychain_hashes(found.stdout) if found.returncode == 0 else []:
        _checked(
            m,
            macos.keychain_delete_command(m.home, sha1),
            T("無法從鑰匙圈移除 CA", "cannot remove the CA from the keychain"),
        )


def _windows_remove(m: Machine) -> None:
    sha1s = set(_recorded(m).get("windows_sha1", []))
    if m.ca_file.exists():
        sha1s.add(sha1_of(m.ca_file))
    for sha1 in sorted(sha1s):
        if m.run(windows.root_query_command(sha1)).returncode == 0:
            _checked(
                m,
                windows.root_delete_command(sha1),
                T(
                    "無法從 Windows 憑證存放區移除 CA",
                    "cannot remove the CA from the Windows certificate store",
                ),
            )


def _service_steps(m: Machine) -> list[Step]:
    service = login_service(m)
    return [
        *_polkit_steps(m),
        Step(
            Change(ChangeKind.SERVICE, service.target, service.describe),
            functools.partial(service_add, m, service),
            functools.partial(service_remove, m, service),
        ),
    ]


# -- browser policy (LocalNetworkAccessAllowedForUrls) ----------------------------------------


def policy_places(m: Machine) -> list[PolicyPlace]:
    """The places of the OS's Chromium-family browsers that are on this computer."""
    places = m.policy_places if m.policy_places is not None else m.platform.browser_policy_places()
    return [p for p in places if lna_policy.installed(p)]


def _policy_records(m: Machine) -> dict[str, dict[str, Any]]:
    doc = _recorded(m).get("browser_policy", {})
    return {k: v for k, v in doc.items() if isinstance(v, dict)} if isinstance(doc, dict) else {}


def _policy_steps(m: Machine, records: dict[str, dict[str, Any]]) -> list[Step]:
    """Writing the policy for each browser; what each wrote goes into ``records``."""
    writer = lna_policy.Writer(m.run)
    previous = _policy_records(m)
    steps = []
    for place in policy_places(m):
        target = lna_policy.target_of(place)

        def apply(place: PolicyPlace = place, target: str = target) -> None:
            records[target] = writer.write(place, m.policy_origins, previous.get(target, {}))

        def undo(place: PolicyPlace = place, target: str = target) -> None:
            if target in records and target not in previous:
                writer.remove(place.kind, target, records[target])

        steps.append(
            Step(
                Change(
                    ChangeKind.BROWSER_POLICY,
                    target,
                    T(
                        "{b} 的受管理政策 {p} 允許 {o}:{t}",
                        "the {b} managed policy {p} allowing {o}: {t}",
                    ).format(
                        b=place.browser,
                        p=lna_policy.POLICY,
                        o=", ".join(m.policy_origins),
                        t=target,
                    ),
                ),
                apply,
                undo,
            )
        )
    return steps


def policy_status(m: Machine) -> list[dict[str, Any]]:
    """Per browser: where its policy is, whether ours is in place, and whether the NHI site
    is allowed (by ours or anyone's)."""
    writer = lna_policy.Writer(m.run)
    records = _policy_records(m)
    places = m.policy_places if m.policy_places is not None else m.platform.browser_policy_places()
    out = []
    for place in places:
        target = lna_policy.target_of(place)
        record = records.get(target)
        if record is None and not lna_policy.installed(place):
            continue
        patterns = writer.read(place)
        ours_wanted = _record_origins(record) if record else []
        out.append(
            {
                "browser": place.browser,
                "kind": place.kind,
                "target": target,
                "ours": bool(record) and all(o in patterns for o in ours_wanted),
                "allows_nhi": lna_policy.allows(patterns, NHI_SITE),
                "patterns": patterns,
            }
        )
    return out


def _record_origins(record: dict[str, Any]) -> list[str]:
    kind = record.get("kind")
    if kind == "registry":
        return [str(v) for v in record.get("values", {}).values()]
    if kind == "plist":
        return [str(v) for v in record.get("added", [])]
    return [str(v) for v in record.get("origins", [])]


def plan(
    m: Machine,
    *,
    service: bool = True,
    browser_policy: bool = False,
    policy_records: dict[str, dict[str, Any]] | None = None,
) -> list[Step]:
    """Every change install makes, in order."""
    steps = [
        Step(
            Change(
                ChangeKind.CERTIFICATE,
                str(m.tls_dir),
                T(
                    "簽發伺服器憑證(名稱受限的 CA,不保留其私鑰)於 {t}",
                    "issue the server certificate (a name-constrained CA whose key is not kept) in {t}",
                ).format(t=str(m.tls_dir)),
            ),
            lambda: ensure_server_certificate(m.tls_dir),
            lambda: None,
        ),
        *_trust_steps(m),
        Step(
            Change(
                ChangeKind.HOSTS,
                str(m.hosts_file),
                T(
                    "在 {t} 加入「{line}」(原檔備份為 {t}{b})",
                    "add '{line}' to {t} (the old file backed up as {t}{b})",
                ).format(t=str(m.hosts_file), line=HOSTS_LINE, b=BACKUP_SUFFIX),
            ),
            lambda: hosts_add(m),
            lambda: hosts_remove(m),
            lambda: hosts_check(m),
        ),
    ]
    if browser_policy:
        steps += _policy_steps(m, {} if policy_records is None else policy_records)
    if service:
        steps += _service_steps(m)
    return steps


def _state_path(m: Machine) -> Path:
    return m.state_dir / STATE_FILE


def _recorded(m: Machine) -> dict[str, Any]:
    try:
        doc = json.loads(_state_path(m).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def install(
    m: Machine, *, service: bool = True, dry_run: bool = False, browser_policy: bool = False
) -> list[Change]:
    """Make every change of :func:`plan`; on failure undo the ones made and re-raise."""
    records: dict[str, dict[str, Any]] = {}
    steps = plan(m, service=service, browser_policy=browser_policy, policy_records=records)
    if dry_run:
        return [s.change for s in steps]
    if browser_policy and not m.is_root:
        raise lna_policy.needs_privileges()  # before any change: nothing to undo
    for step in steps:  # a damaged store, a read-only hosts file: refused before any change
        step.check()
    done: list[Step] = []
    try:
        for step in steps:
            done.append(step)  # a step that fails half-way is undone too (undo is tolerant)
            step.apply()
        _record(m, done, records)  # what uninstall removes: unrecorded, nothing may stay
    except BaseException:
        for step in reversed(done):
            with contextlib.suppress(Exception):
                step.undo()
        raise
    return [s.change for s in done]


def _record(m: Machine, done: list[Step], records: dict[str, dict[str, Any]]) -> None:
    """Write the manifest of what install did (with what earlier runs did)."""
    record = _recorded(m)
    changes = [c.to_dict() for c in (s.change for s in done)]
    previous = [c for c in record.get("changes", []) if isinstance(c, dict) and c not in changes]
    sha1s = set(record.get("windows_sha1", []))
    if TrustStore.WINDOWS_ROOT in m.platform.TRUST_STORES:
        sha1s.add(sha1_of(m.ca_file))
    doc = {
        "changes": [*previous, *changes],
        "browser_policy": _policy_records(m) | records,
        "ca_sha256": certs.fingerprint(certs.load_certificate(m.ca_file)),
        "windows_sha1": sorted(sha1s),
        "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        replace_file(_state_path(m), json.dumps(doc, indent=2).encode(), mode=PUBLIC)
    except OSError as exc:
        raise _file_failed(
            cannot_write(_state_path(m), exc, T("安裝紀錄", "the install record"))
        ) from None


def uninstall(m: Machine, *, dry_run: bool = False) -> list[Change]:
    """Undo what install recorded (and our items in the stores and files named on the
    command line): our CA nickname, our marked hosts line, our service. Nothing else."""
    recorded = _recorded(m).get("changes", [])
    targets: list[Change] = []
    seen: set[tuple[str, str]] = set()

    def want(kind: ChangeKind | TrustStore, target: str, text: Text) -> None:
        if (kind, target) not in seen:
            seen.add((kind, target))
            targets.append(Change(kind, target, text))

    for c in recorded:
        kind = change_kind(c.get("kind")) if isinstance(c, dict) else None
        if kind is not None and isinstance(c.get("target"), str):
            want(kind, c["target"], removal_text(kind, c["target"]))
    for db in m.nssdbs or []:
        want(TrustStore.NSSDB, str(db), removal_text(TrustStore.NSSDB, str(db)))
    want(ChangeKind.HOSTS, str(m.hosts_file), removal_text(ChangeKind.HOSTS, str(m.hosts_file)))
    targets = [t for t in targets if t.kind != ChangeKind.CERTIFICATE]
    if dry_run:
        return targets
    failures: list[NotAvailable] = []
    done: list[Change] = []
    for t in targets:  # each one even when another fails: remove as much as can be removed
        try:
            _undo(m, t)
            done.append(t)
        except (InstallFailed, lna_policy.PolicyFailed) as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    _state_path(m).unlink(missing_ok=True)
    return done


def change_kind(value: object) -> ChangeKind | TrustStore | None:
    """A manifest's ``kind`` value as a change kind; None for one this version does not know."""
    if not isinstance(value, str):
        return None
    for kinds in (ChangeKind, TrustStore):
        try:
            return kinds(value)
        except ValueError:
            continue
    return None


def removal_text(kind: ChangeKind | TrustStore, target: str) -> Text:
    texts: dict[ChangeKind | TrustStore, Text] = {
        TrustStore.NSSDB: T(
            "從 NSS 資料庫 {t} 移除 nhicard 的 CA", "remove nhicard's CA from the NSS database {t}"
        ),
        TrustStore.SYSTEM_STORE: T("從系統憑證庫移除 {t}", "remove {t} from the system store"),
        TrustStore.KEYCHAIN: T(
            "從鑰匙圈 {t} 移除 nhicard 的 CA", "remove nhicard's CA from the keychain {t}"
        ),
        TrustStore.WINDOWS_ROOT: T("從 {t} 移除 nhicard 的 CA", "remove nhicard's CA from {t}"),
        ChangeKind.HOSTS: T("從 {t} 移除 nhicard 加入的那一行", "remove nhicard's line from {t}"),
        ChangeKind.SERVICE: T("移除登入服務 {t}", "remove the login service {t}"),
        ChangeKind.POLKIT_RULE: T("移除 polkit 規則 {t}", "remove the polkit rule {t}"),
        ChangeKind.BROWSER_POLICY: T(
            "移除 nhicard 加入的瀏覽器政策 {p}:{t}",
            "remove the browser policy {p} entries nhicard added: {t}",
        ).format(p=lna_policy.POLICY, t="{t}"),
    }
    return texts.get(kind, T("移除 {t}", "remove {t}")).format(t=target)


def _undo(m: Machine, change: Change) -> None:
    if change.kind == TrustStore.NSSDB:
        if m.which("certutil") is not None and Path(change.target).is_dir():
            nss_remove(m, Path(change.target))
    elif change.kind == TrustStore.SYSTEM_STORE:
        _system_remove(dataclasses.replace(m, system_ca_file=Path(change.target)))
    elif change.kind == TrustStore.KEYCHAIN:
        _keychain_remove(m)
    elif change.kind == TrustStore.WINDOWS_ROOT:
        _windows_remove(m)
    elif change.kind == ChangeKind.HOSTS:
        hosts_remove(dataclasses.replace(m, hosts_file=Path(change.target)))
    elif change.kind == ChangeKind.POLKIT_RULE:
        _polkit_remove(Path(change.target))
    elif change.kind == ChangeKind.SERVICE:
        service_remove(m, login_service(m))
    elif change.kind == ChangeKind.BROWSER_POLICY:
        record = _policy_records(m).get(change.target)
        if record is None and change.target.endswith(linux.POLICY_FILE):
            record = {"kind": "json-dir"}  # our file by its name
        if record is not None:
            lna_policy.Writer(m.run).remove(str(record.get("kind")), change.target, record)


# -- status ----------------------------------------------------------------------------------------


def status(
    m: Machine, *, probe: Callable[[], tuple[bool, str | None, str | None]] | None = None
) -> dict[str, Any]:
    """What is installed and whether it works (``agent status``, ``env check``)."""
    recorded = _recorded(m)
    ca = certs.read_certificate(m.ca_file)
    ca_pem = certs.certificate_pem(ca).decode().strip() if ca is not None else None
    cert_doc: dict[str, Any] = {"file": str(m.ca_file), "exists": ca is not None}
    if ca is not None:
        cert_doc |= {
            "sha256": certs.fingerprint(ca),
            "not_after": ca.not_valid_after_utc.isoformat(timespec="seconds"),
            "name_constrained": any(
                isinstance(e.value, x509.NameConstraints) for e in ca.extensions
            ),
        }
    trust = []
    stores = {
        c["target"]: c["kind"]
        for c in recorded.get("changes", [])
        if isinstance(c, dict)
        and c.get("kind")
        in (TrustStore.NSSDB, TrustStore.SYSTEM_STORE, TrustStore.KEYCHAIN, TrustStore.WINDOWS_ROOT)
    }
    if TrustStore.NSSDB in m.platform.TRUST_STORES:
        for db in m.nssdbs if m.nssdbs is not None else linux.find_nssdbs(m.home):
            stores.setdefault(str(db), TrustStore.NSSDB)
    for target, kind in stores.items():
        trusted, current = _trusted(m, kind, Path(target), ca_pem)
        trust.append({"store": kind, "target": target, "trusted": trusted, "current": current})
    try:
        hosts = read_hosts(m)
    except OSError:
        hosts = HostsFile()
    entry = hosts.addresses(COMPONENT_HOST)[:1]
    addresses = m.resolve(COMPONENT_HOST) if m.hosts_is_system else entry
    hosts_doc = {
        "file": str(m.hosts_file),
        "ours": hosts.has_line_with(MARK),
        "entry": entry or None,
        "resolves_to": addresses,
        "ok": bool(addresses) and all(a in ("127.0.0.1", "::1") for a in addresses),
    }
    service_doc = _service_status(m)
    answers: dict[str, Any] = {"ok": False, "version": None, "error": None}
    if probe is not None:
        ok, version, error = probe()
        answers = {"ok": ok, "version": version, "error": error}
    return {
        "installed": bool(recorded),
        "certificate": cert_doc,
        "trust": trust,
        "hosts": hosts_doc,
        "service": service_doc,
        "browser_policy": policy_status(m),
        "answers": answers,
    }


def _trusted(m: Machine, kind: str, target: Path, ca_pem: str | None) -> tuple[bool, bool]:
    """(our CA is in the store, and it is the current one)."""
    if kind == TrustStore.NSSDB:
        if m.which("certutil") is None:
            return False, False
        pems = [p.strip() for p in nss_has(m, target)]
        return bool(pems), ca_pem is not None and ca_pem in pems
    if kind == TrustStore.SYSTEM_STORE:
        try:
            data = target.read_text()
        except OSError:
            return False, False
        return True, ca_pem is not None and data.strip() == ca_pem
    if kind == TrustStore.KEYCHAIN:
        found = m.run(macos.keychain_find_command(m.home, NICKNAME))
        hashes_ = macos.parse_keychain_hashes(found.stdout) if found.returncode == 0 else []
        current = m.ca_file.exists() and sha1_of(m.ca_file) in hashes_
        return bool(hashes_), current
    if kind == TrustStore.WINDOWS_ROOT and m.ca_file.exists():
        sha1 = sha1_of(m.ca_file)
        found = m.run(windows.root_query_command(sha1))
        present = found.returncode == 0 and sha1 in windows.parse_certutil_hashes(found.stdout)
        return present, present
    return False, False


def _service_status(m: Machine) -> dict[str, Any]:
    """Installed, and running (None: not installed, or its tool is missing)."""
    service = login_service(m)
    out = None
    if service.file is not None:
        installed = service.file.exists()
    else:
        out = m.run(service.query)
        installed = out.returncode == 0
    running = None
    if installed and (service.tool is None or m.which(service.tool)):
        out = out or m.run(service.query)
        running = out.returncode == 0 and service.running(out.stdout)
    return {
        "kind": service.kind,
        "file": service.target,
        "installed": installed,
        "running": running,
    }


def describe(changes: Iterable[Change]) -> list[Text]:
    return [c.describe for c in changes]
