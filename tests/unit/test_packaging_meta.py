"""What PyPI and a user's install get, checked from the source tree without building: the
metadata in pyproject.toml, the LICENSE, the PyPI page (hatch-fancy-pypi-readme renders it as
the build does), the sdist's file list against what the tests read, ``python -m nhicard`` and
the man page written from the live ``--help``. tests/stack/test_packaging.py builds and
installs the real wheel and sdist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest

from nhicard import __version__
from nhicard.cli.manpage import command_paths, escape
from tests.support.cli import ROOT, run_nhicard

PROJECT_URL = "https://github.com/nhicard/nhicard"


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def test_license_is_mit_by_the_contributors(pyproject: dict[str, Any]) -> None:
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2025-2026 nhicard contributors" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["project"]["license-files"] == ["LICENSE"]


def test_classifiers_urls_and_keywords(pyproject: dict[str, Any]) -> None:
    project = pyproject["project"]
    classifiers = set(project["classifiers"])
    assert {
        "Environment :: Console",
        "Natural Language :: Chinese (Traditional)",
        "Operating System :: POSIX :: Linux",
        "Operating System :: Microsoft :: Windows",
        "Operating System :: MacOS",
    } <= classifiers
    # the Python classifiers say what requires-python allows, no more and no less
    versions = sorted(
        c.rsplit(" ", 1)[1] for c in classifiers if re.fullmatch(r".*Python :: 3\.\d+", c)
    )
    assert versions == ["3.11", "3.12", "3.13"]
    assert project["requires-python"] == ">=3.11,<3.14"
    assert not [c for c in classifiers if c.startswith("License ::")]  # the SPDX license says it
    urls = project["urls"]
    assert set(urls) == {"Homepage", "Source", "Issues", "Changelog"}
    assert all(u.startswith(PROJECT_URL) for u in urls.values())
    assert urls["Changelog"].endswith("/CHANGELOG.md")
    assert {"nhi", "健保卡", "pcsc", "smart card"} <= set(project["keywords"])
    assert project["version"] == __version__
    assert {"build>=1.2", "twine>=6.1"} <= set(project["optional-dependencies"]["dev"])


def pypi_page() -> str:
    """The long description, rendered by the build's own plugin (its command line)."""
    proc = subprocess.run(
        [sys.executable, "-m", "hatch_fancy_pypi_readme", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return proc.stdout


def test_the_pypi_page_has_absolute_links_and_the_user_install_first() -> None:
    page = pypi_page()
    assert page.startswith("# nhicard\n")
    links = re.findall(r"\]\(([^)\s]+)\)", page)
    assert links, "the page has lost its links"
    assert [u for u in links if not u.startswith(("https://", "mailto:"))] == []
    assert f"]({PROJECT_URL}/blob/main/README.zh-TW.md)" in page
    # the user's install comes first; the clone's `make demo` / `make test` stay on GitHub
    first_block = re.search(r"```sh\n(.*?)```", page, flags=re.S)
    assert first_block and first_block.group(1).split("#")[0].strip() == "pipx install nhicard"
    later = [page.find(w) for w in ("make demo", "make test") if w in page]
    assert page.index("pipx install nhicard") < min(later, default=len(page))
    assert "pipx install --system-site-packages nhicard" in page
    assert "python3-pyscard" in page
    assert "<!-- pypi:" not in page
    assert page.index("## Install") < page.index("## Commands")


def test_both_readmes_mark_the_part_the_pypi_page_skips() -> None:
    for name in ("README.md", "README.zh-TW.md"):
        text = (ROOT / name).read_text("utf-8")
        start = text.index("<!-- pypi: skip from here -->")
        end = text.index("<!-- pypi: skip to here -->")
        assert start < text.index("make demo") < end, name
        assert text.index("pipx install nhicard") > end, name


def files_the_tests_read() -> set[str]:
    """The top-level names the tests and benchmarks read relative to the repository
    (``ROOT / "README.md"``, ``ROOT / "tests" / "demo.sh"``)."""
    found = set()
    for path in [*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]:
        text = path.read_text("utf-8")
        found.update(re.findall(r'\bROOT\s*/\s*"([^"/]+)', text))
    return found


def test_the_sdist_ships_what_the_tests_read(pyproject: dict[str, Any]) -> None:
    include = {
        p.strip("/") for p in pyproject["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    }
    needed = files_the_tests_read() - {"artifacts"}  # artifacts/: written by the tests
    assert {"README.md", "README.zh-TW.md", "benchmarks", "completions", "tests"} <= needed
    assert needed <= include
    # read by the Makefile's targets and tests through it, or needed to build from the sdist
    assert {"CHANGELOG.md", "LICENSE", "Makefile", "hatch_build.py", "nhicard"} <= include
    assert all((ROOT / name).exists() for name in include)


def test_the_wheel_takes_the_package_data_and_the_man_pages(pyproject: dict[str, Any]) -> None:
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["nhicard"]
    assert wheel["hooks"]["custom"]["path"] == "hatch_build.py"
    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    hook = (ROOT / "hatch_build.py").read_text("utf-8")
    assert '"share/man/man1/nhicard.1"' in hook and '"share/man/zh_TW/man1/nhicard.1"' in hook


def test_python_m_nhicard_is_the_nhicard_command() -> None:
    env = {**os.environ, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    env.pop("NHICARD_LANG", None)
    as_module = subprocess.run(
        [sys.executable, "-m", "nhicard", "--lang", "en", "card", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    as_command = run_nhicard("--lang", "en", "card", "--help")
    assert as_module.returncode == 0, as_module.stderr
    assert as_module.stdout == as_command.stdout
    assert as_module.stdout.startswith("Usage: nhicard card ")
    bad = subprocess.run(
        [sys.executable, "-m", "nhicard", "no-such-command"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2  # the contract's usage error, as from the script


def test_roff_escaping() -> None:
    assert escape(".hidden") == "\\&.hidden"
    assert escape("'quote") == "\\&'quote"
    assert escape("--lang a\\b") == "\\-\\-lang a\\eb"
    assert escape("健保卡") == "健保卡"


@pytest.fixture(scope="module")
def click_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with Click alone: what the build environment gives the man page hook."""
    where = tmp_path_factory.mktemp("click-only")
    shutil.copytree(Path(click.__file__).parent, where / "click")
    return where


def man_page(lang: str, click_only: Path, tmp_path: Path) -> str:
    out = tmp_path / f"nhicard.{lang}.1"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(click_only), str(ROOT)]),
        "SOURCE_DATE_EPOCH": "1767225600",  # 2026-01-01
    }
    # -S: no site-packages, so only Click and the source tree can be imported, as in the build
    subprocess.run(
        [sys.executable, "-S", "-m", "nhicard.cli.manpage", "--lang", lang, "-o", str(out)],
        env=env,
        check=True,
        timeout=120,
        cwd=tmp_path,
    )
    return out.read_text("utf-8")


def roff_block(help_text: str) -> list[str]:
    return [escape(line) if line.strip() else "" for line in help_text.rstrip("\n").splitlines()]


@pytest.mark.parametrize(
    ("lang", "headings"),
    [
        ("en", ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS"]),
        ("zh-TW", ["名稱", "用法", "說明", "指令"]),
    ],
)
def test_the_man_page_is_the_live_help_in_each_language(
    lang: str, headings: list[str], click_only: Path, tmp_path: Path
) -> None:
    page = man_page(lang, click_only, tmp_path)
    assert f'.TH NHICARD 1 "2026-01-01" "nhicard {__version__}"' in page
    assert [h for h in re.findall(r"^\.SH (.+)$", page, flags=re.M)][:4] == headings
    sections = re.findall(r"^\.SS (.+)$", page, flags=re.M)
    assert sections == [escape(" ".join(["nhicard", *p])) for p in command_paths()]
    assert "nhicard card read" in {s.replace("\\-", "-") for s in sections}
    # each command's text is its --help as the user sees it in that language (bold headings)
    for path in (["card", "read"], ["register"]):
        shown = run_nhicard("--lang", lang, *path, "--help", env={"COLUMNS": "72"})
        assert shown.returncode == 0, shown.stderr
        body = page.split(f".SS {escape(' '.join(['nhicard', *path]))}\n.nf\n", 1)[1]
        body_lines = body.split("\n.fi\n", 1)[0].splitlines()
        unbold = [re.sub(r"^\\fB(.*)\\fR$", r"\1", line) for line in body_lines]
        assert unbold == roff_block(shown.stdout)
    groff = shutil.which("groff")
    if groff:
        check = subprocess.run(
            [groff, "-k", "-man", "-Tutf8", "-ww", "-z", str(tmp_path / f"nhicard.{lang}.1")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (check.returncode, check.stderr) == (0, "")
