"""``nhicard verify-email`` as a subprocess against the running sandbox (HTTPS, SAM, SMTP sink
Maildir) with the virtual card on the private pcscd's vpcd: each mail source, charsets,
newest-wins, waiting, foreign links, expired and used links, wrong card, no card."""

from __future__ import annotations

import json
import mailbox
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.flow_kit import (
    CARD_A,
    CARD_B,
    apply_pending,
    inject,
    is_verified,
    nhicard_sandbox,
)
from tests.support.mail_samples import sample_mail
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401
from tests.support.stack import VirtualCardSlots

VERIFIED = {"status": "verified"}


def verify(
    sb: SandboxServer, *args: str, lang: str = "en", reader: str | None = None
) -> subprocess.CompletedProcess[str]:
    return nhicard_sandbox(sb, "verify-email", "--json", *args, lang=lang, reader=reader)


def test_maildir_newest_mail_wins(sandbox: SandboxServer) -> None:  # noqa: F811
    first = apply_pending(sandbox)  # voided by the second application
    second = apply_pending(sandbox)
    assert first != second and len(sandbox.mails()) == 2
    done = verify(sandbox, "--maildir", str(sandbox.maildir))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == VERIFIED
    assert is_verified(sandbox)


def test_eml_file(sandbox: SandboxServer, tmp_path: Path) -> None:  # noqa: F811
    apply_pending(sandbox)
    (mail,) = sandbox.mails()
    eml = tmp_path / "mail.eml"
    eml.write_bytes(mail.read_bytes())
    done = verify(sandbox, "--eml", str(eml))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == VERIFIED


def test_mbox_exported_from_the_maildir(sandbox: SandboxServer, tmp_path: Path) -> None:  # noqa: F811
    apply_pending(sandbox, issued=datetime.now(UTC) - timedelta(minutes=5))
    apply_pending(sandbox)
    path = tmp_path / "export.mbox"
    box = mailbox.mbox(str(path), create=True)
    for message in mailbox.Maildir(str(sandbox.maildir), factory=None, create=False):
        box.add(message)
    box.close()
    done = verify(sandbox, "--mbox", str(path))
    assert done.returncode == 0, done.stderr
    assert is_verified(sandbox)


def test_link_option(sandbox: SandboxServer) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    done = verify(sandbox, "--link", link)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == VERIFIED
    again = verify(sandbox, "--link", link)
    assert again.returncode == 8
    assert "already been used" in again.stderr
    assert "ecpa login" in again.stderr


@pytest.mark.parametrize(
    ("charset", "cte"), [("big5", "base64"), ("utf-8", "quoted-printable"), ("cp950", "8bit")]
)
def test_injected_mail_charsets(sandbox: SandboxServer, charset: str, cte: str) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    mail = sample_mail(link, date=datetime.now(UTC), charset=charset, cte=cte, name="王小明")
    inject(sandbox, mail)
    done = verify(sandbox, "--maildir", str(sandbox.maildir), "--since", "5m")
    assert done.returncode == 0, done.stderr
    assert is_verified(sandbox)


def test_html_only_mail(sandbox: SandboxServer) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    inject(sandbox, sample_mail(link, date=datetime.now(UTC), parts=("html",), charset="big5"))
    done = verify(sandbox, "--maildir", str(sandbox.maildir), "--since", "5m")
    assert done.returncode == 0, done.stderr
    assert is_verified(sandbox)


def test_since_skips_older_mails(sandbox: SandboxServer) -> None:  # noqa: F811
    apply_pending(sandbox, issued=datetime.now(UTC) - timedelta(hours=2))
    done = verify(sandbox, "--maildir", str(sandbox.maildir), "--since", "1h")
    assert done.returncode == 8, done.stderr
    assert "no verification mail found" in done.stderr
    assert not is_verified(sandbox)


def test_several_mails_the_newest_after_since_wins(sandbox: SandboxServer) -> None:  # noqa: F811
    now = datetime.now(UTC)
    apply_pending(sandbox, issued=now - timedelta(hours=3))  # before --since, voided
    apply_pending(sandbox, issued=now - timedelta(minutes=30))  # after --since, voided
    apply_pending(sandbox, issued=now - timedelta(minutes=1))  # the newest: the live link
    assert len(sandbox.mails()) == 3
    done = verify(sandbox, "--maildir", str(sandbox.maildir), "--since", "1h")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == VERIFIED
    assert is_verified(sandbox)


def test_no_mail_after_since_in_chinese(sandbox: SandboxServer) -> None:  # noqa: F811
    apply_pending(sandbox, issued=datetime.now(UTC) - timedelta(hours=2))
    done = verify(sandbox, "--maildir", str(sandbox.maildir), "--since", "1h", lang="zh-TW")
    assert (done.returncode, done.stdout) == (8, ""), done.stderr
    assert done.stderr.startswith("錯誤: 找不到認證通知信:"), done.stderr
    assert "看過 1 封信,其中 1 封早於" in done.stderr, done.stderr
    assert "建議: " in done.stderr and "--since 可放寬時間範圍" in done.stderr, done.stderr
    assert not is_verified(sandbox)


def test_wait_until_the_mail_arrives(sandbox: SandboxServer) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    timer = threading.Timer(1.5, lambda: inject(sandbox, sample_mail(link, date=datetime.now(UTC))))
    timer.start()
    try:
        done = verify(sandbox, "--maildir", str(sandbox.maildir), "--wait", "30", "--since", "1m")
    finally:
        timer.cancel()
    # the mail did not exist when the command started: finding it means it waited for it
    assert done.returncode == 0, done.stderr
    assert "Waiting" not in done.stderr  # no progress in a pipe


def test_wait_gives_up(sandbox: SandboxServer) -> None:  # noqa: F811
    sandbox.maildir.mkdir(parents=True, exist_ok=True)
    for sub in ("new", "cur", "tmp"):
        (sandbox.maildir / sub).mkdir(exist_ok=True)
    started = time.monotonic()
    done = verify(sandbox, "--maildir", str(sandbox.maildir), "--wait", "2.5")
    assert done.returncode == 8
    assert time.monotonic() - started >= 2.5
    assert "no verification mail found" in done.stderr


def test_foreign_host_in_the_mail_is_refused(sandbox: SandboxServer) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    evil = link.replace("https://127.0.0.1:", "https://evil.example:")
    inject(sandbox, sample_mail(evil, date=datetime.now(UTC)))
    done = verify(sandbox, "--maildir", str(sandbox.maildir))
    assert done.returncode == 8
    assert "DANGER" in done.stderr and "evil.example" in done.stderr
    assert not is_verified(sandbox)


def test_other_port_on_the_same_host_is_refused(sandbox: SandboxServer) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    ecpa_port = str(sandbox.endpoints["ecpa_url"]).rsplit(":", 1)[1].rstrip("/")
    nhi_port = str(sandbox.endpoints["nhi_url"]).rsplit(":", 1)[1].rstrip("/")
    other = link.replace(f":{nhi_port}/", f":{ecpa_port}/")
    done = verify(sandbox, "--link", other)
    assert done.returncode == 8
    assert "does not lead to" in done.stderr
    assert "token" not in done.stderr  # the secret is not echoed


def test_expired_link(sandbox: SandboxServer) -> None:  # noqa: F811
    apply_pending(sandbox, issued=datetime.now(UTC) - timedelta(hours=25))
    done = verify(sandbox, "--maildir", str(sandbox.maildir))
    assert done.returncode == 8, done.stderr
    assert "This verification link has expired" in done.stderr
    assert "nhicard register" in done.stderr
    zh = verify(sandbox, "--maildir", str(sandbox.maildir), lang="zh-TW")
    assert "認證連結已過期" in zh.stderr


def test_wrong_card_on_the_reader(
    sandbox: SandboxServer,  # noqa: F811
    virtual_cards: VirtualCardSlots,  # noqa: F811
) -> None:
    apply_pending(sandbox, CARD_A)
    virtual_cards.insert(CARD_B, slot=1)
    done = verify(sandbox, "--maildir", str(sandbox.maildir), reader=virtual_cards.reader_name(1))
    assert done.returncode == 9, done.stderr
    assert "not the NHI card the registration was made with" in done.stderr
    assert "Insert the card the registration was made with" in done.stderr
    assert not is_verified(sandbox)


def test_no_card_in_the_reader(
    sandbox: SandboxServer,  # noqa: F811
    virtual_cards: VirtualCardSlots,  # noqa: F811
) -> None:
    apply_pending(sandbox)
    done = verify(sandbox, "--maildir", str(sandbox.maildir), reader=virtual_cards.reader_name(1))
    assert done.returncode == 5, done.stderr
    assert not is_verified(sandbox)


@pytest.mark.parametrize(
    "args",
    [(), ("--eml", "a.eml", "--mbox", "b.mbox"), ("--link", "https://x/", "--wait", "3")],
)
def test_source_usage_errors(sandbox: SandboxServer, args: tuple[str, ...]) -> None:  # noqa: F811
    done = verify(sandbox, *args)
    assert done.returncode == 2
    assert "Error:" in done.stderr


def test_missing_maildir_is_a_usage_error(sandbox: SandboxServer, tmp_path: Path) -> None:  # noqa: F811
    done = verify(sandbox, "--maildir", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert "not found" in done.stderr
