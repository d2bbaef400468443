"""The sections' parameters, the report's models, and the smoke/quick/paper profiles.

``section(name, namespace)`` is a notebook's validation cell: it reads the notebook's
parameters, fills what is None from the profile, and checks every value (type, range,
finiteness, distinct seeds, sizes within the data) before any compute, raising a
ValueError that names the parameter and what is allowed.
"""

import math
import os
from types import MappingProxyType

from lslib import hessian as H
from lslib.config import (
    DISTS,
    MODELS,
    OPTIMIZERS,
    PAC_CRITERIA,
    SAMPLES,
    SIDES,
    SOURCES,
    TRACE_METHODS,
    EvalSet,
    TrainConfig,
)
from lslib.data import N_TRAIN
from lslib.models import count_params
from lslib.paths import check_writable, results_dir

PROFILES = ("smoke", "quick", "paper")
N_TEST = 10_000
# the report's widths per family (Phase 1) and its Phase 2-3 model and Phase 3 epochs
MODEL_DEFAULTS = MappingProxyType(
    {
        "mlp": MappingProxyType({"widths": (32, 64, 128), "width": 128, "phase3_epochs": 15}),
        "cnn": MappingProxyType({"widths": (16, 32, 64), "width": 32, "phase3_epochs": 10}),
    }
)
# The reading of the report's lines the paper adopts (see book/readings.ipynb): "distance =
# 1.5" as the loss-landscapes package reads it. ``span``: the distance; every line is also
# computed over [-span, span] with Gaussian and U[0, 1] directions for the other readings.
_READING = dict(span=1.5, line_reading=None, plane_span=1.0)
_STOP = dict(patience=2, rel_tol=0.01, eval_sample="random")
# The lines, planes and Hessian statistics every run of Phases 1 and 2 gets.
_RUN_NUMBERS = dict(
    n_dirs=None,
    line_steps=None,
    grid=None,
    **_READING,
    eval_source="train",
    eval_size=None,
    hessian_batches=None,
    hessian_batch_size=None,
    subset=None,
    **_STOP,
)
# Each section's parameters and defaults; None: from the profile (widths: the report's).
SECTION_DEFAULTS = MappingProxyType(
    {
        "phase1": dict(
            widths=None,
            optimizer="momentum",
            seeds=None,
            epochs=None,
            max_epochs=None,
            **_RUN_NUMBERS,
        ),
        "phase2": dict(
            width=None,
            optimizers=["sgd", "momentum", "adam"],
            seeds=None,
            epochs=None,
            **_RUN_NUMBERS,
        ),
        "phase3": dict(
            width=None,
            optimizer="momentum",
            seeds=None,
            epochs=None,
            points=25,
            eval_size=None,
            bezier_epochs=None,
            pc1_span=1.0,
            grid=None,
            n_dirs=None,
            line_steps=None,
            **_READING,
            hessian_batches=None,
            hessian_batch_size=None,
            flat_batches=None,
            trace_budget=None,
            trace_method="xtrace",
            curvature_images=None,
            batch_sizes=None,
            full_hessian_images=None,
            compare_eval_size=None,
            pca_center=True,
            pca_biases=False,
            pac_criterion="accuracy",
            subset=None,
            sharpness_reading=None,
            perturb_reading="ΔL at absolute σ of 0.001",
            **_STOP,
        ),
    }
)
# How big each profile makes the work. paper: the report's settings, sized for a 2-core CPU.
PROFILE_SIZES = MappingProxyType(
    {
        "smoke": dict(
            subset=1000,
            eval_subset=500,
            max_epochs=2,
            phase2_epochs=1,
            phase3_epochs=2,
            line_steps=7,
            grid=5,
            eval_size=200,
            hessian_batch_size=32,
            bezier_epochs=1,
            flat_batches=2,
            trace_budget=6,
            widths={"mlp": [16, 32], "cnn": [4, 8]},
            width={"mlp": 32, "cnn": 8},
            n_dirs=3,
            hessian_batches=2,
            seeds=[0],
            phase3_seeds=[0, 1],
            curvature_images=256,
            batch_sizes=[32, 64],
            compare_eval_size=400,
            full_hessian_images=1000,
        ),
        "quick": dict(
            subset=5000,
            eval_subset=1000,
            max_epochs=5,
            phase2_epochs=2,
            phase3_epochs=3,
            line_steps=11,
            grid=7,
            eval_size=150,
            hessian_batch_size=64,
            bezier_epochs=1,
            flat_batches=2,
            trace_budget=9,
            n_dirs=3,
            hessian_batches=2,
            seeds=[0, 1],
            phase3_seeds=[0, 1],
            curvature_images=256,
            batch_sizes=[32, 128, 512],
            compare_eval_size=600,
            full_hessian_images=512,
        ),
        "paper": dict(
            subset=None,
            eval_subset=None,
            max_epochs=30,
            phase2_epochs=5,
            phase3_epochs=None,
            line_steps=19,
            grid=21,
            eval_size=500,
            hessian_batch_size=128,
            bezier_epochs=2,
            flat_batches=20,
            trace_budget=99,
            n_dirs=10,
            hessian_batches=5,
            seeds=[0, 1, 2],
            phase3_seeds=[0, 1, 2],
            curvature_images=1024,
            batch_sizes=[32, 128, 512, 2048],
            compare_eval_size=5000,
            full_hessian_images=10_000,
        ),
    }
)
# Names IPython puts in a notebook's namespace, never parameters.
_IPYTHON = {"In", "Out", "get_ipython", "exit", "quit", "open"}


SIGMA_LEVEL = 0.01  # the loss increase at which sigma* is read off the perturbation curves
PERTURB_READ = (1e-4, 1e-3, 1e-2)  # the sigmas at which Delta L is shown as a reading


def reading(dist: str, sided: str, span: float) -> str:
    """The name of a reading of the 1D lines: direction law, one- or two-sided, distance."""
    return f"{dist}, {'one-sided' if sided == 'one' else 'two-sided'}, {span:g}"


def ll_reading(span: float) -> str:
    """The loss-landscapes package's own reading of ``distance = span`` (its random_line)."""
    return f"loss-landscapes, distance {span:g}"


def parse_reading(name: str) -> tuple[str, str, float] | None:
    """(dist, sided, span) of an lslib reading's name; None for the loss-landscapes one."""
    if name.startswith("loss-landscapes"):
        return None
    dist, sided, span = name.split(", ")
    return dist, "one" if sided == "one-sided" else "both", float(span)


def line_names(S) -> list[str]:
    """Every reading of the lines a section computes."""
    return [reading(d, sd, sp) for d in DISTS for sp in spans(S) for sd in SIDES] + [
        ll_reading(S.span)
    ]


def spans(S) -> list:
    """The distances read: 1.0 (the book's former span) and the section's span."""
    return sorted({min(1.0, S.span), S.span})


def adopted(S) -> str:
    """The section's adopted reading of the lines."""
    return S.line_reading


def sharpness_names(S) -> list[str]:
    """Every reading of Table 5's "1D sharpness" (see ``measures.sharpness_readings``)."""
    return [f"curvature, {d}" for d in DISTS] + [f"rise, {r}" for r in line_names(S)]


def perturb_names() -> list[str]:
    """Every reading of Table 5's "Perturb. sigma" (see ``measures.perturb_readings``)."""
    out = []
    for kind in ("relative", "absolute"):
        out += [f"ΔL at {kind} σ of {s:g}" for s in PERTURB_READ]
        out.append(f"σ at ΔL = {SIGMA_LEVEL:g}, {kind}")
    return out + [f"PAC-Bayes σ′, {c}" for c in PAC_CRITERIA]


class Section:
    """A notebook's validated settings: ``S.widths``, ``S.seeds``, ``S.train(width=...)``."""

    def __init__(self, name: str, values: dict):
        self.name = name
        self.__dict__.update(values)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "name")
        return f"Section({self.name}: {items})"

    def train(self, **over) -> TrainConfig:
        """The training config of one run of this section (``over`` sets width, seed, ...)."""
        base = dict(
            model=self.model,
            optimizer=getattr(self, "optimizer", "momentum"),
            subset=self.subset,
            eval_subset=self.eval_subset,
            seed=self.seeds[0],
            patience=self.patience,
            rel_tol=self.rel_tol,
        )
        if getattr(self, "epochs", None) is not None:
            base["epochs"] = self.epochs
        if getattr(self, "max_epochs", None) is not None:
            base["max_epochs"] = self.max_epochs
        if "width" in self.__dict__:
            base["width"] = self.width
        return TrainConfig(**(base | over))

    @property
    def eval_set(self) -> EvalSet:
        return EvalSet(getattr(self, "eval_source", "train"), self.eval_size, self.eval_sample)


def section(name: str, namespace: dict) -> Section:
    """Validate a notebook's parameters (from its namespace) and fill the rest from the profile.

    Raises ValueError for an unknown section or parameter name (papermill accepts any
    ``-p`` silently) and for any value out of its range, naming it and the allowed values.
    """
    if name not in SECTION_DEFAULTS:
        raise ValueError(f"section {name!r} is unknown; allowed: {sorted(SECTION_DEFAULTS)}")
    defaults = SECTION_DEFAULTS[name]
    given = {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and k not in _IPYTHON
        and not callable(v)
        and type(v).__name__ != "module"
    }
    known = {"model", "profile"} | set(defaults)
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {unknown}; allowed: {sorted(known)}")
    model, profile = given.get("model", "mlp"), given.get("profile", "paper")
    _check(model in MODELS, name, "model", model, str(MODELS))
    _check(profile in PROFILES, name, "profile", profile, str(PROFILES))
    size, mdef = PROFILE_SIZES[profile], MODEL_DEFAULTS[model]
    values = {"model": model, "profile": profile, "eval_subset": size["eval_subset"]}
    for key, default in defaults.items():
        v = given.get(key, default)
        values[key] = _from_profile(name, key, size, mdef, model) if v is None else v
    if (
        "line_reading" in values
        and values["line_reading"] is None
        and _finite_positive(values["span"])
    ):  # (a bad span is refused by name below)
        values["line_reading"] = ll_reading(values["span"])
    if "sharpness_reading" in values and values["sharpness_reading"] is None:
        values["sharpness_reading"] = f"rise, {values['line_reading']}"
    _validate(name, values)
    check_writable(results_dir(), "LSLIB_RESULTS")  # now, not after the section computed
    return Section(name, values)


def _from_profile(section_name, key, size, mdef, model):
    if key == "widths":
        return list(size["widths"][model] if "widths" in size else mdef["widths"])
    if key == "width":
        return size["width"][model] if "width" in size else mdef["width"]
    if key == "seeds":
        return list(size["phase3_seeds" if section_name == "phase3" else "seeds"])
    if key == "epochs":
        if section_name == "phase2":
            return size["phase2_epochs"]
        if section_name == "phase3":
            return size["phase3_epochs"] or mdef["phase3_epochs"]
        return None  # phase 1: until convergence
    return size.get(key)


def _check(cond: bool, section: str, field: str, value, allowed: str) -> None:
    if not cond:
        raise ValueError(f"{section}: parameter {field}={value!r} is invalid; allowed: {allowed}")


def _int(v, lo: int, hi: float = math.inf) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _distinct(v, ok) -> bool:
    """A non-empty list of distinct values, each accepted by ``ok``."""
    return bool(isinstance(v, list) and v and all(ok(i) for i in v) and len(set(v)) == len(v))


def _finite_positive(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


# parameter -> (check, allowed); sizes are bounded by the data they draw from
_INTS = {
    "epochs": (1, 1000),
    "max_epochs": (1, 1000),
    "n_dirs": (1, 1000),
    "line_steps": (2, 10_001),
    "grid": (2, 1001),
    "points": (2, 10_001),
    "bezier_epochs": (1, 1000),
    "hessian_batches": (1, N_TEST),
    "hessian_batch_size": (1, N_TEST),
    "flat_batches": (1, N_TEST),
    "trace_budget": (2, 100_000),  # and within its method's limits on the model's size
    "subset": (1, N_TRAIN),
    "patience": (1, 1000),
    "curvature_images": (1, N_TEST),
    "compare_eval_size": (1, N_TRAIN),
    "full_hessian_images": (1, N_TEST),
}


MEMORY_COPIES = 32  # float32 copies of the weights a section holds at once, at most
_WHY = f" (whose {MEMORY_COPIES} float32 copies of the weights fit in this machine's memory)"


def max_width(model: str, memory: int | None = None) -> int:
    """The widest ``model`` whose parameters, ``MEMORY_COPIES`` times in float32 (weights,
    gradients, optimizer state, checkpoints, directions, Hessian products), fit in
    ``memory`` bytes (default: this machine's)."""
    memory = memory or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    lo, hi = 1, 1 << 40
    while lo < hi:  # the count grows with the width: the largest that fits
        mid = (lo + hi + 1) // 2
        lo, hi = (
            (mid, hi) if count_params(model, mid) * 4 * MEMORY_COPIES <= memory else (lo, mid - 1)
        )
    return lo


def _validate(name: str, v: dict) -> None:
    for key, (lo, hi) in _INTS.items():
        if key in v and not (v[key] is None and key in ("epochs", "max_epochs", "subset")):
            _check(_int(v[key], lo, hi), name, key, v[key], f"an int in [{lo}, {hi}]")
    if "widths" in v:
        ok = _distinct(v["widths"], lambda i: _int(i, 1))
        _check(ok, name, "widths", v["widths"], "a non-empty list of distinct positive ints")
    if "width" in v:
        _check(_int(v["width"], 1), name, "width", v["width"], "an int >= 1")
    for key in ("widths", "width"):
        if key in v:
            hi = max_width(v["model"])
            for w in v[key] if isinstance(v[key], list) else [v[key]]:
                _check(w <= hi, name, key, v[key], f"widths up to {hi} for {v['model']}" + _WHY)
    if "trace_budget" in v and v["trace_method"] in TRACE_METHODS:
        lo, hi = H.budget_limits(v["trace_method"], count_params(v["model"], v["width"]))
        b, m = v["trace_budget"], v["trace_method"]
        allowed = f"an int in [{lo}, {min(hi, _INTS['trace_budget'][1])}] for {m} on "
        _check(lo <= b <= hi, name, "trace_budget", b, allowed + f"{v['model']}-{v['width']}")
    if "optimizers" in v:
        allowed = f"a non-empty list of distinct names from {OPTIMIZERS}"
        ok = _distinct(v["optimizers"], lambda i: i in OPTIMIZERS)
        _check(ok, name, "optimizers", v["optimizers"], allowed)
    if "optimizer" in v:
        _check(v["optimizer"] in OPTIMIZERS, name, "optimizer", v["optimizer"], str(OPTIMIZERS))
    s = v["seeds"]
    ok = _distinct(s, lambda i: _int(i, 0, 2**31 - 1))
    _check(ok, name, "seeds", s, "a non-empty list of distinct ints >= 0")
    if name == "phase3":
        pairs = "at least 2 distinct seeds (connectivity needs pairs)"
        _check(len(s) >= 2, name, "seeds", s, pairs)
    for key in ("span", "pc1_span", "plane_span"):
        if key in v:
            _check(_finite_positive(v[key]), name, key, v[key], "a finite number > 0")
    rt = v["rel_tol"]
    ok = isinstance(rt, int | float) and not isinstance(rt, bool) and 0 <= rt < 1
    _check(ok, name, "rel_tol", rt, "a number in [0, 1)")
    if "line_reading" in v and _finite_positive(v["span"]):
        names = line_names(Section(name, v))
        _check(
            v["line_reading"] in names, name, "line_reading", v["line_reading"], f"one of {names}"
        )
    for key, allowed in (
        ("eval_sample", SAMPLES),
        ("pac_criterion", PAC_CRITERIA),
        ("trace_method", TRACE_METHODS),
    ):
        if key in v:
            _check(v[key] in allowed, name, key, v[key], str(allowed))
    for key in ("pca_center", "pca_biases"):
        if key in v:
            _check(isinstance(v[key], bool), name, key, v[key], "True or False")
    if "sharpness_reading" in v:
        S = Section(name, v)
        for key, names in (
            ("sharpness_reading", sharpness_names(S)),
            ("perturb_reading", perturb_names()),
        ):
            _check(v[key] in names, name, key, v[key], f"one of {names}")
    if "batch_sizes" in v:
        allowed = f"a non-empty list of distinct ints in [1, {N_TEST}]"
        ok = _distinct(v["batch_sizes"], lambda i: _int(i, 1, N_TEST))
        _check(ok, name, "batch_sizes", v["batch_sizes"], allowed)
    source = v.get("eval_source", "train")
    _check(source in SOURCES, name, "eval_source", source, str(SOURCES))
    available = (v["subset"] or N_TRAIN) if source == "train" else N_TEST
    split = f"{source!r} split" + (f", subset={v['subset']}" if source == "train" else "")
    _check(
        _int(v["eval_size"], 1, available),
        name,
        "eval_size",
        v["eval_size"],
        f"an int in [1, {available}] (the images of the {split} in use)",
    )
    if "compare_eval_size" in v:
        _check(
            _int(v["compare_eval_size"], 1, available),
            name,
            "compare_eval_size",
            v["compare_eval_size"],
            f"an int in [1, {available}] (the images of the {split} in use)",
        )
    for n_key, size_key in (
        ("hessian_batches", "hessian_batch_size"),
        ("flat_batches", "hessian_batch_size"),
    ):
        if n_key in v and size_key in v:
            size = v[size_key] if n_key == "hessian_batches" else 128
            _check(
                v[n_key] * size <= N_TEST,
                name,
                n_key,
                v[n_key],
                f"at most {N_TEST // size} batches of {size} (the {N_TEST} test images)"
                + (f" with {size_key}={size}" if n_key == "hessian_batches" else ""),
            )
