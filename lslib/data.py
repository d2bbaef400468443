"""MNIST from the files shipped in ``data/MNIST/raw``, held whole in memory.

The gzipped IDX files are checked against their SHA-256 (data/README.md), extracted
once into the cache folder, and read through ``torchvision.datasets.MNIST``. Setting
``LSLIB_DATA`` to an existing torchvision MNIST root (a folder holding ``MNIST/raw``)
uses that instead. Splits: train = the first 50,000 training images, val = the last
10,000 (the stopping rule uses it), test = the 10,000 test images (reported numbers only).
"""

import functools
import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

MEAN, STD = 0.1307, 0.3081
N_TRAIN, N_VAL = 50_000, 10_000
REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "data" / "MNIST" / "raw"
SHA256 = {
    "train-images-idx3-ubyte.gz": "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
    "train-labels-idx1-ubyte.gz": "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
    "t10k-images-idx3-ubyte.gz": "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
    "t10k-labels-idx1-ubyte.gz": "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
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
    """A torchvision MNIST root holding the uncompressed IDX files."""
    env = os.environ.get("LSLIB_DATA")
    if env:
        return Path(env)
    from lslib.cache import cache_dir

    root = cache_dir() / "mnist"
    raw = root / "MNIST" / "raw"
    if not all((raw / n[:-3]).is_file() for n in SHA256):
        verify()
        raw.mkdir(parents=True, exist_ok=True)
        for name in SHA256:
            tmp = raw / (name[:-3] + f".tmp{os.getpid()}")
            with gzip.open(SHIPPED / name, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(tmp, raw / name[:-3])  # atomic: a crash leaves no half file
    return root


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
