"""The import rule of ``nhicard/__init__.py``'s map, checked over the source (AST, no imports):
each layer imports only the layers below it and the shared modules, never a layer above or a
sibling beside it; no two modules import each other, directly or round a longer loop; click
only in ``cli/``; pyscard only in ``pcsc/``.

Every import counts, also one inside a function (a lazy import is still a dependency) or
under ``TYPE_CHECKING``. A new top-level module or package must be given a place below."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "nhicard"

# Layers from the top (imports go down only); the names in one layer sit beside each other
# and do not import one another. The same order is the layout section of nhicard/README.md.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli"}),
    frozenset({"flows", "envcheck", "sandbox"}),
    frozenset({"web", "agent", "mail"}),
    frozenset({"card", "sites"}),
    frozenset({"pcsc"}),
    frozenset({"transport", "net"}),
    frozenset({"platform"}),  # what differs per OS: every layer above may ask it
)
# The kernel, shared by every layer; it imports only itself.
SHARED = frozenset({"nhicard", "core"})
# Packages with layers inside: their subpackages from the top. A module directly in the
# package (agent/base.py) is shared by its subpackages and imports none of them.
SUBLAYERS: dict[str, tuple[str, ...]] = {"agent": ("serve", "client", "sam")}
# Third-party packages only one part may import: package → the parts allowed.
ONLY_IN = {"click": frozenset({"cli"}), "smartcard": frozenset({"pcsc"})}

# (importing part, imported part) → why it is allowed for now. Empty: no exceptions.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path, modules: set[str]) -> Iterator[tuple[str, int]]:
    """(imported name, line) of every import in ``path``: a module of ``modules`` where the
    name is one, else the top-level name of a third-party package."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _resolve(alias.name, modules), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                yield (full if full in modules else _resolve(target, modules)), node.lineno


def _resolve(name: str, modules: set[str]) -> str:
    """``name`` itself, or the longest known module it lies in, or its top-level package."""
    while name and name not in modules:
        if "." not in name:
            return name
        name = name.rpartition(".")[0]
    return name


def part_of(module: str) -> str:
    """``nhicard.pcsc.readers`` → ``pcsc``; ``nhicard`` → ``nhicard``; ``nhicard.__main__``
    (``python -m nhicard``, the ``nhicard`` command's entry) → ``cli``."""
    parts = module.split(".")
    if parts[1:] == ["__main__"]:
        return "cli"
    return parts[1] if len(parts) > 1 else parts[0]


def subpart_of(module: str) -> str:
    """``nhicard.agent.serve.service`` → ``serve``; ``nhicard.agent.base`` → ``""``."""
    parts = module.split(".")
    return parts[2] if len(parts) > 3 else ""


def inner_violation(module: str, target: str) -> list[str]:
    """Why an import inside a package with SUBLAYERS breaks their order (empty: it does not)."""
    order = SUBLAYERS.get(part_of(module))
    mine, theirs = subpart_of(module), subpart_of(target)
    if order is None or mine == theirs or theirs == "":
        return []
    if mine == "":
        return [f"a shared module of {part_of(module)} imports none of its subpackages"]
    if mine not in order or theirs not in order:
        return [f"{mine or theirs!r} has no place in SUBLAYERS"]
    if order.index(theirs) < order.index(mine):
        return [f"upward: {theirs} is above {mine}"]
    return []


def rank(part: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if part in layer:
            return i
    return None


def scan(root: Path) -> tuple[set[str], dict[str, list[tuple[str, int]]]]:
    files = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    graph = {module_name(p, root): list(imports_of(p, root, modules)) for p in files}
    return modules, graph


def violations(root: Path) -> list[str]:
    """Each import that breaks the rule, as ``module:line imports target (why)``."""
    modules, graph = scan(root)
    out = []
    for module, targets in sorted(graph.items()):
        mine = part_of(module)
        if mine not in SHARED and rank(mine) is None:
            out.append(f"{module}: {mine!r} has no place in LAYERS or SHARED")
            continue
        for target, line in targets:
            where = f"{module}:{line} imports {target}"
            if target not in modules:
                top = target.split(".")[0]
                if top in ONLY_IN and mine not in ONLY_IN[top]:
                    out.append(f"{where} (only {sorted(ONLY_IN[top])} may)")
                continue
            theirs = part_of(target)
            if theirs == mine:
                out.extend(f"{where} ({why})" for why in inner_violation(module, target))
                continue
            if theirs in SHARED or (mine, theirs) in KNOWN_EXCEPTIONS:
                continue
            if mine in SHARED:
                out.append(f"{where} (a shared module imports only shared modules)")
            elif rank(theirs) is None:
                out.append(f"{where} ({theirs!r} has no place in LAYERS or SHARED)")
            elif rank(theirs) == rank(mine):  # type: ignore[operator]
                out.append(f"{where} ({theirs} sits beside {mine})")
            elif rank(theirs) < rank(mine):  # type: ignore[operator]
                out.append(f"{where} (upward: {theirs} is above {mine})")
    return out


def cycles(root: Path) -> list[list[str]]:
    """The import loops among the modules (strongly connected components of two or more)."""
    modules, graph = scan(root)
    edges = {m: sorted({t for t, _ in graph[m] if t in modules and t != m}) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan, iterative
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, rest = work[-1]
            for nxt in rest:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return sorted(found)


def test_no_import_goes_up_or_sideways() -> None:
    assert violations(ROOT) == []


def test_no_import_cycle() -> None:
    assert cycles(ROOT) == []


def test_every_known_exception_is_still_needed() -> None:
    _modules, graph = scan(ROOT)
    used = {(part_of(m), part_of(t)) for m, targets in graph.items() for t, _ in targets}
    assert [pair for pair in KNOWN_EXCEPTIONS if pair not in used] == []


# -- the checker itself, on small made-up trees --------------------------------------------


def make_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "nhicard"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text, "utf-8")
    return root


def lines(found: Iterable[str]) -> list[str]:
    return [f.split(" (")[0] for f in found]


def test_the_checker_finds_an_upward_import(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "pcsc/readers.py": "def probe():\n    from nhicard.card.session import answers\n",
            "card/session.py": "from nhicard.pcsc import readers\nfrom nhicard.core import errors\n",
            "core/errors.py": "",
        },
    )
    assert violations(root) == [
        "nhicard.pcsc.readers:2 imports nhicard.card.session (upward: card is above pcsc)"
    ]


def test_the_checker_finds_sideways_shared_and_third_party_imports(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "web/page.py": "from nhicard.agent.base import X\n",
            "agent/base.py": "import click\nimport smartcard.scard\n",
            "core/errors.py": "from nhicard.card import profile\n",
            "card/profile.py": "",
            "newthing.py": "",
        },
    )
    assert lines(violations(root)) == [
        "nhicard.agent.base:1 imports click",
        "nhicard.agent.base:2 imports smartcard",
        "nhicard.core.errors:1 imports nhicard.card.profile",
        "nhicard.newthing: 'newthing' has no place in LAYERS or SHARED",
        "nhicard.web.page:1 imports nhicard.agent.base",
    ]


def test_the_checker_resolves_relative_imports(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"card/apdu.py": "", "pcsc/readers.py": "from ..card import apdu\n"})
    assert violations(root) == [
        "nhicard.pcsc.readers:1 imports nhicard.card.apdu (upward: card is above pcsc)"
    ]


def test_the_checker_finds_a_cycle_also_through_a_lazy_import(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "pcsc/monitor.py": "from nhicard.pcsc.readers import names\n",
            "pcsc/readers.py": "def wait():\n    from nhicard.pcsc import monitor\n",
            "pcsc/a.py": "import nhicard.pcsc.b\n",
            "pcsc/b.py": "import nhicard.pcsc.c\n",
            "pcsc/c.py": "from nhicard.pcsc.a import x\n",
        },
    )
    assert cycles(root) == [
        ["nhicard.pcsc.a", "nhicard.pcsc.b", "nhicard.pcsc.c"],
        ["nhicard.pcsc.monitor", "nhicard.pcsc.readers"],
    ]
    assert violations(root) == []  # within one package: only the cycle test catches it


@pytest.mark.parametrize("part", sorted(SHARED | frozenset().union(*LAYERS)))
def test_each_part_named_exists(part: str) -> None:
    """A layer or shared module that no longer exists is to be struck from the lists."""
    assert part == "nhicard" or (ROOT / part).is_dir() or (ROOT / f"{part}.py").is_file()


# -- exit codes: only cli/ knows them ------------------------------------------------------

# module → why it may end its process with a status of its own
EXIT_STATUS_EXCEPTIONS = {
    "nhicard.sandbox.server": "the sandbox server is a process of its own (`python -m`, started "
    "by `sandbox up`); the supervisor reads its status, the CLI contract does not",
}


def exit_code_uses(root: Path) -> list[str]:
    """Each place outside ``cli/`` that names an exit code or ends the process:
    ``exit_code``, ``sys.exit``/``os._exit``/``ctx.exit``, ``SystemExit``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        if part_of(module) == "cli" or module in EXIT_STATUS_EXCEPTIONS:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            name = None
            if isinstance(node, ast.Attribute) and node.attr in ("exit_code", "exit", "_exit"):
                name = node.attr
            elif isinstance(node, ast.Name) and node.id in ("exit_code", "SystemExit"):
                name = node.id
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "exit_code" for t in targets):
                    name = "exit_code"
            if name:
                out.append(f"{module}:{node.lineno} {name}")
    return sorted(set(out))


def test_no_module_outside_cli_knows_an_exit_code() -> None:
    assert exit_code_uses(ROOT) == []


def test_the_exit_code_check_finds_each_form(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "core/errors.py": "class E(Exception):\n    exit_code = 6\n",
            "card/batch.py": "import sys\ndef f(ctx):\n    ctx.exit(6)\n    sys.exit(1)\n",
            "web/page.py": "def g():\n    raise SystemExit(2)\n",
            "cli/main.py": "import sys\nsys.exit(2)\n",
        },
    )
    assert exit_code_uses(root) == [
        "nhicard.card.batch:3 exit",
        "nhicard.card.batch:4 exit",
        "nhicard.core.errors:2 exit_code",
        "nhicard.web.page:2 SystemExit",
    ]


def test_the_checker_keeps_a_package_s_inner_order(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "agent/base.py": "from nhicard.agent.client import direct\n",
            "agent/sam/wire.py": "from nhicard.agent.serve import service\nfrom nhicard.agent import base\n",
            "agent/client/direct.py": "from nhicard.agent.sam import wire\n",
            "agent/serve/service.py": "from nhicard.agent.client import direct\n",
        },
    )
    assert lines(violations(root)) == [
        "nhicard.agent.base:1 imports nhicard.agent.client.direct",
        "nhicard.agent.sam.wire:1 imports nhicard.agent.serve.service",
    ]


# -- the layout section: nhicard/README.md names every package, in the layers' order ------

LAYOUT = ROOT / "README.md"
# the package itself and `python -m nhicard` (which only calls the CLI): no package of their own
ENTRY_MODULES = ("__init__.py", "__main__.py")


def layout_rows() -> list[tuple[str, str]]:
    """(layer, package) of each row of the layout tables, ``("3", "web")`` or
    ``("1", "agent/serve")``."""
    rows = []
    for line in LAYOUT.read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`") and cells[1].endswith("/`"):
            rows.append((cells[0], cells[1].strip("`/")))
    return rows


def test_the_layout_section_names_every_package_in_layer_order() -> None:
    rows = layout_rows()
    top = [(layer, pkg) for layer, pkg in rows if "/" not in pkg]
    tree = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert sorted(pkg for _, pkg in top) == sorted(tree)
    assert not sorted(p.name for p in ROOT.glob("*.py") if p.name not in ENTRY_MODULES)
    layers: dict[str, set[str]] = {}
    for layer, pkg in top:
        layers.setdefault(layer, set()).add(pkg)
    assert layers.pop("kernel") == set(SHARED) - {"nhicard"}
    assert [frozenset(layers[k]) for k in sorted(layers, key=int)] == list(LAYERS)
    inner = [(layer, pkg) for layer, pkg in rows if "/" in pkg]
    for package, order in SUBLAYERS.items():
        mine = [pkg.split("/")[1] for layer, pkg in inner if pkg.startswith(f"{package}/")]
        assert tuple(mine) == order
        subdirs = {p.parent.name for p in (ROOT / package).glob("*/__init__.py")}
        assert subdirs == set(order)
