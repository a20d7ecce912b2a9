"""``nhicard completion powershell``: a Register-ArgumentCompleter script over Click's
completion protocol (Click has no PowerShell class). No pwsh on Debian: the protocol side
(the environment-variable conversation) is run here as the script runs it, and the script's
text is checked."""

from __future__ import annotations

import pytest
from click.shell_completion import CompletionItem

from nhicard.cli.main import cli
from nhicard.cli.powershell_completion import PowerShellComplete
from tests.support.cli import ROOT, run_nhicard


def ask(line: str, word: str) -> list[list[str]]:
    """What nhicard answers the script for the command line ``line`` (up to the cursor) and
    the word being completed: one [type, value, help] per candidate."""
    env = {
        "_NHICARD_COMPLETE": "powershell_complete",
        "COMP_WORDS": line,
        "COMP_CWORD": word,
        "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm",  # reader completion: no readers
    }
    r = run_nhicard(env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return [entry.split("\t") for entry in r.stdout.splitlines()]


def test_the_shipped_script_is_what_the_code_prints() -> None:
    r = run_nhicard("completion", "powershell")
    assert r.returncode == 0
    assert r.stdout == (ROOT / "completions" / "nhicard.ps1").read_text()


def test_the_script_speaks_clicks_protocol_and_restores_the_environment() -> None:
    text = run_nhicard("completion", "powershell").stdout
    assert "Register-ArgumentCompleter -Native -CommandName 'nhicard', 'nhicard.exe'" in text
    assert "$env:_NHICARD_COMPLETE = 'powershell_complete'" in text
    assert "$env:COMP_WORDS = $line.Substring(0, $upTo)" in text
    assert "$env:COMP_CWORD = $wordToComplete" in text
    assert "[System.Management.Automation.CompletionResult]::new(" in text
    finally_block = text.split("} finally {", 1)[1].split("}", 1)[0]
    assert "$env:COMP_WORDS, $env:COMP_CWORD, $env:_NHICARD_COMPLETE" in finally_block
    assert text.count("{") == text.count("}")  # balanced braces: the block parses


def test_subcommands() -> None:
    got = ask("nhicard ca", "ca")
    assert [(t, v) for t, v, _ in got] == [("plain", "card")]
    got = ask("nhicard ", "")
    values = {v for _, v, _ in got}
    assert {"card", "reader", "verify-email", "completion"} <= values


def test_options_and_their_help() -> None:
    got = ask("nhicard card verify --re", "--re")
    assert [(t, v) for t, v, _ in got] == [("plain", "--report"), ("plain", "--recheck")]
    assert all(help_ for _, _, help_ in got)


def test_choices_and_paths() -> None:
    assert [v for _, v, _ in ask("nhicard --agent ", "")] == ["auto", "direct", "nhiicc"]
    assert [v for _, v, _ in ask("nhicard completion p", "p")] == ["powershell"]
    # a file: left to PowerShell's own path completion (the script skips non-plain types)
    assert [t for t, _, _ in ask("nhicard card verify --report ", "")] == ["file"]


def test_quoted_words_on_the_line() -> None:
    got = ask("nhicard --profile 'my profile.toml' car", "car")
    assert [v for _, v, _ in got] == ["card"]


@pytest.mark.parametrize(
    ("line", "word", "expected"),
    [
        ("nhicard card re", "re", (["card"], "re")),
        ("nhicard card ", "", (["card"], "")),
        ("nhicard", "", ([], "")),
        ("nhicard -r 'Virtual PCD' card ", "", (["-r", "Virtual PCD", "card"], "")),
    ],
)
def test_completion_args(
    monkeypatch: pytest.MonkeyPatch, line: str, word: str, expected: tuple[list[str], str]
) -> None:
    monkeypatch.setenv("COMP_WORDS", line)
    monkeypatch.setenv("COMP_CWORD", word)
    complete = PowerShellComplete(cli, {}, "nhicard", "_NHICARD_COMPLETE")
    assert complete.get_completion_args() == expected


def test_one_line_per_candidate() -> None:
    complete = PowerShellComplete(cli, {}, "nhicard", "_NHICARD_COMPLETE")
    item = CompletionItem("--x", help="two\tparts\nand a line")
    assert complete.format_completion(item) == "plain\t--x\ttwo parts and a line"
