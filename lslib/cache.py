"""Content-addressed result store.

key = sha256(kind, config, fingerprint of the code that computes it, identity of the
MNIST files read). The fingerprint (``lslib.codeid``) hashes the module that computes the
value and every lslib module it imports, transitively, as this process loaded them, with
docstrings removed: editing a comment or docstring keeps the cache, while any change to
the code that produces the numbers invalidates it, and a process whose code changed on
disk after it was loaded refuses to store what it computes (StaleCode): a stale result is
never served.

An entry is one file, ``<kind>/<key>.pt``: a header line with the SHA-256 of the rest,
a line of JSON metadata, a line of JSON describing the value, and the raw bytes of its
tensors and arrays. Nothing is unpickled: an entry is data, never code, so whoever can
write to a shared store can forge numbers but cannot run code in its readers. On read the
digest is checked before anything is parsed, and the stored kind, config, code and data
identity are compared with the request; an entry failing either (or one of the old pickled
format, which is never loaded) is corrupt: warned, moved aside to ``<key>.corrupt`` and
recomputed. Writes go to a temporary file that is
renamed into place; temporaries left by crashed writers are removed by the next writer.
A file lock makes two processes asking for one key compute it once; the lock file names
its holder, a waiter says whom it waits for after ``NOTICE_S`` seconds and gives up with a
TimeoutError after ``LSLIB_LOCK_TIMEOUT`` seconds (default 6 hours). Location:
``.cache/`` in the repository, or ``LSLIB_CACHE``.

Two things for whoever runs the work (the grid, its progress display, tests): ``watching``
calls a hook before and after every computation of this process (its kind and config),
and inside ``probing`` a missing entry raises ``Missing`` instead of being computed, which
tells, without computing anything, whether a call is served by the store and what it
would compute first.
"""

import contextlib
import dataclasses
import datetime
import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lslib import codeid, fused
from lslib.paths import cache_dir, env_seconds, writable

MAGIC = b"lslib-entry-v3 sha256="
OLD_MAGIC = b"lslib-entry-v2 "  # pickled entries of earlier versions: never loaded
LOCK_TIMEOUT_S = 6 * 3600.0  # default of LSLIB_LOCK_TIMEOUT
NOTICE_S = 5.0  # a waiter says whom it waits for after this long
STALE_TMP_S = 15 * 60.0  # a temporary this old is a crashed write, whoever wrote it
_MISSING = object()


fingerprint = codeid.fingerprint  # the loaded code of modules and all they import


def canonical(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__, **{k: canonical(v) for k, v in vars(obj).items()}}
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, list | tuple):
        return [canonical(v) for v in obj]
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    raise TypeError(f"cannot hash {type(obj).__name__} into a cache key")


def data_identity() -> str:
    """Hash of the four uncompressed MNIST files every computation reads (lslib.data)."""
    from lslib import data

    return data.identity()


def key_of(kind: str, config: Any, code: str, data: str | None = None) -> str:
    data = data_identity() if data is None else data
    blob = json.dumps(
        {"kind": kind, "config": canonical(config), "code": code, "data": data}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclasses.dataclass
class Stats:
    """Counts of what the store did in this process (tests use them instead of timings)."""

    computed: int = 0
    loaded: int = 0
    corrupt: int = 0
    stale_tmp: int = 0


stats = Stats()
_hooks: list[Callable[[str, str, Any], None]] = []
_probe = threading.local()


class Missing(LookupError):
    """Raised inside ``probing()`` by the first entry a call would compute."""

    def __init__(self, kind: str, config: Any):
        super().__init__(f"{kind} entry is not stored")
        self.kind, self.config = kind, canonical(config)


@contextlib.contextmanager
def watching(hook: Callable[[str, str, Any], None]):
    """Call ``hook(event, kind, config)`` with event 'start' before and 'end' after each
    computation of this process (nested ones included: an epoch computes its predecessor).
    A hook that raises is warned about and never stops the computation."""
    _hooks.append(hook)
    try:
        yield hook
    finally:
        _hooks.remove(hook)


def _notify(event: str, kind: str, config: Any) -> None:
    for hook in list(_hooks):
        try:
            hook(event, kind, config)
        except Exception as e:
            warnings.warn(f"cache hook {hook!r} failed: {type(e).__name__}: {e}", stacklevel=3)


@contextlib.contextmanager
def probing(stored: bool = True):
    """Within this block (this thread), ``cached`` serves stored entries and raises
    ``Missing`` where it would compute; nothing is computed, locked or written. With
    ``stored=False`` the first call raises, stored or not (what would an empty store do)."""
    old = getattr(_probe, "on", None)
    _probe.on = "stored" if stored else "empty"
    try:
        yield
    finally:
        _probe.on = old


def cached(
    kind: str,
    config: Any,
    compute: Callable[[], Any],
    code: str | tuple[str, ...] | None = None,
    lock_timeout: float | None = None,
) -> Any:
    """Return the stored value for (kind, config, code, data), computing and storing it if absent.

    ``compute`` returns a picklable value (tensors, arrays, dicts, numbers). ``code``: the
    module (or modules) whose code makes the value, by its dotted name; the key covers it
    and every lslib module it imports, as this process loaded them (default: the module
    that defines ``compute``). A value is not stored, but refused with StaleCode, when
    those files changed on disk since they were loaded. ``lock_timeout``: seconds to wait
    for another process computing the same entry (default ``LSLIB_LOCK_TIMEOUT``, else 6
    hours), then TimeoutError.
    """
    modules = code_modules(compute, code)
    folder = cache_dir() / kind
    want = {
        "kind": kind,
        "config": canonical(config),
        "code": codeid.fingerprint(*modules),
        "data": data_identity(),
    }
    if getattr(_probe, "on", None) == "empty":
        raise Missing(kind, config)
    key = key_of(kind, config, want["code"], want["data"])
    path = folder / f"{key}.pt"
    value = _read(path, want, repair=False)
    if value is not _MISSING:
        return value
    if getattr(_probe, "on", None):
        raise Missing(kind, config)
    writable(cache_dir(), "LSLIB_CACHE")
    folder.mkdir(exist_ok=True)
    with _Lock(folder / f"{key}.lock", kind, key, lock_timeout):
        # A second process finds the first one's entry here. Only the lock holder moves a
        # corrupt entry aside, so a reader never moves away an entry that was just rewritten.
        value = _read(path, want, repair=True)
        if value is not _MISSING:
            return value
        codeid.check_fresh(*modules, what=f"a {kind} entry")
        start, cpu = time.perf_counter(), time.process_time()
        _notify("start", kind, config)
        try:
            value = compute()
        finally:
            _notify("end", kind, config)
        meta = want | {
            "modules": list(modules),  # whose code ``code`` fingerprints (the plan checks it)
            "lslib": _version(),
            "torch": torch.__version__,
            "device": _device_of(want["config"]),
            "device_type": torch.device(_device_of(want["config"])).type,
            "threads": torch.get_num_threads(),  # results are bit-exact per thread count
            "kernel": fused.provenance(),  # the fused surface kernel or PyTorch's path
            "wall_s": time.perf_counter() - start,
            "cpu_s": time.process_time() - cpu,  # all threads of the process: wall_s x threads
            # when the task had the cores to itself, far less when it shared them
            "created": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        codeid.check_fresh(*modules, what=f"a {kind} entry")  # also edited while it ran
        _write(path, {"meta": meta, "value": value})
        stats.computed += 1
    return value


def code_modules(compute: Callable | None, code: str | tuple[str, ...] | None) -> tuple:
    """The modules whose code makes a value: ``code``, else the module defining ``compute``."""
    if code is None:
        code = getattr(compute, "__module__", None)
        if not code or code == "__main__" and not hasattr(sys.modules["__main__"], "__file__"):
            raise ValueError("cannot tell which code computes this value: pass code=")
    return (code,) if isinstance(code, str) else tuple(code)


def _device_of(config: Any) -> str:
    """The ``device`` field of a canonical config, searched through nested configs."""
    if isinstance(config, dict):
        if isinstance(config.get("device"), str):
            return config["device"]
        for v in config.values():
            d = _device_of(v)
            if d != "cpu":
                return d
    if isinstance(config, list):
        for v in config:
            d = _device_of(v)
            if d != "cpu":
                return d
    return "cpu"


# ---------------------------------------------------------------- the entry file
#
# An entry is data, never code: a header line with the SHA-256 of the rest, one line of
# JSON metadata, one line of JSON describing the value, then the raw bytes of its arrays.
# Reading it parses JSON and copies bytes into tensors and arrays of the dtypes the JSON
# names; nothing is unpickled, so a file planted by another writer of a shared store can
# forge numbers but cannot run code.

_TAG = "__lslib__"  # the key that marks an encoded tuple, array, tensor or odd dict


def _encode(entry: dict) -> bytes:
    """``{"meta", "value"}`` as an entry file; TypeError for a value that is not plain
    data (numbers, strings, None, lists, tuples, dicts, tensors, numpy arrays and scalars)."""
    chunks: list[bytes] = []
    offset = [0]

    def raw(data: bytes | memoryview) -> int:
        chunks.append(data)
        offset[0] += len(data)
        return offset[0] - len(data)

    def enc(v: Any) -> Any:
        if v is None or type(v) in _PLAIN:
            return v
        if isinstance(v, dict):
            if all(isinstance(k, str) for k in v) and _TAG not in v:
                return {k: enc(x) for k, x in v.items()}
            return {_TAG: "dict", "items": [[enc(k), enc(x)] for k, x in v.items()]}
        if isinstance(v, list):
            return [enc(x) for x in v]
        if isinstance(v, tuple):
            return {_TAG: "tuple", "items": [enc(x) for x in v]}
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu()
            if t.layout != torch.strided or t.is_quantized:
                raise TypeError(f"cannot store a {t.layout} tensor in a cache entry")
            flat = t.contiguous().reshape(-1)
            data = memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else b""
            return {
                _TAG: "tensor",
                "dtype": str(t.dtype).removeprefix("torch."),
                "shape": list(t.shape),
                "layout": _layout(t),
                "grad": v.requires_grad,
                "at": raw(data),
                "n": len(data),
            }
        if isinstance(v, np.ndarray | np.generic):
            a = np.asarray(v)
            if a.dtype.hasobject:
                raise TypeError("cannot store a numpy array of Python objects in a cache entry")
            data = memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
            return {
                _TAG: "ndarray" if isinstance(v, np.ndarray) else "npscalar",
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "at": raw(data),
                "n": len(data),
            }
        raise TypeError(
            f"cannot store a {type(v).__name__} in a cache entry: numbers, strings, None, "
            "lists, tuples, dicts, tensors and numpy arrays only"
        )

    value = enc(entry["value"])
    parts = [_json(entry["meta"]) + b"\n" + _json(value) + b"\n", *chunks]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return b"".join([MAGIC, digest.hexdigest().encode(), b"\n", *parts])  # one copy


_PLAIN = (bool, int, float, str)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True, separators=(",", ":")).encode()


class OldFormat(ValueError):
    """An entry of the pickled format of earlier versions: refused, never loaded."""


def _checked(blob: bytes) -> int:
    """Where the body of ``blob`` starts, once its header and digest match; ValueError
    otherwise (an entry of the old, pickled format is refused here, before anything of it
    is read)."""
    head, sep, _ = blob[:200].partition(b"\n")
    if head.startswith(OLD_MAGIC):
        raise OldFormat(
            "it is in the old pickled format (lslib-entry-v2), which this lslib never "
            "loads: unpickling a file another user could write can run code"
        )
    if not sep or not head.startswith(MAGIC):
        raise ValueError("no lslib entry header")
    body = memoryview(blob)[len(head) + 1 :]
    expected, actual = head[len(MAGIC) :].decode(errors="replace"), hashlib.sha256(body).hexdigest()
    if actual != expected:
        raise ValueError(
            f"payload sha256 {actual[:16]}... differs from its header's {expected[:16]}..."
        )
    return len(head) + 1


def decode_meta(blob: bytes) -> dict:
    """The metadata of the entry in ``blob`` (digest checked first; JSON only)."""
    meta = json.loads(_line(blob, _checked(blob))[0])
    if not isinstance(meta, dict):
        raise ValueError("its metadata is not a mapping")
    return meta


def _decode(blob: bytes) -> dict:
    """The entry in ``blob``; ValueError if its header, digest or layout is wrong."""
    meta, end = _line(blob, _checked(blob))
    value, end = _line(blob, end)
    data = memoryview(blob)[end:]

    def span(d: dict) -> memoryview:
        at, n = d["at"], d["n"]
        if not (isinstance(at, int) and isinstance(n, int) and 0 <= at <= at + n <= len(data)):
            raise ValueError("an array's bytes lie outside the entry")
        return data[at : at + n]

    def dec(v: Any) -> Any:
        if isinstance(v, list):
            return [dec(x) for x in v]
        if not isinstance(v, dict):
            return v
        tag = v.get(_TAG)
        if tag is None:
            return {k: dec(x) for k, x in v.items()}
        if tag == "tuple":
            return tuple(dec(x) for x in v["items"])
        if tag == "dict":
            return {_hashable(dec(k)): dec(x) for k, x in v["items"]}
        if tag == "tensor":
            dtype = getattr(torch, v["dtype"], None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"unknown tensor dtype {v['dtype']!r}")
            b = span(v)
            flat = (
                torch.frombuffer(bytearray(b), dtype=dtype)
                if len(b)
                else torch.empty(0, dtype=dtype)
            )
            t = flat.reshape(v["shape"])
            if v.get("layout") == "channels_last":
                t = t.contiguous(memory_format=torch.channels_last)
            return t.requires_grad_(bool(v["grad"]))
        if tag in ("ndarray", "npscalar"):
            dtype = np.dtype(v["dtype"])
            if dtype.hasobject:
                raise ValueError("a numpy array of Python objects")
            a = np.frombuffer(span(v), dtype=dtype).reshape(v["shape"]).copy()
            return a if tag == "ndarray" else a[()]
        raise ValueError(f"unknown entry tag {tag!r}")

    return {"meta": json.loads(meta), "value": dec(json.loads(value))}


def _layout(t: torch.Tensor) -> str:
    """How a tensor's elements lie in memory, kept so a channels-last state loads as it was."""
    if (
        t.dim() == 4
        and not t.is_contiguous()
        and t.is_contiguous(memory_format=torch.channels_last)
    ):
        return "channels_last"
    return "contiguous"


def _line(blob: bytes, start: int) -> tuple[bytes, int]:
    """The line of ``blob`` from ``start``, and where the next one starts."""
    end = blob.find(b"\n", start)
    if end < 0:
        raise ValueError("an entry line is missing")
    return blob[start:end], end + 1


def _hashable(k: Any) -> Any:
    return tuple(_hashable(x) for x in k) if isinstance(k, list) else k


def _write_file(path: Path, blob: bytes) -> None:
    path.unlink(missing_ok=True)  # our own name (this pid); a link planted there goes
    fd = open_own(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with open(fd, "wb") as f:
        f.write(blob)


def open_own(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` of a file of the store that must be a plain file of its own: never
    through a symbolic link (a link planted by another user would make us write to the
    file it points to) and never a file with other names (two names for one lock file would
    make a process wait for itself). OSError naming the path otherwise."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as e:
        if e.errno == errno.ELOOP or path.is_symlink():
            raise OSError(
                errno.ELOOP,
                f"{path} is a symbolic link, not a file of this store: refusing to follow "
                "it (someone else made it; remove it to go on)",
            ) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else "a file with other names"
        raise OSError(
            errno.EEXIST,
            f"{path} is {what} ({st.st_nlink} links), not this store's own: refusing to use it "
            "(someone else made it; remove it to go on)",
        )
    return fd


def _write(path: Path, entry: dict) -> None:
    """Atomic write (temporary file + rename); a failed write leaves nothing behind."""
    _remove_stale_temporaries(path.parent)
    blob = _encode(entry)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        _write_file(tmp, blob)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        code = getattr(e, "errno", None) or errno.EIO
        raise OSError(
            code,
            f"could not write the cache entry {path} ({len(blob) / 1e6:.1f} MB: "
            f"{e}); free space on that disk, or set LSLIB_CACHE to a folder "
            "with room",
        ) from e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove ``*.tmp<pid>`` files of dead writers (or older than STALE_TMP_S)."""
    now = time.time()
    for tmp in folder.glob("*.tmp*"):
        pid = tmp.suffix[len(".tmp") :]
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:
            continue
        # A dead pid may be a live writer on another host sharing the folder: wait a minute.
        dead = pid.isdigit() and not _alive(int(pid)) and age > 60
        if dead or age > STALE_TMP_S:
            tmp.unlink(missing_ok=True)
            stats.stale_tmp += 1


def _read(path: Path, want: dict, repair: bool) -> Any:
    """The stored value, or _MISSING when absent or corrupt (with ``repair``: warned and
    moved aside)."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return _MISSING
    try:
        entry = _decode(blob)
        value, meta = entry["value"], entry["meta"]
        for field in ("kind", "config", "code", "data"):
            if meta.get(field) != want[field]:
                raise ValueError(
                    f"it was computed for another {field} "
                    f"({_short(meta.get(field))}, requested {_short(want[field])})"
                )
    except Exception as e:  # truncated, flipped, swapped or foreign file: recompute it
        if not repair:
            return _MISSING
        aside = path.with_suffix(".corrupt")
        with contextlib.suppress(FileNotFoundError):  # another reader moved it first
            os.replace(path, aside)
        warnings.warn(
            f"cache entry {path} is corrupt or unreadable ({type(e).__name__}: {e}); "
            f"moved to {aside.name}, recomputing",
            stacklevel=3,
        )
        stats.corrupt += 1
        return _MISSING
    stats.loaded += 1
    return value


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True, default=str)
    return s if len(s) <= 200 else s[:200] + "..."


def meta(kind: str, config: Any, code: str | tuple[str, ...]) -> dict | None:
    """The metadata of a stored entry, or None (also when it fails its digest). ``code``:
    as for ``cached``."""
    code = fingerprint(*code_modules(None, code))
    path = cache_dir() / kind / f"{key_of(kind, config, code)}.pt"
    try:
        return decode_meta(path.read_bytes())
    except Exception:  # absent, or corrupt (``cached`` reports and replaces it)
        return None


# ---------------------------------------------------------------- the lock


class _Lock:
    """An exclusive flock on ``path`` whose file names its holder (pid, host, since)."""

    def __init__(self, path: Path, kind: str, key: str, timeout: float | None):
        if timeout is None:
            timeout = env_seconds("LSLIB_LOCK_TIMEOUT", LOCK_TIMEOUT_S)
        self.path, self.kind, self.key, self.timeout = path, kind, key, timeout

    def __enter__(self):
        self.fd = open_own(self.path, os.O_RDWR | os.O_CREAT)  # "w" would erase the holder
        try:
            self._acquire()
        except BaseException:
            os.close(self.fd)
            raise
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(holder).encode(), 0)
        return self

    def _acquire(self) -> None:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited > self.timeout:
                    raise TimeoutError(
                        f"gave up after {waited:.0f} s waiting for {self.kind} "
                        f"entry {self.key}: {self._holder()} (lock file "
                        f"{self.path}; LSLIB_LOCK_TIMEOUT sets the limit)"
                    ) from None
                if waited > NOTICE_S and not told:
                    warnings.warn(
                        f"waiting for {self.kind} entry {self.key}: {self._holder()} "
                        f"(lock file {self.path})",
                        stacklevel=3,
                    )
                    told = True
                time.sleep(min(0.2, max(self.timeout - waited, 0.01)))

    def _holder(self) -> str:
        try:
            h = json.loads(os.pread(self.fd, 4096, 0) or b"{}")
            gone = h["host"] == socket.gethostname() and not _alive(int(h["pid"]))
            return f"computed by pid {h['pid']} on {h['host']} since {h['since']}" + (
                " (no such process now: a process it started holds the lock)" if gone else ""
            )
        except (OSError, ValueError, KeyError):
            return "computed by another process"

    def __exit__(self, *exc):
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _version() -> str:
    from lslib.version import __version__

    return __version__
