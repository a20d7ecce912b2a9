"""Every command's help in one layout and in the active language (:mod:`nhicard.cli.help_lang`):

    Usage, what it does, Options (and Commands of a group), details (the epilog), Output
    fields, Exit codes, Examples (and Environment for ``nhicard`` itself).

The texts are written in English in the code (docstrings, ``help=``, epilogs,
:mod:`nhicard.cli.help_sections`) and translated when rendered; nothing here runs unless
help is shown.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from nhicard.cli.help_lang import gettext, language, translate_help

if TYPE_CHECKING:
    from nhicard.cli.help_sections import Sections


def help_source(text: str | None) -> str | None:
    """A command's help (docstring) or epilog as the catalog knows it: dedented, up to ``\\f``."""
    if text is None:
        return None
    return inspect.cleandoc(text).partition("\f")[0]


def command_key(ctx: click.Context) -> str:
    """``"card read"`` for ``nhicard card read``; ``""`` for ``nhicard``."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or ctx.command.name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


@contextlib.contextmanager
def _help_translated(param: click.Parameter) -> Iterator[None]:
    """The parameter's help in the active language while its help record is made."""
    original = getattr(param, "help", None)
    if not original:
        yield
        return
    param.help = translate_help(original)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        param.help = original  # type: ignore[attr-defined]


def _short_help(text: str) -> str:
    """The first sentence of a translated help text."""
    first = text.strip().split("\n\n", 1)[0].replace("\n", " ")
    for stop in ("。", ". "):
        head, found, _ = first.partition(stop)
        if found:
            return head
    return first.rstrip(".")


class HelpLayout(click.Command):
    """The help layout, the language, and the help option kept in English source (it is made
    once per command and translated when shown)."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        with language("en"):  # the cached option keeps its English source text
            return super().get_help_option(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        text = translate_help(self.short_help) or translate_help(help_source(self.help)) or ""
        return _short_help(text)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        self.format_arguments(ctx, formatter)
        self.format_options(ctx, formatter)
        self.format_epilog(ctx, formatter)
        self.format_sections(ctx, formatter)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        text = translate_help(help_source(self.help))
        if text:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(text)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for param in self.get_params(ctx):
            if isinstance(param, click.Argument):
                continue
            with _help_translated(param):
                record = param.get_help_record(ctx)
            if record is not None:
                rows.append(record)
        if rows:
            with formatter.section(gettext("Options")):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        text = translate_help(help_source(self.epilog))
        if text:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(text)

    def format_sections(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from nhicard.cli.help_sections import sections_for  # only when help is shown

        sections = sections_for(command_key(ctx))
        if sections is None:
            return
        write_sections(sections, formatter, ctx)


def write_sections(sections: Sections, formatter: click.HelpFormatter, ctx: click.Context) -> None:
    from nhicard.cli.help_lang import active
    from nhicard.cli.help_sections import ENVIRONMENT, EXIT_MEANINGS

    if sections.fields is not None:
        with formatter.section(gettext("Output fields")):
            formatter.write_text(gettext(sections.fields))
            if sections.fields_extra is not None:
                formatter.write_text(sections.fields_extra(active()))
    with formatter.section(gettext("Exit codes")):
        formatter.write_dl(
            [
                (str(code), gettext(text or EXIT_MEANINGS[code]))
                for code, text in sections.exit_codes
            ],
            col_max=6,
        )
    with formatter.section(gettext("Examples")):
        for line, what in sections.examples:
            formatter.write_text("\b\n" + line)
            with formatter.indentation():
                formatter.write_text(gettext(what))
    if ctx.parent is None:
        with formatter.section(gettext("Environment")):
            formatter.write_dl([(name, gettext(what)) for name, what in ENVIRONMENT])


class HelpCommand(HelpLayout):
    """A command with nhicard's help."""


class HelpGroup(HelpLayout, click.Group):
    """A group with nhicard's help; its commands and groups get it too."""

    command_class = HelpCommand
    group_class = type  # sub-groups of the same class

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        HelpLayout.format_options(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, cmd.get_short_help_str()))
        if rows:
            with formatter.section(gettext("Commands")):
                formatter.write_dl(rows)
