"""The root command: versions, help, language, error → exit code mapping, completion."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from nhicard.cli import main as main_mod
from nhicard.core.errors import CardAbsent, Category, NetworkError, SiteChanged
from nhicard.core.i18n import T
from tests.support.cli import ROOT, run_nhicard


def test_version_names_all_parts() -> None:
    r = run_nhicard("--version")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("nhicard ")
    assert any(line.startswith("pyscard ") for line in lines)
    assert any(line.startswith("PC/SC ") for line in lines)


def test_help_lists_commands_and_global_options() -> None:
    r = run_nhicard("--help")
    assert r.returncode == 0
    for opt in (
        "--reader",
        "--agent",
        "--agent-url",
        "--profile",
        "--lang",
        "--verbose",
        "--quiet",
    ):
        assert opt in r.stdout
    assert "completion" in r.stdout


def test_unknown_command_is_usage_error() -> None:
    r = run_nhicard("no-such-command")
    assert r.returncode == 2
    assert "沒有 'no-such-command' 這個指令" in r.stderr  # Click's message, in zh-TW by default
    r = run_nhicard("--lang", "en", "no-such-command")
    assert r.returncode == 2
    assert "No such command" in r.stderr


@click.command()
@click.argument("kind")
def _boom(kind: str) -> None:
    if kind == "card":
        raise CardAbsent(
            T("未置入健保卡", "no card in the reader"), hint=T("請插卡", "insert the card")
        )
    if kind == "net":
        raise NetworkError(T("連線逾時", "timed out"))
    if kind == "page":
        raise SiteChanged(T("頁面已變更", "the page changed"), saved_page="/tmp/x.html")
    if kind == "abort":
        raise click.Abort()
    raise RuntimeError("a bug")


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(main_mod.COMMANDS, "boom", "tests.unit.test_cli_root:_boom")


@pytest.mark.parametrize(
    ("kind", "code", "zh", "en"),
    [
        ("card", 5, "未置入健保卡", "no card in the reader"),
        ("net", 7, "連線逾時", "timed out"),
        ("page", 11, "頁面已變更", "the page changed"),
        ("abort", 130, "已中斷", "Interrupted"),
        ("bug", 1, "內部錯誤", "internal error"),
    ],
)
def test_errors_map_to_exit_codes_in_both_languages(
    boom: None, capsys: pytest.CaptureFixture[str], kind: str, code: int, zh: str, en: str
) -> None:
    for lang, text in (("zh-TW", zh), ("en", en)):
        with pytest.raises(SystemExit) as exc:
            main_mod.main(["--lang", lang, "boom", kind])
        assert exc.value.code == code
        err = capsys.readouterr().err
        assert text in err
        if kind == "card":
            assert ("請插卡" if lang == "zh-TW" else "insert the card") in err
        if kind == "page":
            assert "/tmp/x.html" in err


# cli-contract.md's exit codes, one per category of the core's errors
CONTRACT_EXIT_CODES = {
    "other": 1, "usage": 2, "pcsc-unavailable": 3, "no-reader": 4, "no-card": 5,
    "card-error": 6, "network": 7, "site-rejected": 8, "auth-refused": 9,
    "checks-failed": 10, "site-changed": 11, "interrupted": 130,
}  # fmt: skip


def test_one_exit_code_per_category() -> None:
    assert {c.value: code for c, code in main_mod.EXIT_CODES.items()} == CONTRACT_EXIT_CODES
    assert set(main_mod.EXIT_CODES) == set(Category)


def test_bug_traceback_only_with_verbose(boom: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main_mod.main(["--lang", "en", "boom", "bug"])
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main_mod.main(["--lang", "en", "-v", "boom", "bug"])
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("shell", "name"), [("bash", "nhicard.bash"), ("zsh", "_nhicard"), ("fish", "nhicard.fish")]
)
def test_shipped_completions_match_the_code(shell: str, name: str) -> None:
    r = run_nhicard("completion", shell)
    assert r.returncode == 0
    assert r.stdout == (ROOT / "completions" / name).read_text()


def test_lang_from_environment() -> None:
    r = run_nhicard("no-such-command", env={"NHICARD_LANG": "en"})
    assert r.returncode == 2


def test_help_is_fast_to_import() -> None:
    """--help must not import pyscard, httpx or the sandbox (lazy layers)."""
    code = (
        "import sys\n"
        "from nhicard.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('smartcard', 'httpx', 'starlette', 'bs4') if m in sys.modules]\n"
        "print('BAD:' + ','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "BAD:"
