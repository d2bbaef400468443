"""The configs of the sections' calls, built from a section's settings (``settings.Section``).

Each builder is one analysis's config for one run; ``sections`` declares which of them a
section asks for.
"""

import dataclasses

from lslib.config import (
    AdaptiveConfig,
    ConnectivityConfig,
    EdgeConfig,
    EvalSet,
    FlatnessConfig,
    HessianConfig,
    LandscapeConfig,
    TrajectoryConfig,
)
from lslib.paper.reading_names import parse_reading
from lslib.paper.sections import analyses
from lslib.paper.settings import Section


def landscape_config(S: Section, run, dist: str = "gaussian", size=None) -> LandscapeConfig:
    """The lines of a run: always over [-span, span], so every reading is a slice of them
    (and, with the same settings, loss-landscapes' own lines at distance ``span``)."""
    data = S.eval_set if size is None else dataclasses.replace(S.eval_set, size=size)
    return LandscapeConfig(
        run=run,
        data=data,
        n_dirs=S.n_dirs,
        line_steps=S.line_steps,
        grid=S.grid,
        span=S.span,
        dist=dist,
    )


def hessian_config(S: Section, run, **over) -> HessianConfig:
    """The Hessian top-3 config of ``run`` at the section's batches (``over``: other fields)."""
    return HessianConfig(
        run=run, n_batches=S.hessian_batches, batch_size=S.hessian_batch_size, **over
    )


def adopted_call(S: Section, run, size: int | None = None) -> tuple:
    """The lines the adopted reading is read from: loss-landscapes' own, or lslib's lines of
    the reading's direction law."""
    parsed = parse_reading(S.line_reading)
    if parsed is None:
        return analyses.ll_lines, landscape_config(S, run, "uniform", size)
    return analyses.lines, landscape_config(S, run, parsed[0], size)


def plane_call(S: Section, run, size: int | None = None) -> tuple:
    """The figure's plane in the adopted reading: loss-landscapes' random_plane, or an
    lslib plane over +-plane_span along two directions of the reading's law."""
    parsed = parse_reading(S.line_reading)
    if parsed is None:
        return analyses.ll_plane, landscape_config(S, run, "uniform", size)
    cfg = landscape_config(S, run, parsed[0], size)
    return analyses.plane, dataclasses.replace(cfg, span=S.plane_span)


def connectivity_config(S: Section, a, b) -> ConnectivityConfig:
    """The connectivity config of the seed pair (``a``, ``b``): paths, barriers, Bezier curve."""
    return ConnectivityConfig(
        run_a=a, run_b=b, data=S.eval_set, points=S.points, bezier_epochs=S.bezier_epochs
    )


def trajectory_configs(S: Section, c) -> tuple:
    """The adopted PCA reading of a run's path, and the other (for the readings page)."""
    t = TrajectoryConfig(
        run=c,
        data=S.eval_set,
        pc1_span=S.pc1_span,
        grid=S.grid,
        center=S.pca_center,
        biases=S.pca_biases,
    )
    return t, dataclasses.replace(t, center=not t.center, biases=not t.biases)


# The flatness instruments' own sizes where a profile makes them smaller than FlatnessConfig's
# defaults (the paper's): Gaussian draws per sigma of the perturbation curves, draws per
# sigma of the PAC-Bayes search, and the ascent steps of epsilon-sharpness.
FLATNESS = {
    "smoke": {},
    "quick": dict(draws=10, pac_draws=5, ascent_steps=20, ascent_grid=(1, 5)),
    "paper": {},
}


# The spectral density's stochastic Lanczos quadrature per profile: Lanczos steps and
# random starts (``analyses_curvature.spectral_density``'s defaults are the paper's).
DENSITY = {"smoke": dict(steps=60, runs=2), "quick": dict(steps=30, runs=1)}
DENSITY["paper"] = DENSITY["smoke"]


def flatness_config(S: Section, c) -> FlatnessConfig:
    """The flatness config of run ``c``: the section's sizes, with the profile's instrument sizes."""
    return FlatnessConfig(
        **FLATNESS[S.profile],
        run=c,
        data=S.eval_set,
        hessian_batches=S.flat_batches,
        trace_budget=S.trace_budget,
        trace_method=S.trace_method,
        curvature_images=S.curvature_images,
        pac_criterion=S.pac_criterion,
        n_dirs=S.n_dirs,
    )


# The sizes of the instruments beyond the report's, per profile (kept here, beside their
# builders): adaptive sharpness on ``images`` random training images in batches of ``m``
# (Andriushchenko et al.: 1,024 and 128; fewer here, for the build's budget), ``steps``
# ascent steps, ``draws`` Gaussian draws, the training loss on ``train`` random training
# images; lambda_1 per epoch on ``edge_images`` training images. The radii are AdaptiveConfig's
# defaults in every profile (see the methods page).
BEYOND = {
    "smoke": dict(images=128, m=64, steps=3, draws=5, train=1000, edge_images=128),
    "quick": dict(images=128, m=64, steps=5, draws=10, train=1000, edge_images=128),
    "paper": dict(images=256, m=128, steps=10, draws=20, train=10_000, edge_images=512),
}


def adaptive_config(S: Section, c) -> AdaptiveConfig:
    """The adaptive-sharpness config of run ``c`` at the profile's sizes (``BEYOND``)."""
    b = BEYOND[S.profile]
    return AdaptiveConfig(
        run=c,
        data=EvalSet("train", min(b["images"], c.subset or b["images"])),
        steps=b["steps"],
        draws=b["draws"],
        batch_size=b["m"],
        train_images=b["train"],
    )


def edge_config(S: Section, c) -> EdgeConfig:
    """The lambda_1-per-epoch config of run ``c`` at the profile's image count (``BEYOND``)."""
    return EdgeConfig(run=c, images=min(BEYOND[S.profile]["edge_images"], c.subset or 10**9))
