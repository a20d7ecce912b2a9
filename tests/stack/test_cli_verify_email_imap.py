"""``nhicard verify-email --imap`` against a real Dovecot serving the sandbox's Maildir with the
sandbox's certificate, and ``--wait`` progress on a terminal (a pty as stderr)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nhicard.sandbox.tls import ensure_tls
from tests.support.cli import nhicard_executable
from tests.support.flow_kit import apply_pending, inject, is_verified, nhicard_sandbox
from tests.support.mail_samples import sample_mail
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401

pytestmark = [pytest.mark.pcsc, pytest.mark.imap]


@pytest.fixture
def imap(sandbox: SandboxServer, dovecot_factory: Any) -> Any:  # noqa: F811
    """Dovecot serving the sandbox Maildir (holding one verification mail) over imaps."""
    apply_pending(sandbox)
    tls = ensure_tls(sandbox.dir)
    server = dovecot_factory(
        sandbox.maildir, cert=tls.server_cert, key=tls.server_key, ca_pem=tls.ca_cert
    )
    server.adopt_maildir()
    server.ca_bundle = str(tls.ca_cert)
    return server


def verify_imap(
    sb: SandboxServer, server: Any, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return nhicard_sandbox(
        sb, "verify-email", "--json", "--imap", server.url(), "--imap-ca-bundle",
        server.ca_bundle, *args, env=env,
    )  # fmt: skip


def test_password_from_the_environment(sandbox: SandboxServer, imap: Any) -> None:  # noqa: F811
    done = verify_imap(sandbox, imap, env={"NHICARD_IMAP_PASSWORD": imap.password})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "verified"}
    assert is_verified(sandbox)
    assert imap.password not in done.stdout + done.stderr


def test_starttls_with_a_password_file(
    sandbox: SandboxServer,  # noqa: F811
    imap: Any,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(imap.password + "\n")
    done = nhicard_sandbox(
        sandbox, "verify-email", "--json", "--imap", imap.url(starttls=True),
        "--imap-ca-bundle", imap.ca_bundle, "--imap-password-file", str(secret),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert is_verified(sandbox)


def test_wrong_imap_password_is_exit_9(sandbox: SandboxServer, imap: Any) -> None:  # noqa: F811
    done = verify_imap(sandbox, imap, env={"NHICARD_IMAP_PASSWORD": "not-the-password"})
    assert done.returncode == 9, done.stderr
    assert "not-the-password" not in done.stderr
    assert not is_verified(sandbox)
    assert done.stderr.startswith("Error: the IMAP server 127.0.0.1:"), done.stderr
    assert "refused the login of mailbox user" in done.stderr
    zh = nhicard_sandbox(
        sandbox, "verify-email", "--imap", imap.url(), "--imap-ca-bundle", imap.ca_bundle,
        env={"NHICARD_IMAP_PASSWORD": "not-the-password"}, lang="zh-TW",
    )  # fmt: skip
    assert zh.returncode == 9, zh.stderr
    assert zh.stderr.startswith("錯誤: IMAP 伺服器 127.0.0.1:"), zh.stderr
    assert "拒絕了信箱帳號" in zh.stderr and "not-the-password" not in zh.stderr
    assert zh.stderr.splitlines()[-1].startswith("建議: "), zh.stderr


def test_untrusted_imap_certificate_is_exit_7(sandbox: SandboxServer, imap: Any) -> None:  # noqa: F811
    done = nhicard_sandbox(
        sandbox, "verify-email", "--json", "--imap", imap.url(),
        env={"NHICARD_IMAP_PASSWORD": imap.password},
    )  # fmt: skip
    assert done.returncode == 7, done.stderr
    assert not is_verified(sandbox)


def test_no_imap_password_source_in_a_pipe(sandbox: SandboxServer, imap: Any) -> None:  # noqa: F811
    done = verify_imap(sandbox, imap)
    assert done.returncode == 2
    assert "NHICARD_IMAP_PASSWORD" in done.stderr


def test_wait_shows_progress_on_a_terminal(sandbox: SandboxServer) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    for sub in ("new", "cur", "tmp"):
        (sandbox.maildir / sub).mkdir(parents=True, exist_ok=True)
    timer = threading.Timer(3.0, lambda: inject(sandbox, sample_mail(link, date=datetime.now(UTC))))
    main, side = pty.openpty()
    env = dict(os.environ) | sandbox.env() | {"LANG": "C.UTF-8"}
    env.pop("NHICARD_LANG", None)
    timer.start()
    try:
        proc = subprocess.run(
            [nhicard_executable(), "--profile", "sandbox", "--agent", "direct", "--lang", "en",
             "verify-email", "--json", "--maildir", str(sandbox.maildir), "--wait", "30",
             "--since", "1m"],
            stdout=subprocess.PIPE, stderr=side, env=env, text=True, timeout=60,
        )  # fmt: skip
    finally:
        timer.cancel()
        os.close(side)
    shown = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    text = shown.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    assert json.loads(proc.stdout) == {"status": "verified"}
    assert "Waiting up to 30 s for the verification mail" in text
    assert "No verification mail yet" in text
    assert "Reading the NHI card" in text
