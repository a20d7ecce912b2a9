"""The manual page nhicard(1), written from the live ``--help`` of every command.

Each command's help is taken exactly as a user sees it (``nhicard --lang LANG … --help``, run
in this process through :func:`nhicard.cli.main.main`), so the page follows the help in either
language. The page keeps Click's own layout in no-fill blocks; the roff written here is only
the frame (title, NAME, SYNOPSIS, one subsection per command) and the escaping.

Run at build time by ``hatch_build.py`` (the wheel's ``share/man/man1/nhicard.1`` and
``share/man/zh_TW/man1/nhicard.1``) with nothing but Click and this source tree importable, and
by hand as ``python -m nhicard.cli.manpage --lang en -o nhicard.1``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
from collections.abc import Iterator
from typing import TextIO

import click

from nhicard import __version__
from nhicard.core.i18n import LANGS, T

HEADINGS = {
    "name": T("名稱", "NAME"),
    "synopsis": T("用法", "SYNOPSIS"),
    "description": T("說明", "DESCRIPTION"),
    "commands": T("指令", "COMMANDS"),
    "see_also": T("參見", "SEE ALSO"),
    "manual": T("使用者指令", "User Commands"),
}
HOMEPAGE = "https://github.com/nhicard/nhicard"
# the help's width: Click wraps at COLUMNS - 2; the man page indents blocks by 7 more
HELP_COLUMNS = "72"


def command_paths() -> list[list[str]]:
    """Every command below ``nhicard``, depth first, in ``--help`` order: ``["card", "read"]``."""
    from nhicard.cli.main import cli

    found: list[list[str]] = []

    def walk(cmd: click.Command, ctx: click.Context, path: list[str]) -> None:
        if not isinstance(cmd, click.Group):
            return
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            found.append([*path, name])
            walk(sub, click.Context(sub, info_name=name, parent=ctx), [*path, name])

    walk(cli, click.Context(cli, info_name="nhicard"), [])
    return found


def help_text(path: list[str], lang: str) -> str:
    """``nhicard --lang LANG PATH… --help`` as printed, without styling."""
    from nhicard.cli.main import main

    out = io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(out):
        try:
            main(["--lang", lang, *path, "--help"])
        except SystemExit as exc:
            code = exc.code
    if code not in (0, None):
        raise click.ClickException(f"nhicard {' '.join(path)} --help exited {code}")
    return click.unstyle(out.getvalue()).rstrip("\n")


def escape(line: str) -> str:
    """One line of text as roff: backslashes and minus signs kept literal, no request."""
    line = line.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + line if line.startswith((".", "'")) else line


def _block(text: str) -> Iterator[str]:
    """Help text in a no-fill block, its section headings (``Options:``) in bold."""
    yield ".nf"
    for line in text.splitlines():
        if re.fullmatch(r"\S.*[:：]", line):
            yield f"\\fB{escape(line)}\\fR"
        else:
            yield escape(line) if line.strip() else ""
    yield ".fi"


def _split_usage(text: str) -> tuple[str, str]:
    """(the usage line without its ``Usage:`` word, the rest of the help)."""
    first, _, rest = text.partition("\n")
    return re.sub(r"^\S+?[:：]\s*", "", first.strip()), rest.strip("\n")


def _date() -> str:
    """The page's date: SOURCE_DATE_EPOCH's (reproducible builds), else none."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch))) if epoch.isdigit() else ""


def render(lang: str) -> str:
    """The whole page nhicard(1) in ``lang``."""
    h = {key: text.render(lang) for key, text in HEADINGS.items()}
    synopsis, description = _split_usage(help_text([], lang))
    summary = next((line.strip() for line in description.splitlines() if line.strip()), "")
    summary = re.sub(r"^nhicard\s*[—-]\s*", "", summary)
    lines = [
        r".\" -*- coding: UTF-8 -*-",
        r".\" Generated from nhicard --help by nhicard/cli/manpage.py: do not edit.",
        f'.TH NHICARD 1 "{_date()}" "nhicard {__version__}" "{h["manual"]}"',
        f".SH {h['name']}",
        f"nhicard \\- {escape(summary)}",
        f".SH {h['synopsis']}",
        escape(synopsis),
        f".SH {h['description']}",
        *_block(description),
        f".SH {h['commands']}",
    ]
    for path in command_paths():
        lines += [f".SS {escape(' '.join(['nhicard', *path]))}", *_block(help_text(path, lang))]
    lines += [f".SH {h['see_also']}", escape(HOMEPAGE)]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def write(lang: str, output: TextIO) -> None:
    """Write the manual page nhicard(1) in LANG to OUTPUT (default: stdout)."""
    os.environ["COLUMNS"] = HELP_COLUMNS
    os.environ["NHICARD_LANG"] = lang
    output.write(render(lang))


if __name__ == "__main__":
    write()
