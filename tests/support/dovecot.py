"""A real Dovecot IMAP server for tests, run unprivileged-style on loopback.

``DovecotServer(workdir, maildir=None)`` writes a Dovecot configuration (2.3's or 2.4's language) into ``workdir``
(``base_dir``, ``state_dir``, logs, indexes all inside it), listens on 127.0.0.1 with an
``imaps`` listener (implicit TLS) and an ``imap`` listener offering STARTTLS, each on a free
port, and serves one Maildir as the INBOX of any user name with one static password.
Mail processes run as the ``dovecot`` user, login processes as ``dovenull`` (Dovecot refuses
root for both), so the Maildir is chowned to ``dovecot`` and the directories above it get the
"search" bit for others (``o+x``, no read) so that user can reach it.

Serving an existing Maildir (e.g. the sandbox's ``DIR/Maildir``) works the same way: pass it
as ``maildir`` and the sandbox's certificate (``cert``/``key``, trusted through its CA).
Without ``cert`` a test CA and a server certificate for 127.0.0.1/localhost are generated
(``ca_pem`` is the bundle clients trust). ``tls=False`` starts a server without TLS at all
(no STARTTLS), for the refusal tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import pwd
import secrets
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

from tests.support.ports import free_port

DOVECOT = "/usr/sbin/dovecot"


def dovecot_unavailable() -> str | None:
    """None when a Dovecot test server can run here, else why not."""
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (apt-get install dovecot-imapd)"
    if os.geteuid() != 0:
        return "the Dovecot test server needs root (it switches to the dovecot user)"
    for user in ("dovecot", "dovenull"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"the system user {user!r} is missing (it comes with dovecot-core)"
    return None


def write_test_ca(
    directory: Path, names: tuple[str, ...] = ("localhost",)
) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 + ``names``.

    Returns ``(ca_pem, server_pem, server_key_pem)``."""
    from nhicard.net import certs

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    backdate = now - dt.timedelta(minutes=5)
    ca_key = certs.new_key()
    ca = certs.make_ca(
        ca_key,
        certs.name("nhicard test mail CA"),
        valid_from=backdate,
        valid_until=now + dt.timedelta(days=2),
    )
    key = certs.new_key()
    cert = certs.issue_server_cert(
        ca,
        ca_key,
        key,
        common_name=names[0],
        hosts=("127.0.0.1", *names),
        valid_from=backdate,
        valid_until=now + dt.timedelta(days=1),
    )
    ca_pem, cert_pem, key_pem = (
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server-key.pem",
    )
    ca_pem.write_bytes(certs.certificate_pem(ca))
    cert_pem.write_bytes(certs.certificate_pem(cert))
    key_pem.write_bytes(certs.private_key_pem(key))
    key_pem.chmod(0o600)
    return ca_pem, cert_pem, key_pem


def _grant_search(path: Path) -> None:
    """Add o+x to ``path`` and every directory above it, so the dovecot user can reach it."""
    for d in [path, *path.parents]:
        mode = d.stat().st_mode
        if not mode & stat.S_IXOTH:
            d.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


@functools.cache
def dovecot_version() -> tuple[int, int]:
    """Dovecot's (major, minor): Debian 12 has 2.3, Debian 13 has 2.4, whose configuration
    language is not compatible with 2.3's."""
    out = subprocess.run(
        [DOVECOT, "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    major, minor = out.stdout.split(".")[:2]
    return int(major), int(minor)


def dovecot_config(
    version: tuple[int, int],
    *,
    workdir: Path,
    maildir: Path,
    index: Path,
    home: Path,
    log: Path,
    password: str,
    uid: int,
    gid: int,
    imap_port: int,
    imaps_port: int,
    tls: tuple[Path | None, Path | None] | None,
) -> str:
    """The test server's configuration, in the language of Dovecot ``version``: the same
    server either way (listeners, one Maildir as INBOX, one static password)."""
    v24 = version >= (2, 4)
    if tls is None:
        ssl = "ssl = no"
    elif v24:
        ssl = f"ssl = yes\nssl_server_cert_file = {tls[0]}\nssl_server_key_file = {tls[1]}"
    else:
        ssl = f"ssl = yes\nssl_cert = <{tls[0]}\nssl_key = <{tls[1]}"
    if v24:
        head = "dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\n"
        storage = (
            "auth_allow_cleartext = no\n"
            f"mail_driver = maildir\nmail_path = {maildir}\nmailbox_list_layout = fs\n"
            f"mail_index_path = {index}\nmail_control_path = {index}"
        )
        auth = (
            f"passdb static {{\n  password = {password}\n}}\n"
            f"userdb static {{\n  fields {{\n    uid = {uid}\n    gid = {gid}\n"
            f"    home = {home}\n  }}\n}}"
        )
        address = "listen"
    else:
        head = ""
        storage = (
            "disable_plaintext_auth = yes\n"
            f"mail_location = maildir:{maildir}:LAYOUT=fs:INDEX={index}:CONTROL={index}"
        )
        auth = (
            f"passdb {{\n  driver = static\n  args = password={password}\n}}\n"
            f"userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={home}\n}}"
        )
        address = "address"
    return f"""{head}# nhicard test server (written by tests/support/dovecot.py)
protocols = imap
listen = 127.0.0.1
base_dir = {workdir / "run"}
state_dir = {workdir / "state"}
log_path = {log}
info_log_path = {log}
instance_name = nhicard-test-{imap_port}
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
auth_mechanisms = plain login
auth_failure_delay = 0
{storage}
mail_fsync = never
shutdown_clients = yes
{ssl}
ssl_min_protocol = TLSv1.2
{auth}
service imap-login {{
  inet_listener imap {{
    {address} = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    {address} = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


class DovecotServer:
    """One Dovecot instance serving ``maildir`` as INBOX on 127.0.0.1 (see module doc)."""

    def __init__(
        self,
        workdir: Path,
        maildir: Path | None = None,
        *,
        password: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        ca_pem: Path | None = None,
        tls: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.maildir = Path(maildir) if maildir else self.workdir / "Maildir"
        self.password = password or secrets.token_urlsafe(12)
        self.tls = tls
        if tls and cert is None:
            ca_pem, cert, key = write_test_ca(self.workdir / "tls")
        self.ca_pem = ca_pem
        self.cert = cert
        self.key = key
        self.imaps_port = free_port() if tls else 0
        self.imap_port = free_port()
        self.base_dir = self.workdir / "run"
        self.config = self.workdir / "dovecot.conf"
        self.log = self.workdir / "dovecot.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- addresses -------------------------------------------------------------------------
    def url(
        self,
        user: str = "nhi.tester%40example.test",
        *,
        starttls: bool = False,
        mailbox: str = "INBOX",
    ) -> str:
        """An IMAP URL of this server (``imaps://`` unless ``starttls``)."""
        if starttls or not self.tls:
            return f"imap://{user}@127.0.0.1:{self.imap_port}/{mailbox}"
        return f"imaps://{user}@127.0.0.1:{self.imaps_port}/{mailbox}"

    # -- mail ----------------------------------------------------------------------------
    def deliver(self, raw: bytes) -> Path:
        """Drop one message into the Maildir's ``new/`` as a delivery agent would."""
        name = f"{int(time.time())}.M{time.time_ns() % 10**9}P{os.getpid()}.test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        dw = pwd.getpwnam("dovecot")
        os.chown(tmp, dw.pw_uid, dw.pw_gid)
        final = self.maildir / "new" / name
        os.rename(tmp, final)
        return final

    def adopt_maildir(self) -> None:
        """Give the Maildir (and every file in it) to the ``dovecot`` user and make it
        reachable. Call again after another program (e.g. the sandbox's SMTP sink running
        as root with a strict umask) has delivered files Dovecot could not read."""
        dw = pwd.getpwnam("dovecot")
        _chown_tree(self.maildir, dw.pw_uid, dw.pw_gid)
        _grant_search(self.maildir)

    # -- life cycle ------------------------------------------------------------------------
    def _write_config(self) -> None:
        dw = pwd.getpwnam("dovecot")
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        index = self.workdir / "index"
        home = self.workdir / "home"
        for d in (index, home, self.base_dir):
            d.mkdir(parents=True, exist_ok=True)
        for d in (index, home):
            _chown_tree(d, dw.pw_uid, dw.pw_gid)
        self.adopt_maildir()
        _grant_search(index)
        _grant_search(home)
        _grant_search(self.base_dir)
        self.config.write_text(
            dovecot_config(
                dovecot_version(),
                workdir=self.workdir,
                maildir=self.maildir,
                index=index,
                home=home,
                log=self.log,
                password=self.password,
                uid=dw.pw_uid,
                gid=dw.pw_gid,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                tls=(self.cert, self.key) if self.tls else None,
            )
        )
        (self.workdir / "state").mkdir(exist_ok=True)

    def start(self, timeout: float = 15.0) -> DovecotServer:
        self._write_config()
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        ports = [p for p in (self.imap_port, self.imaps_port) if p]
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode("utf-8", "replace") if self.proc.stdout else ""
                raise RuntimeError(f"dovecot exited ({self.proc.returncode}): {out}\n{self._log()}")
            if all(self._answers(p) for p in ports):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not listen in {timeout}s\n{self._log()}")
            time.sleep(0.05)

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def login_logged(self) -> str:
        """What Dovecot logs before a successful login's details: "Login: " (2.3) or
        "Logged in: " (2.4)."""
        return "Logged in: " if dovecot_version() >= (2, 4) else "Login: "

    def log_text(self) -> str:
        """Everything Dovecot logged so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, text: str, timeout: float = 5.0) -> str:
        """The log once it contains ``text`` (Dovecot writes it asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_text()
            if text in log or time.monotonic() > deadline:
                return log
            time.sleep(0.02)

    def master_pid(self) -> int | None:
        try:
            return int((self.base_dir / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, *, wait: bool = True) -> None:
        """Stop this instance: SIGTERM to the pid in ``base_dir/master.pid`` (the process we
        started). Dovecot takes about a second to wind down its children; with
        ``wait=False`` this returns at once and :meth:`reap` collects the process later."""
        if self.proc is None:
            return
        pid = self.master_pid()
        if pid != self.proc.pid:
            pid = self.proc.pid  # the file is missing or stale: signal the child we started
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if wait:
            self.reap()

    def reap(self, timeout: float = 10.0) -> None:
        """Wait for a stopped instance to exit (killed after ``timeout``)."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
