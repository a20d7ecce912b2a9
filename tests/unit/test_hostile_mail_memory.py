"""Mails built to exhaust memory (issue 23): a Subject of tens of thousands of RFC 2047
encoded words (``email.policy.default`` took 1.1 GB for 220 KB of them) and a mail whose HTML
part is megabytes. Headers are capped before anything decodes them and a text part over the
cap makes the mail unreadable, with a bilingual message, in every source; the CLI shows it
under ``prlimit --as`` (a bound that fails loudly: MemoryError would be exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhicard.cli.main import exit_code_for
from nhicard.mail.errors import MailUnreadable
from nhicard.mail.message import (
    MAX_HEADER_CHARS,
    MAX_TEXT_PART_BYTES,
    header_text,
    parse_message,
)
from nhicard.mail.sources import MaildirSource
from tests.support.limited_run import prlimit_path, run_nhicard_limited
from tests.support.mail_samples import sample_mail

WORD = "=?utf-8?b?6KqN6K2J?="  # 認證


def subject_bomb(words: int = 30_000) -> bytes:
    """About 630 KB of encoded words: over 6 GB under email.policy.default."""
    subject = " ".join([WORD] * words)
    return (
        f"From: a@example.test\nSubject: {subject}\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nhi\n"
    ).encode()


def html_bomb(size: int = 12 * 1024 * 1024) -> bytes:
    anchors = b'<a href="https://example.test/x">x</a>\n' * (size // 40)
    return b"From: a@example.test\nSubject: s\nContent-Type: text/html\n\n" + anchors


def test_a_long_subject_is_decoded_from_its_first_kilobytes_only() -> None:
    subject = header_text(parse_message(subject_bomb()), "Subject")
    assert subject.startswith("認證認證")
    assert len(subject) <= MAX_HEADER_CHARS // len(WORD) * 2 + 2


def test_headers_are_decoded_as_before() -> None:
    msg = parse_message(bytes(sample_mail()))
    assert header_text(msg, "Subject") == "健保卡網路服務註冊認證通知信"
    assert "衛生福利部中央健康保險署" in header_text(msg, "From")
    assert header_text(msg, "X-Absent") == ""


def test_a_huge_text_part_makes_the_mail_unreadable() -> None:
    with pytest.raises(MailUnreadable) as info:
        parse_message(html_bomb(), "big.eml")
    assert exit_code_for(info.value) == 8
    kb = MAX_TEXT_PART_BYTES // 1024
    assert info.value.message.en == (
        f"cannot read the mail big.eml: its text is larger than {kb} KB, not read "
        "(the verification mail is a few KB)"
    )
    assert f"內文超過 {kb} KB" in info.value.message.zh


def test_maildir_skips_the_huge_part_and_reads_the_bomb_subject(tmp_path: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1700000000.subject.host").write_bytes(subject_bomb())
    (tmp_path / "new" / "1700000001.html.host").write_bytes(html_bomb())
    source = MaildirSource(tmp_path)
    assert [Path(i.ref).name for i in source.messages()] == ["1700000000.subject.host"]
    assert any("1700000001.html.host" in t.en and "KB" in t.en for t in source.skipped)


@pytest.mark.skipif(prlimit_path() is None, reason="needs prlimit (util-linux)")
def test_cli_reads_hostile_mails_within_400_mb(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1700000000.subject.host").write_bytes(subject_bomb())
    (maildir / "new" / "1700000001.html.host").write_bytes(html_bomb())
    eml = tmp_path / "bomb.eml"
    eml.write_bytes(subject_bomb())
    for source in (["--maildir", str(maildir)], ["--eml", str(eml)]):
        done = run_nhicard_limited(
            "--lang", "en", "-v", "verify-email", *source, "--since", "2000-01-01",
            address_space=400 * 1024 * 1024,
        )  # fmt: skip
        assert done.returncode == 8, done.stderr
        assert "no verification mail found" in done.stderr
        assert "MemoryError" not in done.stderr and "internal error" not in done.stderr
        if source[0] == "--maildir":
            assert "1700000001.html.host: its text is larger than 1024 KB" in done.stderr
