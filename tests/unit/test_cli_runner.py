"""Click's ``CliRunner`` sees what a user sees: the contract's exit codes and messages, the
language of ``--lang``, and global options after the subcommand (issues 21 and 24)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from nhicard.cli import main as main_mod
from nhicard.core.errors import AlreadyReported, CardAbsent, Category, NetworkError
from nhicard.core.i18n import T

# cli-contract.md's exit codes, one per category of the core's errors
CONTRACT_EXIT_CODES = {
    "other": 1, "usage": 2, "pcsc-unavailable": 3, "no-reader": 4, "no-card": 5,
    "card-error": 6, "network": 7, "site-rejected": 8, "auth-refused": 9,
    "checks-failed": 10, "site-changed": 11, "interrupted": 130,
}  # fmt: skip


@click.command()
@click.argument("what")
@click.option("-q", "--quiet-here", is_flag=True, help="An option named like a global one.")
def _probe(what: str, quiet_here: bool) -> None:
    """A command for these tests: fails as told, or prints the root options it was given."""
    from nhicard.cli.context import get_app

    if what in CONTRACT_EXIT_CODES:
        raise AlreadyReported(Category(what), T("已顯示", "already shown"))
    if what == "card":
        raise CardAbsent(T("未置入健保卡", "no card in the reader"), hint=T("請插卡", "insert it"))
    if what == "net":
        raise NetworkError(T("連線逾時", "timed out"))
    if what == "bug":
        raise RuntimeError("a bug")
    app = get_app()
    click.echo(f"reader={app.reader} lang={app.lang} verbose={app.verbose} quiet={app.quiet}")
    click.echo(f"profile={app.profile} quiet_here={quiet_here}")


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(main_mod.COMMANDS, "probe", "tests.unit.test_cli_runner:_probe")


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main_mod.cli, list(args))


@pytest.mark.parametrize("category", list(Category))
def test_an_already_reported_error_exits_with_its_category_and_says_nothing(
    probe: None, category: Category
) -> None:
    result = invoke("probe", category.value)
    assert result.exit_code == CONTRACT_EXIT_CODES[category.value]
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("what", "code", "zh", "en"),
    [
        ("card", 5, "錯誤: 未置入健保卡", "Error: no card in the reader"),
        ("net", 7, "連線逾時", "timed out"),
        ("bug", 1, "內部錯誤", "internal error"),
    ],
)
def test_errors_reach_the_runner_as_a_user_sees_them(
    probe: None, what: str, code: int, zh: str, en: str
) -> None:
    for lang, text in (("zh-TW", zh), ("en", en)):
        result = invoke("--lang", lang, "probe", what)
        assert result.exit_code == code
        assert text in result.stderr
        assert result.stdout == ""


def test_clicks_own_errors_in_both_languages() -> None:
    result = invoke("--lang", "zh-TW", "card", "read", "--nope")
    assert result.exit_code == 2
    assert "錯誤:沒有 '--nope' 這個選項。" in result.stderr
    assert "用法: nhicard card read [OPTIONS]" in result.stderr
    result = invoke("--lang", "en", "card", "read", "--nope")
    assert result.exit_code == 2
    assert "Error: No such option '--nope'." in result.stderr
    assert "Usage: nhicard card read [OPTIONS]" in result.stderr


def test_missing_option_and_bad_value_in_zh_tw() -> None:
    result = invoke("--lang", "zh-TW", "register", "--city", "臺北市")
    assert result.exit_code == 2
    assert "缺少選項" in result.stderr and "Missing option" not in result.stderr
    result = invoke("--lang", "zh-TW", "card", "read", "--wait", "0")
    assert result.exit_code == 2
    assert "0.0 不在範圍內:大於 0 秒,最多一年。" in result.stderr


def test_language_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NHICARD_LANG", "en")
    assert "No such command" in invoke("nope").stderr
    monkeypatch.setenv("NHICARD_LANG", "zh-TW")
    assert "沒有 'nope' 這個指令" in invoke("nope").stderr


def test_global_options_after_the_subcommand(probe: None) -> None:
    result = invoke("probe", "show", "-r", "0", "--lang", "en", "-vv", "--profile=sandbox")
    assert result.exit_code == 0, result.output
    assert "reader=0 lang=en verbose=2" in result.stdout
    assert "profile=sandbox" in result.stdout
    # before and after mix; -r0 glued
    result = invoke("--lang", "en", "probe", "-r0", "show")
    assert "reader=0 lang=en" in result.stdout


def test_the_subcommands_own_option_of_the_same_name_wins(probe: None) -> None:
    result = invoke("probe", "show", "-q")
    assert result.exit_code == 0, result.output
    assert "quiet=False" in result.stdout and "quiet_here=True" in result.stdout
    result = invoke("-q", "probe", "show")
    assert "quiet=True" in result.stdout and "quiet_here=False" in result.stdout


def test_after_double_dash_nothing_is_moved(probe: None) -> None:
    result = invoke("probe", "--", "-r")
    assert result.exit_code == 0  # "-r" is the argument WHAT
    assert "reader=None" in result.stdout


def test_card_read_minus_r_after_the_subcommand_is_no_usage_error() -> None:
    """The issue's example: ``nhicard card read -r 0`` (here without PC/SC: exit 3 or 4,
    never 2 "No such option")."""
    result = invoke("--lang", "en", "card", "read", "-r", "0", "--help")
    assert result.exit_code == 0
    assert "Usage: nhicard card read" in result.stdout
    result = invoke("--lang", "en", "card", "read", "--lang", "zh-TW", "--help")
    assert "用法: nhicard card read" in result.stdout
