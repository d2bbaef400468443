"""Frozen run configurations, validated on construction, and the named profiles.

Every field that changes the numbers lives here, so the cache key of a run is the hash
of its config (plus a fingerprint of the code). Derive variants with
``dataclasses.replace``; never mutate.
"""

import dataclasses
import functools
import os
from typing import Any

MODELS = ("mlp", "cnn")
OPTIMIZERS = ("sgd", "momentum", "adam")
DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "adam": 1e-3}
PROFILES = ("smoke", "quick", "paper")


def config_dataclass(cls):
    """A frozen dataclass whose constructor rejects unknown fields with a ValueError."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    init = cls.__init__
    names = [f.name for f in dataclasses.fields(cls)]

    @functools.wraps(init)
    def checked_init(self, *args, **kwargs):
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; allowed: {names}")
        init(self, *args, **kwargs)

    cls.__init__ = checked_init
    return cls


def _check(cond: bool, cls: str, field: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ValueError(f"{cls}.{field}={value!r} is invalid; allowed: {allowed}")


def default_device() -> str:
    """'cuda' when present, else 'cpu'; the environment variable LSLIB_DEVICE overrides."""
    env = os.environ.get("LSLIB_DEVICE")
    if env:
        return env
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@config_dataclass
class TrainConfig:
    """One training run.

    ``epochs`` set: train exactly that many epochs. ``epochs=None``: train until
    convergence (see ``lslib.train.converged``): stop when the validation loss has not
    improved by a relative ``rel_tol`` for ``patience`` epochs, or at ``max_epochs``.
    """

    model: str = "mlp"
    width: int = 128
    optimizer: str = "momentum"
    lr: float | None = None  # None: the optimizer's default (DEFAULT_LR)
    momentum: float = 0.9  # used by 'momentum' only
    batch_size: int = 128
    epochs: int | None = None
    max_epochs: int = 30
    patience: int = 2
    rel_tol: float = 0.01
    seed: int = 0
    subset: int | None = None  # first n training images (None: all 50,000)
    eval_subset: int | None = None  # first n validation and test images (None: all)
    snapshot_every: int = 0  # 0: no trajectory; k: weights at init and every k steps
    device: str = dataclasses.field(default_factory=lambda: default_device())

    def __post_init__(self):
        n = "TrainConfig"
        _check(self.model in MODELS, n, "model", self.model, str(MODELS))
        _check(self.optimizer in OPTIMIZERS, n, "optimizer", self.optimizer, str(OPTIMIZERS))
        _check(_is_int(self.width) and self.width >= 1, n, "width", self.width, "int >= 1")
        _check(self.lr is None or self.lr > 0, n, "lr", self.lr, "None or > 0")
        _check(0 <= self.momentum < 1, n, "momentum", self.momentum, "[0, 1)")
        _check(_is_int(self.batch_size) and self.batch_size >= 1, n, "batch_size",
               self.batch_size, "int >= 1")  # fmt: skip
        _check(self.epochs is None or (_is_int(self.epochs) and self.epochs >= 1), n, "epochs",
               self.epochs, "None (until convergence) or int >= 1")  # fmt: skip
        _check(_is_int(self.max_epochs) and self.max_epochs >= 1, n, "max_epochs",
               self.max_epochs, "int >= 1")  # fmt: skip
        _check(_is_int(self.patience) and self.patience >= 1, n, "patience", self.patience,
               "int >= 1")  # fmt: skip
        _check(self.rel_tol >= 0, n, "rel_tol", self.rel_tol, ">= 0")
        for f in ("subset", "eval_subset"):
            v = getattr(self, f)
            _check(v is None or (_is_int(v) and v >= 1), n, f, v, "None or int >= 1")
        _check(_is_int(self.snapshot_every) and self.snapshot_every >= 0, n, "snapshot_every",
               self.snapshot_every, "int >= 0")  # fmt: skip
        _check(self.device.split(":")[0] in ("cpu", "cuda"), n, "device", self.device,
               "'cpu' or 'cuda[:i]'")  # fmt: skip

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def from_dict(cls, d: dict):
    """Build a config from a plain dict (a notebook parameter, a YAML entry)."""
    return cls(**d)
