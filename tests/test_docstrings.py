"""Every public function and class of the paper wing says what it does, and no docstring
quotes a timing (timings rot; the benchmarks and the book's "running at scale" page say
them)."""

import ast
import re
from pathlib import Path

import pytest

PAPER = Path(__file__).resolve().parent.parent / "lslib" / "paper"
FILES = sorted(PAPER.rglob("*.py"))
# "27 s", "1.6-1.8x as long", "1.4x faster", "3 minutes", "12 ms": a measured time or speed-up
TIMING = re.compile(r"\d\s*(ms|s|min|minutes?|hours?)\b|\d(\.\d+)?x\b|\bx faster\b")


def _defs(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    return tree, [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not n.name.startswith("_")
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PAPER)))
def test_every_public_function_and_class_has_a_docstring(path):
    _, defs = _defs(path)
    missing = [f"{n.name} (line {n.lineno})" for n in defs if not ast.get_docstring(n)]
    assert not missing, f"{path.relative_to(PAPER)}: no docstring: {', '.join(missing)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PAPER)))
def test_no_docstring_quotes_a_timing(path):
    tree, _ = _defs(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            doc = ast.get_docstring(node) or ""
            found += [
                f"{getattr(node, 'name', 'module')}: {m.group(0)!r}" for m in TIMING.finditer(doc)
            ]
    assert not found, f"{path.relative_to(PAPER)}: timings in docstrings: {found}"
