"""Every command's help, walked with Click's CliRunner in both languages: the same sections
in the same order, an example each, nothing left in English in zh-TW's section titles, and the
environment variables listed where README can be checked against them (issue 24)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from nhicard.cli import main as main_mod
from nhicard.cli.help_sections import ENVIRONMENT, SECTIONS
from tests.support.cli import ROOT
from tests.support.help_catalog import walk_commands

COMMANDS = list(walk_commands())
TITLES = {
    "en": ("Usage:", "Options:", "Commands:", "Output fields:", "Exit codes:", "Examples:"),
    "zh-TW": ("用法:", "選項:", "指令:", "輸出欄位:", "結束代碼:", "範例:"),
}
ENGLISH_TITLES = re.compile(
    r"^(Usage|Options|Commands|Output fields|Exit codes|Examples|Environment|"
    r"Positional arguments):",
    re.MULTILINE,
)


def help_of(path: tuple[str, ...], lang: str) -> str:
    result = CliRunner().invoke(main_mod.cli, ["--lang", lang, *path, "--help"])
    assert result.exit_code == 0, result.output
    return result.stdout


def prints_data(path: tuple[str, ...]) -> bool:
    return "--format" in help_of(path, "en")


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert {"card read", "card verify", "reader list", "sandbox up", "agent serve"} <= names
    assert names == set(SECTIONS), "each command has its sections in help_sections.SECTIONS"


@pytest.mark.parametrize("lang", ["en", "zh-TW"])
@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "nhicard")
def test_sections_in_order(path: tuple[str, ...], lang: str) -> None:
    text = help_of(path, lang)
    usage, options, commands, fields, codes, examples = TITLES[lang]
    order = [usage, options]
    if " ".join(path) in ("", "card", "reader", "env", "ecpa", "sandbox", "sim", "agent"):
        order.append(commands)
    if prints_data(path):
        order.append(fields)
    order += [codes, examples]
    found = [text.find(f"\n{title}") if title != usage else text.find(title) for title in order]
    assert all(i >= 0 for i in found), (order, text)
    assert found == sorted(found), f"sections out of order in {path}: {order}"
    # what it does: a paragraph right after the usage line
    assert text.split("\n")[2].strip(), text
    # at least one example: a line starting with nhicard (or a shell line running it)
    after = text[text.index(f"\n{examples}") :]
    assert re.search(r"^  \S*.*nhicard", after, re.MULTILINE), after
    # exit codes: each line a code of the contract
    block = text[text.index(f"\n{codes}") : text.index(f"\n{examples}")]
    listed = [int(c) for c in re.findall(r"^  (\d+)\s", block, re.MULTILINE)]
    assert listed and set(listed) <= {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 130}


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "nhicard")
def test_zh_tw_help_has_no_english_titles_and_is_translated(path: tuple[str, ...]) -> None:
    zh, en = help_of(path, "zh-TW"), help_of(path, "en")
    assert not ENGLISH_TITLES.search(zh), zh
    assert "Show this message and exit." not in zh
    assert "[default:" not in zh and "default:" not in re.sub(r"\[預設:[^]]*\]", "", zh)
    assert zh != en


def test_no_unreadable_ranges() -> None:
    for path in COMMANDS:
        for lang in ("en", "zh-TW"):
            text = help_of(path, lang)
            assert "31536000" not in text and not re.search(r"\d<x<=", text), (path, text)


def test_exit_code_sections_where_the_issue_found_none() -> None:
    for path in (("reader", "list"), ("sandbox", "up"), ("sandbox", "down"), ("sim", "card")):
        assert "\nExit codes:" in help_of(path, "en")
    for path in COMMANDS:
        if path[:1] == ("agent",):
            assert "\nExit codes:" in help_of(path, "en")


def test_root_help_lists_every_environment_variable_the_code_reads() -> None:
    text = help_of((), "en")
    assert "\nEnvironment:" in text
    listed = {name for name, _ in ENVIRONMENT}
    for name in listed:
        assert name in text
    # NHICARD_* named anywhere in the package (Click's completion variable aside)
    used = set()
    for path in (ROOT / "nhicard").rglob("*.py"):
        used |= set(re.findall(r"\bNHICARD_[A-Z][A-Z_]*[A-Z]\b", path.read_text("utf-8")))
    used.discard("NHICARD_COMPLETE")
    used -= command_option_variables()  # the NHICARD_<COMMAND>_<OPTION> line
    assert used <= listed, used - listed
    # every global option's own variable (auto_envvar_prefix NHICARD)
    for param in main_mod.cli.params:
        if param.name and param.expose_value:
            assert f"NHICARD_{param.name.upper()}" in listed, param.name
    assert "NO_COLOR" in listed


def command_option_variables() -> set[str]:
    """Click's variable of every command's option (auto_envvar_prefix NHICARD)."""
    import click

    names = set()
    for path in COMMANDS:
        if not path:
            continue
        ctx = click.Context(main_mod.cli, info_name="nhicard")
        cmd: click.Command = main_mod.cli
        for name in path:
            assert isinstance(cmd, click.Group)
            sub = cmd.get_command(ctx, name)
            assert sub is not None
            cmd, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
        prefix = "NHICARD_" + "_".join(path).upper().replace("-", "_")
        names |= {f"{prefix}_{p.name.upper()}" for p in cmd.params if p.name}
    return names


def test_help_in_the_language_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NHICARD_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    text = CliRunner().invoke(main_mod.cli, ["card", "read", "--help"]).stdout
    assert "用法:" in text  # zh-TW under LANG=C, like the messages
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    text = CliRunner().invoke(main_mod.cli, ["card", "read", "--help"]).stdout
    assert "Usage:" in text
