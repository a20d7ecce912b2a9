"""NO_COLOR (https://no-color.org) and --no-color: no colour anywhere; colour stays on a
terminal otherwise, and never reaches a pipe."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from nhicard.cli.output import colour_refused, no_color_option
from tests.support.cli import run_nhicard
from tests.support.terminal import run_on_terminal

ESC = b"\x1b["
# env check's system group runs offline, without PC/SC, and colours its status marks
CHECK = ("env", "check", "--only", "system", "--format", "table")


def test_terminal_gets_colour_by_default() -> None:
    r = run_on_terminal(*CHECK)
    assert r.returncode == 0, r.text
    assert ESC in r.screen
    assert "PASS" in r.text


@pytest.mark.parametrize("value", ["1", "true", "0", "no"])
def test_no_color_with_any_non_empty_value_turns_colour_off(value: str) -> None:
    r = run_on_terminal(*CHECK, env={"NO_COLOR": value})
    assert r.returncode == 0, r.text
    assert "PASS" in r.text
    assert ESC not in r.screen


def test_empty_no_color_leaves_colour_on() -> None:
    r = run_on_terminal(*CHECK, env={"NO_COLOR": ""})
    assert ESC in r.screen


def test_no_color_option_turns_colour_off() -> None:
    r = run_on_terminal("--no-color", *CHECK)
    assert r.returncode == 0, r.text
    assert "PASS" in r.text
    assert ESC not in r.screen


def test_pipe_never_gets_colour() -> None:
    r = run_nhicard(*CHECK)
    assert r.returncode == 0
    assert "PASS" in r.stdout
    assert "\x1b[" not in r.stdout + r.stderr


def test_no_color_is_in_the_root_help() -> None:
    assert "--no-color" in run_nhicard("--help").stdout


def test_colour_refused_rules() -> None:
    assert colour_refused(True, {})
    assert colour_refused(False, {"NO_COLOR": "1"})
    assert not colour_refused(False, {"NO_COLOR": ""})
    assert not colour_refused(False, {})


@click.group()
@no_color_option
def _root() -> None:
    pass


@_root.command("styled")
def _styled() -> None:
    click.echo(click.style("red", fg="red"))


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        (["styled"], {}, True),
        (["--no-color", "styled"], {}, False),
        (["styled"], {"NO_COLOR": "x"}, False),
    ],
)
def test_subcommands_inherit_the_choice(
    args: list[str], env: dict[str, str], coloured: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = CliRunner().invoke(_root, args, color=True)
    assert r.exit_code == 0, r.output
    assert ("\x1b[" in r.output) is coloured
    assert "red" in r.output
