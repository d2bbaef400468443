"""Content-addressed result store.

key = sha256(kind, config, fingerprint of the code that computes it). The fingerprint
hashes the AST of the named lslib modules with docstrings removed, so editing a comment
or docstring keeps the cache, while any change to the code that produces the numbers
invalidates it: a stale result is never served. Writes are atomic (temporary file +
rename); a file lock makes two processes asking for one key compute it once; an
unreadable entry is reported with a warning and recomputed. Location: ``.cache/`` in the
repository, or ``LSLIB_CACHE``.
"""

import ast
import dataclasses
import datetime
import fcntl
import functools
import hashlib
import importlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    return Path(os.environ.get("LSLIB_CACHE") or REPO / ".cache")


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.cache
def fingerprint(*modules: str) -> str:
    """Hash of the code of ``lslib.<module>`` for each name, blind to comments and docstrings."""
    h = hashlib.sha256()
    for name in sorted(modules):
        path = Path(importlib.import_module(f"lslib.{name}").__file__)
        tree = _strip_docstrings(ast.parse(path.read_text()))
        h.update(name.encode() + ast.dump(tree).encode())
    return h.hexdigest()[:16]


def _canonical(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__, **{k: _canonical(v) for k, v in vars(obj).items()}}
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    raise TypeError(f"cannot hash {type(obj).__name__} into a cache key")


def key_of(kind: str, config: Any, code: str) -> str:
    blob = json.dumps({"kind": kind, "config": _canonical(config), "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclasses.dataclass
class Stats:
    """Counts of what the store did in this process (tests use them instead of timings)."""

    computed: int = 0
    loaded: int = 0
    corrupt: int = 0


stats = Stats()


def cached(kind: str, config: Any, compute: Callable[[], Any], modules: tuple[str, ...]) -> Any:
    """Return the stored value for (kind, config, code), computing and storing it if absent.

    ``compute`` returns a picklable value (tensors, arrays, dicts, numbers). ``modules``
    names the lslib modules whose code determines the value.
    """
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    key = key_of(kind, config, fingerprint(*modules))
    path = folder / f"{key}.pt"
    value = _read(path)
    if value is not None:
        return value
    with open(folder / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then reads
        value = _read(path)
        if value is not None:
            return value
        start = time.perf_counter()
        value = compute()
        meta = {
            "kind": kind,
            "config": _canonical(config),
            "lslib": _version(),
            "torch": torch.__version__,
            "device": getattr(config, "device", "cpu"),
            "wall_s": time.perf_counter() - start,
            "created": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"meta": meta, "value": value}, tmp)
        os.replace(tmp, path)
        stats.computed += 1
    return value


def _read(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        # Our own files: full unpickling is needed for numpy arrays and small dataclasses.
        entry = torch.load(path, map_location="cpu", weights_only=False)
        value = entry["value"]
    except Exception as e:  # truncated, corrupt or foreign file: recompute it
        warnings.warn(f"cache entry {path} is unreadable ({type(e).__name__}: {e}); recomputing",
                      stacklevel=3)  # fmt: skip
        stats.corrupt += 1
        path.unlink(missing_ok=True)
        return None
    stats.loaded += 1
    return value


def meta(kind: str, config: Any, modules: tuple[str, ...]) -> dict | None:
    """The metadata of a stored entry, or None."""
    path = cache_dir() / kind / f"{key_of(kind, config, fingerprint(*modules))}.pt"
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)["meta"]


def _version() -> str:
    from lslib import __version__

    return __version__
