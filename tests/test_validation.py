"""Bad input to the library's public functions: a ValueError naming it, before any compute."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from lslib import connectivity, directions, flatness, hessian, landscape
from lslib.config import (
    ConnectivityConfig,
    EvalSet,
    FlatnessConfig,
    HessianConfig,
    LandscapeConfig,
    TrainConfig,
    TrajectoryConfig,
)
from lslib.params import check_data, params_of

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(seed=1.5), "seed"),
        (dict(lr=INF), "lr"),
        (dict(lr=NAN), "lr"),
        (dict(momentum=NAN), "momentum"),
        (dict(rel_tol=NAN), "rel_tol"),
        (dict(rel_tol=INF), "rel_tol"),
    ],
)
def test_train_config_rejects(kwargs, field):
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field}=.*allowed"):
        TrainConfig(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_names_the_remedy(monkeypatch):
    with pytest.raises(ValueError, match="no CUDA device; use 'cpu' or unset LSLIB_DEVICE"):
        TrainConfig(device="cuda")
    monkeypatch.setenv("LSLIB_DEVICE", "cuda")
    with pytest.raises(ValueError, match="LSLIB_DEVICE"):
        TrainConfig()
    monkeypatch.setenv("LSLIB_DEVICE", "gpu")
    with pytest.raises(ValueError, match="LSLIB_DEVICE='gpu'"):
        TrainConfig()


RUN = TrainConfig(device="cpu")


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: LandscapeConfig(RUN, span=INF), "span"),
        (lambda: LandscapeConfig(RUN, span=0.0), "span"),
        (lambda: HessianConfig(RUN, batch_size=0), "batch_size"),
        (lambda: HessianConfig(RUN, tol=NAN), "tol"),
        (
            lambda: ConnectivityConfig(RUN, dataclasses.replace(RUN, seed=1), bezier_epochs=0),
            "bezier_epochs",
        ),
        (
            lambda: ConnectivityConfig(RUN, dataclasses.replace(RUN, seed=1), bezier_lr=INF),
            "bezier_lr",
        ),
        (lambda: TrajectoryConfig(RUN, pc1_span=NAN), "pc1_span"),
        (lambda: TrajectoryConfig(RUN, pc1_steps=1), "pc1_steps"),
        (lambda: TrajectoryConfig(RUN, grid=1), "grid"),
        (lambda: TrajectoryConfig(RUN, center=1), "center"),
        (lambda: LandscapeConfig(RUN, dist="cauchy"), "dist"),
        (lambda: LandscapeConfig(RUN, sided="left"), "sided"),
        (lambda: FlatnessConfig(RUN, draws=0), "draws"),
        (lambda: FlatnessConfig(RUN, n_dirs=0), "n_dirs"),
        (lambda: FlatnessConfig(RUN, hessian_batches=0), "hessian_batches"),
        (lambda: FlatnessConfig(RUN, trace_budget=2), "trace_budget"),
        (lambda: FlatnessConfig(RUN, trace_method="exact"), "trace_method"),
        (lambda: FlatnessConfig(RUN, pac_criterion="error"), "pac_criterion"),
        (lambda: FlatnessConfig(RUN, ascent_grid=(0,)), "ascent_grid"),
        (lambda: FlatnessConfig(RUN, ascent_steps=0), "ascent_steps"),
        (lambda: FlatnessConfig(RUN, window=NAN), "window"),
        (lambda: FlatnessConfig(RUN, pac_threshold=0.0), "pac_threshold"),
        (lambda: FlatnessConfig(RUN, sigmas=(1e-3, NAN)), "sigmas"),
    ],
)
def test_analysis_configs_reject(make, field):
    with pytest.raises(ValueError, match=rf"Config\.{field}=.*allowed"):
        make()


# ---------------------------------------------------------------- data and models


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


def tiny_data(n=8):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 2, 2, generator=g), torch.randint(0, 3, (n,), generator=g)


def _d(m):
    return directions.random_direction(params_of(m), 0)


ENTRY_POINTS = {
    "line": lambda m, x, y: landscape.line(m, _d(m), x, y, steps=3),
    "plane": lambda m, x, y: landscape.plane(m, _d(m), _d(m), x, y, nx=2, ny=2),
    "evaluate_points": lambda m, x, y: landscape.evaluate_points(m, [_d(m)], [[0.0]], x, y),
    "HVP": lambda m, x, y: hessian.HVP(m, x, y),
    "eigenvalue_stats": lambda m, x, y: hessian.eigenvalue_stats(m, x, y, 1, 4, k=1),
    "epsilon_sharpness": lambda m, x, y: flatness.epsilon_sharpness(m, x, y, steps=1),
    "sharpness_1d": lambda m, x, y: flatness.sharpness_1d(m, x, y, n_dirs=2),
    "perturbation": lambda m, x, y: flatness.perturbation(m, x, y, draws=1),
    "pac_bayes_sigma": lambda m, x, y: flatness.pac_bayes_sigma(m, x, y, draws=1, iters=1),
    "interpolate": lambda m, x, y: connectivity.interpolate(
        m, params_of(m), params_of(m), x, y, alphas=[0.0, 1.0]
    ),
    "train_bezier": lambda m, x, y: connectivity.train_bezier(
        m, params_of(m), params_of(m), x, y, epochs=1
    ),
}
x0, y0 = tiny_data()
BAD_DATA = {
    "labels out of range": (x0, torch.where(y0 == 0, 3, y0), r"labels in \[.*allowed: \[0, 3\)"),
    "float labels": (x0, y0.float(), "dtype torch.float32.*integer"),
    "NaN inputs": (x0.clone().index_fill_(0, torch.tensor([2]), NAN), y0, "NaN or inf"),
    "inf inputs": (x0.clone().index_fill_(0, torch.tensor([1]), INF), y0, "NaN or inf"),
    "uint8 images": ((x0.abs() * 60).to(torch.uint8), y0, "floating-point.*x.float.*normalize"),
    "length mismatch": (x0, y0[:5], "8 inputs, 5 labels"),
    "empty": (x0[:0], y0[:0], "empty"),
    "labels (n, 1)": (x0, y0[:, None], r"shape \(8, 1\)"),
}


@pytest.mark.parametrize("bad", list(BAD_DATA))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_bad_data_is_refused_before_any_compute(entry, bad):
    x, y, match = BAD_DATA[bad]
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    forwards = []
    model.register_forward_hook(lambda *a: forwards.append(1))
    with pytest.raises(ValueError, match=match):
        ENTRY_POINTS[entry](model, x, y)
    assert forwards == []  # refused before evaluating the model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_good_data_passes(entry):
    ENTRY_POINTS[entry](tiny(), *tiny_data())


def test_huge_but_finite_inputs_pass_the_finiteness_check():
    """The check sums the inputs first; a sum that overflows to inf must not refuse
    inputs that are all finite (it falls back to the element-wise check)."""
    x, y = tiny_data()
    huge = torch.full_like(x, 3e38)
    assert not torch.isfinite(huge.sum())
    check_data(huge, y, tiny())  # no error
    huge[1, 0] = INF
    with pytest.raises(ValueError, match="NaN or inf"):
        check_data(huge, y, tiny())


def test_a_model_without_parameters_is_refused():
    empty = nn.Sequential(nn.Flatten(), nn.ReLU())
    x, y = tiny_data()
    for call in (
        lambda: directions.random_plane(params_of(empty), seed=0),
        lambda: directions.random_direction(params_of(empty), seed=0),
        lambda: hessian.HVP(empty, x, y),
    ):
        with pytest.raises(ValueError, match="no parameters"):
            call()


def test_eval_set_rejects_an_unknown_sample():
    with pytest.raises(
        ValueError, match=r"EvalSet\.sample='first' is invalid; allowed: \('random', 'head'\)"
    ):
        EvalSet("train", 10, sample="first")
