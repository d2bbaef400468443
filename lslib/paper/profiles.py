"""The sections' parameters, the report's models, and the smoke/quick/paper profiles.

``section(name, namespace)`` is a notebook's validation cell: it reads the notebook's
parameters, fills what is None from the profile, and checks every value (type, range,
finiteness, distinct seeds, sizes within the data) before any compute, raising a
ValueError that names the parameter and what is allowed.
"""

import math
from types import MappingProxyType

from lslib.config import MODELS, OPTIMIZERS, SOURCES, EvalSet, TrainConfig
from lslib.data import N_TRAIN

PROFILES = ("smoke", "quick", "paper")
N_TEST = 10_000
# the report's widths per family (Phase 1) and its Phase 2-3 model and Phase 3 epochs
MODEL_DEFAULTS = MappingProxyType({
    "mlp": MappingProxyType({"widths": (32, 64, 128), "width": 128, "phase3_epochs": 15}),
    "cnn": MappingProxyType({"widths": (16, 32, 64), "width": 32, "phase3_epochs": 10}),
})  # fmt: skip
# Each section's parameters and their defaults; None means "from the profile" (or, for
# widths, the report's).
SECTION_DEFAULTS = MappingProxyType({
    "phase1": dict(widths=None, optimizer="momentum", seeds=None, epochs=None, max_epochs=None,
                   n_dirs=None, line_steps=None, grid=None, span=1.0, eval_source="train",
                   eval_size=None, hessian_batches=None, hessian_batch_size=None, subset=None),
    "phase2": dict(width=None, optimizers=["sgd", "momentum", "adam"], seeds=None, epochs=None,
                   n_dirs=None, line_steps=None, grid=None, span=1.0, eval_source="train",
                   eval_size=None, hessian_batches=None, hessian_batch_size=None, subset=None),
    "phase3": dict(width=None, optimizer="momentum", seeds=None, epochs=None, points=25,
                   eval_size=None, bezier_epochs=None, pc1_span=1.0, grid=None,
                   hessian_batch_size=None, flat_batches=None, trace_samples=None, subset=None),
})  # fmt: skip
# How big each profile makes the work. paper: the report's settings, sized for a 2-core CPU.
PROFILE_SIZES = MappingProxyType({
    "smoke": dict(subset=1000, eval_subset=500, max_epochs=2, phase2_epochs=1, phase3_epochs=2,
                  line_steps=7, grid=5, eval_size=200, hessian_batch_size=32, bezier_epochs=1,
                  flat_batches=2, trace_samples=4, widths={"mlp": [16, 32], "cnn": [4, 8]},
                  width={"mlp": 32, "cnn": 8}, n_dirs=3, hessian_batches=2, seeds=[0],
                  phase3_seeds=[0, 1]),
    "quick": dict(subset=10_000, eval_subset=2000, max_epochs=6, phase2_epochs=2, phase3_epochs=3,
                  line_steps=15, grid=9, eval_size=300, hessian_batch_size=64, bezier_epochs=1,
                  flat_batches=3, trace_samples=5, n_dirs=4, hessian_batches=3, seeds=[0, 1],
                  phase3_seeds=[0, 1]),
    "paper": dict(subset=None, eval_subset=None, max_epochs=30, phase2_epochs=5, phase3_epochs=None,
                  line_steps=21, grid=21, eval_size=500, hessian_batch_size=128, bezier_epochs=2,
                  flat_batches=20, trace_samples=20, n_dirs=10, hessian_batches=5, seeds=[0, 1, 2],
                  phase3_seeds=[0, 1, 2]),
})  # fmt: skip
# Names IPython puts in a notebook's namespace, never parameters.
_IPYTHON = {"In", "Out", "get_ipython", "exit", "quit", "open"}


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
        base = dict(model=self.model, optimizer=getattr(self, "optimizer", "momentum"),
                    subset=self.subset, eval_subset=self.eval_subset, seed=self.seeds[0])  # fmt: skip
        if getattr(self, "epochs", None) is not None:
            base["epochs"] = self.epochs
        if getattr(self, "max_epochs", None) is not None:
            base["max_epochs"] = self.max_epochs
        if "width" in self.__dict__:
            base["width"] = self.width
        return TrainConfig(**(base | over))

    @property
    def eval_set(self) -> EvalSet:
        return EvalSet(getattr(self, "eval_source", "train"), self.eval_size)


def section(name: str, namespace: dict) -> Section:
    """Validate a notebook's parameters (from its namespace) and fill the rest from the profile.

    Raises ValueError for an unknown section or parameter name (papermill accepts any
    ``-p`` silently) and for any value out of its range, naming it and the allowed values.
    """
    if name not in SECTION_DEFAULTS:
        raise ValueError(f"section {name!r} is unknown; allowed: {sorted(SECTION_DEFAULTS)}")
    defaults = SECTION_DEFAULTS[name]
    given = {k: v for k, v in namespace.items()
             if not k.startswith("_") and k not in _IPYTHON and not callable(v)
             and type(v).__name__ != "module"}  # fmt: skip
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
    _validate(name, values)
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


def _finite_positive(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


# parameter -> (check, allowed); sizes are bounded by the data they draw from
_INTS = {
    "epochs": (1, 1000), "max_epochs": (1, 1000), "n_dirs": (1, 1000), "line_steps": (2, 10_001),
    "grid": (2, 1001), "points": (2, 10_001), "bezier_epochs": (1, 1000),
    "hessian_batches": (1, N_TEST), "hessian_batch_size": (1, N_TEST), "flat_batches": (1, N_TEST),
    "trace_samples": (1, 100_000), "subset": (1, N_TRAIN),
}  # fmt: skip


def _validate(name: str, v: dict) -> None:
    for key, (lo, hi) in _INTS.items():
        if key in v and not (v[key] is None and key in ("epochs", "max_epochs", "subset")):
            _check(_int(v[key], lo, hi), name, key, v[key], f"an int in [{lo}, {hi}]")
    if "widths" in v:
        w = v["widths"]
        _check(isinstance(w, list) and w and all(_int(i, 1) for i in w)
               and len(set(w)) == len(w), name, "widths", w,
               "a non-empty list of distinct positive ints")  # fmt: skip
    if "width" in v:
        _check(_int(v["width"], 1), name, "width", v["width"], "an int >= 1")
    if "optimizers" in v:
        o = v["optimizers"]
        _check(isinstance(o, list) and o and all(i in OPTIMIZERS for i in o)
               and len(set(o)) == len(o), name, "optimizers", o,
               f"a non-empty list of distinct names from {OPTIMIZERS}")  # fmt: skip
    if "optimizer" in v:
        _check(v["optimizer"] in OPTIMIZERS, name, "optimizer", v["optimizer"], str(OPTIMIZERS))
    s = v["seeds"]
    _check(isinstance(s, list) and s and all(_int(i, 0, 2**31 - 1) for i in s)
           and len(set(s)) == len(s), name, "seeds", s,
           "a non-empty list of distinct ints >= 0")  # fmt: skip
    if name == "phase3":
        _check(
            len(s) >= 2, name, "seeds", s, "at least 2 distinct seeds (connectivity needs pairs)"
        )
    for key in ("span", "pc1_span"):
        if key in v:
            _check(_finite_positive(v[key]), name, key, v[key], "a finite number > 0")
    source = v.get("eval_source", "train")
    _check(source in SOURCES, name, "eval_source", source, str(SOURCES))
    available = (v["subset"] or N_TRAIN) if source == "train" else N_TEST
    _check(_int(v["eval_size"], 1, available), name, "eval_size", v["eval_size"],
           f"an int in [1, {available}] (the images of the {source!r} split in use)")  # fmt: skip
    for n_key, size_key in (("hessian_batches", "hessian_batch_size"),
                            ("flat_batches", "hessian_batch_size")):  # fmt: skip
        if n_key in v and size_key in v:
            size = v[size_key] if n_key == "hessian_batches" else 128
            _check(v[n_key] * size <= N_TEST, name, n_key, v[n_key],
                   f"at most {N_TEST // size} batches of {size} (the {N_TEST} test images)")  # fmt: skip
