"""``verify-email --wait``: one updating progress line on a terminal, cleared at the end;
nothing in a pipe; a failure that says what was searched and why nothing matched.

A Maildir with no verification mail needs no site: the command ends (exit 8) before any
network use, so these run the real CLI without services."""

from __future__ import annotations

import io
import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest

from nhicard.cli import output
from nhicard.cli.output import ProgressLine
from tests.support.cli import run_nhicard
from tests.support.terminal import run_on_terminal

WAITING = "No verification mail yet"


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    other = EmailMessage()
    other["Subject"] = "Lunch?"
    other["From"] = "friend@example.com"
    other["Date"] = "Mon, 30 Nov 2026 09:00:00 +0800"
    other.set_content("see you")
    box.add(other)
    return tmp_path / "Maildir"


def test_a_terminal_sees_one_updating_line_cleared_at_the_end(maildir: Path) -> None:
    r = run_on_terminal(
        "--lang", "en", "verify-email", "--json", "--maildir", str(maildir), "--wait", "4.5",
        stdout_to_pipe=True,
    )  # fmt: skip
    assert r.returncode == 8, r.text
    lines = r.text.split("\r\n")  # the terminal's line ends (its own CR LF)
    assert lines[0] == "Waiting up to 4.5 s for the verification mail…"
    progress = [line for line in lines if WAITING in line]
    assert len(progress) == 1, lines  # every update on the same line
    updates = progress[0].split("\r")
    assert sum(WAITING in u for u in updates) >= 1
    # the last thing on that line before the error is its clearing: blanks, then CR
    before_error, error = progress[0].rsplit("\r", 1)
    assert error.startswith("Error: no verification mail found in maildir:")
    assert before_error.split("\r")[-1].strip() == ""
    assert r.stdout == b""


def test_a_pipe_gets_no_progress_at_all(maildir: Path) -> None:
    r = run_nhicard("--lang", "en", "verify-email", "--maildir", str(maildir), "--wait", "2.5")
    assert r.returncode == 8
    assert WAITING not in r.stderr and "Waiting up to" not in r.stderr
    assert "\r" not in r.stderr
    assert len(r.stderr.splitlines()) == 2  # the error and its hint


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            "Error: no verification mail found in maildir:{dir}: searched for a mail with a "
            "subject containing “認證” and a sender containing “nhi.gov.tw”, dated at or after "
            "2026-11-01T00:00:00+08:00, carrying a verification link; looked at 1 mail(s): "
            "1 with another subject or sender",
        ),
        (
            "zh-TW",
            "錯誤: 找不到認證通知信:在 maildir:{dir} 找主旨含「認證」、寄件者含「nhi.gov.tw」、"
            "日期在 2026-11-01T00:00:00+08:00 之後且帶有認證連結的信;看過 1 封信,其中 "
            "1 封主旨或寄件者不符",
        ),
    ],
)
def test_the_failure_says_what_was_searched_and_why_nothing_matched(
    maildir: Path, lang: str, expected: str
) -> None:
    r = run_nhicard(
        "--lang", lang, "verify-email", "--maildir", str(maildir), "--since",
        "2026-11-01T00:00:00+08:00",
    )  # fmt: skip
    assert r.returncode == 8
    assert r.stderr.splitlines()[0] == expected.format(dir=maildir)
    assert " older than -" not in r.stderr and "早於 -" not in r.stderr


def test_an_empty_mailbox_is_said_plainly(tmp_path: Path) -> None:
    mailbox.Maildir(tmp_path / "empty", create=True)
    r = run_nhicard("--lang", "en", "verify-email", "--maildir", str(tmp_path / "empty"))
    assert r.returncode == 8
    assert r.stderr.splitlines()[0].endswith("; there was no mail there to look at")


def test_progress_line_overwrites_and_clears(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(output.sys, "stderr", err)
    with ProgressLine(enabled=True) as line:
        line.show("等待中 10")
        line.show("ok 9")
    # the shorter text wipes the rest of the longer one; the end blanks what is left
    assert err.getvalue() == "\r等待中 10\rok 9     \r    \r"


def test_progress_line_off_writes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(output.sys, "stderr", err)
    with ProgressLine(enabled=False) as line:
        line.show("x")
    assert err.getvalue() == ""
