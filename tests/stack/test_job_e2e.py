"""The whole job of the manual with the installed CLI, as a user runs it against the sandbox:
``register`` → ``verify-email`` (from each mail source: .eml, an mbox exported from the
Maildir, the Maildir, IMAP through a real Dovecot serving the sandbox Maildir, the link
itself) → ``ecpa login`` (eCPA home, and single sign-on into the e-learning site).

Real parts: the sandbox server process (HTTPS sites, SMTP sink, SAM), the virtual card on the
private pcscd's vpcd slot 0 read by the direct agent, Dovecot for IMAP."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nhicard.sandbox.tls import ensure_tls
from tests.support.flow_kit import PASSWORD, is_verified, login_row, nhicard_sandbox
from tests.support.register_kit import ARGS
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401

pytestmark = pytest.mark.pcsc


def run(sb: SandboxServer, *args: str, env: dict[str, str] | None = None) -> Any:
    proc = nhicard_sandbox(sb, *args, "--json", env={"NHICARD_PASSWORD": PASSWORD} | (env or {}))
    assert proc.returncode == 0, (args, proc.stderr)
    assert PASSWORD not in proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def register(sb: SandboxServer, state: Path) -> None:
    assert run(sb, "register", *ARGS, "--yes", env={"NHICARD_STATE_DIR": str(state)}) == {
        "status": "submitted",
        "email": "ming@example.com",
        "resumed": False,
    }
    assert len(sb.mails()) == 1 and not is_verified(sb)


def mail_link(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    found = re.search(r"https://\S+token=\S+", str(message.get_body(("plain",)).get_content()))  # type: ignore[union-attr]
    assert found, path
    return found.group(0)


def source_args(kind: str, sb: SandboxServer, tmp_path: Path, dovecot_factory: Any) -> list[str]:
    """The verify-email arguments reading the site's mail through source ``kind``."""
    (mail,) = sb.mails()
    if kind == "eml":
        target = tmp_path / "mail.eml"
        target.write_bytes(mail.read_bytes())
        return ["--eml", str(target)]
    if kind == "mbox":
        target = tmp_path / "export.mbox"
        box = mailbox.mbox(str(target), create=True)
        for message in mailbox.Maildir(str(sb.maildir), factory=None, create=False):
            box.add(message)
        box.close()
        return ["--mbox", str(target)]
    if kind == "maildir":
        return ["--maildir", str(sb.maildir), "--since", "10m"]
    if kind == "imap":
        tls = ensure_tls(sb.dir)
        server = dovecot_factory(
            sb.maildir, cert=tls.server_cert, key=tls.server_key, ca_pem=tls.ca_cert
        )
        server.adopt_maildir()
        secret = tmp_path / "imap-password"
        secret.write_text(server.password + "\n")
        return [
            "--imap", server.url(), "--imap-password-file", str(secret),
            "--imap-ca-bundle", str(tls.ca_cert), "--since", "10m",
        ]  # fmt: skip
    assert kind == "link"
    return ["--link", mail_link(mail)]


@pytest.mark.parametrize("kind", ["eml", "mbox", "maildir", "imap", "link"])
def test_register_verify_login(
    kind: str,
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    register(sandbox, tmp_path / "state")
    factory = request.getfixturevalue("dovecot_factory") if kind == "imap" else None
    assert run(sandbox, "verify-email", *source_args(kind, sandbox, tmp_path, factory)) == {
        "status": "verified"
    }
    assert is_verified(sandbox)
    ecpa = str(sandbox.endpoints["ecpa_url"]).rstrip("/")
    assert run(sandbox, "ecpa", "login") == {
        "status": "logged-in",
        "name": "王小明",
        "url": f"{ecpa}/webform/home.aspx",
    }
    assert login_row(sandbox) == (0, 0, None, 0)


def test_job_ends_in_elearning_and_the_cookie_jar_signs_curl_in(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    register(sandbox, tmp_path / "state")
    assert run(sandbox, "verify-email", "--maildir", str(sandbox.maildir)) == {"status": "verified"}
    elearn = str(sandbox.endpoints["elearn_url"]).rstrip("/")
    jar = tmp_path / "jar.txt"
    landed = run(
        sandbox, "ecpa", "login", "--return-url", f"{elearn}/sso_verify.php", "--cookie-jar",
        str(jar),
    )  # fmt: skip
    assert landed == {"status": "logged-in", "name": "王小明", "url": f"{elearn}/mooc/index.php"}
    page = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", str(sandbox.endpoints["ca_bundle"]),
         "--cookie", str(jar), f"{elearn}/"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert page.returncode == 0, page.stderr
    assert 'data-state="logged-in"' in page.stdout and "王小明" in page.stdout
