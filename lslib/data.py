"""MNIST from the files shipped in ``data/MNIST/raw``, held whole in memory.

The gzipped IDX files are checked against their SHA-256 (data/README.md), extracted
once into the cache folder, and read through ``torchvision.datasets.MNIST``. Setting
``LSLIB_DATA`` to an existing torchvision MNIST root (a folder holding ``MNIST/raw``)
uses that instead. The uncompressed files are checked against their SHA-256 before
use (a wrong extracted copy is re-extracted with a warning; a wrong ``LSLIB_DATA`` copy
is an error), and their hash, ``identity()``, is part of every cache key.

Splits: train = the first 50,000 training images, val = the last 10,000 (the stopping
rule uses it), test = the 10,000 test images (for evaluation only).
"""

import functools
import gzip
import hashlib
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from lslib.paths import SHIPPED_MNIST as SHIPPED
from lslib.paths import cache_dir, writable

MEAN, STD = 0.1307, 0.3081
N_TRAIN, N_VAL = 50_000, 10_000
SHA256 = {
    "train-images-idx3-ubyte.gz": "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
    "train-labels-idx1-ubyte.gz": "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
    "t10k-images-idx3-ubyte.gz": "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
    "t10k-labels-idx1-ubyte.gz": "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
}
# The same files uncompressed (what torchvision reads).
RAW_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


@dataclass(frozen=True)
class Split:
    """Images (n, 1, 28, 28), normalized, and integer labels (n,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int | None) -> "Split":
        return self if n is None else Split(self.x[:n], self.y[:n])

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class MNIST:
    train: Split
    val: Split
    test: Split


def verify(raw: Path = SHIPPED) -> None:
    """Raise a clear error if a shipped file is missing or does not match its checksum."""
    restore = "restore it with `git checkout -- data/` (or re-run scripts/convert_mnist.py)"
    for name, digest in SHA256.items():
        path = raw / name
        if not path.is_file():
            raise FileNotFoundError(f"MNIST file missing: {path}; {restore}")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest:
            raise OSError(
                f"MNIST file {path} is corrupt (sha256 {actual}, expected {digest}); {restore}"
            )


def _root() -> Path:
    """A torchvision MNIST root holding the uncompressed IDX files, checked."""
    env = os.environ.get("LSLIB_DATA")
    if env:
        return _env_root(Path(env))
    root = cache_dir() / "mnist"
    raw = root / "MNIST" / "raw"
    bad = []
    for attempt in range(3):
        if not all((raw / n).is_file() for n in RAW_SHA256):
            _extract(raw)
        try:
            bad = _mismatches(raw)
        except FileNotFoundError:  # another process is re-extracting a file
            continue
        if not bad:
            return root
        for name, actual, expected in bad:
            if attempt == 0:
                warnings.warn(
                    f"extracted MNIST file {raw / name} is corrupt (sha256 {actual}, "
                    f"expected {expected}); re-extracting it from data/MNIST/raw",
                    stacklevel=3,
                )
            (raw / name).unlink(missing_ok=True)
    what = (
        f"{raw / bad[0][0]} is corrupt after re-extraction (sha256 {bad[0][1]}, expected "
        f"{bad[0][2]})"
        if bad
        else f"{raw} keeps changing"
    )
    raise OSError(f"MNIST file {what}; delete {root} and retry")


def _env_root(root: Path) -> Path:
    raw = root / "MNIST" / "raw"
    layout = f"<root>/MNIST/raw/{{{', '.join(RAW_SHA256)}}} (uncompressed IDX files)"
    fix = "fix that folder, or unset LSLIB_DATA to use the shipped copy"
    missing = [n for n in RAW_SHA256 if not (raw / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"LSLIB_DATA={root} has no MNIST file(s) {missing} in {raw}; "
            f"the expected layout is {layout}; {fix}"
        )
    bad = _mismatches(raw)
    if bad:
        name, actual, expected = bad[0]
        raise OSError(
            f"MNIST file {raw / name} (under LSLIB_DATA) is corrupt or truncated "
            f"(sha256 {actual}, expected {expected}); {fix}"
        )
    return root


def _extract(raw: Path) -> None:
    """Uncompress the shipped files into ``raw``; a failed write (a full disk, a read-only
    folder) leaves no temporary behind and names the folder and the cause."""
    verify()
    writable(raw.parent.parent.parent, "LSLIB_CACHE")
    raw.mkdir(parents=True, exist_ok=True)
    for name in SHA256:
        tmp = raw / (name[:-3] + f".tmp{os.getpid()}")
        try:
            with gzip.open(SHIPPED / name, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, raw / name[:-3])  # atomic: a crash leaves no half file
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise OSError(
                e.errno,
                f"could not extract MNIST's {name} into {raw} ({e.strerror or e}); free "
                "space on that disk, or set LSLIB_CACHE to a folder with room (MNIST "
                "takes 55 MB uncompressed)",
            ) from None


def _mismatches(raw: Path) -> list[tuple[str, str, str]]:
    """(name, actual, expected) for each uncompressed file whose SHA-256 is wrong."""
    digests = _digests(raw)
    return [(n, digests[n], d) for n, d in RAW_SHA256.items() if digests[n] != d]


def _digests(raw: Path) -> dict[str, str]:
    # Hashed once per process and file version (a rewrite changes size, mtime or inode).
    stamp = tuple(
        (s.st_size, s.st_mtime_ns, s.st_ino) for s in (os.stat(raw / n) for n in RAW_SHA256)
    )
    return _hash_files(str(raw), stamp)


@functools.lru_cache(maxsize=8)
def _hash_files(raw: str, stamp: tuple) -> dict[str, str]:
    return {n: hashlib.sha256((Path(raw) / n).read_bytes()).hexdigest() for n in RAW_SHA256}


def identity() -> str:
    """Hash of the four uncompressed MNIST files that are read (verified first)."""
    raw = _root() / "MNIST" / "raw"
    digests = _digests(raw)
    return hashlib.sha256("".join(digests[n] for n in RAW_SHA256).encode()).hexdigest()[:16]


def _tensors(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST as TV

    ds = TV(str(_root()), train=train, download=False)
    x = ds.data.unsqueeze(1).float().div_(255.0).sub_(MEAN).div_(STD)
    return x, ds.targets.clone()


@functools.lru_cache(maxsize=1)
def _load() -> MNIST:
    x, y = _tensors(train=True)
    xt, yt = _tensors(train=False)
    return MNIST(Split(x[:N_TRAIN], y[:N_TRAIN]), Split(x[N_TRAIN:], y[N_TRAIN:]), Split(xt, yt))


def load_mnist(subset: int | None = None, eval_subset: int | None = None, device="cpu") -> MNIST:
    """The three splits as in-memory tensors.

    Args:
        subset: keep the first n training images (None: all 50,000).
        eval_subset: keep the first n validation and test images (None: all 10,000).
        device: where the tensors live.
    """
    d = _load()
    return MNIST(
        d.train.head(subset).to(device),
        d.val.head(eval_subset).to(device),
        d.test.head(eval_subset).to(device),
    )


def batches(n: int, batch_size: int, generator: torch.Generator):
    """Index tensors of a seeded random permutation of range(n), in batches."""
    perm = torch.randperm(n, generator=generator)
    return perm.split(batch_size)
