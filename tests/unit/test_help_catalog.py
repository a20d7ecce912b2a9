"""The zh_TW catalog of help (nhicard/locale): complete, compiled, and loaded only when help
or a Click error is shown."""

from __future__ import annotations

import subprocess
import sys

from tests.support.help_catalog import MO, PO, compiled, read_catalog, template, untranslated


def test_every_help_string_has_a_zh_tw_translation() -> None:
    missing = untranslated(read_catalog(), template())
    assert not missing, (
        "help strings without a zh_TW translation: run `python -m tests.support.help_catalog "
        f"update`, translate them in {PO}, then `... compile`:\n" + "\n".join(missing)
    )


def test_the_compiled_catalog_is_the_po() -> None:
    def plain(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    po = {plain(m.id): plain(m.string) for m in read_catalog() if m.id and not m.fuzzy}
    mo = {plain(m.id): plain(m.string) for m in compiled() if m.id}
    assert mo == po, f"{MO} is out of date: run `python -m tests.support.help_catalog compile`"


def test_the_catalog_ships_with_the_package() -> None:
    pyproject = (PO.parents[4] / "pyproject.toml").read_text("utf-8")
    assert "nhicard/locale/**/*.mo" in pyproject  # built, not only in git


def test_a_command_without_help_or_error_never_reads_the_catalog() -> None:
    code = (
        "import sys\n"
        "from nhicard.cli import help_lang\n"
        "from nhicard.cli.main import main\n"
        "try:\n    main(['--lang', 'zh-TW', 'completion', 'bash'])\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('LOADED:%d\\n' % help_lang.catalog.cache_info().currsize)\n"
        "try:\n    main(['--lang', 'zh-TW', 'card', 'read', '--help'])\nexcept SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('LOADED:%d\\n' % help_lang.catalog.cache_info().currsize)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert [line for line in out.stderr.splitlines() if line.startswith("LOADED:")] == [
        "LOADED:0",
        "LOADED:1",
    ]
