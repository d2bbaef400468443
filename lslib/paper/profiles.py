"""The sections' parameters, the report's models, and the smoke/quick/paper profiles.

``section(name, namespace)`` is a notebook's validation cell: it reads the notebook's
parameters, fills what is None from the profile, and checks every value (``limits.validate``:
type, range, finiteness, distinct seeds, sizes within the data) before any compute, raising a
ValueError that names the parameter and what is allowed. Each section is validated once per
process: the same name and values give the same frozen ``Section`` again.
"""

import contextlib
import copy
from pathlib import Path
from types import MappingProxyType

from lslib.config import MODELS
from lslib.paper.design_file import confirmatory_seeds
from lslib.paper.limits import check, finite_positive, validate
from lslib.paper.reading_names import ll_reading
from lslib.paper.settings import Section
from lslib.paths import check_writable, results_dir

PROFILES = ("smoke", "quick", "paper")
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
# How big each profile makes the work. paper: the report's settings, sized for a 2-core CPU,
# at the seeds the confirmatory design chose per section ("design": book/design.yml).
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
            seeds="design",  # the design's confirmatory seeds, per section (book/design.yml)
            phase3_seeds="design",
            curvature_images=1024,
            batch_sizes=[32, 128, 512, 2048],
            compare_eval_size=5000,
            full_hessian_images=10_000,
        ),
    }
)
# Names IPython puts in a notebook's namespace, never parameters.
_IPYTHON = {"In", "Out", "get_ipython", "exit", "quit", "open"}
# A notebook's parameters that say where its results go, not what they are: never part
# of the Section (the grid passes its results folder as ``results_dir``).
PLACE = ("results_dir",)
_VALIDATED: dict[str, Section] = {}  # this process's sections, by name and values
_SEEDS: dict[str, list[int]] = {}  # seeds_as: each section's default seeds, for now


@contextlib.contextmanager
def seeds_as(seeds: dict[str, list[int]]):
    """Within it, ``seeds[section]`` are that section's default seeds in every profile: a
    plan of other seeds (``--plan --seeds N``, ``scripts/choose_seeds.py``) in which Phase 3's
    own family of Phase 1 and 2 runs (`sections.beyond`) follows them as the notebooks do."""
    saved = dict(_SEEDS)
    _SEEDS.clear()
    _SEEDS.update({k: list(v) for k, v in seeds.items()})
    try:
        yield
    finally:
        _SEEDS.clear()
        _SEEDS.update(saved)


def section(name: str, namespace: dict) -> Section:
    """Validate a notebook's parameters (from its namespace) and fill the rest from the profile.

    Args:
        name: the section ('phase1', 'phase2', 'phase3').
        namespace: the notebook's parameters (its ``globals()``); ``results_dir``, where
            its results go (``PLACE``), is checked to be writable, not kept.

    Returns the frozen ``Section``; validated once per process for the same values.
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
    folder = given.pop("results_dir", None)
    known = {"model", "profile"} | set(defaults)
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {unknown}; allowed: {sorted(known)}")
    model, profile = given.get("model", "mlp"), given.get("profile", "paper")
    check(model in MODELS, name, "model", model, str(MODELS))
    check(profile in PROFILES, name, "profile", profile, str(PROFILES))
    size, mdef = PROFILE_SIZES[profile], MODEL_DEFAULTS[model]
    values = {"model": model, "profile": profile, "eval_subset": size["eval_subset"]}
    for key, default in defaults.items():
        v = given.get(key, default)
        values[key] = _from_profile(name, key, size, mdef, model) if v is None else v
    if (
        "line_reading" in values
        and values["line_reading"] is None
        and finite_positive(values["span"])
    ):  # (a bad span is refused by name below)
        values["line_reading"] = ll_reading(values["span"])
    if "sharpness_reading" in values and values["sharpness_reading"] is None:
        values["sharpness_reading"] = f"rise, {values['line_reading']}"
    S = _validated(name, values)
    # now, not after the section computed
    if folder:
        check_writable(Path(folder), "results_dir")
    else:
        check_writable(results_dir(), "LSLIB_RESULTS")
    return S


def _validated(name: str, values: dict) -> Section:
    """``validate`` the values, once per process for the same name and values."""
    key = f"{name}: {values!r}"  # exact: a tuple is not a list, 1 is not 1.0 nor True
    if key not in _VALIDATED:
        validate(name, values)
        _VALIDATED[key] = Section(name, copy.deepcopy(values))
    return _VALIDATED[key]


def _from_profile(section_name, key, size, mdef, model):
    if key == "widths":
        return list(size["widths"][model] if "widths" in size else mdef["widths"])
    if key == "width":
        return size["width"][model] if "width" in size else mdef["width"]
    if key == "seeds":
        if section_name in _SEEDS:
            return list(_SEEDS[section_name])
        seeds = size["phase3_seeds" if section_name == "phase3" else "seeds"]
        return confirmatory_seeds(section_name) if seeds == "design" else list(seeds)
    if key == "epochs":
        if section_name == "phase2":
            return size["phase2_epochs"]
        if section_name == "phase3":
            return size["phase3_epochs"] or mdef["phase3_epochs"]
        return None  # phase 1: until convergence
    return size.get(key)
