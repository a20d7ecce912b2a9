"""The verification mail: MIME structure, RFC 2047 subject, real SMTP into the Maildir sink."""

from __future__ import annotations

import mailbox
import smtplib
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.core.errors import NetworkError
from nhicard.sandbox.mailer import SUBJECT, build_verification_mail, send_mail
from nhicard.sandbox.smtp_sink import SmtpSink

NOW = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
LINK = "https://127.0.0.1:8440/cloudic/system/Verify.aspx?token=abc-DEF_123"


def mail(to: str = "wang@example.com") -> bytes:
    msg = build_verification_mail(
        to=to, name="王小明", link=LINK, sender="cloudic-noreply@nhi.sandbox.invalid",
        now=NOW, expires_at=NOW + timedelta(hours=24),
    )  # fmt: skip
    return msg.as_bytes(policy=policy.SMTP)


def test_mime_structure_and_encoded_subject() -> None:
    raw = mail()
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # the header is pure ASCII
    assert "Subject: =?utf-8?b?" in head
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Subject"] == SUBJECT == "健保卡網路服務註冊認證通知信"
    assert msg["From"].addresses[0].addr_spec == "cloudic-noreply@nhi.sandbox.invalid"
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert LINK in text.split()
    assert f'<a href="{LINK}">健保卡註冊認證作業</a>' in html
    assert "2025/03/02 10:00" in text  # expiry shown in Asia/Taipei


def test_sent_over_smtp_into_the_maildir(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    sink = SmtpSink(maildir)
    with sink.serve_in_thread():
        msg = build_verification_mail(
            to="wang@example.com", name="王小明", link=LINK,
            sender="cloudic-noreply@nhi.sandbox.invalid", now=NOW,
            expires_at=NOW + timedelta(hours=24),
        )  # fmt: skip
        send_mail(msg, "127.0.0.1", sink.port)
        assert sink.stats()["delivered"] == 1
    assert sorted(p.name for p in maildir.iterdir()) == ["cur", "new", "tmp"]
    files = list((maildir / "new").iterdir())
    assert len(files) == 1
    box = mailbox.Maildir(str(maildir), factory=None, create=False)
    (stored,) = [box.get_bytes(key) for key in box.iterkeys()]
    parsed = BytesParser(policy=policy.default).parsebytes(stored)
    assert parsed["Return-Path"] == "<cloudic-noreply@nhi.sandbox.invalid>"
    assert parsed["Delivered-To"] == "wang@example.com"
    assert parsed["Subject"] == SUBJECT
    assert LINK in parsed.get_body(("plain",)).get_content()


def test_sink_accepts_utf8_and_several_recipients(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path / "Maildir")
    with sink.serve_in_thread(), smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
        smtp.sendmail("a@x.tw", ["b@y.tw", "c@z.tw"], mail("b@y.tw"))
    box = mailbox.Maildir(str(tmp_path / "Maildir"), factory=None, create=False)
    (stored,) = [box.get_bytes(key) for key in box.iterkeys()]
    assert stored.count(b"Delivered-To:") == 2


def test_unreachable_smtp_is_a_network_error(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path / "Maildir")
    with sink.serve_in_thread():
        port = sink.port
    msg = build_verification_mail(
        to="a@b.tw", name="x", link=LINK, sender="s@t.tw", now=NOW, expires_at=NOW
    )
    with pytest.raises(NetworkError) as err:
        send_mail(msg, "127.0.0.1", port, timeout=2)
    assert exit_code_for(err.value) == 7 and f"127.0.0.1:{port}" in (err.value.detail or "")
