"""The release as PyPI and a user get it: ``python -m build`` makes the sdist and, from it, the
wheel (hatchling with its build requirements from the package registry); ``twine check
--strict`` passes both; the wheel installs into a clean venv and runs as ``nhicard`` and
``python -m nhicard``, with its man pages; the sdist holds what its tests read, and its unit
tests run from the unpacked sdist.

The clean venv sees Debian's python3-pyscard through ``--system-site-packages``, the README's
documented Debian install (pyscard has no Linux wheels on PyPI, and the test machine has no
compiler route); every other dependency must come from the wheel's own requirements.

Needs the package registries (build requirements and dependencies); inside a fresh root's own
test run (no network) it is skipped, as tests/stack/test_install_fresh_root.py is.
"""

from __future__ import annotations

import email.parser
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from nhicard import __version__
from nhicard.cli.manpage import escape
from tests.support.cli import ROOT

pytestmark = pytest.mark.timeout(1200)

DEBIAN_PYSCARD = "/usr/lib/python3/dist-packages/"
WHEEL_MAN_PAGES = {
    f"nhicard-{__version__}.data/data/share/man/man1/nhicard.1",
    f"nhicard-{__version__}.data/data/share/man/zh_TW/man1/nhicard.1",
}
# what the tests read relative to the repository (tests/unit/test_packaging_meta.py checks
# the sdist's include list against the tests themselves)
SDIST_MUST_HOLD = [
    "pyproject.toml", "hatch_build.py", "LICENSE", "README.md", "README.zh-TW.md",
    "CHANGELOG.md", "Makefile", "tests/demo.sh", "tests/conftest.py", "tests/support/cli.py",
    "completions/nhicard.bash", "completions/_nhicard", "completions/nhicard.fish",
    "benchmarks/run.py", "benchmarks/README.md", "nhicard/sites/real.toml", "nhicard/py.typed",
]  # fmt: skip


def run(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
    proc = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def registry_answers() -> bool:
    """pip can find the build backend in its configured index (no host named here)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "hatchling"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode == 0


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel built from it, in one directory."""
    if os.environ.get("NHICARD_FRESH_ROOT"):
        pytest.skip("inside a fresh root's test run: no network to install build requirements")
    if not registry_answers():
        if os.environ.get("CI"):
            pytest.fail("the package registry does not answer: required in CI")
        pytest.skip("the package registry does not answer")
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, timeout=900)
    return out


def the(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_twine_check_strict_passes(dist: Path) -> None:
    files = sorted(dist.glob("nhicard-*"))
    assert [f.name for f in files] == [
        f"nhicard-{__version__}-py3-none-any.whl",
        f"nhicard-{__version__}.tar.gz",
    ]
    proc = run(sys.executable, "-m", "twine", "check", "--strict", *files)
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_the_wheel_metadata_reads_right_on_pypi(dist: Path) -> None:
    with zipfile.ZipFile(the(dist, "*.whl")) as whl:
        meta = email.parser.Parser().parsestr(
            whl.read(f"nhicard-{__version__}.dist-info/METADATA").decode("utf-8")
        )
        names = set(whl.namelist())
    assert meta["License-Expression"] == "MIT"
    assert f"nhicard-{__version__}.dist-info/licenses/LICENSE" in names
    assert "Natural Language :: Chinese (Traditional)" in meta.get_all("Classifier")
    assert any(
        u.startswith("Source, https://github.com/nhicard/nhicard")
        for u in meta.get_all("Project-URL")
    )
    body = meta.get_payload()
    assert body.startswith("# nhicard\n") and "pipx install nhicard" in body
    assert not [u for u in re.findall(r"\]\(([^)\s]+)\)", body) if not u.startswith("https://")]
    # the package data and both man pages
    assert names >= WHEEL_MAN_PAGES
    assert {"nhicard/sites/real.toml", "nhicard/sites/sandbox.toml", "nhicard/py.typed",
            "nhicard/sandbox/default_data.toml", "nhicard/__main__.py"} <= names  # fmt: skip
    assert any(n.startswith("nhicard/sandbox/templates/") for n in names)
    assert any(n.startswith("nhicard/sandbox/static/") for n in names)
    catalogs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nhicard").rglob("*.mo")}
    assert catalogs <= names


def test_the_wheel_runs_from_a_clean_venv(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # Debian's pyscard only, as the README's Debian install (see the module docstring)
    run(sys.executable, "-m", "venv", "--system-site-packages", venv)
    py, exe = venv / "bin" / "python", venv / "bin" / "nhicard"
    run(py, "-m", "pip", "install", "-q", the(dist, "*.whl"), timeout=900)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NHICARD_LANG")}
    env |= {"LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "HOME": str(tmp_path)}
    version = run(exe, "--version", env=env, cwd=tmp_path)
    assert version.stdout.splitlines()[0] == f"nhicard {__version__}"
    helped = run(py, "-m", "nhicard", "--lang", "en", "--help", env=env, cwd=tmp_path)
    assert helped.stdout.startswith("Usage: nhicard ")
    for command in ("reader", "card", "env", "register", "verify-email", "ecpa", "agent"):
        assert command in helped.stdout
    # the help's zh-TW catalog came with the wheel (without it, zh-TW help is the English one)
    zh = run(py, "-m", "nhicard", "--lang", "zh-TW", "--help", env=env, cwd=tmp_path)
    assert zh.stdout != helped.stdout
    # the installed copy, not this checkout; every dependency from the wheel's requirements
    where = run(
        py, "-c",
        "import importlib.metadata as m, nhicard, smartcard, sys\n"
        "print(nhicard.__file__); print(smartcard.__file__)\n"
        "for r in m.requires('nhicard'):\n"
        "    if 'extra ==' not in r:\n"
        "        name = r.split(';')[0].split('>')[0].split('=')[0].split('<')[0].strip()\n"
        "        print(name, m.version(name))\n",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    nhicard_file, pyscard_file, *deps = where.stdout.splitlines()
    assert nhicard_file.startswith(str(venv)), nhicard_file
    assert pyscard_file.startswith(DEBIAN_PYSCARD), pyscard_file
    assert {d.split()[0] for d in deps} >= {"click", "httpx", "cryptography", "pyscard"}
    # the man pages: each language's page holds that language's help of each command
    pages = {"en": "share/man/man1/nhicard.1", "zh-TW": "share/man/zh_TW/man1/nhicard.1"}
    for lang, page in pages.items():
        text = (venv / page).read_text("utf-8")
        assert "\n.SS nhicard card read\n" in text, page
        assert f'"nhicard {__version__}"' in text
        shown = run(exe, "--lang", lang, "card", "read", "--help", env=env | {"COLUMNS": "72"})
        lines = [ln for ln in shown.stdout.splitlines() if ln.startswith("  ") and ln.strip()]
        assert lines and [ln for ln in lines if f"\n{escape(ln)}\n" not in text] == [], page


def test_the_sdist_holds_what_its_tests_read_and_they_run(dist: Path, tmp_path: Path) -> None:
    with tarfile.open(the(dist, "*.tar.gz")) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
        sdist.extractall(tmp_path)  # our own build (Python 3.11.2 has no extraction filters)
    missing = [n for n in SDIST_MUST_HOLD if n not in names]
    assert missing == []
    assert not [n for n in names if "__pycache__" in n or n.startswith(("artifacts/", ".venv/"))]
    src = tmp_path / f"nhicard-{__version__}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the unpacked sources come first on sys.path: these tests read the sdist's own files
    found = run(sys.executable, "-c", "import nhicard; print(nhicard.__file__)", cwd=src, env=env)
    assert found.stdout.strip() == str(src / "nhicard" / "__init__.py")
    proc = run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "tests/unit/test_readme.py", "tests/unit/test_packaging_meta.py",
        "tests/unit/test_architecture.py", "tests/unit/test_test_layout.py",
        cwd=src, env=env, timeout=600,
    )  # fmt: skip
    assert re.search(r"\d+ passed", proc.stdout) and "failed" not in proc.stdout, proc.stdout
