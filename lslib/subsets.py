"""Seeded random evaluation subsets of a data split.

``lslib.data`` keeps the first n images (``Split.head``); a subset drawn at random comes
from the whole split instead of one fixed stretch of it. The draw uses a CPU generator,
so a seed gives the same images on every device. It lives apart from ``lslib.data`` so
that training caches, which fingerprint that module, are not touched by it.
"""

import torch

from lslib.data import Split


def indices(size: int, n: int, seed: int) -> torch.Tensor:
    """``n`` distinct indices into range(size), drawn with ``seed``, in increasing order."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= size:
        raise ValueError(f"n={n!r} is invalid; allowed: int in [1, {size}] (the split's size)")
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(size, generator=g)[:n].sort().values


def sample(split: Split, n: int, seed: int) -> Split:
    """A seeded random subset of ``n`` images of ``split`` without replacement, kept in the
    split's order, on the split's device."""
    idx = indices(len(split), n, seed).to(split.y.device)
    return Split(split.x[idx], split.y[idx])
