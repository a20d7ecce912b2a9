"""``nhicard register``: local input checks and password sources (before any request), and
the sandbox site's own refusals and the address matching, through the sandbox server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import sandbox_fixture
from tests.support.cli import run_nhicard
from tests.support.register_kit import (
    ARGS,
    CARD,
    PASSWORD,
    global_options,
    journal_files,
    register,
    with_arg,
)
from tests.support.sandbox_fixture import SandboxServer

sandbox_server = sandbox_fixture.sandbox_server
sandbox = sandbox_fixture.sandbox


def offline(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
):  # type: ignore[no-untyped-def]  # noqa: E501
    """Run against a sandbox that is NOT running: any request would fail with exit 7."""
    full = {"NHICARD_SANDBOX_DIR": str(tmp_path / "none"), "NHICARD_STATE_DIR": str(tmp_path)}
    full.update(env or {})
    lead, rest = global_options(args)
    return run_nhicard("--profile", "sandbox", "--agent", "direct", *lead, "register", *rest,
                       env=full, input=input)  # fmt: skip


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--household-id", "F12345", "household ID number must be 8 letters or digits"),
        ("--household-id", "F12345678", "household ID number must be 8 letters or digits"),
        ("--email", "ming@example", "e-mail address 'ming@example' is not valid"),
        ("--email", "ming example@x.tw", "is not valid"),
        ("--phone", "12", "phone number '12' is not valid"),
        ("--phone", "02-2345678x", "is not valid"),
        ("--mobile", "0812345678", "mobile number '0812345678' is not valid"),
        ("--mobile", "091234567", "is not valid"),
        ("--neighborhood", "0", "neighborhood (鄰) must be a whole number from 1 to 999"),
        ("--neighborhood", "五", "must be a whole number"),
        ("--city", " ", "city/county must not be empty"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    proc = offline(tmp_path, *with_arg(option, value), "--yes", "--lang", "en",
                   env={"NHICARD_PASSWORD": PASSWORD})  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("password", ["abcde", "abcdefghijklm"])
def test_password_length_is_checked_locally(tmp_path: Path, password: str) -> None:
    proc = offline(tmp_path, *ARGS, "--yes", "--lang", "en", env={"NHICARD_PASSWORD": password})
    assert proc.returncode == 2
    assert f"must have 6 to 12 characters (it has {len(password)})" in proc.stderr
    assert password not in proc.stderr


def test_password_sources_and_their_errors(tmp_path: Path) -> None:
    none = offline(tmp_path, *ARGS, "--yes", "--lang", "en", input="")
    assert none.returncode == 2
    assert "stdin is not a terminal" in none.stderr and "NHICARD_PASSWORD" in none.stderr
    pw_file = tmp_path / "pw"
    pw_file.write_text("abc\nsecond line\n")
    short = offline(tmp_path, *ARGS, "--yes", "--lang", "en", "--password-file", str(pw_file))
    assert short.returncode == 2 and "(it has 3)" in short.stderr  # first line only
    both = offline(tmp_path, *ARGS, "--yes", "--password-file", str(pw_file), "--password-stdin")
    assert both.returncode == 2 and "--password-stdin" in both.stderr
    # a good password from stdin gets past the checks: now the missing sandbox is exit 7
    piped = offline(tmp_path, *ARGS, "--yes", "--password-stdin", input=PASSWORD + "\n")
    assert piped.returncode == 7, piped.stderr
    assert "sandbox up" in piped.stderr


def test_no_tty_needs_yes(tmp_path: Path) -> None:
    proc = offline(tmp_path, *ARGS, "--lang", "en", env={"NHICARD_PASSWORD": PASSWORD})
    assert proc.returncode == 2
    assert "needs a confirmation" in proc.stderr and "--yes" in proc.stderr


# -- the site's own messages (exit 8) --------------------------------------------------------


@pytest.mark.pcsc
def test_wrong_household_is_the_sites_message(sandbox: SandboxServer, tmp_path: Path) -> None:
    proc = register(sandbox, tmp_path, "--yes", args=with_arg("--household-id", "H7654321"))
    assert proc.returncode == 8, proc.stderr
    assert "戶號或戶籍地址與戶籍資料不符,請確認後重新輸入。" in proc.stderr
    assert sandbox.application(CARD) is None


@pytest.mark.pcsc
def test_wrong_neighborhood_is_the_sites_message(sandbox: SandboxServer, tmp_path: Path) -> None:
    proc = register(sandbox, tmp_path, "--yes", "--lang", "en",
                    args=with_arg("--neighborhood", "6"))  # fmt: skip
    assert proc.returncode == 8, proc.stderr
    assert "does not match the household registration records" in proc.stderr


@pytest.mark.pcsc
@pytest.mark.parametrize(
    ("option", "value", "password", "message"),
    [
        ("--email", "ming!x@example.com", PASSWORD, "電子郵件格式錯誤。"),
        (
            "--email",
            "ming@example.com",
            "abc def1",
            "註冊密碼僅限英文字母、數字及符號,不可含空白。",
        ),
        ("--email", "ming@example.com", "密碼密碼密碼", "註冊密碼僅限英文字母、數字及符號"),
    ],
)
def test_contact_page_refusals_are_the_sites_messages(
    sandbox: SandboxServer, tmp_path: Path, option: str, value: str, password: str, message: str
) -> None:
    proc = register(sandbox, tmp_path, "--yes", args=with_arg(option, value), password=password)
    assert proc.returncode == 8, proc.stderr
    assert message in proc.stderr
    assert password not in proc.stderr
    assert sandbox.application(CARD) is None and sandbox.mails() == []
    (journal,) = journal_files(tmp_path)
    assert json.loads(journal.read_text("utf-8"))["steps"] == {}  # 'submitting' undone


@pytest.mark.pcsc
def test_tai_and_suffixes_match_the_official_options(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    args = with_arg("--city", "臺北")  # ARGS also has 大安 without 區
    proc = register(sandbox, tmp_path, "--dry-run", args=args)
    assert proc.returncode == 0, proc.stderr
    assert "臺北市" in proc.stderr and "大安區" in proc.stderr and "龍門里" in proc.stderr


@pytest.mark.pcsc
def test_ambiguous_village_lists_the_candidates(sandbox: SandboxServer, tmp_path: Path) -> None:
    proc = register(sandbox, tmp_path, "--yes", "--lang", "en", args=with_arg("--village", "龍門"))
    assert proc.returncode == 8, proc.stderr
    assert "'龍門' matches several options for village: 龍門里, 龍門村" in proc.stderr


@pytest.mark.pcsc
def test_unknown_village_lists_the_closest(sandbox: SandboxServer, tmp_path: Path) -> None:
    proc = register(sandbox, tmp_path, "--yes", "--lang", "en",
                    args=with_arg("--village", "龍山里"))  # fmt: skip
    assert proc.returncode == 8, proc.stderr
    assert "no village matches '龍山里'; closest: 龍門里, 龍門村, 龍安里" in proc.stderr
