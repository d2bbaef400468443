"""What code made a result: every ``lslib`` module's source as this process loaded it.

``lslib/__init__.py`` installs an import hook first thing, so each ``lslib`` module is
compiled from source text read once, and that text is what the fingerprint hashes: editing
a file after the import cannot change the fingerprint of the code that runs (Python would
keep running the old code, and its results would be stored under the new code's key).

A fingerprint covers a module and every ``lslib`` module it imports, transitively (from
its import statements, those inside functions included), blind to comments and
docstrings; nobody keeps a list by hand. ``changed`` names the modules of a fingerprint
whose files differ on disk from what this process runs; the store and the saved results
refuse to write while there are any.
"""

import ast
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
from pathlib import Path

PACKAGE = "lslib"
_SOURCES: dict[str, bytes] = {}  # module -> the source text it was compiled from
_FILES: dict[str, tuple[str, int, int]] = {}  # module -> (file, mtime_ns, size) before reading
_LOCK = threading.RLock()
_PRINTS: dict[tuple[str, ...], str] = {}
_CLOSURES: dict[str, frozenset[str]] = {}


class StaleCode(RuntimeError):
    """Files of the code that makes a result changed on disk since this process loaded them."""


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _record(name: str, path: str) -> bytes:
    st = os.stat(path)  # before reading: a change after this is seen by ``changed``
    with open(path, "rb") as f:
        source = f.read()
    with _LOCK:
        _SOURCES.setdefault(name, source)
        _FILES.setdefault(name, (path, st.st_mtime_ns, st.st_size))
        return _SOURCES[name]


class _Loader(importlib.machinery.SourceFileLoader):
    """Compiles a module from the source it records (no bytecode cache: what is hashed is
    exactly what runs)."""

    def get_code(self, fullname):
        return self.source_to_code(_record(fullname, self.path), self.path)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if not _ours(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _Loader(spec.loader.name, spec.loader.path)
        return spec


def install() -> None:
    """Record every ``lslib`` module from now on (``lslib/__init__.py`` calls this first)."""
    with _LOCK:
        if not any(isinstance(f, _Finder) for f in sys.meta_path):
            sys.meta_path.insert(0, _Finder())
        for name, module in list(sys.modules.items()):  # loaded before the hook: lslib, us
            if _ours(name) and getattr(module, "__file__", None) and name not in _SOURCES:
                _record(name, module.__file__)


def source(name: str) -> bytes:
    """The source text of module ``name`` as loaded (importing it now if it is not yet)."""
    if name not in _SOURCES:
        module = importlib.import_module(name)
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            raise ValueError(f"module {name} has no Python source to fingerprint")
        _record(name, file)  # not an lslib module, or imported before the hook
    return _SOURCES[name]


def _is_module(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def imports(name: str) -> set[str]:
    """The ``lslib`` modules that module ``name``'s source imports, anywhere in it."""
    tree = ast.parse(source(name))
    package = name if Path(_FILES[name][0]).name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if _ours(a.name)}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            if not _ours(base):
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if _is_module(sub) else base)
    out.discard(name)
    return out


def closure(name: str) -> frozenset[str]:
    """Module ``name`` and every ``lslib`` module it imports, transitively."""
    with _LOCK:
        if name not in _CLOSURES:
            seen, todo = {name}, [name]
            while todo:
                for dep in imports(todo.pop()):
                    if dep not in seen:
                        seen.add(dep)
                        todo.append(dep)
            _CLOSURES[name] = frozenset(seen)
        return _CLOSURES[name]


def strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def fingerprint(*modules: str) -> str:
    """Hash of the loaded code of ``modules`` and all they import (blind to comments and
    docstrings), e.g. ``fingerprint("lslib.train")``."""
    key = tuple(sorted(modules))
    with _LOCK:
        if key not in _PRINTS:
            names = sorted(set().union(*(closure(m) for m in key)))
            h = hashlib.sha256()
            for name in names:
                tree = strip_docstrings(ast.parse(source(name)))
                h.update(name.encode() + b"\0" + ast.dump(tree).encode())
            _PRINTS[key] = h.hexdigest()[:16]
        return _PRINTS[key]


def changed(*modules: str) -> list[str]:
    """The modules of ``modules``' closures whose files differ on disk from the loaded code."""
    out = []
    for name in sorted(set().union(*(closure(m) for m in modules))):
        path, mtime, size = _FILES[name]
        try:
            st = os.stat(path)
            if (st.st_mtime_ns, st.st_size) == (mtime, size):
                continue
            with open(path, "rb") as f:
                same = f.read() == _SOURCES[name]
        except OSError:
            same = False
        if not same:
            out.append(path)
    return out


def _shown(path: str) -> str:
    """``lslib/train.py`` for a file of the package, else the file's name."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return Path(path).name


def check_fresh(*modules: str, what: str = "a result") -> None:
    """Raise StaleCode if code that makes the result changed on disk since it was loaded."""
    stale = changed(*modules)
    if stale:
        names = ", ".join(_shown(p) for p in stale)
        raise StaleCode(
            f"refusing to store {what}: {names} changed on disk since this process imported "
            "it, so the result would be filed under code that did not compute it. Restart "
            "the process (the Jupyter kernel, the Dask workers) and run it again."
        )
