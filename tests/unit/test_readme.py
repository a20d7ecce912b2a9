"""The two READMEs stay in step, and what they document exists."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import ROOT, run_nhicard


@dataclass
class Readme:
    blocks: list[list[str]]  # fenced code blocks: command lines, comments stripped
    tables: list[tuple[int, int]]  # (rows, columns)
    headings: list[int]  # levels, in order
    links: list[str]
    code_spans: Counter[str]


def parse(path: Path) -> Readme:
    blocks: list[list[str]] = []
    tables: list[list[str]] = []
    headings: list[int] = []
    prose: list[str] = []
    block: list[str] | None = None
    table: list[str] | None = None
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("```"):
            if block is None:
                block = []
            else:
                blocks.append(block)
                block = None
            continue
        if block is not None:
            if not re.match(r"\s*#", line):
                block.append(re.sub(r"\s+#\s.*$", "", line).rstrip())
            continue
        prose.append(line)
        if line.startswith("|"):
            if table is None:
                table = []
                tables.append(table)
            table.append(line)
        else:
            table = None
        if line.startswith("#"):
            headings.append(len(line) - len(line.lstrip("#")))
    text = "\n".join(prose)
    return Readme(
        blocks=blocks,
        tables=[(len(t), t[0].count("|") - t[0].count("\\|")) for t in tables],
        headings=headings,
        links=re.findall(r"\]\(([^)]+)\)", text),
        code_spans=Counter(" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text)),
    )


@pytest.fixture(scope="module")
def readmes() -> tuple[Readme, Readme]:
    return parse(ROOT / "README.md"), parse(ROOT / "README.zh-TW.md")


def test_same_commands_in_every_code_block(readmes: tuple[Readme, Readme]) -> None:
    en, zh = readmes
    assert zh.blocks == en.blocks


def test_same_sections_tables_and_links(readmes: tuple[Readme, Readme]) -> None:
    en, zh = readmes
    assert zh.headings == en.headings
    assert zh.tables == en.tables
    assert en.links[0] == "README.zh-TW.md" and zh.links[0] == "README.md"
    assert zh.links[1:] == en.links[1:]


def test_same_names_options_and_fields(readmes: tuple[Readme, Readme]) -> None:
    en, zh = readmes
    assert zh.code_spans == en.code_spans


def test_the_two_commands_come_first() -> None:
    for name in ("README.md", "README.zh-TW.md"):
        first_block = parse(ROOT / name).blocks[0]
        assert first_block == ["make demo", "make test"], name


def documented_commands() -> list[list[str]]:
    """The commands of the README's command table, as argv for ``--help``."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    found: list[list[str]] = []
    for cell in re.findall(r"^\| (`.*?) \|", section, flags=re.M):
        for variant in re.findall(r"`([^`]+)`", cell):
            words = [w for w in variant.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
            if words and words not in found:
                found.append(words)
    return found


@pytest.mark.parametrize("argv", documented_commands(), ids=" ".join)
def test_every_documented_command_exists(argv: list[str]) -> None:
    proc = run_nhicard(*argv, "--help")
    assert proc.returncode == 0, proc.stderr


def test_environment_sections_list_every_variable_help_lists() -> None:
    """The READMEs' Environment tables name exactly the variables of ``nhicard --help``."""
    from nhicard.cli.help_sections import ENVIRONMENT

    listed = {part.strip() for name, _ in ENVIRONMENT for part in name.split(",")}
    for readme, heading in (("README.md", "## Environment"), ("README.zh-TW.md", "## 環境變數")):
        text = (ROOT / readme).read_text("utf-8")
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        rows = re.findall(r"^\| `([^|]+?)` \|", section, re.M)
        named = {n.strip(" `") for row in rows for n in re.split(r"`[,、]\s*`", row)}
        assert named == listed, (readme, named ^ listed)
