"""Bad input and a bad environment end with a clear message and the contract's exit code,
never "internal error" (issue 23, item 5): deeply nested TOML and long ``extends`` chains,
an unparsable profile URL, a 5,000-digit number, a password that is not UTF-8, environment
variables naming the wrong kind of thing, a host no resolver could take, an empty account,
a mail file that cannot be read. Each runs the real CLI; none needs a service."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhicard.core.files import MAX_NESTING, nesting_depth, parse_toml
from nhicard.sites.loader import MAX_EXTENDS
from tests.support.cli import run_nhicard

REGISTER = (
    "register", "--dry-run", "--household-id", "F1234567", "--city", "臺北市",
    "--district", "大安區", "--village", "龍門里", "--email", "ming@example.com",
    "--phone", "02-23456789", "--mobile", "0912345678",
)  # fmt: skip
PASSWORD = {"NHICARD_PASSWORD": "Abcd1234"}


def assert_clear(done: object, code: int, *texts: str) -> None:
    stderr = done.stderr  # type: ignore[attr-defined]
    assert done.returncode == code, stderr  # type: ignore[attr-defined]
    for text in texts:
        assert text in stderr
    for bug in ("internal error", "內部錯誤", "Traceback"):
        assert bug not in stderr


def test_toml_nested_past_the_limit_is_invalid_toml() -> None:
    assert nesting_depth({"a": [[{"b": 1}]]}) == 4
    with pytest.raises(Exception, match="nested more than"):
        parse_toml("x = " + "[" * 3000 + "]" * 3000)  # past Python's recursion limit
    with pytest.raises(Exception, match="nested more than"):
        parse_toml("x = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1))
    assert parse_toml("x = " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1))


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
def test_deeply_nested_profile_and_sandbox_data(tmp_path: Path, lang: str) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 2000 + "]" * 2000)
    done = run_nhicard(
        "--lang", lang, "--profile", str(deep), *REGISTER, "--neighborhood", "5", env=PASSWORD
    )  # fmt: skip
    assert_clear(done, 2, "TOML", "nested more than 64 levels deep")
    done = run_nhicard("--lang", lang, "sandbox", "up", "--dir", str(tmp_path / "sb"),
                       "--data", str(deep))  # fmt: skip
    assert_clear(done, 2, "nested more than 64 levels deep")
    assert "Starting" not in done.stderr and "正在啟動" not in done.stderr  # refused first


def test_a_long_extends_chain_is_refused(tmp_path: Path) -> None:
    count = 1500
    for i in range(count):
        parent = f"p{i + 1}.toml" if i < count - 1 else "real"
        (tmp_path / f"p{i}.toml").write_text(f'extends = "{parent}"\n')
    done = run_nhicard("--lang", "en", "--profile", str(tmp_path / "p0.toml"), *REGISTER,
                       "--neighborhood", "5", env=PASSWORD)  # fmt: skip
    assert_clear(done, 2, f"extends chains more than {MAX_EXTENDS} profiles")


@pytest.mark.parametrize("url", ["https://[::1", "https://[::1]:99999/", "https://h:x/"])
def test_a_profile_url_that_cannot_be_parsed(tmp_path: Path, url: str) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text(f'extends = "real"\n[nhi]\nbase_url = "{url}"\n')
    done = run_nhicard("--lang", "en", "--profile", str(profile), *REGISTER,
                       "--neighborhood", "5", env=PASSWORD)  # fmt: skip
    assert_clear(done, 2, "nhi.base_url must be an absolute https:// URL")


def test_a_neighborhood_of_5000_digits() -> None:
    done = run_nhicard("--lang", "en", *REGISTER, "--neighborhood", "9" * 5000)
    assert_clear(done, 2, "must be a whole number from 1 to 999")
    assert len(done.stderr) < 1000  # the value is quoted cut short


@pytest.mark.parametrize("how", ["env", "stdin", "file"])
def test_a_password_that_is_not_utf8(tmp_path: Path, how: str) -> None:
    junk = b"\xff\xfeab12".decode("utf-8", "surrogateescape")  # as Python gets such bytes
    env = {"NHICARD_PASSWORD": junk if how == "env" else ""}
    args = list(REGISTER) + ["--neighborhood", "5"]
    if how == "file":
        (tmp_path / "pw").write_bytes(b"\xff\xfeab12\n")
        args += ["--password-file", str(tmp_path / "pw")]
    if how == "stdin":
        args += ["--password-stdin"]
    done = (
        _stdin_bytes(args, b"\xff\xfeab12\n")
        if how == "stdin"
        else run_nhicard("--lang", "en", *args, env=env)
    )
    assert_clear(done, 2, "is not UTF-8 text")


def _stdin_bytes(args: list[str], data: bytes) -> object:
    import subprocess

    from tests.support.cli import nhicard_executable, user_environment

    done = subprocess.run(
        [nhicard_executable(), "--lang", "en", *args],
        env=user_environment({"NHICARD_PASSWORD": ""}),
        input=data,
        capture_output=True,
        timeout=60,
    )
    done.stderr = done.stderr.decode("utf-8", "replace")  # type: ignore[assignment]
    return done


@pytest.mark.parametrize("variable", ["NHICARD_STATE_DIR", "NHICARD_SANDBOX_DIR"])
def test_a_state_dir_that_is_not_a_folder(variable: str) -> None:
    done = run_nhicard("--lang", "en", "sandbox", "status", env={variable: "/dev/null"})
    assert_clear(done, 2, f"the environment variable {variable} names /dev/null, which is not")
    done = run_nhicard("--lang", "zh-TW", "agent", "status", env={variable: "/dev/null"})
    if variable == "NHICARD_STATE_DIR":
        assert_clear(done, 2, f"環境變數 {variable} 指向的 /dev/null 不是資料夾")


@pytest.mark.parametrize("value", ["junk", "99999999", "0", "\udcff1"])
def test_a_vpcd_port_variable_that_is_no_port(value: str) -> None:
    done = run_nhicard("--lang", "en", "sim", "card", "--wait", "1",
                       env={"NHICARD_VPCD_PORT": value})  # fmt: skip
    assert_clear(done, 2, "NHICARD_VPCD_PORT must be a port number (1 to 65535)")
    assert "\\udc" not in done.stderr  # a byte that was not UTF-8 is shown as \xff


def test_a_vpcd_slot_past_the_last_port() -> None:
    done = run_nhicard("--lang", "en", "sim", "card", "--slot", "70000", "--wait", "1")
    assert_clear(done, 2, "past 65535")


@pytest.mark.parametrize("host", ["\udcff", "a..b", ""])
def test_a_vpcd_host_no_resolver_could_take(host: str) -> None:
    done = run_nhicard("--lang", "en", "sim", "card", "--host", host, "--wait", "30")
    assert_clear(done, 2, "--host: ")  # at once, not after the 30 s wait
    if host == "\udcff":
        assert "\\xff cannot be used" in done.stderr


@pytest.mark.parametrize("account", ["", "   ", "a\x01b", "x" * 65])
def test_an_empty_or_junk_account(account: str) -> None:
    done = run_nhicard("--lang", "en", "ecpa", "login", "--account", account, env=PASSWORD)
    assert_clear(done, 2, "--account: the account")


def test_a_mail_file_that_is_a_folder(tmp_path: Path) -> None:
    done = run_nhicard("--lang", "en", "verify-email", "--eml", str(tmp_path))
    assert_clear(done, 2, f"cannot read the mail file “{tmp_path}”: Is a directory")
    done = run_nhicard("--lang", "zh-TW", "verify-email", "--mbox", str(tmp_path))
    assert_clear(done, 2, f"無法讀取mbox 檔「{tmp_path}」")
