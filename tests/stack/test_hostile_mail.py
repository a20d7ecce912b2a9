"""Hostile mails and links for ``verify-email`` (issue 14), as a subprocess against the running
sandbox: deeply nested MIME, a FIFO in the Maildir, an oversized ``.eml``, huge links and
links with control characters. None may reach a traceback (exit 1) or hang."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.mail.errors import MailUnreadable
from nhicard.mail.message import MAX_MAIL_BYTES, MAX_MIME_DEPTH, parse_message
from nhicard.mail.sources import EmlSource, MaildirSource
from tests.support.flow_kit import apply_pending, is_verified, nhicard_sandbox
from tests.support.mail_samples import sample_mail
from tests.support.sandbox_fixture import SandboxServer, sandbox, sandbox_server  # noqa: F401


def nested_mail(levels: int, link: str = "https://127.0.0.1:1/cloudic/system/x") -> bytes:
    """A mail whose text part sits inside ``levels`` nested multiparts."""
    out = ["From: noreply@nhi.sandbox\nSubject: =?utf-8?b?6KqN6K2J?=\nMIME-Version: 1.0\n"]
    for i in range(levels):
        out.append(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n')
    out.append(f"Content-Type: text/plain\n\n{link}\n")
    out.extend(f"--b{i}--\n" for i in reversed(range(levels)))
    return "".join(out).encode()


def verify(sb: SandboxServer, *args: str) -> subprocess.CompletedProcess[str]:
    return nhicard_sandbox(sb, "verify-email", "--json", *args, timeout=60)


# --- unit level ------------------------------------------------------------------------


def test_parse_refuses_deep_nesting_without_recursion_error() -> None:
    with pytest.raises(MailUnreadable) as caught:
        parse_message(nested_mail(3000), "deep.eml")
    assert exit_code_for(caught.value) == 8
    assert "deep.eml" in caught.value.message.en
    assert parse_message(nested_mail(MAX_MIME_DEPTH - 1)).is_multipart()


def test_eml_source_caps_the_size_read(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    with big.open("wb") as fh:  # sparse: cheap to make, but over the cap when read
        fh.truncate(MAX_MAIL_BYTES + 10)
    with pytest.raises(MailUnreadable, match="MB"):
        list(EmlSource(big).messages())


def test_maildir_skips_fifo_and_hostile_mail(tmp_path: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    os.mkfifo(tmp_path / "new" / "1700000000.fifo.host")
    (tmp_path / "new" / "1700000001.deep.host").write_bytes(nested_mail(500))
    (tmp_path / "new" / "1700000002.good.host").write_bytes(bytes(sample_mail()))
    source = MaildirSource(tmp_path)
    items = list(source.messages())
    assert [Path(i.ref).name for i in items] == ["1700000002.good.host"]
    reasons = [t.en for t in source.skipped]
    assert any("not a regular file" in r for r in reasons)
    assert any("nested" in r for r in reasons)


# --- through the CLI and the sandbox --------------------------------------------------


def test_hostile_mail_in_maildir_is_skipped_and_the_real_one_verified(
    sandbox: SandboxServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    apply_pending(sandbox)
    (good,) = sandbox.mails()
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1700000000.good.host").write_bytes(good.read_bytes())
    (maildir / "new" / "1700000001.deep.host").write_bytes(nested_mail(3000))
    os.mkfifo(maildir / "new" / "1700000002.fifo.host")
    done = nhicard_sandbox(
        sandbox, "-v", "verify-email", "--json", "--maildir", str(maildir), timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "verified"}
    assert is_verified(sandbox)
    assert "skipped: cannot read the mail" in done.stderr
    assert "1700000001.deep.host" in done.stderr and "nested more than" in done.stderr
    assert "1700000002.fifo.host" in done.stderr and "not a regular file" in done.stderr
    assert "Traceback" not in done.stderr


def test_lone_nested_eml_exits_8(sandbox: SandboxServer, tmp_path: Path) -> None:  # noqa: F811
    eml = tmp_path / "deep.eml"
    eml.write_bytes(nested_mail(3000))
    done = verify(sandbox, "--eml", str(eml))
    assert done.returncode == 8, done.stderr
    assert "nested more than" in done.stderr and "Traceback" not in done.stderr


def test_oversized_eml_exits_8(sandbox: SandboxServer, tmp_path: Path) -> None:  # noqa: F811
    eml = tmp_path / "big.eml"
    with eml.open("wb") as fh:
        fh.truncate(MAX_MAIL_BYTES + 1)
    done = verify(sandbox, "--eml", str(eml))
    assert done.returncode == 8, done.stderr
    assert "larger than 16 MB" in done.stderr


def test_mail_with_a_70_kb_link_exits_8(sandbox: SandboxServer, tmp_path: Path) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    eml = tmp_path / "long.eml"
    eml.write_bytes(bytes(sample_mail(link + "&pad=" + "a" * 70_000)))
    done = verify(sandbox, "--eml", str(eml))
    assert done.returncode == 8, done.stderr
    assert "the verification link is not valid" in done.stderr
    assert "InvalidURL" not in done.stderr


@pytest.mark.parametrize("bad", ["\x01", "\x7f", " ", "\u3000"])
def test_link_with_control_characters_exits_8(sandbox: SandboxServer, bad: str) -> None:  # noqa: F811
    link = apply_pending(sandbox, send=False)
    done = verify(sandbox, "--link", link + bad + "x")
    assert done.returncode == 8, done.stderr
    assert "not allowed" in done.stderr and "Traceback" not in done.stderr
    assert not is_verified(sandbox)


@pytest.mark.imap
def test_imap_skips_oversized_and_nested_mails_and_verifies(
    sandbox: SandboxServer,  # noqa: F811
    dovecot_factory: object,
) -> None:
    from nhicard.sandbox.tls import ensure_tls
    from tests.support.flow_kit import inject

    apply_pending(sandbox)
    (good,) = sandbox.mails()
    head = good.read_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    inject(sandbox, head + b"\n\n" + b"x" * (MAX_MAIL_BYTES + 100))  # same subject, 16 MB+
    inject(sandbox, nested_mail(3000))
    tls = ensure_tls(sandbox.dir)
    server = dovecot_factory(  # type: ignore[operator]
        sandbox.maildir, cert=tls.server_cert, key=tls.server_key, ca_pem=tls.ca_cert
    )
    server.adopt_maildir()
    done = nhicard_sandbox(
        sandbox, "-v", "verify-email", "--json", "--imap", server.url(), "--imap-ca-bundle",
        str(tls.ca_cert), env={"NHICARD_IMAP_PASSWORD": server.password}, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "verified"}
    assert "larger than 16 MB" in done.stderr and "nested more than" in done.stderr


def test_mbox_skips_an_oversized_mail_without_reading_it(tmp_path: Path) -> None:
    from nhicard.mail.sources import MboxSource

    box = tmp_path / "box.mbox"
    good = bytes(sample_mail())
    with box.open("wb") as fh:
        fh.write(b"From a@b Mon Jan  1 00:00:00 2024\n" + good + b"\n")
        fh.write(b"From a@b Mon Jan  1 00:00:01 2024\nSubject: big\n\n")
        fh.write(b"x" * (MAX_MAIL_BYTES + 10) + b"\n")
    source = MboxSource(box)
    items = list(source.messages())
    assert len(items) == 1
    assert any("larger than 16 MB" in t.en and "#2" in t.en for t in source.skipped)
