"""The architecture of ``lslib``, read from its source: folders, import graph and file sizes.

Every module under ``lslib/`` is parsed with ``ast`` and every import in it is an edge of the
module graph, wherever it stands (module level, inside a function, under ``if``): a lazy
import hides a dependency from the reader, not from this test. ``from P import x`` is an edge
to the module ``P.x`` where that is a module, else to ``P``.

The parts, lowest first: the library (``lslib.*`` outside the paper), the paper's base
(its leaf modules), ``sections``, ``verdicts``, ``pages``, ``build``; ``lslib.paper.__main__``
is the entry point on top. A module imports only from its own part or a lower one.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lslib"
PAPER = "lslib.paper"
SUBPACKAGES = ("sections", "verdicts", "pages", "build")  # lowest first
# The paper's base: leaf modules of lslib/paper that the sub-packages build on.
BASE = {"names", "profiles", "results", "gridfile", "reading_names", "settings", "limits"}
BASE |= {"design_file"}
ENTRY = f"{PAPER}.__main__"
MAX_LINES = 400
RANKS = {"library": 0, "base": 1} | {p: 2 + i for i, p in enumerate(SUBPACKAGES)}


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_files()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(name: str) -> str | None:
    """The module an import of ``name`` loads last: itself or its longest module prefix."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in MODULES:
            return candidate
    return None


def imports_of(name: str) -> set[str]:
    """The lslib modules that module ``name`` imports, at any depth of its code."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if _is_package(name) else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package, up level - 1
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "lslib" or target.startswith("lslib."):
                resolved = _resolve(target)
                if resolved is not None:
                    out.add(resolved)
    return out - {name}


GRAPH = {name: imports_of(name) for name in MODULES}


def part(name: str) -> str:
    """The part of the architecture a module belongs to (see the module docstring)."""
    parts = name.split(".")
    if parts[:2] != ["lslib", "paper"]:
        return "library"
    if name == ENTRY:
        return "entry"
    if len(parts) == 2:
        return "base"  # lslib/paper/__init__.py: a docstring of the parts
    if parts[2] in SUBPACKAGES:
        return parts[2]
    if parts[2] in BASE:
        return "base"
    return "unplaced"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_paper_has_its_subpackages():
    missing = [p for p in SUBPACKAGES if not (PACKAGE / "paper" / p / "__init__.py").is_file()]
    assert not missing, f"lslib/paper lacks the sub-package(s) {missing}"


def test_every_paper_module_has_a_place():
    """A new leaf module of lslib/paper is placed deliberately: added to BASE here."""
    unplaced = sorted(m for m in MODULES if part(m) == "unplaced")
    assert not unplaced, f"modules in no part of the architecture (add them to BASE?): {unplaced}"


def test_the_import_graph_has_no_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles among lslib modules (each group imports itself): " + (
        "; ".join(str(c) for c in cycles)
    )


def test_no_module_imports_from_a_higher_part():
    back = [
        f"{m} ({part(m)}) -> {t} ({part(t)})"
        for m, targets in sorted(GRAPH.items())
        if part(m) != "entry"
        for t in sorted(targets)
        if part(t) == "entry" or RANKS[part(t)] > RANKS[part(m)]
    ]
    assert not back, "back edges (a module importing from a higher part): " + "; ".join(back)


def test_the_library_never_imports_the_paper():
    bad = [
        f"{m} -> {t}"
        for m, targets in sorted(GRAPH.items())
        if part(m) == "library"
        for t in sorted(targets)
        if t == PAPER or t.startswith(PAPER + ".")
    ]
    assert not bad, "library modules importing lslib.paper: " + "; ".join(bad)


def test_no_module_imports_the_package_top():
    """``from lslib import __version__`` in a module below the top imports lslib/__init__.py,
    and everything it imports, back (``lslib.version`` holds the version)."""
    bad = sorted(m for m, targets in GRAPH.items() if m != "lslib" and "lslib" in targets)
    assert not bad, f"modules importing the lslib package's __init__ itself: {bad}"


def test_names_is_a_leaf():
    assert not GRAPH[f"{PAPER}.names"], (
        f"lslib/paper/names.py imports {sorted(GRAPH[f'{PAPER}.names'])} (it must import "
        "nothing from lslib)"
    )


def test_no_file_of_the_paper_is_over_the_limit():
    long = {
        str(path.relative_to(ROOT)): n
        for name, path in MODULES.items()
        if name == PAPER or name.startswith(PAPER + ".")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files in lslib/paper over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from lslib import cache\n", {"lslib.cache"}),
        ("from lslib import __version__\n", {"lslib"}),
        ("def f():\n    from lslib.paper.build import plan\n", {"lslib.paper.build.plan"}),
        ("import lslib.paper.verdicts.engine as e\n", {"lslib.paper.verdicts.engine"}),
        ("from . import names\n", {"lslib.paper.names"}),
    ],
)
def test_the_graph_sees_every_kind_of_import(tmp_path, monkeypatch, source, expected):
    """The reader of imports itself: lazy, aliased, relative and package-top imports."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    monkeypatch.setitem(MODULES, "lslib.paper.probe", path)
    assert imports_of("lslib.paper.probe") == expected
