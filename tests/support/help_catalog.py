"""The zh_TW catalog of help and Click's messages (``nhicard/locale``), kept with Babel.

    python -m tests.support.help_catalog update   # new English strings into nhicard.po
    python -m tests.support.help_catalog compile  # nhicard.po → nhicard.mo

``template()`` is every string help can show: Click's own (extracted from Click's source
with Babel, as gettext marks them), every help text of every command and option (walked
through the CLI), and the strings of ``nhicard/cli/help_*.py`` and ``params.py`` marked with
``gettext``/``N_``. ``tests/unit/test_help_catalog.py`` checks the catalog against it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from nhicard.cli.help_lang import CLICK_MODULES, DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
PO = LOCALE_DIR / "zh_TW" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
MARKED = ("help_lang.py", "help_layout.py", "help_sections.py", "params.py")
# Click translates these through a variable (``_(extra["required"])``)
CLICK_INDIRECT = ("required",)


def click_messages() -> Iterator[str | tuple[str, str]]:
    for name in CLICK_MODULES:
        path = importlib.import_module(name).__file__
        assert path is not None
        for _line, message, _comments, _context in extract_from_file(
            "python", path, keywords={"_": None, "ngettext": (1, 2)}
        ):
            yield message
    yield from CLICK_INDIRECT


def marked_messages() -> Iterator[str]:
    for name in MARKED:
        path = ROOT / "nhicard" / "cli" / name
        for _line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords={"gettext": None, "N_": None}
        ):
            if isinstance(message, str) and message:
                yield message


def command_messages() -> Iterator[str]:
    """Every help text of every command, group and option of ``nhicard``."""
    from nhicard.cli.help_layout import help_source
    from nhicard.cli.main import cli

    def walk(cmd: click.Command, ctx: click.Context) -> Iterator[str]:
        for text in (help_source(cmd.help), help_source(cmd.epilog), cmd.short_help):
            if text:
                yield text
        for param in cmd.get_params(ctx):
            text = getattr(param, "help", None)
            if text:
                yield text
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))

    from nhicard.cli.help_lang import language

    with language("en"):
        yield from walk(cli, click.Context(cli, info_name="nhicard"))


def walk_commands() -> Iterator[tuple[str, ...]]:
    """The path of every command and group: (), ("card",), ("card", "read"), …"""
    from nhicard.cli.main import cli

    def walk(
        cmd: click.Command, path: tuple[str, ...], ctx: click.Context
    ) -> Iterator[tuple[str, ...]]:
        yield path
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, (*path, name), click.Context(sub, info_name=name, parent=ctx))

    yield from walk(cli, (), click.Context(cli, info_name="nhicard"))


def template() -> Catalog:
    catalog = Catalog(domain=DOMAIN, project="nhicard", charset="utf-8")
    for source in (click_messages(), marked_messages(), command_messages()):
        for message in source:
            catalog.add(message)
    return catalog


def read_catalog() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f, locale="zh_TW", domain=DOMAIN)


def untranslated(catalog: Catalog, wanted: Catalog) -> list[str]:
    """The ids of ``wanted`` without a (non-fuzzy) translation in ``catalog``."""
    missing = []
    for message in wanted:
        if not message.id:
            continue
        have = catalog.get(message.id)
        strings = have.string if have is not None else None
        done = all(strings) if isinstance(strings, tuple) else bool(strings)
        if have is None or not done or have.fuzzy:
            missing.append(str(message.id))
    return missing


def update() -> None:
    wanted = template()
    if PO.exists():
        catalog = read_catalog()
        catalog.update(wanted, no_fuzzy_matching=True)
    else:
        catalog = Catalog(locale="zh_TW", domain=DOMAIN, project="nhicard", charset="utf-8")
        catalog.update(wanted, no_fuzzy_matching=True)
    with PO.open("wb") as f:
        write_po(f, catalog, width=100, omit_header=False, ignore_obsolete=True, sort_output=True)


def compile_catalog() -> None:
    catalog = read_catalog()
    with MO.open("wb") as f:
        write_mo(f, catalog)


def compiled() -> Catalog:
    with MO.open("rb") as f:
        return read_mo(f)


if __name__ == "__main__":
    {"update": update, "compile": compile_catalog}[sys.argv[1]]()
