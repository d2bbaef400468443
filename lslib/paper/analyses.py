"""The paper's analyses as cached functions of frozen configs (config -> cache -> arrays).

Each function trains (or loads) the runs it needs, computes its result with the library,
and stores it in the run store under a key of its config and the code that computes it.
Results are plain dicts of numbers and numpy arrays, ready for tables and figures. What
every seed needs (1D lines, Hessian statistics, the PCA of the path, flatness) is separate
from what only the figures need (planes), so seeds do not multiply the planes.
"""

import dataclasses

import numpy as np
import torch

from lslib import cache
from lslib import connectivity as C
from lslib import flatness as FL
from lslib import hessian as H
from lslib.config import (
    ConnectivityConfig,
    EvalSet,
    FlatnessConfig,
    HessianConfig,
    LandscapeConfig,  # fmt: skip
    TrainConfig,
    TrajectoryConfig,
)
from lslib.data import load_mnist
from lslib.directions import random_direction, random_plane
from lslib.landscape import evaluate_points, line
from lslib.landscape import plane as _plane
from lslib.params import evaluate, params_of, unflatten
from lslib.train import train_or_load
from lslib.trajectory import total_variation, trajectory_pca

CODE = ("config", "data", "models", "params", "train", "directions", "landscape", "fused",
        "hessian", "connectivity", "trajectory", "flatness", "paper.analyses")  # fmt: skip
CONTROL_DIRS = 5  # random unit directions compared with PC1


def eval_data(e: EvalSet, device: str):
    d = load_mnist(device=device)
    split = d.train if e.source == "train" else d.test
    s = split.head(e.size)
    return s.x, s.y


def run_summary(c: TrainConfig) -> dict:
    """What a table needs from a run (no weights)."""
    r = train_or_load(c)
    return {"status": r.status, "epochs": r.epochs, "history": r.history, **r.final}


def lines(c: LandscapeConfig) -> dict:
    """The loss along ``n_dirs`` random directions around the run's final weights, and the
    mean rise over them (lower is flatter)."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        x, y = eval_data(c.data, c.run.device)
        p = params_of(model)
        alphas = np.linspace(-c.span, c.span, c.line_steps)
        lines = np.array([line(model, random_direction(p, c.seed + 100 + i, c.norm, c.bias), x, y,
                               steps=c.line_steps, span=c.span, progress=False).loss
                          for i in range(c.n_dirs)])  # fmt: skip
        centre, acc = evaluate(model, p, x, y)
        return {"alphas": alphas, "lines": lines, "centre": centre, "centre_acc": acc,
                "rise": float(np.nanmean(lines - centre)),
                "nonfinite": int(np.isnan(lines).sum())}  # fmt: skip

    return cache.cached("lines", c, compute, CODE)


def plane(c: LandscapeConfig) -> dict:
    """The loss on one random filter-normalized plane around the run's final weights."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        x, y = eval_data(c.data, c.run.device)
        d1, d2 = random_plane(params_of(model), c.seed, c.norm, c.bias)
        pl = _plane(model, d1, d2, x, y, nx=c.grid, ny=c.grid, xspan=c.span, yspan=c.span,
                    progress=False)  # fmt: skip
        return {"xs": pl.xs, "ys": pl.ys, "plane": pl.loss,
                "nonfinite": int(np.isnan(pl.loss).sum())}  # fmt: skip

    return cache.cached("plane", c, compute, CODE)


def hessian(c: HessianConfig) -> dict:
    """Top-k eigenvalue statistics on test mini-batches."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        d = load_mnist(device=c.run.device).test
        return H.eigenvalue_stats(model, d.x, d.y, c.n_batches, c.batch_size, c.k, c.seed, c.tol)

    return cache.cached("hessian", c, compute, CODE)


def connectivity(c: ConnectivityConfig) -> dict:
    """Interpolation (train and test) before and after weight matching, and a Bezier curve."""

    def compute():
        dev = c.run_a.device
        model = train_or_load(c.run_a).model(dev)
        a = params_of(model)
        b = params_of(train_or_load(c.run_b).model(dev))
        perms, b_aligned = C.weight_matching(model, a, b)
        alphas = np.linspace(0, 1, c.points)
        out = {"alphas": alphas}
        for source in ("train", "test"):
            x, y = eval_data(dataclasses.replace(c.data, source=source), dev)
            for tag, bb in (("plain", b), ("aligned", b_aligned)):
                ev = C.interpolate(model, a, bb, x, y, alphas, progress=False)
                out[f"{source}_{tag}_loss"], out[f"{source}_{tag}_acc"] = ev.loss, ev.acc
                out[f"{source}_{tag}_barrier"] = C.barrier(alphas, ev.loss)
        train = load_mnist(c.run_a.subset, device=dev).train
        mid = C.train_bezier(model, a, b, train.x, train.y, epochs=c.bezier_epochs,
                             lr=c.bezier_lr, batch_size=c.run_a.batch_size, seed=c.run_a.seed)  # fmt: skip
        x, y = eval_data(dataclasses.replace(c.data, source="test"), dev)
        ev = C.curve(model, a, mid, b, x, y, ts=alphas, progress=False)
        out["test_bezier_loss"], out["test_bezier_acc"] = ev.loss, ev.acc
        out["test_bezier_barrier"] = C.barrier(alphas, ev.loss)
        out["units_moved"] = [float((p != torch.arange(len(p))).float().mean()) for p in perms]
        return out

    return cache.cached("connectivity", c, compute, CODE)


def _pcs(c: TrajectoryConfig):
    r = train_or_load(c.run)
    model = r.model(c.run.device)
    x, y = eval_data(c.data, c.run.device)
    pca = trajectory_pca(r.snapshots(), k=2)
    like = params_of(model)
    pcs = [unflatten(pca.components[i].to(x.device), like) for i in range(len(pca.components))]
    return model, x, y, pca, pcs


def trajectory(c: TrajectoryConfig) -> dict:
    """PCA of the path of per-epoch weights, the loss along PC1, and the same along
    ``CONTROL_DIRS`` random unit-norm directions (PC1 has unit norm too): the control that
    says whether PC1 is flatter than any direction of its length."""

    def compute():
        model, x, y, pca, pcs = _pcs(c)
        alphas = np.linspace(-c.pc1_span, c.pc1_span, c.pc1_steps)
        ev = evaluate_points(model, [pcs[0]], alphas[:, None], x, y, progress=False)
        like = params_of(model)
        gen = torch.Generator().manual_seed(12345)
        control = []
        for _ in range(CONTROL_DIRS):
            v = torch.randn(pca.components.shape[1], generator=gen)
            d = unflatten((v / v.norm()).to(x.device), like)
            control.append(evaluate_points(model, [d], alphas[:, None], x, y, progress=False).loss)
        return {"explained": pca.explained, "path": pca.path, "alphas": alphas,
                "pc1_loss": ev.loss, "delta_l": total_variation(ev.loss),
                "range_l": float(np.nanmax(ev.loss) - np.nanmin(ev.loss)),
                "control_loss": np.array(control),
                "control_delta_l": np.array([total_variation(v) for v in control])}  # fmt: skip

    return cache.cached("trajectory", c, compute, CODE)


def trajectory_plane(c: TrajectoryConfig) -> dict:
    """The loss on the PC1-PC2 plane, spanning the path with a margin."""

    def compute():
        model, x, y, pca, pcs = _pcs(c)
        lim = 1.2 * np.abs(pca.path).max(0) + 1e-3
        pl = _plane(model, pcs[0], pcs[1], x, y, nx=c.grid, ny=c.grid,
                    xspan=float(lim[0]), yspan=float(lim[1]), progress=False)  # fmt: skip
        return {"xs": pl.xs, "ys": pl.ys, "plane": pl.loss, "path": pca.path,
                "explained": pca.explained}  # fmt: skip

    return cache.cached("trajectory_plane", c, compute, CODE)


def flatness(c: FlatnessConfig) -> dict:
    """Table 5: test loss, lambda_1 over test batches, trace, 1D sharpness, perturbation,
    epsilon-sharpness and the PAC-Bayes sigma'."""

    def compute():
        dev = c.run.device
        model = train_or_load(c.run).model(dev)
        x, y = eval_data(c.data, dev)
        test = load_mnist(device=dev).test
        hs = H.eigenvalue_stats(model, test.x, test.y, c.hessian_batches, 128, 1, c.seed)
        trace, trace_se = H.hutchinson_trace(H.HVP(model, test.x[:128], test.y[:128]),
                                             c.trace_samples, c.seed)  # fmt: skip
        return {
            "test_loss": evaluate(model, params_of(model), test.x, test.y)[0],
            "lambda1": hs["values"][:, 0], "trace": trace, "trace_se": trace_se,
            "sharpness_1d": FL.sharpness_1d(model, x, y, c.n_dirs, c.window, seed=c.seed),
            "perturbation": FL.perturbation(model, x, y, c.sigmas, c.draws, c.seed),
            "eps_sharpness": FL.epsilon_sharpness(model, x, y, c.eps, c.ascent_steps, c.seed),
            "pac_sigma": FL.pac_bayes_sigma(model, x, y, c.pac_threshold, seed=c.seed),
        }  # fmt: skip

    return cache.cached("flatness", c, compute, CODE)


def spectral_density(c: HessianConfig, steps: int = 60, runs: int = 2) -> dict:
    """SLQ density of the Hessian on the first test mini-batch."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        d = load_mnist(device=c.run.device).test
        return H.spectral_density(
            H.HVP(model, d.x[: c.batch_size], d.y[: c.batch_size]), steps, runs, c.seed
        )

    return cache.cached("density", (c, steps, runs), compute, CODE)
