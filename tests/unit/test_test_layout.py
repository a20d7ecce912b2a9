"""The tests' own layout: what a test needs shows in its folder, and shared helpers live in
``tests/support`` only (AST, no imports)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
KINDS = ("unit", "stack", "e2e")
# fixtures (conftest.py, tests/support) that start services
SERVICE_FIXTURES = frozenset(
    {"pcsc", "pcsc_stack", "virtual_cards", "dovecot", "dovecot_factory", "sandbox",
     "sandbox_server", "nhi_sandbox"}
)  # fmt: skip
# support modules that start services: a unit test imports none of them
SERVICE_SUPPORT = frozenset(
    {"tests.support.stack", "tests.support.dovecot", "tests.support.sandbox_fixture",
     "tests.support.freshroot", "tests.support.browser_kit", "tests.support.flow_kit",
     "tests.support.sandbox_nhi_kit"}
)  # fmt: skip


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def requested_fixtures(path: Path) -> set[str]:
    return {
        arg.arg
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        for arg in node.args.args
    }


def test_every_test_module_sits_in_a_kind_folder() -> None:
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []
    assert sorted(p.name for p in (TESTS / "support").glob("test_*.py")) == []


def test_no_module_imports_a_test_module_or_conftest() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for name in imported(path):
            if name.split(".")[:2] in (["tests", k] for k in KINDS) or name.startswith(
                "tests.conftest"
            ):
                found.append(f"{path.relative_to(TESTS)} imports {name}")
    assert found == []


def test_unit_tests_start_no_service() -> None:
    found = []
    for path in sorted((TESTS / "unit").glob("test_*.py")):
        for name in sorted(requested_fixtures(path) & SERVICE_FIXTURES):
            found.append(f"{path.name} asks for the fixture {name}")
        for name in sorted(imported(path) & SERVICE_SUPPORT):
            found.append(f"{path.name} imports {name}")
    assert found == []


# require_private_browser calls require_browser
REQUIRE_BROWSER = ("require_browser", "require_private_browser")


def test_every_browser_test_requires_chromium() -> None:
    """``require_browser`` skips on a developer machine without Chromium and fails under CI."""
    for path in sorted((TESTS / "e2e").glob("test_*.py")):
        gates = {f"tests.support.browser_kit.{name}" for name in REQUIRE_BROWSER}
        assert gates & imported(path), path.name
