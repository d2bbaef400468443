"""The paper's sections: validated settings -> cached analyses -> one payload per notebook.

``phase1(S)``, ``phase2(S)`` and ``phase3(S)`` take a ``Section`` (see ``profiles``) and
return ``(payload, figures)``: the payload holds every number the tables and claims use,
one value per seed (lists), and is what ``results.save`` writes; ``figures`` holds the
arrays the notebook plots (seed 0 only). Every expensive step comes from the run store.
"""

import dataclasses
import itertools
import math

import numpy as np

from lslib.config import (
    DISTS,
    ConnectivityConfig,
    FlatnessConfig,
    HessianConfig,
    LandscapeConfig,
    TrajectoryConfig,
)
from lslib.models import build_model, n_params
from lslib.paper import analyses as A
from lslib.paper.profiles import (
    PERTURB_READ,
    SIGMA_LEVEL,
    Section,
    _spans,
    adopted,
    ll_reading,
    parse_reading,
    reading,
)
from lslib.train import converged

# Stopping rules whose epoch counts Table 1 also shows (besides the section's own plateau
# rule), read off each run's per-epoch history: a rule that fires after the run stopped is
# censored ("at least").
STOP_RULES = {
    "plateau, patience 4": ("plateau", 4, 0.01),
    "plateau, rel_tol 0.001": ("plateau", 2, 0.001),
    "training loss ≤ 0.05": ("train_loss", 0.05),
    "validation accuracy ≥ 97.5 %": ("val_acc", 0.975),
}
FRANKLE_THRESHOLD = 0.02  # Frankle et al. 2020: "linearly connected" if the error barrier < 2 %


def _landscape(S: Section, run, dist: str = "gaussian", size=None) -> LandscapeConfig:
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


def _plane(S: Section, run, size: int | None = None) -> dict:
    fn, cfg = plane_call(S, run, size)
    return fn(cfg)


def _hessian(S: Section, run, **over) -> HessianConfig:
    return HessianConfig(
        run=run, n_batches=S.hessian_batches, batch_size=S.hessian_batch_size, **over
    )


def _select(alphas, sided: str, span: float) -> np.ndarray:
    a = np.asarray(alphas)
    lo = -span if sided == "both" else 0.0
    return (a >= lo - 1e-9) & (a <= span + 1e-9)


def line_readings(lines_by_dist: dict, spans) -> dict:
    """Mean rise L(alpha) - L(0) over each reading's part of the lines (lower is flatter)."""
    out = {}
    for dist, ln in lines_by_dist.items():
        rise = np.asarray(ln["lines"]) - ln["centre"]
        for span in spans:
            for sided in ("one", "both"):
                sel = _select(ln["alphas"], sided, span)
                out[reading(dist, sided, span)] = float(np.nanmean(rise[:, sel]))
    return out


def _rise(ln: dict) -> float:
    return float(np.nanmean(np.asarray(ln["lines"]) - ln["centre"]))


# What a section asks of the run store, as (cached function, its config) pairs: the
# sections call them, and ``tasks`` submits the same calls before a notebook runs.


def line_calls(S: Section, run, size: int | None = None) -> list[tuple]:
    """The lines every reading is read from: both direction laws over [-span, span], and
    loss-landscapes' own."""
    return [(A.lines, _landscape(S, run, d, size)) for d in DISTS] + [
        (A.ll_lines, _landscape(S, run, "uniform", size))
    ]


def adopted_call(S: Section, run, size: int | None = None) -> tuple:
    parsed = parse_reading(S.line_reading)
    if parsed is None:
        return A.ll_lines, _landscape(S, run, "uniform", size)
    return A.lines, _landscape(S, run, parsed[0], size)


def plane_call(S: Section, run, size: int | None = None) -> tuple:
    """The figure's plane in the adopted reading: loss-landscapes' random_plane, or an
    lslib plane over +-plane_span along two directions of the reading's law."""
    parsed = parse_reading(S.line_reading)
    if parsed is None:
        return A.ll_plane, _landscape(S, run, "uniform", size)
    return A.plane, dataclasses.replace(_landscape(S, run, parsed[0], size), span=S.plane_span)


def connectivity_config(S: Section, a, b) -> ConnectivityConfig:
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


def flatness_config(S: Section, c) -> FlatnessConfig:
    return FlatnessConfig(
        run=c,
        data=S.eval_set,
        hessian_batches=S.flat_batches,
        trace_budget=S.trace_budget,
        trace_method=S.trace_method,
        curvature_images=S.curvature_images,
        pac_criterion=S.pac_criterion,
        n_dirs=S.n_dirs,
    )


def lambda_args(S: Section, c) -> tuple:
    return _hessian(S, c, tol=1e-4), tuple(S.batch_sizes), S.full_hessian_images


def density_args(S: Section, c) -> tuple:
    return HessianConfig(run=c, batch_size=S.hessian_batch_size), S.curvature_images


def _lines(S: Section, runs: list, size: int | None = None) -> tuple[list, dict]:
    """Per seed, the lines of both direction laws and loss-landscapes' own; and each
    reading's per-seed mean rise."""
    calls = [line_calls(S, c, size) for c in runs]
    per = [{d: fn(cfg) for d, (fn, cfg) in zip(DISTS, cl, strict=False)} for cl in calls]
    ll = [cl[-1][0](cl[-1][1]) for cl in calls]
    rr = [
        line_readings(p, _spans(S)) | {ll_reading(S.span): _rise(q)}
        for p, q in zip(per, ll, strict=True)
    ]
    return per, {k: [r[k] for r in rr] for k in rr[0]}


def stop_epoch(history: list, status: str, rule: tuple) -> tuple[int, str]:
    """The epoch at which ``rule`` stops a run with this history, and 'converged' or
    'censored' (the rule had not fired when the run stopped)."""
    for e in range(1, len(history) + 1):
        h = history[:e]
        if rule[0] == "plateau":
            hit = converged([r["val_loss"] for r in h], rule[1], rule[2])
        elif rule[0] == "train_loss":
            hit = h[-1]["train_loss"] <= rule[1]
        else:
            hit = h[-1].get("val_acc", 0.0) >= rule[1]
        if hit:
            return e, "converged"
    return len(history), "censored"


def adopted_lines(S: Section, run, size: int | None = None) -> dict:
    """The lines of the adopted reading alone: alphas, lines (n_dirs, points), centre."""
    parsed = parse_reading(S.line_reading)
    fn, cfg = adopted_call(S, run, size)
    ln = fn(cfg)
    if parsed is None:
        return {
            "alphas": np.asarray(ln["alphas"]),
            "lines": np.asarray(ln["lines"]),
            "centre": ln["centre"],
        }
    sel = _select(ln["alphas"], parsed[1], parsed[2])
    return {
        "alphas": np.asarray(ln["alphas"])[sel],
        "lines": np.asarray(ln["lines"])[:, sel],
        "centre": ln["centre"],
    }


def _run_numbers(S: Section, runs: list, every_reading: bool = True) -> dict:
    """Per-seed training outcome, 1D rise (every reading, or the adopted one) and top-3
    eigenvalues of runs."""
    fits = [A.run_summary(c) for c in runs]
    if every_reading:
        _, readings = _lines(S, runs)
        rise = readings[adopted(S)]
    else:
        readings, rise = None, [_rise(adopted_lines(S, c)) for c in runs]
    out = {
        "seeds": [c.seed for c in runs],
        "status": [f["status"] for f in fits],
        "epochs": [f["epochs"] for f in fits],
        "test_loss": [f["test_loss"] for f in fits],
        "test_acc": [f["test_acc"] for f in fits],
        "train_loss": [[h["train_loss"] for h in f["history"]] for f in fits],
        "rise": rise,
        "rise_readings": readings,
    }
    hess = [A.hessian(_hessian(S, c)) for c in runs]
    vals = [np.asarray(h["values"]) for h in hess]  # (batches, k) per seed
    return out | {
        "l1": [float(v[:, 0].mean()) for v in vals],
        "l2": [float(v[:, 1].mean()) for v in vals],
        "l3": [float(v[:, 2].mean()) for v in vals],
        "l1_batch_std": [float(v[:, 0].std(ddof=1)) if len(v) > 1 else None for v in vals],
        "l1_min": [float(v[:, 0].min()) for v in vals],
        "l1_max": [float(v[:, 0].max()) for v in vals],
        "residual_max": float(max(np.max(h["residuals"]) for h in hess)),
    }


def _stop_rules(S: Section, runs: list) -> dict:
    fits = [A.run_summary(c) for c in runs]
    rules = {
        f"plateau, patience {S.patience}, rel_tol {S.rel_tol:g} (adopted)": (
            "plateau",
            S.patience,
            S.rel_tol,
        )
    } | STOP_RULES
    out = {}
    for name, rule in rules.items():
        got = [stop_epoch(f["history"], f["status"], rule) for f in fits]
        out[name] = {"epochs": [g[0] for g in got], "status": [g[1] for g in got]}
    return out


def _figure(S: Section, run, title: str) -> dict:
    ln, pl = adopted_lines(S, run), _plane(S, run)
    return {
        "title": title,
        "alphas": ln["alphas"],
        "lines": ln["lines"],
        "xs": pl["xs"],
        "ys": pl["ys"],
        "plane": pl["plane"],
        "reading": adopted(S),
    }


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
        rows.append(
            {"width": w, "params": params}
            | _run_numbers(S, runs)
            | {"stop_rules": _stop_rules(S, runs)}
        )
        figs.append(_figure(S, runs[0], label(S.model, w)))
    return {"rows": rows, "reading": adopted(S), "span": S.span}, {"landscapes": figs}


def phase2(S: Section) -> tuple[dict, dict]:
    """The optimizer sweep at one width: per optimizer, every seed's numbers; the training
    curves and landscapes of the first seed."""
    rows, figs, curves = [], [], {}
    runs = {o: [S.train(optimizer=o, seed=s) for s in S.seeds] for o in S.optimizers}
    for o in S.optimizers:
        rows.append({"optimizer": o} | _run_numbers(S, runs[o]))
        figs.append(_figure(S, runs[o][0], f"{label(S.model, S.width)}, {o}"))
        curves[o] = A.run_summary(runs[o][0])["history"]
    for r, m in zip(rows, matched(S, runs).values(), strict=True):
        r["matched"] = m
    return {
        "width": S.width,
        "params": n_params(build_model(S.model, S.width)),
        "rows": rows,
        "reading": adopted(S),
    }, {"landscapes": figs, "curves": curves}


def matched(S: Section, runs: dict) -> dict:
    """Each optimizer's runs at the first epoch their training loss reaches the lowest
    level every run reaches (so sharpness is compared at equal progress): per optimizer the
    level, epochs, training losses, lambda_1 and adopted 1D rise."""
    losses = {
        o: [[h["train_loss"] for h in A.run_summary(c)["history"]] for c in cs]
        for o, cs in runs.items()
    }
    level = max(min(t) for ts in losses.values() for t in ts)
    out = {}
    for o, cs in runs.items():
        epochs = [next(i + 1 for i, v in enumerate(t) if v <= level) for t in losses[o]]
        at = [dataclasses.replace(c, epochs=e) for c, e in zip(cs, epochs, strict=True)]
        m = _run_numbers(S, at, every_reading=False)
        out[o] = {
            "level": level,
            "epochs": epochs,
            "l1": m["l1"],
            "rise": m["rise"],
            "train_loss": [t[e - 1] for t, e in zip(losses[o], epochs, strict=True)],
        }
    return out


def parabola(alphas, loss) -> dict:
    """Least-squares parabola through the loss along a line: R^2 and the vertex position."""
    a, L = np.asarray(alphas, float), np.asarray(loss, float)
    c2, c1, c0 = np.polyfit(a, L, 2)
    resid = L - (c2 * a**2 + c1 * a + c0)
    tot = float(((L - L.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / tot if tot > 0 else float("nan")
    vertex = -c1 / (2 * c2) if c2 > 0 else float("nan")
    return {"r2": r2, "vertex": float(vertex), "curvature": float(2 * c2)}


def error_barrier(acc) -> dict:
    """Frankle et al. 2020: the largest test error along the path minus the mean error of
    its endpoints; the path is linearly connected when it is below ``FRANKLE_THRESHOLD``."""
    err = 1 - np.asarray(acc, dtype=float)
    height = float(err.max() - (err[0] + err[-1]) / 2)
    return {"height": height, "connected": bool(height < FRANKLE_THRESHOLD)}


def sigma_at(sigmas, mean, level: float) -> float:
    """The sigma at which a rising curve of mean loss increase first reaches ``level``
    (log-log interpolation between grid points; nan if it never does)."""
    s, m = np.asarray(sigmas, float), np.asarray(mean, float)
    for i in range(1, len(s)):
        if m[i] >= level and s[i - 1] > 0:
            lo = max(m[i - 1], 1e-300)
            if lo >= level:
                return float(s[i - 1])
            t = (math.log(level) - math.log(lo)) / (math.log(m[i]) - math.log(lo))
            return float(math.exp(math.log(s[i - 1]) + t * (math.log(s[i]) - math.log(s[i - 1]))))
    return math.nan


def perturb_readings(f: dict) -> dict:
    """Every reading of Table 5's "Perturb. sigma" column from one run's flatness entry."""
    out = {}
    for kind, key in (("relative", "perturbation"), ("absolute", "perturbation_abs")):
        cur = f[key]
        for s in PERTURB_READ:
            hit = [i for i, v in enumerate(cur["sigmas"]) if math.isclose(v, s)]
            if hit:
                out[f"ΔL at {kind} σ of {s:g}"] = float(cur["mean"][hit[0]])
        out[f"σ at ΔL = {SIGMA_LEVEL:g}, {kind}"] = sigma_at(
            cur["sigmas"], cur["mean"], SIGMA_LEVEL
        )
    for crit, v in f["pac_sigmas"].items():
        out[f"PAC-Bayes σ′, {crit}"] = float(v)
    return out


def sharpness_readings(f: dict, rises: dict) -> dict:
    """Every reading of Table 5's "1D sharpness": the curvature at the minimum along each
    direction law, and the mean rise of each reading of the lines (``rises``)."""
    out = {f"curvature, {d}": float(np.mean(v)) for d, v in f["curvature"].items()}
    return out | {f"rise, {k}": v for k, v in rises.items()}


def phase3(S: Section) -> tuple[dict, dict]:
    """Connectivity over every pair of seeds, the trajectory and flatness of every seed,
    and the readings of Table 5's quantities."""
    runs = [S.train(seed=s) for s in S.seeds]
    fits = [A.run_summary(c) for c in runs]
    pairs, conns = [], []
    for i, j in itertools.combinations(range(len(runs)), 2):
        conn = A.connectivity(connectivity_config(S, runs[i], runs[j]))
        conns.append(conn)
        b = conn["test_plain_barrier"]
        eb, ea = error_barrier(conn["test_plain_acc"]), error_barrier(conn["test_aligned_acc"])
        pairs.append(
            {
                "seeds": [S.seeds[i], S.seeds[j]],
                "endpoint_loss": (b["loss_a"] + b["loss_b"]) / 2,
                "barrier": b["height"],
                "relative_barrier": b["relative"],
                "max_loss": float(np.max(conn["test_plain_loss"])),
                "aligned_barrier": conn["test_aligned_barrier"]["height"],
                "bezier_barrier": conn["test_bezier_barrier"]["height"],
                "error_barrier": eb["height"],
                "error_connected": eb["connected"],
                "aligned_error_barrier": ea["height"],
                "aligned_error_connected": ea["connected"],
                "units_moved": float(np.mean(conn["units_moved"])),
            }
        )
    tcfg = [trajectory_configs(S, c) for c in runs]
    trajs = [A.trajectory(t) for t, _ in tcfg]
    other = [A.trajectory(o) for _, o in tcfg]  # the other PCA reading, for the readings page
    flats = [A.flatness(flatness_config(S, c)) for c in runs]
    _, small_r = _lines(S, runs)
    sharp = [
        sharpness_readings(f, {k: v[i] for k, v in small_r.items()}) for i, f in enumerate(flats)
    ]
    pert = [perturb_readings(f) for f in flats]
    lam = A.lambda_vs_batch(*lambda_args(S, runs[0]))  # first seed: spread over batches
    # eval_size vs compare_eval_size images, first seed: the adopted lines direction by
    # direction (paired) and the plane
    small_ln, big_ln = adopted_lines(S, runs[0]), adopted_lines(S, runs[0], S.compare_eval_size)
    rise_dir = lambda ln: np.nanmean(ln["lines"] - ln["centre"], axis=1)  # noqa: E731
    small_pl, big_pl = _plane(S, runs[0]), _plane(S, runs[0], S.compare_eval_size)
    fits_p = [parabola(t["alphas"], t["pc1_loss"]) for t in trajs]
    payload = {
        "width": S.width,
        "params": n_params(build_model(S.model, S.width)),
        "seeds": S.seeds,
        "status": [f["status"] for f in fits],
        "epochs": [f["epochs"] for f in fits],
        "test_loss": [f["test_loss"] for f in fits],
        "test_acc": [f["test_acc"] for f in fits],
        "pairs": pairs,
        "readings": {
            "lines": adopted(S),
            "sharpness": S.sharpness_reading,
            "perturb": S.perturb_reading,
        },
        "explained": [[float(e) for e in t["explained"]] for t in trajs],
        "explained_other": [[float(e) for e in t["explained"]] for t in other],
        "delta_l": [t["delta_l"] for t in trajs],
        "delta_l_other": [t["delta_l"] for t in other],
        "control_delta_l": [float(np.mean(t["control_delta_l"])) for t in trajs],
        "pc1_r2": [f["r2"] for f in fits_p],
        "pc1_vertex": [f["vertex"] for f in fits_p],
        "flatness": {
            "test_loss": [f["test_loss"] for f in flats],
            "lambda1": [float(np.mean(f["lambda1"])) for f in flats],
            "lambda1_batch_std": [float(np.std(f["lambda1"], ddof=1)) for f in flats],
            "trace": [f["trace"] for f in flats],
            "trace_se": [f["trace_se"] for f in flats],
            "trace_products": flats[0]["trace_products"],
            "sharpness_1d": [r[S.sharpness_reading] for r in sharp],
            "sharpness_readings": {k: [r[k] for r in sharp] for k in sharp[0]},
            "perturbation": [r[S.perturb_reading] for r in pert],
            "perturb_readings": {k: [r[k] for r in pert] for k in pert[0]},
            "perturb_curve": {
                kind: {
                    "sigmas": [float(v) for v in flats[0][key]["sigmas"]],
                    "mean": [[float(v) for v in f[key]["mean"]] for f in flats],
                    "se": [[float(v) for v in f[key]["se"]] for f in flats],
                }
                for kind, key in (("relative", "perturbation"), ("absolute", "perturbation_abs"))
            },
            "eps_sharpness": [f["eps_sharpness"] for f in flats],
            "eps_steps": [int(v) for v in flats[0]["eps_steps"]],
            "eps_by_steps": [[float(v) for v in f["eps_sign"]] for f in flats],
            "eps_lbfgsb": [f["eps_lbfgsb"] for f in flats],
            "pac_sigma": [f["pac_sigma"] for f in flats],
            "pac_sigma_loss": [f["pac_sigmas"]["loss"] for f in flats],
        },
        "lambda_batch": {
            "sizes": list(S.batch_sizes),
            "seed": S.seeds[0],
            "values": [[float(x) for x in v] for v in lam["values"]],
            "full": lam["full"],
            "full_images": S.full_hessian_images,
        },
        "eval_size": {
            "small": S.eval_size,
            "large": S.compare_eval_size,
            "rise_small": [float(v) for v in rise_dir(small_ln)],
            "rise_large": [float(v) for v in rise_dir(big_ln)],
            "plane_max_diff": float(np.nanmax(np.abs(big_pl["plane"] - small_pl["plane"]))),
            "plane_mean_diff": float(np.nanmean(big_pl["plane"] - small_pl["plane"])),
        },
    }
    density = A.spectral_density(*density_args(S, runs[0]))
    payload["density_near_zero"] = near_zero_share(density, payload["flatness"]["lambda1"][0])
    figures = {
        "connectivity": conns[0],
        "trajectory": trajs[0],
        "trajectory_plane": A.trajectory_plane(tcfg[0][0]),
        "density": density,
        "perturb_curve": payload["flatness"]["perturb_curve"],
        "lambda_batch": payload["lambda_batch"],
    }
    return payload, figures


def near_zero_share(slq: dict, lambda1: float, frac: float = 0.01) -> float:
    """The share of the SLQ spectral weight within |lambda| <= frac * lambda1."""
    w = sum(
        float(np.sum(np.asarray(wt)[np.abs(np.asarray(t)) <= frac * abs(lambda1)]))
        for t, wt in zip(slq["nodes"], slq["weights"], strict=True)
    )
    return w / len(slq["nodes"])
