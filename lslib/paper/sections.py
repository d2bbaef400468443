"""The paper's sections: validated settings -> cached analyses -> one payload per notebook.

``phase1(S)``, ``phase2(S)`` and ``phase3(S)`` take a ``Section`` (see ``profiles``) and
return ``(payload, figures)``: the payload holds every number the tables and claims use,
one value per seed (lists), and is what ``results.save`` writes; ``figures`` holds the
arrays the notebook plots (seed 0 only). Every expensive step comes from the run store.
"""

import itertools

import numpy as np

from lslib.config import (
    ConnectivityConfig,
    FlatnessConfig,
    HessianConfig,
    LandscapeConfig,
    TrajectoryConfig,
)
from lslib.models import build_model, n_params
from lslib.paper import analyses as A
from lslib.paper.profiles import Section


def _landscape(S: Section, run) -> LandscapeConfig:
    return LandscapeConfig(run=run, data=S.eval_set, n_dirs=S.n_dirs, line_steps=S.line_steps,
                           grid=S.grid, span=S.span)  # fmt: skip


def _hessian(S: Section, run) -> HessianConfig:
    return HessianConfig(run=run, n_batches=S.hessian_batches, batch_size=S.hessian_batch_size)


def _run_numbers(S: Section, runs: list) -> dict:
    """Per-seed training outcome, 1D rise and top-3 eigenvalues of a list of runs."""
    fits = [A.run_summary(c) for c in runs]
    lines = [A.lines(_landscape(S, c)) for c in runs]
    hess = [A.hessian(_hessian(S, c)) for c in runs]
    vals = [np.asarray(h["values"]) for h in hess]  # (batches, k) per seed
    return {
        "seeds": [c.seed for c in runs], "status": [f["status"] for f in fits],
        "epochs": [f["epochs"] for f in fits], "test_loss": [f["test_loss"] for f in fits],
        "test_acc": [f["test_acc"] for f in fits],
        "train_loss": [[h["train_loss"] for h in f["history"]] for f in fits],
        "rise": [ln["rise"] for ln in lines],
        "l1": [float(v[:, 0].mean()) for v in vals], "l2": [float(v[:, 1].mean()) for v in vals],
        "l3": [float(v[:, 2].mean()) for v in vals],
        "l1_batch_std": [float(v[:, 0].std(ddof=1)) if len(v) > 1 else None for v in vals],
        "l1_min": [float(v[:, 0].min()) for v in vals], "l1_max": [float(v[:, 0].max()) for v in vals],
        "residual_max": float(max(np.max(h["residuals"]) for h in hess)),
    }  # fmt: skip


def _figure(S: Section, run, title: str) -> dict:
    c = _landscape(S, run)
    ln, pl = A.lines(c), A.plane(c)
    return {"title": title, "alphas": ln["alphas"], "lines": ln["lines"], "xs": pl["xs"],
            "ys": pl["ys"], "plane": pl["plane"]}  # fmt: skip


def label(model: str, width) -> str:
    return f"{NAMES[model]}-{width}"


NAMES = {"mlp": "MLP", "cnn": "SimpleCNN"}


def phase1(S: Section) -> tuple[dict, dict]:
    """Width scaling: for each width, every seed's run, 1D rise and eigenvalues; the
    landscape figure of the first seed."""
    rows, figs = [], []
    for w in S.widths:
        runs = [S.train(width=w, seed=s) for s in S.seeds]
        params = n_params(build_model(S.model, w))
        rows.append({"width": w, "params": params} | _run_numbers(S, runs))
        figs.append(_figure(S, runs[0], label(S.model, w)))
    return {"rows": rows}, {"landscapes": figs}


def phase2(S: Section) -> tuple[dict, dict]:
    """The optimizer sweep at one width: per optimizer, every seed's numbers; the training
    curves and landscapes of the first seed."""
    rows, figs, curves = [], [], {}
    for o in S.optimizers:
        runs = [S.train(optimizer=o, seed=s) for s in S.seeds]
        rows.append({"optimizer": o} | _run_numbers(S, runs))
        figs.append(_figure(S, runs[0], f"{label(S.model, S.width)}, {o}"))
        curves[o] = A.run_summary(runs[0])["history"]
    return {"width": S.width, "params": n_params(build_model(S.model, S.width)),
            "rows": rows}, {"landscapes": figs, "curves": curves}  # fmt: skip


def parabola(alphas, loss) -> dict:
    """Least-squares parabola through the loss along a line: R^2 and the vertex position."""
    a, L = np.asarray(alphas, float), np.asarray(loss, float)
    c2, c1, c0 = np.polyfit(a, L, 2)
    resid = L - (c2 * a**2 + c1 * a + c0)
    tot = float(((L - L.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / tot if tot > 0 else float("nan")
    vertex = -c1 / (2 * c2) if c2 > 0 else float("nan")
    return {"r2": r2, "vertex": float(vertex), "curvature": float(2 * c2)}


def phase3(S: Section) -> tuple[dict, dict]:
    """Connectivity over every pair of seeds, the trajectory and flatness of every seed."""
    runs = [S.train(seed=s) for s in S.seeds]
    fits = [A.run_summary(c) for c in runs]
    pairs, conns = [], []
    for i, j in itertools.combinations(range(len(runs)), 2):
        conn = A.connectivity(ConnectivityConfig(run_a=runs[i], run_b=runs[j], data=S.eval_set,
                                                 points=S.points, bezier_epochs=S.bezier_epochs))  # fmt: skip
        conns.append(conn)
        b = conn["test_plain_barrier"]
        pairs.append({"seeds": [S.seeds[i], S.seeds[j]], "endpoint_loss": (b["loss_a"] + b["loss_b"]) / 2,
                      "barrier": b["height"], "relative_barrier": b["relative"],
                      "max_loss": float(np.max(conn["test_plain_loss"])),
                      "aligned_barrier": conn["test_aligned_barrier"]["height"],
                      "bezier_barrier": conn["test_bezier_barrier"]["height"],
                      "units_moved": float(np.mean(conn["units_moved"]))})  # fmt: skip
    tcfg = [
        TrajectoryConfig(run=c, data=S.eval_set, pc1_span=S.pc1_span, grid=S.grid) for c in runs
    ]
    trajs = [A.trajectory(t) for t in tcfg]
    flats = [A.flatness(FlatnessConfig(run=c, data=S.eval_set, hessian_batches=S.flat_batches,
                                       trace_samples=S.trace_samples)) for c in runs]  # fmt: skip
    fits_p = [parabola(t["alphas"], t["pc1_loss"]) for t in trajs]
    payload = {
        "width": S.width, "params": n_params(build_model(S.model, S.width)), "seeds": S.seeds,
        "status": [f["status"] for f in fits], "epochs": [f["epochs"] for f in fits],
        "test_loss": [f["test_loss"] for f in fits], "test_acc": [f["test_acc"] for f in fits],
        "pairs": pairs,
        "explained": [[float(e) for e in t["explained"]] for t in trajs],
        "delta_l": [t["delta_l"] for t in trajs],
        "control_delta_l": [float(np.mean(t["control_delta_l"])) for t in trajs],
        "pc1_r2": [f["r2"] for f in fits_p], "pc1_vertex": [f["vertex"] for f in fits_p],
        "flatness": {
            "test_loss": [f["test_loss"] for f in flats],
            "lambda1": [float(np.mean(f["lambda1"])) for f in flats],
            "lambda1_batch_std": [float(np.std(f["lambda1"], ddof=1)) for f in flats],
            "trace": [f["trace"] for f in flats], "trace_se": [f["trace_se"] for f in flats],
            "sharpness_1d": [f["sharpness_1d"]["mean"] for f in flats],
            "perturb_sigmas": [float(s) for s in flats[0]["perturbation"]["sigmas"]],
            "perturbation": [[float(m) for m in f["perturbation"]["mean"]] for f in flats],
            "eps_sharpness": [f["eps_sharpness"] for f in flats],
            "pac_sigma": [f["pac_sigma"] for f in flats],
        },
    }  # fmt: skip
    density = A.spectral_density(HessianConfig(run=runs[0], batch_size=S.hessian_batch_size))
    figures = {"connectivity": conns[0], "trajectory": trajs[0],
               "trajectory_plane": A.trajectory_plane(tcfg[0]), "density": density}  # fmt: skip
    return payload, figures
