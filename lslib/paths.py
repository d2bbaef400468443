"""Every folder the project reads or writes, in one place (environment variables override)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MNIST = REPO / "data" / "MNIST" / "raw"
BOOK = REPO / "book"


def cache_dir() -> Path:
    """The run store: ``LSLIB_CACHE`` or ``.cache/`` in the repository."""
    return Path(os.environ.get("LSLIB_CACHE") or REPO / ".cache")


def results_dir() -> Path:
    """Where section results are saved: ``LSLIB_RESULTS`` or ``book/_results``."""
    return Path(os.environ.get("LSLIB_RESULTS") or BOOK / "_results")
