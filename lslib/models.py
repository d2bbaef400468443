"""Two model families: MLP(width) and SimpleCNN(width), as plain nn.Sequential.

Both are Sequentials of parameter-free modules and Linear/Conv2d layers, with no
BatchNorm and no dropout, so the loss landscape and Hessian are deterministic functions
of the weights; the landscape engine and permutation alignment rely on that structure.
"""

import torch
from torch import nn

MODEL_NAMES = ("mlp", "cnn")


def MLP(width: int = 128) -> nn.Sequential:
    """784 -> width -> 10 with ReLU."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(), nn.Linear(width, 10))


def SimpleCNN(width: int = 32) -> nn.Sequential:
    """conv3x3(1->w) pool2 ReLU, conv3x3(w->2w) pool2 ReLU, fc(98w->2w) ReLU, fc(2w->10).

    The report's conv, ReLU, pool with each pool before its ReLU: max-pooling and ReLU
    commute exactly (ReLU is monotone and both only select or zero values), in the outputs
    and in the gradients, bit for bit (tests check it; the one exception is the sign of a
    zero, -0.0 against +0.0, where a conv output is exactly -0.0, which no later sum with a
    nonzero term keeps), and the ReLU then runs on a quarter of the values (training
    measured ~10 % faster a step). The parameters' names are those of either order.
    """
    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * w * 7 * 7, 2 * w),
        nn.ReLU(),
        nn.Linear(2 * w, 10),
    )


def build_model(name: str, width: int, seed: int | None = None) -> nn.Sequential:
    """A fresh model; with ``seed``, its initialization is seeded without touching global RNG."""
    if name not in MODEL_NAMES:
        raise ValueError(f"model={name!r} is unknown; allowed: {MODEL_NAMES}")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width={width!r} is invalid; allowed: int >= 1")
    make = MLP if name == "mlp" else SimpleCNN
    if seed is None:
        return make(width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make(width)


def count_params(name: str, width: int) -> int:
    """The parameters of ``build_model(name, width)``, counted without building it (a width
    too large for memory is refused by this count, not by an allocation)."""
    if name == "mlp":
        return 784 * width + width + width * 10 + 10
    w = width  # conv 1->w, conv w->2w (3x3, biases), fc 98w->2w, fc 2w->10
    return (9 * w + w) + (9 * w * 2 * w + 2 * w) + (98 * w * 2 * w + 2 * w) + (2 * w * 10 + 10)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
