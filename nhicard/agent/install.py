"""``nhicard agent install`` / ``uninstall`` / ``status``: make ``agent serve`` usable from a
person's own browser, and undo exactly that.

Install, in order (each step undone in reverse when a later one fails: nothing is left half
installed):

1. the server certificate (:mod:`nhicard.agent.servetls`: a name-constrained CA whose key is
   not kept);
2. trust of that CA: Linux: every NSS database of the user (``~/.pki/nssdb`` for Chromium and
   Chrome, each Firefox profile's ``cert9.db``) with ``certutil`` (Debian ``libnss3-tools``)
   and, as root, the system store (``update-ca-certificates``); macOS: the login keychain
   (``security add-trusted-cert``); Windows: the current user's Root store
   (``certutil -user -addstore Root``);
3. the hosts line ``127.0.0.1 iccert.nhi.gov.tw`` marked with a comment naming nhicard (the
   old file is first copied to ``<hosts>.nhicard-backup``); nothing is added when the name
   already points to this computer;
4. a login service running ``nhicard agent serve``: a systemd user unit, a launchd agent, or
   a Task Scheduler task.

What was done is recorded in ``agent-install.json`` in the state dir; uninstall removes those
items (our nickname from each store, our marked hosts line, our service) and nothing else, so
running either twice is harmless.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from nhicard import certs
from nhicard.agent import COMPONENT_HOST
from nhicard.agent.servetls import CA_NAME, ensure_server_certificate
from nhicard.atomicfile import PUBLIC, replace_file
from nhicard.errors import NotAvailable
from nhicard.i18n import T, Text

MARK = "# added by nhicard agent install"
HOSTS_LINE = f"127.0.0.1 {COMPONENT_HOST} {MARK}"
NICKNAME = CA_NAME
SERVICE = "nhicard-agent"
SYSTEMD_UNIT = f"{SERVICE}.service"
LAUNCHD_LABEL = "tw.nhicard.agent"
SYSTEM_CA_FILE = Path("/usr/local/share/ca-certificates/nhicard-agent-ca.crt")
STATE_FILE = "agent-install.json"
BACKUP_SUFFIX = ".nhicard-backup"


class InstallFailed(NotAvailable):
    """A step could not be done (privileges, a missing tool, a store that cannot be written);
    earlier steps have been undone."""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str = ""


class Runner(Protocol):
    def __call__(self, argv: Sequence[str]) -> Result: ...


def run_command(argv: Sequence[str]) -> Result:
    """Run a tool (never with secrets in argv: there are none here)."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=60, check=False, errors="replace"
        )
    except FileNotFoundError:
        return Result(127, "", f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        return Result(124, "", f"{argv[0]}: timed out")
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Machine:
    """What install looks at and changes; tests substitute every part."""

    system: str  # "linux", "darwin", "win32"
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

    @classmethod
    def current(
        cls,
        state_dir: Path,
        *,
        hosts_file: Path | None = None,
        nssdbs: Sequence[Path] = (),
    ) -> Machine:
        system = "win32" if sys.platform == "win32" else sys.platform
        if system.startswith("linux"):
            system = "linux"
        default_hosts = (
            Path(os.environ.get("SYSTEMROOT", r"C:\Windows")) / "System32/drivers/etc/hosts"
            if system == "win32"
            else Path("/etc/hosts")
        )
        geteuid = getattr(os, "geteuid", None)
        return cls(
            system=system,
            home=Path.home(),
            state_dir=state_dir,
            hosts_file=hosts_file or default_hosts,
            hosts_is_system=hosts_file is None or Path(hosts_file) == default_hosts,
            nssdbs=list(nssdbs) or None,
            is_root=geteuid is not None and geteuid() == 0,
            uid=os.getuid() if hasattr(os, "getuid") else 0,
            serve_command=serve_command(),
        )

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "agent-tls"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"


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


@dataclass(frozen=True)
class Change:
    kind: str  # "certificate", "nssdb", "system-store", "keychain", "windows-root", "hosts", "service"
    target: str
    describe: Text

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "target": self.target, "description": self.describe.en}


def _fail(
    message: Text, *, detail: str | None = None, hint: Text | None = None, reason: str
) -> InstallFailed:
    return InstallFailed(message, detail=detail, hint=hint, reason=reason)


def _need_tool(m: Machine, tool: str, package: Text) -> None:
    if m.which(tool) is None:
        raise _fail(
            T("找不到 {tool}", "{tool} is not installed").format(tool=tool),
            hint=package,
            reason="tool-missing",
        )


def _checked(m: Machine, argv: Sequence[str], what: Text) -> Result:
    result = m.run(argv)
    if result.returncode != 0:
        denied = re.search(
            r"permission denied|access is denied|not permitted|拒絕存取",
            result.stderr + result.stdout,
            re.I,
        )
        raise _fail(
            what,
            detail=f"{' '.join(argv[:3])} …: exit {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[:300]}",
            hint=_PRIVILEGE_HINT if denied else None,
            reason="needs-privileges" if denied else "store-write-failed",
        )
    return result


_PRIVILEGE_HINT = T(
    "這一步需要系統管理員權限:Linux/macOS 請用 sudo 執行,Windows 請以系統管理員身分開啟終端機。",
    "This step needs administrator rights: run it with sudo on Linux/macOS, or from a terminal "
    "opened as administrator on Windows.",
)
_NSS_TOOLS = T(
    "請安裝 NSS 工具:sudo apt-get install libnss3-tools(Fedora:nss-tools)",
    "Install the NSS tools: sudo apt-get install libnss3-tools (Fedora: nss-tools)",
)


# -- NSS databases (Linux browsers) -------------------------------------------------------------


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


def nss_has(m: Machine, db: Path) -> list[str]:
    """PEMs stored under our nickname in ``db`` (empty: none)."""
    result = m.run(["certutil", "-L", "-d", f"sql:{db}", "-n", NICKNAME, "-a"])
    if result.returncode != 0:
        return []
    return re.findall(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", result.stdout, re.S
    )


def nss_remove(m: Machine, db: Path) -> None:
    for _ in range(20):  # one entry per run of -D; old CAs may share the nickname
        if not nss_has(m, db):
            return
        _checked(
            m,
            ["certutil", "-D", "-d", f"sql:{db}", "-n", NICKNAME],
            T("無法從 {db} 移除 CA", "cannot remove the CA from {db}").format(db=str(db)),
        )


def nss_add(m: Machine, db: Path, ca_file: Path) -> None:
    nss_remove(m, db)  # an older CA of ours (a renewed certificate makes a new CA)
    _checked(
        m,
        ["certutil", "-A", "-d", f"sql:{db}", "-n", NICKNAME, "-t", "C,,", "-i", str(ca_file)],
        T("無法把 CA 加入 {db}", "cannot add the CA to {db}").format(db=str(db)),
    )


# -- macOS keychain and Windows Root store: commands and their outputs -------------------------


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


def keychain_find_command(home: Path) -> list[str]:
    return ["security", "find-certificate", "-a", "-Z", "-c", NICKNAME, str(login_keychain(home))]


def keychain_delete_command(home: Path, sha1: str) -> list[str]:
    return ["security", "delete-certificate", "-Z", sha1, str(login_keychain(home))]


def parse_keychain_hashes(output: str) -> list[str]:
    """SHA-1 hashes in ``security find-certificate -Z`` output (``SHA-1 hash: 0A1B…``)."""
    return [h.upper() for h in re.findall(r"SHA-1 hash:\s*([0-9A-Fa-f]{40})", output)]


def windows_add_command(ca_file: Path) -> list[str]:
    return ["certutil", "-user", "-f", "-addstore", "Root", str(ca_file)]


def windows_query_command(sha1: str) -> list[str]:
    return ["certutil", "-user", "-store", "Root", sha1]


def windows_delete_command(sha1: str) -> list[str]:
    return ["certutil", "-user", "-delstore", "Root", sha1]


def parse_windows_hashes(output: str) -> list[str]:
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


def sha1_of(ca_file: Path) -> str:
    cert = certs.load_certificate(ca_file)
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - a store's lookup key


# -- login services ----------------------------------------------------------------------------


def systemd_unit_path(home: Path) -> Path:
    return home / ".config" / "systemd" / "user" / SYSTEMD_UNIT


def systemd_unit(command: Sequence[str]) -> str:
    quoted = " ".join(_systemd_quote(a) for a in command)
    return (
        "[Unit]\n"
        "Description=nhicard card agent (local stand-in for the NHI card component)\n"
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


def launchd_plist_path(home: Path) -> Path:
    return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def launchd_plist(command: Sequence[str]) -> bytes:
    import plistlib

    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
        }
    )


def launchd_bootstrap_command(uid: int, plist: Path) -> list[str]:
    return ["launchctl", "bootstrap", f"gui/{uid}", str(plist)]


def launchd_bootout_command(uid: int) -> list[str]:
    return ["launchctl", "bootout", f"gui/{uid}/{LAUNCHD_LABEL}"]


def launchd_print_command(uid: int) -> list[str]:
    return ["launchctl", "print", f"gui/{uid}/{LAUNCHD_LABEL}"]


def parse_launchd_state(output: str) -> str | None:
    """``state = running`` in ``launchctl print`` output → ``"running"``."""
    m = re.search(r"^\s*state\s*=\s*(\S+)", output, re.M)
    return m[1] if m else None


def schtasks_create_command(command: Sequence[str]) -> list[str]:
    return [
        "schtasks",
        "/Create",
        "/F",
        "/SC",
        "ONLOGON",
        "/RL",
        "LIMITED",
        "/TN",
        SERVICE,
        "/TR",
        subprocess.list2cmdline(list(command)),
    ]


def schtasks_run_command() -> list[str]:
    return ["schtasks", "/Run", "/TN", SERVICE]


def schtasks_end_command() -> list[str]:
    return ["schtasks", "/End", "/TN", SERVICE]


def schtasks_delete_command() -> list[str]:
    return ["schtasks", "/Delete", "/F", "/TN", SERVICE]


def schtasks_query_command() -> list[str]:
    return ["schtasks", "/Query", "/TN", SERVICE, "/FO", "LIST"]


def parse_schtasks_status(output: str) -> str | None:
    """The ``Status:`` field of ``schtasks /Query /FO LIST`` (``Running``, ``Ready``, …)."""
    m = re.search(r"^\s*(?:Status|狀態)\s*:\s*(.+?)\s*$", output, re.M)
    return m[1] if m else None


# -- hosts file ----------------------------------------------------------------------------------


def hosts_addresses(text: str, host: str = COMPONENT_HOST) -> list[str]:
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and host in (f.lower() for f in fields[1:]):
            out.append(fields[0])
    return out


def _write_in_place(path: Path, text: str) -> None:
    """Rewrite ``path`` keeping its inode (``/etc/hosts`` is often a bind mount)."""
    with open(path, "r+", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.truncate()
        fh.flush()
        os.fsync(fh.fileno())


def hosts_add(m: Machine) -> bool:
    """Add our line unless the name already points here. True when the file changed."""
    try:
        text = m.hosts_file.read_text("utf-8", errors="surrogateescape")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise _hosts_error(m, exc) from None
    if MARK in text:
        return False
    addresses = hosts_addresses(text)
    if addresses and addresses[0] in ("127.0.0.1", "::1"):
        return False
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
    new = text + ("" if not text or text.endswith("\n") else "\n") + HOSTS_LINE + "\n"
    try:
        if m.hosts_file.exists():
            shutil.copy2(m.hosts_file, str(m.hosts_file) + BACKUP_SUFFIX)
            _write_in_place(m.hosts_file, new)
        else:
            replace_file(m.hosts_file, new.encode(), mode=PUBLIC)
    except OSError as exc:
        raise _hosts_error(m, exc) from None
    return True


def hosts_remove(m: Machine) -> bool:
    """Remove our marked line(s). True when the file changed."""
    try:
        text = m.hosts_file.read_text("utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _hosts_error(m, exc) from None
    if MARK not in text:
        return False
    kept = "".join(line for line in text.splitlines(keepends=True) if MARK not in line)
    try:
        _write_in_place(m.hosts_file, kept)
    except OSError as exc:
        raise _hosts_error(m, exc, removing=True) from None
    backup = Path(str(m.hosts_file) + BACKUP_SUFFIX)
    with contextlib.suppress(OSError):
        if backup.read_text("utf-8", errors="surrogateescape") == kept:
            backup.unlink()  # the file is back as it was: the backup has served its purpose
    return True


def hosts_privilege_hint(m: Machine, *, removing: bool = False) -> Text:
    """How to make the hosts change by hand with administrator rights, then rerun."""
    f = str(m.hosts_file)
    if m.system == "win32":
        return T(
            "請以系統管理員身分開啟終端機再執行一次。",
            "Run it again from a terminal opened as administrator.",
        )
    if removing:
        cmd = f"sudo sed -i.bak '/{MARK[2:]}/d' {f}"
        return T(f"請自行移除該行:{cmd}", f"Remove the line yourself: {cmd}")
    cmd = f"echo '{HOSTS_LINE}' | sudo tee -a {f}"
    return T(
        f"請自行加入該行,再執行一次 nhicard agent install(它會認得這一行):{cmd}",
        f"Add the line yourself, then run nhicard agent install again (it recognises the "
        f"line): {cmd}",
    )


def _hosts_error(m: Machine, exc: OSError, *, removing: bool = False) -> InstallFailed:
    denied = isinstance(exc, PermissionError)
    return _fail(
        T("無法修改 hosts 檔 {f}", "cannot change the hosts file {f}").format(f=str(m.hosts_file)),
        detail=exc.strerror or str(exc),
        hint=hosts_privilege_hint(m, removing=removing) if denied else None,
        reason="needs-privileges" if denied else "store-write-failed",
    )


# -- the plan ------------------------------------------------------------------------------------


@dataclass
class Step:
    change: Change
    apply: Callable[[], object]
    undo: Callable[[], object]


def _trust_steps(m: Machine) -> list[Step]:
    steps: list[Step] = []
    ca = m.ca_file
    if m.system == "linux":
        dbs = m.nssdbs if m.nssdbs is not None else find_nssdbs(m.home)
        if dbs:
            _need_tool(m, "certutil", _NSS_TOOLS)
        for db in dbs:
            steps.append(
                Step(
                    Change(
                        "nssdb",
                        str(db),
                        T(
                            "在 NSS 資料庫 {t} 信任 CA", "trust the CA in the NSS database {t}"
                        ).format(t=str(db)),
                    ),
                    functools.partial(nss_add, m, db, ca),
                    functools.partial(nss_remove, m, db),
                )
            )
        if m.nssdbs is None and m.is_root and m.which("update-ca-certificates"):
            steps.append(
                Step(
                    Change(
                        "system-store",
                        str(m.system_ca_file),
                        T(
                            "在系統憑證庫信任 CA({t})", "trust the CA in the system store ({t})"
                        ).format(t=str(m.system_ca_file)),
                    ),
                    lambda: _system_add(m),
                    lambda: _system_remove(m),
                )
            )
    elif m.system == "darwin":
        keychain = login_keychain(m.home)
        steps.append(
            Step(
                Change(
                    "keychain",
                    str(keychain),
                    T(
                        "在登入鑰匙圈信任 CA({t})", "trust the CA in the login keychain ({t})"
                    ).format(t=str(keychain)),
                ),
                lambda: _checked(
                    m,
                    keychain_add_command(m.home, ca),
                    T("無法把 CA 加入鑰匙圈", "cannot add the CA to the keychain"),
                ),
                lambda: _keychain_remove(m),
            )
        )
    elif m.system == "win32":
        steps.append(
            Step(
                Change(
                    "windows-root",
                    "CurrentUser\\Root",
                    T(
                        "在目前使用者的「受信任的根憑證授權單位」信任 CA",
                        "trust the CA in the current user's Root store",
                    ),
                ),
                lambda: _checked(
                    m,
                    windows_add_command(ca),
                    T(
                        "無法把 CA 加入 Windows 憑證存放區",
                        "cannot add the CA to the Windows certificate store",
                    ),
                ),
                lambda: _windows_remove(m),
            )
        )
    return steps


def _system_add(m: Machine) -> None:
    try:
        replace_file(m.system_ca_file, m.ca_file.read_bytes(), mode=PUBLIC)
    except OSError as exc:
        raise _fail(
            T("無法寫入系統憑證庫", "cannot write the system certificate store"),
            detail=str(exc),
            hint=_PRIVILEGE_HINT,
            reason="needs-privileges",
        ) from None
    _checked(
        m,
        ["update-ca-certificates"],
        T("update-ca-certificates 失敗", "update-ca-certificates failed"),
    )


def _system_remove(m: Machine) -> None:
    if m.system_ca_file.exists():
        m.system_ca_file.unlink()
        _checked(
            m,
            ["update-ca-certificates", "--fresh"],
            T("update-ca-certificates 失敗", "update-ca-certificates failed"),
        )


def _keychain_remove(m: Machine) -> None:
    found = m.run(keychain_find_command(m.home))
    for sha1 in parse_keychain_hashes(found.stdout) if found.returncode == 0 else []:
        _checked(
            m,
            keychain_delete_command(m.home, sha1),
            T("無法從鑰匙圈移除 CA", "cannot remove the CA from the keychain"),
        )


def _windows_remove(m: Machine) -> None:
    sha1s = set(_recorded(m).get("windows_sha1", []))
    if m.ca_file.exists():
        sha1s.add(sha1_of(m.ca_file))
    for sha1 in sorted(sha1s):
        if m.run(windows_query_command(sha1)).returncode == 0:
            _checked(
                m,
                windows_delete_command(sha1),
                T(
                    "無法從 Windows 憑證存放區移除 CA",
                    "cannot remove the CA from the Windows certificate store",
                ),
            )


def _service_steps(m: Machine) -> list[Step]:
    cmd = m.serve_command or serve_command()
    if m.system == "linux":
        unit = systemd_unit_path(m.home)

        def add() -> None:
            _need_tool(
                m,
                "systemctl",
                T("需要 systemd(或用 --no-service)", "systemd is needed (or use --no-service)"),
            )
            replace_file(unit, systemd_unit(cmd).encode(), mode=PUBLIC)
            _checked(
                m, ["systemctl", "--user", "daemon-reload"], T("systemctl 失敗", "systemctl failed")
            )
            _checked(
                m,
                ["systemctl", "--user", "enable", "--now", SYSTEMD_UNIT],
                T("無法啟用登入服務", "cannot enable the login service"),
            )

        def remove() -> None:
            if unit.exists():
                m.run(["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT])
                unit.unlink()
                m.run(["systemctl", "--user", "daemon-reload"])

        return [
            Step(
                Change(
                    "service",
                    str(unit),
                    T(
                        "登入時啟動的 systemd 使用者服務 {t}",
                        "a systemd user service started at login: {t}",
                    ).format(t=str(unit)),
                ),
                add,
                remove,
            )
        ]
    if m.system == "darwin":
        plist = launchd_plist_path(m.home)

        def add_mac() -> None:
            replace_file(plist, launchd_plist(cmd), mode=PUBLIC)
            _checked(
                m,
                launchd_bootstrap_command(m.uid, plist),
                T("無法啟用 launchd 服務", "cannot start the launchd agent"),
            )

        def remove_mac() -> None:
            if plist.exists():
                m.run(launchd_bootout_command(m.uid))
                plist.unlink()

        return [
            Step(
                Change(
                    "service",
                    str(plist),
                    T(
                        "登入時啟動的 launchd agent {t}", "a launchd agent started at login: {t}"
                    ).format(t=str(plist)),
                ),
                add_mac,
                remove_mac,
            )
        ]

    def add_win() -> None:
        _checked(
            m,
            schtasks_create_command(cmd),
            T("無法建立排程工作", "cannot create the scheduled task"),
        )
        m.run(schtasks_run_command())

    def remove_win() -> None:
        if m.run(schtasks_query_command()).returncode == 0:
            m.run(schtasks_end_command())
            _checked(
                m,
                schtasks_delete_command(),
                T("無法刪除排程工作", "cannot delete the scheduled task"),
            )

    return [
        Step(
            Change(
                "service",
                SERVICE,
                T("登入時執行的排程工作 {t}", "a Task Scheduler task run at login: {t}").format(
                    t=SERVICE
                ),
            ),
            add_win,
            remove_win,
        )
    ]


def plan(m: Machine, *, service: bool = True) -> list[Step]:
    """Every change install makes, in order."""
    steps = [
        Step(
            Change(
                "certificate",
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
                "hosts",
                str(m.hosts_file),
                T(
                    "在 {t} 加入「{line}」(原檔備份為 {t}{b})",
                    "add '{line}' to {t} (the old file backed up as {t}{b})",
                ).format(t=str(m.hosts_file), line=HOSTS_LINE, b=BACKUP_SUFFIX),
            ),
            lambda: hosts_add(m),
            lambda: hosts_remove(m),
        ),
    ]
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


def install(m: Machine, *, service: bool = True, dry_run: bool = False) -> list[Change]:
    """Make every change of :func:`plan`; on failure undo the ones made and re-raise."""
    steps = plan(m, service=service)
    if dry_run:
        return [s.change for s in steps]
    done: list[Step] = []
    try:
        for step in steps:
            done.append(step)  # a step that fails half-way is undone too (undo is tolerant)
            step.apply()
    except BaseException:
        for step in reversed(done):
            with contextlib.suppress(Exception):
                step.undo()
        raise
    record = _recorded(m)
    changes = [c.to_dict() for c in (s.change for s in done)]
    previous = [c for c in record.get("changes", []) if isinstance(c, dict) and c not in changes]
    sha1s = set(record.get("windows_sha1", []))
    if m.system == "win32":
        sha1s.add(sha1_of(m.ca_file))
    doc = {
        "changes": [*previous, *changes],
        "ca_sha256": certs.fingerprint(certs.load_certificate(m.ca_file)),
        "windows_sha1": sorted(sha1s),
        "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    replace_file(_state_path(m), json.dumps(doc, indent=2).encode(), mode=PUBLIC)
    return [s.change for s in done]


def uninstall(m: Machine, *, dry_run: bool = False) -> list[Change]:
    """Undo what install recorded (and our items in the stores and files named on the
    command line): our CA nickname, our marked hosts line, our service. Nothing else."""
    recorded = _recorded(m).get("changes", [])
    targets: list[Change] = []
    seen: set[tuple[str, str]] = set()

    def want(kind: str, target: str, text: Text) -> None:
        if (kind, target) not in seen:
            seen.add((kind, target))
            targets.append(Change(kind, target, text))

    for c in recorded:
        if (
            isinstance(c, dict)
            and isinstance(c.get("kind"), str)
            and isinstance(c.get("target"), str)
        ):
            want(c["kind"], c["target"], removal_text(c["kind"], c["target"]))
    for db in m.nssdbs or []:
        want("nssdb", str(db), removal_text("nssdb", str(db)))
    want("hosts", str(m.hosts_file), removal_text("hosts", str(m.hosts_file)))
    targets = [t for t in targets if t.kind != "certificate"]
    if dry_run:
        return targets
    failures: list[InstallFailed] = []
    done: list[Change] = []
    for t in targets:  # each one even when another fails: remove as much as can be removed
        try:
            _undo(m, t)
            done.append(t)
        except InstallFailed as exc:
            failures.append(exc)
    if failures:
        raise failures[0]
    _state_path(m).unlink(missing_ok=True)
    return done


def removal_text(kind: str, target: str) -> Text:
    texts = {
        "nssdb": T(
            "從 NSS 資料庫 {t} 移除 nhicard 的 CA", "remove nhicard's CA from the NSS database {t}"
        ),
        "system-store": T("從系統憑證庫移除 {t}", "remove {t} from the system store"),
        "keychain": T(
            "從鑰匙圈 {t} 移除 nhicard 的 CA", "remove nhicard's CA from the keychain {t}"
        ),
        "windows-root": T("從 {t} 移除 nhicard 的 CA", "remove nhicard's CA from {t}"),
        "hosts": T("從 {t} 移除 nhicard 加入的那一行", "remove nhicard's line from {t}"),
        "service": T("移除登入服務 {t}", "remove the login service {t}"),
    }
    return texts.get(kind, T("移除 {t}", "remove {t}")).format(t=target)


def _undo(m: Machine, change: Change) -> None:
    if change.kind == "nssdb":
        if m.which("certutil") is not None and Path(change.target).is_dir():
            nss_remove(m, Path(change.target))
    elif change.kind == "system-store":
        _system_remove(dataclasses.replace(m, system_ca_file=Path(change.target)))
    elif change.kind == "keychain":
        _keychain_remove(m)
    elif change.kind == "windows-root":
        _windows_remove(m)
    elif change.kind == "hosts":
        hosts_remove(dataclasses.replace(m, hosts_file=Path(change.target)))
    elif change.kind == "service":
        for step in _service_steps(m):
            step.undo()


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
        and c.get("kind") in ("nssdb", "system-store", "keychain", "windows-root")
    }
    if m.system == "linux":
        for db in m.nssdbs if m.nssdbs is not None else find_nssdbs(m.home):
            stores.setdefault(str(db), "nssdb")
    for target, kind in stores.items():
        trusted, current = _trusted(m, kind, Path(target), ca_pem)
        trust.append({"store": kind, "target": target, "trusted": trusted, "current": current})
    try:
        text = m.hosts_file.read_text("utf-8", errors="replace")
    except OSError:
        text = ""
    addresses = m.resolve(COMPONENT_HOST) if m.hosts_is_system else hosts_addresses(text)[:1]
    hosts_doc = {
        "file": str(m.hosts_file),
        "ours": MARK in text,
        "entry": hosts_addresses(text)[:1] or None,
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
        "answers": answers,
    }


def _trusted(m: Machine, kind: str, target: Path, ca_pem: str | None) -> tuple[bool, bool]:
    """(our CA is in the store, and it is the current one)."""
    if kind == "nssdb":
        if m.which("certutil") is None:
            return False, False
        pems = [p.strip() for p in nss_has(m, target)]
        return bool(pems), ca_pem is not None and ca_pem in pems
    if kind == "system-store":
        try:
            data = target.read_text()
        except OSError:
            return False, False
        return True, ca_pem is not None and data.strip() == ca_pem
    if kind == "keychain":
        found = m.run(keychain_find_command(m.home))
        hashes_ = parse_keychain_hashes(found.stdout) if found.returncode == 0 else []
        current = m.ca_file.exists() and sha1_of(m.ca_file) in hashes_
        return bool(hashes_), current
    if kind == "windows-root" and m.ca_file.exists():
        sha1 = sha1_of(m.ca_file)
        found = m.run(windows_query_command(sha1))
        present = found.returncode == 0 and sha1 in parse_windows_hashes(found.stdout)
        return present, present
    return False, False


def _service_status(m: Machine) -> dict[str, Any]:
    if m.system == "linux":
        unit = systemd_unit_path(m.home)
        running = None
        if unit.exists() and m.which("systemctl"):
            running = (
                m.run(["systemctl", "--user", "is-active", SYSTEMD_UNIT]).stdout.strip() == "active"
            )
        return {
            "kind": "systemd-user",
            "file": str(unit),
            "installed": unit.exists(),
            "running": running,
        }
    if m.system == "darwin":
        plist = launchd_plist_path(m.home)
        out = m.run(launchd_print_command(m.uid))
        state = parse_launchd_state(out.stdout) if out.returncode == 0 else None
        return {
            "kind": "launchd",
            "file": str(plist),
            "installed": plist.exists(),
            "running": state == "running",
        }
    out = m.run(schtasks_query_command())
    state = parse_schtasks_status(out.stdout) if out.returncode == 0 else None
    return {
        "kind": "task-scheduler",
        "file": SERVICE,
        "installed": out.returncode == 0,
        "running": state is not None and state.lower() in ("running", "執行中"),
    }


def describe(changes: Iterable[Change]) -> list[Text]:
    return [c.describe for c in changes]
