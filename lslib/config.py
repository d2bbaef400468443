"""Frozen run configurations, validated on construction.

Every field that changes the numbers lives here, so the cache key of a run is the hash
of its config (plus a fingerprint of the code). Derive variants with
``dataclasses.replace``; never mutate.
"""

import dataclasses
import functools
import math
import os
from typing import Any

from lslib.models import MODEL_NAMES as MODELS

OPTIMIZERS = ("sgd", "momentum", "adam")
DEFAULT_LR = {"sgd": 0.01, "momentum": 0.01, "adam": 1e-3}


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


def parse_device(device: Any) -> str | None:
    """The canonical name of a device string, or None when it does not parse: 'cpu'
    ('cpu:N' too: torch has one CPU device, so the index would only split cache keys),
    'cuda' or 'cuda:N'."""
    if not isinstance(device, str):
        return None
    kind, colon, index = device.strip().partition(":")
    if kind not in ("cpu", "cuda") or (colon and not index.isdigit()):
        return None
    return "cpu" if kind == "cpu" else device.strip()


def default_device() -> str:
    """'cuda' when present, else 'cpu'; the environment variable LSLIB_DEVICE overrides."""
    env = os.environ.get("LSLIB_DEVICE")
    if env:
        device = parse_device(env)
        if device is None:
            raise ValueError(
                f"LSLIB_DEVICE={env!r} is invalid; allowed: 'cpu', 'cuda' or 'cuda:N' (N >= 0)"
            )
        return device
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
    device: str = dataclasses.field(default_factory=lambda: default_device())

    def __post_init__(self):
        n = "TrainConfig"
        _check(self.model in MODELS, n, "model", self.model, str(MODELS))
        _check(self.optimizer in OPTIMIZERS, n, "optimizer", self.optimizer, str(OPTIMIZERS))
        _check(_is_int(self.width) and self.width >= 1, n, "width", self.width, "int >= 1")
        _check(self.lr is None or _positive(self.lr), n, "lr", self.lr, "None or finite > 0")
        _check(
            _is_num(self.momentum) and 0 <= self.momentum < 1,
            n,
            "momentum",
            self.momentum,
            "a number in [0, 1)",
        )
        _check(
            _is_int(self.batch_size) and self.batch_size >= 1,
            n,
            "batch_size",
            self.batch_size,
            "int >= 1",
        )
        _check(
            self.epochs is None or (_is_int(self.epochs) and self.epochs >= 1),
            n,
            "epochs",
            self.epochs,
            "None (until convergence) or int >= 1",
        )
        _check(
            _is_int(self.max_epochs) and self.max_epochs >= 1,
            n,
            "max_epochs",
            self.max_epochs,
            "int >= 1",
        )
        _check(
            _is_int(self.patience) and self.patience >= 1, n, "patience", self.patience, "int >= 1"
        )
        _check(
            _is_num(self.rel_tol) and math.isfinite(self.rel_tol) and self.rel_tol >= 0,
            n,
            "rel_tol",
            self.rel_tol,
            "finite >= 0",
        )
        _check(_is_int(self.seed), n, "seed", self.seed, "int")
        for f in ("subset", "eval_subset"):
            v = getattr(self, f)
            _check(v is None or (_is_int(v) and v >= 1), n, f, v, "None or int >= 1")
        device = parse_device(self.device)
        _check(device is not None, n, "device", self.device, "'cpu', 'cuda' or 'cuda:N' (N >= 0)")
        object.__setattr__(self, "device", device)  # 'cpu:7' is 'cpu': one key per result
        if self.device.startswith("cuda"):
            import torch

            _check(
                torch.cuda.is_available(),
                n,
                "device",
                self.device,
                "'cpu' (there is no CUDA device; use 'cpu' or unset LSLIB_DEVICE)",
            )

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _positive(v) -> bool:
    """A finite number > 0 (rejects NaN, inf, bools and strings)."""
    return _is_num(v) and math.isfinite(v) and v > 0


def _ints_at_least(obj, cls: str, low: int, *fields: str) -> None:
    for f in fields:
        v = getattr(obj, f)
        _check(_is_int(v) and v >= low, cls, f, v, f"int >= {low}")


SOURCES = ("train", "test")
SAMPLES = ("random", "head")
DISTS = ("gaussian", "uniform")
SIDES = ("both", "one")
PAC_CRITERIA = ("accuracy", "loss")
ASCENT = ("sign", "lbfgsb")
TRACE_METHODS = ("hutchinson", "hutchpp", "xtrace")


@config_dataclass
class EvalSet:
    """Which images an analysis uses: ``size`` images of the ``source`` split, drawn at
    random with ``seed`` (``sample='random'``, see ``lslib.subsets``) or the first ``size``
    (``sample='head'``; MNIST's first 5,000 test images are the cleaner half)."""

    source: str = "train"
    size: int = 1000
    sample: str = "random"
    seed: int = 0

    def __post_init__(self):
        _check(self.source in SOURCES, "EvalSet", "source", self.source, str(SOURCES))
        _check(_is_int(self.size) and self.size >= 1, "EvalSet", "size", self.size, "int >= 1")
        _check(self.sample in SAMPLES, "EvalSet", "sample", self.sample, str(SAMPLES))
        _check(_is_int(self.seed), "EvalSet", "seed", self.seed, "int")


@config_dataclass
class LandscapeConfig:
    """1D lines along ``n_dirs`` directions and a ``grid`` x ``grid`` plane, coordinates in [-span, span]."""

    run: TrainConfig
    data: EvalSet = EvalSet()
    n_dirs: int = 10
    line_steps: int = 41
    grid: int = 21
    span: float = 1.0
    norm: str = "filter"
    bias: str = "ignore"
    seed: int = 0
    dist: str = "gaussian"  # direction entries: N(0, 1) or U[0, 1) (loss-landscapes)
    sided: str = "both"  # lines over [-span, span] or [0, span]

    def __post_init__(self):
        n = "LandscapeConfig"
        _check(self.dist in DISTS, n, "dist", self.dist, str(DISTS))
        _check(self.sided in SIDES, n, "sided", self.sided, str(SIDES))
        _check(_is_int(self.n_dirs) and self.n_dirs >= 1, n, "n_dirs", self.n_dirs, "int >= 1")
        for f in ("line_steps", "grid"):
            v = getattr(self, f)
            _check(_is_int(v) and v >= 2, n, f, v, "int >= 2")
        _check(_positive(self.span), n, "span", self.span, "finite > 0")
        _check(_is_int(self.seed), n, "seed", self.seed, "int")
        from lslib.directions import BIAS, NORMS

        _check(self.norm in NORMS, n, "norm", self.norm, str(NORMS))
        _check(self.bias in BIAS, n, "bias", self.bias, str(BIAS))


@config_dataclass
class HessianConfig:
    """Top-k eigenvalues on ``n_batches`` test mini-batches (and optionally trace and density)."""

    run: TrainConfig
    n_batches: int = 5
    batch_size: int = 128
    k: int = 3
    tol: float = 1e-6
    seed: int = 0

    def __post_init__(self):
        n = "HessianConfig"
        _check(
            _is_int(self.n_batches) and self.n_batches >= 1,
            n,
            "n_batches",
            self.n_batches,
            "int >= 1",
        )
        _check(_is_int(self.k) and self.k >= 1, n, "k", self.k, "int >= 1")
        _ints_at_least(self, n, 1, "batch_size")
        _check(_positive(self.tol), n, "tol", self.tol, "finite > 0")
        _check(_is_int(self.seed), n, "seed", self.seed, "int")


@config_dataclass
class ConnectivityConfig:
    """Two runs differing only in seed: interpolation before/after alignment, Bezier curve."""

    run_a: TrainConfig
    run_b: TrainConfig
    data: EvalSet = EvalSet()
    points: int = 25
    bezier_epochs: int = 1
    bezier_lr: float = 0.01

    def __post_init__(self):
        n = "ConnectivityConfig"
        a, b = dataclasses.replace(self.run_a, seed=0), dataclasses.replace(self.run_b, seed=0)
        _check(
            a == b,
            n,
            "run_b",
            "differs from run_a beyond the seed",
            "the same config, another seed",
        )
        _check(_is_int(self.points) and self.points >= 2, n, "points", self.points, "int >= 2")
        _ints_at_least(self, n, 1, "bezier_epochs")
        _check(_positive(self.bezier_lr), n, "bezier_lr", self.bezier_lr, "finite > 0")


@config_dataclass
class TrajectoryConfig:
    """PCA of a run's snapshots: loss along PC1 over [-pc1_span, pc1_span] and the PC plane."""

    run: TrainConfig
    data: EvalSet = EvalSet()
    pc1_span: float = 1.0
    pc1_steps: int = 41
    grid: int = 21
    center: bool = True  # PCA of the centred snapshots (Li et al.'s code) or uncentred
    biases: bool = False  # include 1-D parameters (Li et al. ignore them)

    def __post_init__(self):
        n = "TrajectoryConfig"
        for f in ("center", "biases"):
            _check(isinstance(getattr(self, f), bool), n, f, getattr(self, f), "True or False")
        _check(_positive(self.pc1_span), n, "pc1_span", self.pc1_span, "finite > 0")
        _ints_at_least(self, n, 2, "pc1_steps", "grid")


@config_dataclass
class FlatnessConfig:
    """Flatness metrics at a run's final weights (sharpness, perturbation, PAC-Bayes, curvature).

    ``sigmas``/``draws``: the perturbation curve (mean loss increase and its standard error
    per sigma). ``ascent_grid``: the step counts at which epsilon-sharpness is also computed,
    to show its convergence; ``ascent_steps`` is the reported one. ``curvature_images``: the
    random test images whose full-data Hessian gives the trace (``trace_method`` with
    ``trace_budget`` products) and the density.
    """

    run: TrainConfig
    data: EvalSet = EvalSet()
    eps: float = 1e-3
    ascent_steps: int = 50
    ascent_grid: tuple = (1, 5, 20)
    sigmas: tuple = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1)
    draws: int = 20
    n_dirs: int = 10
    window: float = 0.05
    pac_threshold: float = 0.1
    pac_criterion: str = "accuracy"
    pac_draws: int = 10
    hessian_batches: int = 20
    curvature_images: int = 2048
    trace_method: str = "xtrace"
    trace_budget: int = 100
    seed: int = 0

    def __post_init__(self):
        n = "FlatnessConfig"
        _check(_positive(self.eps), n, "eps", self.eps, "finite > 0")
        _check(
            isinstance(self.sigmas, tuple | list)
            and len(self.sigmas) >= 1
            and all(_is_num(s) and math.isfinite(s) and s >= 0 for s in self.sigmas),
            n,
            "sigmas",
            self.sigmas,
            "a non-empty tuple of finite numbers >= 0",
        )
        _check(
            isinstance(self.ascent_grid, tuple | list)
            and all(_is_int(s) and s >= 1 for s in self.ascent_grid),
            n,
            "ascent_grid",
            self.ascent_grid,
            "a tuple of ints >= 1",
        )
        _ints_at_least(
            self,
            n,
            1,
            "ascent_steps",
            "draws",
            "n_dirs",
            "hessian_batches",
            "curvature_images",
            "pac_draws",
        )
        _ints_at_least(self, n, 3, "trace_budget")
        for f in ("window", "pac_threshold"):
            _check(_positive(getattr(self, f)), n, f, getattr(self, f), "finite > 0")
        _check(
            self.pac_criterion in PAC_CRITERIA,
            n,
            "pac_criterion",
            self.pac_criterion,
            str(PAC_CRITERIA),
        )
        _check(
            self.trace_method in TRACE_METHODS,
            n,
            "trace_method",
            self.trace_method,
            str(TRACE_METHODS),
        )
        _check(_is_int(self.seed), n, "seed", self.seed, "int")


@config_dataclass
class AdaptiveConfig:
    """Adaptive sharpness (Andriushchenko et al. 2023) at a run's final weights, and the
    run's generalization gap (the final test loss against the loss on ``train_images``
    random training images).

    ``data``: the training images the sharpness is measured on, cut into fixed batches of
    ``batch_size`` (m-sharpness, m = ``batch_size``); ``rho_linf``, ``rho_l2``: the radii of
    the worst-case measures (``steps`` ascent steps each); ``rho_avg``: the scale of the
    average case (``draws`` Gaussian draws).
    """

    run: TrainConfig
    data: EvalSet = EvalSet("train", 1024)
    rho_linf: float = 0.002
    rho_l2: float = 0.5
    rho_avg: float = 0.1
    steps: int = 20
    draws: int = 100
    batch_size: int = 128
    train_images: int = 10_000
    seed: int = 0

    def __post_init__(self):
        n = "AdaptiveConfig"
        for f in ("rho_linf", "rho_l2", "rho_avg"):
            _check(_positive(getattr(self, f)), n, f, getattr(self, f), "finite > 0")
        _ints_at_least(self, n, 1, "steps", "draws", "batch_size", "train_images")
        _check(_is_int(self.seed), n, "seed", self.seed, "int")


@config_dataclass
class EdgeConfig:
    """The edge of stability (Cohen et al. 2021, 2022): lambda_1 of the training loss on
    ``images`` fixed random training images after every epoch of a run (from its stored
    checkpoints), and Adam's preconditioned lambda_1; Lanczos to ``tol``."""

    run: TrainConfig
    images: int = 1024
    tol: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        n = "EdgeConfig"
        _ints_at_least(self, n, 2, "images")
        _check(_positive(self.tol), n, "tol", self.tol, "finite > 0")
        _check(_is_int(self.seed), n, "seed", self.seed, "int")
