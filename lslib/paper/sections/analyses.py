"""The paper's analyses as cached functions of frozen configs (config -> cache -> arrays).

Each function trains (or loads) the runs it needs, computes its result with the library,
and stores it in the run store under a key of its config and the code that computes it.
Results are plain dicts of numbers and numpy arrays, ready for tables and figures. What
every seed needs (1D lines, the PCA of the path) is separate from what only the figures need
(planes), so seeds do not multiply the planes. The curvature and flatness analyses are in
``analyses_curvature``, those beyond the report in ``analyses_beyond``.
"""

import dataclasses

import numpy as np
import torch

from lslib import cache
from lslib import connectivity as C
from lslib.config import (
    ConnectivityConfig,
    EvalSet,
    LandscapeConfig,
    TrainConfig,
    TrajectoryConfig,
)
from lslib.data import load_mnist
from lslib.directions import random_direction, random_plane
from lslib.landscape import evaluate_points, line, loss_landscapes_line, loss_landscapes_plane
from lslib.landscape import plane as _plane
from lslib.params import evaluate, params_of, unflatten
from lslib.subsets import sample
from lslib.train import train_or_load
from lslib.trajectory import total_variation, trajectory_pca, weight_mask

CONTROL_DIRS = 5  # random unit directions compared with PC1


def eval_data(e: EvalSet, device: str):
    """The images and labels (x, y) of the evaluation set ``e`` on ``device``."""
    d = load_mnist(device=device)
    split = d.train if e.source == "train" else d.test
    s = split.head(e.size) if e.sample == "head" else sample(split, e.size, e.seed)
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
        lo = -c.span if c.sided == "both" else 0.0
        alphas = np.linspace(lo, c.span, c.line_steps)
        lines = np.array(
            [
                line(
                    model,
                    random_direction(p, c.seed + 100 + i, c.norm, c.bias, c.dist),
                    x,
                    y,
                    steps=c.line_steps,
                    span=c.span,
                    sided=c.sided,
                    progress=False,
                ).loss
                for i in range(c.n_dirs)
            ]
        )
        centre, acc = evaluate(model, p, x, y)
        return {
            "alphas": alphas,
            "lines": lines,
            "centre": centre,
            "centre_acc": acc,
            "rise": float(np.nanmean(lines - centre)),
            "nonfinite": int(np.isnan(lines).sum()),
        }

    return cache.cached("lines", c, compute)


def plane(c: LandscapeConfig) -> dict:
    """The loss on one random filter-normalized plane around the run's final weights."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        x, y = eval_data(c.data, c.run.device)
        d1, d2 = random_plane(params_of(model), c.seed, c.norm, c.bias, dist=c.dist)
        pl = _plane(
            model, d1, d2, x, y, nx=c.grid, ny=c.grid, xspan=c.span, yspan=c.span, progress=False
        )
        return {
            "xs": pl.xs,
            "ys": pl.ys,
            "plane": pl.loss,
            "nonfinite": int(np.isnan(pl.loss).sum()),
        }

    return cache.cached("plane", c, compute)


def ll_lines(c: LandscapeConfig) -> dict:
    """``n_dirs`` lines exactly as the loss-landscapes package's ``random_line(distance=span,
    steps=line_steps)`` draws and places them (U[0, 1) directions, biases included, one-sided,
    ending at 1/span in filter-normalized units)."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        x, y = eval_data(c.data, c.run.device)
        evs = [
            loss_landscapes_line(
                model, x, y, c.span, c.line_steps, c.seed + 100 + i, progress=False
            )
            for i in range(c.n_dirs)
        ]
        centre, acc = evaluate(model, params_of(model), x, y)
        return {
            "alphas": evs[0].coords[:, 0],
            "lines": np.array([e.loss for e in evs]),
            "centre": centre,
            "centre_acc": acc,
        }

    return cache.cached("ll_lines", c, compute)


def ll_plane(c: LandscapeConfig) -> dict:
    """The plane of loss-landscapes' ``random_plane(distance=span, steps=grid)``, on its
    regular grid (the package's own walk staggers alternate columns by one step)."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        x, y = eval_data(c.data, c.run.device)
        pl = loss_landscapes_plane(
            model, x, y, c.span, c.grid, c.seed, staggered=False, progress=False
        )
        return {
            "xs": pl.xs,
            "ys": pl.ys,
            "plane": pl.loss,
            "nonfinite": int(np.isnan(pl.loss).sum()),
        }

    return cache.cached("ll_plane", c, compute)


def connectivity(c: ConnectivityConfig) -> dict:
    """Interpolation (train and test) before and after weight matching, on test data after
    weight matching with REPAIR (Jordan et al. 2023; statistics on the sample's training
    images), and a Bezier curve."""

    def compute():
        dev = c.run_a.device
        model = train_or_load(c.run_a).model(dev)
        a = params_of(model)
        b = params_of(train_or_load(c.run_b).model(dev))
        perms, b_aligned = C.weight_matching(model, a, b)
        alphas = np.linspace(0, 1, c.points)
        out = {"alphas": alphas}
        stats_x = eval_data(dataclasses.replace(c.data, source="train"), dev)[0]
        for source in ("train", "test"):
            x, y = eval_data(dataclasses.replace(c.data, source=source), dev)
            tags = ("plain", "aligned") + (("repair",) if source == "test" else ())
            for tag in tags:
                bb = b if tag == "plain" else b_aligned
                if tag == "repair":  # aligned, each hidden unit's statistics REPAIRed
                    ev = C.interpolate_repaired(model, a, bb, x, y, alphas, stats_x=stats_x)
                else:
                    ev = C.interpolate(model, a, bb, x, y, alphas, progress=False)
                out[f"{source}_{tag}_loss"], out[f"{source}_{tag}_acc"] = ev.loss, ev.acc
                out[f"{source}_{tag}_barrier"] = C.barrier(alphas, ev.loss)
        train = load_mnist(c.run_a.subset, device=dev).train
        mid = C.train_bezier(
            model,
            a,
            b,
            train.x,
            train.y,
            epochs=c.bezier_epochs,
            lr=c.bezier_lr,
            batch_size=c.run_a.batch_size,
            seed=c.run_a.seed,
        )
        x, y = eval_data(dataclasses.replace(c.data, source="test"), dev)
        ev = C.curve(model, a, mid, b, x, y, ts=alphas, progress=False)
        out["test_bezier_loss"], out["test_bezier_acc"] = ev.loss, ev.acc
        out["test_bezier_barrier"] = C.barrier(alphas, ev.loss)
        out["units_moved"] = [float((p != torch.arange(len(p))).float().mean()) for p in perms]
        return out

    return cache.cached("connectivity", c, compute)


def _pcs(c: TrajectoryConfig):
    r = train_or_load(c.run)
    model = r.model(c.run.device)
    x, y = eval_data(c.data, c.run.device)
    like = params_of(model)
    mask = None if c.biases else weight_mask(like)
    pca = trajectory_pca(r.snapshots(), k=2, center=c.center, mask=mask)
    pcs = [unflatten(pca.components[i].to(x.device), like) for i in range(len(pca.components))]
    return model, x, y, pca, pcs, mask


def trajectory(c: TrajectoryConfig) -> dict:
    """PCA of the path of per-epoch weights, the loss along PC1, and the same along
    ``CONTROL_DIRS`` random unit-norm directions in the same coordinates (PC1 has unit norm
    too): the control that says whether PC1 is flatter than any direction of its length."""

    def compute():
        model, x, y, pca, pcs, mask = _pcs(c)
        alphas = np.linspace(-c.pc1_span, c.pc1_span, c.pc1_steps)
        ev = evaluate_points(model, [pcs[0]], alphas[:, None], x, y, progress=False)
        like = params_of(model)
        gen = torch.Generator().manual_seed(12345)
        control = []
        for _ in range(CONTROL_DIRS):
            v = torch.randn(pca.components.shape[1], generator=gen)
            v = v if mask is None else v * mask.cpu()
            d = unflatten((v / v.norm()).to(x.device), like)
            control.append(evaluate_points(model, [d], alphas[:, None], x, y, progress=False).loss)
        return {
            "explained": pca.explained,
            "path": pca.path,
            "alphas": alphas,
            "pc1_loss": ev.loss,
            "delta_l": total_variation(ev.loss),
            "range_l": float(np.nanmax(ev.loss) - np.nanmin(ev.loss)),
            "control_loss": np.array(control),
            "control_delta_l": np.array([total_variation(v) for v in control]),
        }

    return cache.cached("trajectory", c, compute)


def trajectory_plane(c: TrajectoryConfig) -> dict:
    """The loss on the PC1-PC2 plane, spanning the path with a margin."""

    def compute():
        model, x, y, pca, pcs, _ = _pcs(c)
        lim = 1.2 * np.abs(pca.path).max(0) + 1e-3
        pl = _plane(
            model,
            pcs[0],
            pcs[1],
            x,
            y,
            nx=c.grid,
            ny=c.grid,
            xspan=float(lim[0]),
            yspan=float(lim[1]),
            progress=False,
        )
        return {
            "xs": pl.xs,
            "ys": pl.ys,
            "plane": pl.loss,
            "path": pca.path,
            "explained": pca.explained,
        }

    return cache.cached("trajectory_plane", c, compute)
