"""Every folder the project reads or writes, in one place (environment variables override)."""

import math
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MNIST = REPO / "data" / "MNIST" / "raw"
BOOK = REPO / "book"


def env_seconds(name: str, default: float) -> float:
    """Seconds from the environment variable ``name`` (``default`` when unset or empty);
    anything but a finite number > 0 is refused, naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={raw!r} is not understood; allowed: seconds, a number > 0")
    return value


def cache_dir() -> Path:
    """The run store: ``LSLIB_CACHE`` or ``.cache/`` in the repository."""
    return Path(os.environ.get("LSLIB_CACHE") or REPO / ".cache")


def results_dir() -> Path:
    """Where section results are saved: ``LSLIB_RESULTS`` (the grid sets it to
    ``book/_results`` for the book's notebooks), else ``lslib-results/`` in the current
    folder, so an ad hoc papermill run never writes into the book's."""
    return Path(os.environ.get("LSLIB_RESULTS") or Path.cwd() / "lslib-results")


def writable(folder: Path, name: str) -> Path:
    """``folder``, created if absent; ValueError naming the setting ``name`` (an environment
    variable) when it is not a folder this process can write into."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        what = "is not a folder" if folder.exists() and not folder.is_dir() else "is not writable"
        raise ValueError(
            f"{name}={folder} {what} ({e.strerror or type(e).__name__}); set {name} to a "
            "folder this user can write into"
        ) from None
    return folder


def check_writable(folder: Path, name: str) -> None:
    """Like ``writable`` but creating nothing: ValueError unless ``folder`` is a writable
    folder or could be made as one (its nearest existing parent is a writable folder)."""
    folder = Path(folder).absolute()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        what = "is not a folder" if probe == folder else f"is below a file ({probe})"
        raise ValueError(f"{name}={folder} {what}; set {name} to a folder this user can write into")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(
            f"{name}={folder} is not writable ({probe} is not); set {name} to a folder this "
            "user can write into"
        )
