"""The limits on a section's parameters, and the check of every value against them.

``validate`` checks types, ranges, finiteness, distinct seeds, sizes within the data and
widths within this machine's memory (``max_width``), raising a ValueError that names the
parameter and what is allowed. ``profiles.section`` calls it before any compute.
"""

import math
import os

from lslib import hessian
from lslib.config import OPTIMIZERS, PAC_CRITERIA, SAMPLES, SOURCES, TRACE_METHODS
from lslib.data import N_TRAIN
from lslib.models import count_params
from lslib.paper.reading_names import line_names, perturb_names, sharpness_names
from lslib.paper.settings import Section

N_TEST = 10_000


def check(cond: bool, section: str, field: str, value, allowed: str) -> None:
    """Unless ``cond``, raise a ValueError naming the parameter ``field`` and what is allowed."""
    if not cond:
        raise ValueError(f"{section}: parameter {field}={value!r} is invalid; allowed: {allowed}")


def _int(v, lo: int, hi: float = math.inf) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _distinct(v, ok) -> bool:
    """A non-empty list of distinct values, each accepted by ``ok``."""
    return bool(isinstance(v, list) and v and all(ok(i) for i in v) and len(set(v)) == len(v))


def finite_positive(v) -> bool:
    """A finite number > 0 (not a bool)."""
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


def validate(name: str, v: dict) -> None:
    """Check every filled parameter ``v`` of section ``name``; a ValueError names the first bad."""
    for key, (lo, hi) in _INTS.items():
        if key in v and not (v[key] is None and key in ("epochs", "max_epochs", "subset")):
            check(_int(v[key], lo, hi), name, key, v[key], f"an int in [{lo}, {hi}]")
    if "widths" in v:
        ok = _distinct(v["widths"], lambda i: _int(i, 1))
        check(ok, name, "widths", v["widths"], "a non-empty list of distinct positive ints")
    if "width" in v:
        check(_int(v["width"], 1), name, "width", v["width"], "an int >= 1")
    for key in ("widths", "width"):
        if key in v:
            hi = max_width(v["model"])
            for w in v[key] if isinstance(v[key], list) else [v[key]]:
                check(w <= hi, name, key, v[key], f"widths up to {hi} for {v['model']}" + _WHY)
    if "trace_budget" in v and v["trace_method"] in TRACE_METHODS:
        lo, hi = hessian.budget_limits(v["trace_method"], count_params(v["model"], v["width"]))
        b, m = v["trace_budget"], v["trace_method"]
        allowed = f"an int in [{lo}, {min(hi, _INTS['trace_budget'][1])}] for {m} on "
        check(lo <= b <= hi, name, "trace_budget", b, allowed + f"{v['model']}-{v['width']}")
    if "optimizers" in v:
        allowed = f"a non-empty list of distinct names from {OPTIMIZERS}"
        ok = _distinct(v["optimizers"], lambda i: i in OPTIMIZERS)
        check(ok, name, "optimizers", v["optimizers"], allowed)
    if "optimizer" in v:
        check(v["optimizer"] in OPTIMIZERS, name, "optimizer", v["optimizer"], str(OPTIMIZERS))
    s = v["seeds"]
    ok = _distinct(s, lambda i: _int(i, 0, 2**31 - 1))
    check(ok, name, "seeds", s, "a non-empty list of distinct ints >= 0")
    if name == "phase3":
        pairs = "at least 2 distinct seeds (connectivity needs pairs)"
        check(len(s) >= 2, name, "seeds", s, pairs)
    for key in ("span", "pc1_span", "plane_span"):
        if key in v:
            check(finite_positive(v[key]), name, key, v[key], "a finite number > 0")
    rt = v["rel_tol"]
    ok = isinstance(rt, int | float) and not isinstance(rt, bool) and 0 <= rt < 1
    check(ok, name, "rel_tol", rt, "a number in [0, 1)")
    if "line_reading" in v and finite_positive(v["span"]):
        names = line_names(Section(name, v))
        check(
            v["line_reading"] in names, name, "line_reading", v["line_reading"], f"one of {names}"
        )
    for key, allowed in (
        ("eval_sample", SAMPLES),
        ("pac_criterion", PAC_CRITERIA),
        ("trace_method", TRACE_METHODS),
    ):
        if key in v:
            check(v[key] in allowed, name, key, v[key], str(allowed))
    for key in ("pca_center", "pca_biases"):
        if key in v:
            check(isinstance(v[key], bool), name, key, v[key], "True or False")
    if "sharpness_reading" in v:
        S = Section(name, v)
        for key, names in (
            ("sharpness_reading", sharpness_names(S)),
            ("perturb_reading", perturb_names()),
        ):
            check(v[key] in names, name, key, v[key], f"one of {names}")
    if "batch_sizes" in v:
        allowed = f"a non-empty list of distinct ints in [1, {N_TEST}]"
        ok = _distinct(v["batch_sizes"], lambda i: _int(i, 1, N_TEST))
        check(ok, name, "batch_sizes", v["batch_sizes"], allowed)
    source = v.get("eval_source", "train")
    check(source in SOURCES, name, "eval_source", source, str(SOURCES))
    available = (v["subset"] or N_TRAIN) if source == "train" else N_TEST
    split = f"{source!r} split" + (f", subset={v['subset']}" if source == "train" else "")
    check(
        _int(v["eval_size"], 1, available),
        name,
        "eval_size",
        v["eval_size"],
        f"an int in [1, {available}] (the images of the {split} in use)",
    )
    if "compare_eval_size" in v:
        check(
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
            check(
                v[n_key] * size <= N_TEST,
                name,
                n_key,
                v[n_key],
                f"at most {N_TEST // size} batches of {size} (the {N_TEST} test images)"
                + (f" with {size_key}={size}" if n_key == "hessian_batches" else ""),
            )
