"""The paper's sections: each one's work declared once, then its payload.

``phase1_work(S)``, ``phase2_work(S)`` and ``phase3_work(S)`` (in ``DECLARED``) declare what
a section trains and asks of the run store, as a ``work.Work``: the grid's tasks, the plan
and the payload below all read it (see ``lslib/paper/work.py``). ``phase1(S)``,
``phase2(S)`` and ``phase3(S)`` take a ``Section`` (see ``profiles``) and return
``(payload, figures)``: the payload holds every number the tables and claims use, one value
per seed (lists), and is what ``results.save`` writes; ``figures`` holds the arrays the
notebook plots (seed 0 only). Every value is read through the declaration.
"""

import dataclasses
import itertools

import numpy as np

from lslib.config import DISTS, HessianConfig
from lslib.models import build_model, n_params
from lslib.paper import analyses as A
from lslib.paper import beyond
from lslib.paper.calls import (
    DENSITY,
    adopted_call,
    connectivity_config,
    flatness_config,
    hessian_config,
    landscape_config,
    plane_call,
    trajectory_configs,
)
from lslib.paper.measures import (
    STOP_RULES,
    error_barrier,
    line_readings,
    near_zero_share,
    oscillation,
    parabola,
    perturb_readings,
    rise,
    select,
    sharpness_readings,
    stop_epoch,
)
from lslib.paper.profiles import Section, adopted, ll_reading, parse_reading, spans
from lslib.paper.work import Work

NAMES = {"mlp": "MLP", "cnn": "SimpleCNN"}


def label(model: str, width) -> str:
    return f"{NAMES[model]}-{width}"


# ---------------------------------------------------------------- each section's work

WHAT = {  # what each analysis computes, in words (the tasks' labels)
    A.lines: "1D lines",
    A.ll_lines: "loss-landscapes lines",
    A.plane: "2D plane",
    A.ll_plane: "loss-landscapes plane",
}
LL_LINES = "lines, loss-landscapes"  # the name of loss-landscapes' own lines in a Work


def adopted_name(S: Section) -> str:
    """The name, in a section's Work, of the lines its adopted reading is read from."""
    parsed = parse_reading(S.line_reading)
    return LL_LINES if parsed is None else f"lines, {parsed[0]}"


def run_work(w: Work, S: Section, c, every_reading: bool = True) -> None:
    """A run, its lines (both direction laws and loss-landscapes' own, or the adopted
    reading's alone) and its top-3 Hessian eigenvalues."""
    w.train(c)
    if every_reading:
        for d in DISTS:
            w.add(f"lines, {d}", A.lines, landscape_config(S, c, d), what="1D lines", of=c)
        cfg = landscape_config(S, c, "uniform")
        w.add(LL_LINES, A.ll_lines, cfg, what="loss-landscapes lines", of=c)
    else:
        fn, cfg = adopted_call(S, c)
        w.add(adopted_name(S), fn, cfg, what=WHAT[fn], of=c)
    w.add("hessian", A.hessian, hessian_config(S, c), what="Hessian top-3", of=c)


def add_plane(w: Work, S: Section, run, size: int | None = None) -> None:
    fn, cfg = plane_call(S, run, size)
    w.add("plane" if size is None else "plane, compare size", fn, cfg, what=WHAT[fn], of=run)


def phase1_work(S: Section) -> Work:
    w = Work("phase1")
    for width in S.widths:
        runs = [S.train(width=width, seed=s) for s in S.seeds]
        for c in runs:
            run_work(w, S, c)
            beyond.add_adaptive(w, S, c)
        add_plane(w, S, runs[0])
    return w


def phase2_work(S: Section) -> Work:
    w = Work("phase2")
    every = []
    for o in S.optimizers:
        runs = [S.train(optimizer=o, seed=s) for s in S.seeds]
        for c in runs:
            run_work(w, S, c)
            beyond.add_adaptive(w, S, c)
        add_plane(w, S, runs[0])
        beyond.add_edge(w, S, runs[0])
        every += runs
    values = {k: v for k, v in vars(S).items() if k != "name"}
    w.add("matched", matched, values, tuple(every), what="Phase 2 at matched training loss")
    return w


def phase3_work(S: Section) -> Work:
    w = Work("phase3")
    runs = [w.train(S.train(seed=s)) for s in S.seeds]
    for a, b in itertools.combinations(runs, 2):
        cfg = connectivity_config(S, a, b)
        w.add("connectivity", A.connectivity, cfg, what="connectivity", of=(a, b))
    for c in runs:
        adopted_pca, other = trajectory_configs(S, c)
        w.add("trajectory", A.trajectory, adopted_pca, what="trajectory PCA", of=c)
        w.add("trajectory, other", A.trajectory, other, what="trajectory PCA", of=c)
        w.add("flatness", A.flatness, flatness_config(S, c), what="flatness", of=c)
        beyond.add_adaptive(w, S, c)
        for d in DISTS:
            w.add(f"lines, {d}", A.lines, landscape_config(S, c, d), what="1D lines", of=c)
        cfg = landscape_config(S, c, "uniform")
        w.add(LL_LINES, A.ll_lines, cfg, what="loss-landscapes lines", of=c)
    first = runs[0]  # the first seed's: spread over batches, data sizes, spectrum
    lam = hessian_config(S, first, tol=1e-4), tuple(S.batch_sizes), S.full_hessian_images
    w.add("lambda_vs_batch", A.lambda_vs_batch, *lam, what="λ1 against batch size", of=first)
    fn, cfg = adopted_call(S, first, S.compare_eval_size)
    w.add("adopted lines, compare size", fn, cfg, what=WHAT[fn], of=first)
    add_plane(w, S, first)
    add_plane(w, S, first, S.compare_eval_size)
    slq = DENSITY[S.profile]
    density = HessianConfig(run=first, batch_size=S.hessian_batch_size), S.curvature_images
    density += (slq["steps"], slq["runs"])
    w.add("spectral_density", A.spectral_density, *density, what="spectral density", of=first)
    tp = trajectory_configs(S, first)[0]
    w.add("trajectory_plane", A.trajectory_plane, tp, what="trajectory plane", of=first)
    beyond.declare_family(w, S)
    return w


# The declarations by section: the grid, the plan and the payloads read these.
DECLARED = {"phase1": phase1_work, "phase2": phase2_work, "phase3": phase3_work}


def declared(S: Section) -> Work:
    """The section's work, as declared (``DECLARED``)."""
    return DECLARED[S.name](S)


# ---------------------------------------------------------------- the payloads


def _lines(w: Work, S: Section, runs: list) -> tuple[list, dict]:
    """Per seed, the lines of both direction laws; and each reading's per-seed mean rise
    (loss-landscapes' own included)."""
    per = [{d: w(f"lines, {d}", c) for d in DISTS} for c in runs]
    ll = [w(LL_LINES, c) for c in runs]
    rr = [
        line_readings(p, spans(S)) | {ll_reading(S.span): rise(q)}
        for p, q in zip(per, ll, strict=True)
    ]
    return per, {k: [r[k] for r in rr] for k in rr[0]}


def adopted_lines(w: Work, S: Section, run, name: str | None = None) -> dict:
    """The lines of the adopted reading alone (``name``: another declared call of the same
    lines, e.g. on more images): alphas, lines (n_dirs, points), centre."""
    parsed = parse_reading(S.line_reading)
    ln = w(name or adopted_name(S), run)
    if parsed is None:
        return {
            "alphas": np.asarray(ln["alphas"]),
            "lines": np.asarray(ln["lines"]),
            "centre": ln["centre"],
        }
    sel = select(ln["alphas"], parsed[1], parsed[2])
    return {
        "alphas": np.asarray(ln["alphas"])[sel],
        "lines": np.asarray(ln["lines"])[:, sel],
        "centre": ln["centre"],
    }


def _run_numbers(w: Work, S: Section, runs: list, every_reading: bool = True) -> dict:
    """Per-seed training outcome, 1D rise (every reading, or the adopted one) and top-3
    eigenvalues of runs."""
    fits = [w.summary(c) for c in runs]
    if every_reading:
        _, readings = _lines(w, S, runs)
        rises = readings[adopted(S)]
    else:
        readings, rises = None, [rise(adopted_lines(w, S, c)) for c in runs]
    out = {
        "seeds": [c.seed for c in runs],
        "status": [f["status"] for f in fits],
        "epochs": [f["epochs"] for f in fits],
        "test_loss": [f["test_loss"] for f in fits],
        "test_acc": [f["test_acc"] for f in fits],
        "train_loss": [[h["train_loss"] for h in f["history"]] for f in fits],
        "rise": rises,
        "rise_readings": readings,
    }
    hess = [w("hessian", c) for c in runs]
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


def _stop_rules(w: Work, S: Section, runs: list) -> dict:
    fits = [w.summary(c) for c in runs]
    adopted_rule = ("plateau", S.patience, S.rel_tol)
    rules = {
        f"plateau, patience {S.patience}, rel_tol {S.rel_tol:g} (adopted)": adopted_rule
    } | STOP_RULES
    out = {}
    for name, rule in rules.items():
        got = [stop_epoch(f["history"], f["status"], rule) for f in fits]
        out[name] = {"epochs": [g[0] for g in got], "status": [g[1] for g in got]}
    return out


def _figure(w: Work, S: Section, run, title: str) -> dict:
    ln, pl = adopted_lines(w, S, run), w("plane", run)
    return {
        "title": title,
        "alphas": ln["alphas"],
        "lines": ln["lines"],
        "xs": pl["xs"],
        "ys": pl["ys"],
        "plane": pl["plane"],
        "reading": adopted(S),
    }


def phase1(S: Section) -> tuple[dict, dict]:
    """Width scaling: for each width, every seed's run, 1D rise and eigenvalues; the
    landscape figure of the first seed."""
    w, rows, figs = declared(S), [], []
    for width in S.widths:
        runs = [S.train(width=width, seed=s) for s in S.seeds]
        params = n_params(build_model(S.model, width))
        rows.append(
            {"width": width, "params": params}
            | _run_numbers(w, S, runs)
            | {"stop_rules": _stop_rules(w, S, runs)}
            | {"oscillation": [oscillation(adopted_lines(w, S, c)) for c in runs]}
            | beyond.adaptive_numbers(w, runs)
        )
        figs.append(_figure(w, S, runs[0], label(S.model, width)))
    payload = {"rows": rows, "reading": adopted(S), "span": S.span}
    return payload | w.payload(), {"landscapes": figs}


def phase2(S: Section) -> tuple[dict, dict]:
    """The optimizer sweep at one width: per optimizer, every seed's numbers; the training
    curves and landscapes of the first seed."""
    w, rows, figs, curves = declared(S), [], [], {}
    runs = {o: [S.train(optimizer=o, seed=s) for s in S.seeds] for o in S.optimizers}
    for o in S.optimizers:
        rows.append({"optimizer": o} | _run_numbers(w, S, runs[o]))
        rows[-1] |= beyond.adaptive_numbers(w, runs[o])
        figs.append(_figure(w, S, runs[o][0], f"{label(S.model, S.width)}, {o}"))
        curves[o] = w.summary(runs[o][0])["history"]
    for r, m in zip(rows, w("matched").values(), strict=True):
        r["matched"] = m
    payload = {
        "width": S.width,
        "params": n_params(build_model(S.model, S.width)),
        "rows": rows,
        "reading": adopted(S),
        "edge": beyond.edge_numbers(w, beyond.first_runs(S)),
    }
    return payload | w.payload(), {"landscapes": figs, "curves": curves}


def matched(values: dict, runs: tuple) -> dict:
    """Phase 2 (``values``: the section's settings) at matched training loss: each
    optimizer's runs at the first epoch their training loss reaches the lowest level every
    run reaches (so sharpness is compared at equal progress): per optimizer the level,
    epochs, training losses, lambda_1 and adopted 1D rise. Which epochs is known once the
    runs are trained, so their Work is declared here, from the runs' histories."""
    S = Section("phase2", values)
    by = {o: [c for c in runs if c.optimizer == o] for o in S.optimizers}
    losses = {
        o: [[h["train_loss"] for h in A.run_summary(c)["history"]] for c in cs]
        for o, cs in by.items()
    }
    level = max(min(t) for ts in losses.values() for t in ts)
    out = {}
    for o, cs in by.items():
        epochs = [next(i + 1 for i, v in enumerate(t) if v <= level) for t in losses[o]]
        at = [dataclasses.replace(c, epochs=e) for c, e in zip(cs, epochs, strict=True)]
        w = Work("phase2 at matched loss")
        for c in at:
            run_work(w, S, c, every_reading=False)
        m = _run_numbers(w, S, at, every_reading=False)
        out[o] = {
            "level": level,
            "epochs": epochs,
            "l1": m["l1"],
            "rise": m["rise"],
            "train_loss": [t[e - 1] for t, e in zip(losses[o], epochs, strict=True)],
        }
    return out


def phase3(S: Section) -> tuple[dict, dict]:
    """Connectivity over every pair of seeds, the trajectory and flatness of every seed,
    and the readings of Table 5's quantities."""
    w = declared(S)
    runs = [S.train(seed=s) for s in S.seeds]
    fits = [w.summary(c) for c in runs]
    pairs, conns = [], []
    for i, j in itertools.combinations(range(len(runs)), 2):
        conn = w("connectivity", (runs[i], runs[j]))
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
            | beyond.repair_numbers(conn)
        )
    # each seed's own endpoint loss (once per seed, from the first pair that holds it)
    ends = {}
    for (i, j), conn in zip(itertools.combinations(range(len(runs)), 2), conns, strict=True):
        b = conn["test_plain_barrier"]
        ends.setdefault(i, b["loss_a"])
        ends.setdefault(j, b["loss_b"])
    trajs = [w("trajectory", c) for c in runs]
    other = [w("trajectory, other", c) for c in runs]  # for the readings page
    flats = [w("flatness", c) for c in runs]
    _, small_r = _lines(w, S, runs)
    sharp = [
        sharpness_readings(f, {k: v[i] for k, v in small_r.items()}) for i, f in enumerate(flats)
    ]
    pert = [perturb_readings(f) for f in flats]
    lam = w("lambda_vs_batch", runs[0])  # first seed: spread over batches
    # eval_size vs compare_eval_size images, first seed: the adopted lines direction by
    # direction (paired) and the plane
    small_ln = adopted_lines(w, S, runs[0])
    big_ln = adopted_lines(w, S, runs[0], "adopted lines, compare size")
    rise_dir = lambda ln: np.nanmean(ln["lines"] - ln["centre"], axis=1)  # noqa: E731
    small_pl, big_pl = w("plane", runs[0]), w("plane, compare size", runs[0])
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
        "endpoint_loss": [ends.get(i) for i in range(len(runs))],
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
        "pc1_curvature": [f["curvature"] for f in fits_p],
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
        }
        | beyond.adaptive_numbers(w, runs),
        "family": beyond.family(w, S),
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
    density = w("spectral_density", runs[0])
    payload["density_near_zero"] = near_zero_share(density, payload["flatness"]["lambda1"][0])
    figures = {
        "connectivity": conns[0],
        "trajectory": trajs[0],
        "trajectory_plane": w("trajectory_plane", runs[0]),
        "density": density,
        "perturb_curve": payload["flatness"]["perturb_curve"],
        "lambda_batch": payload["lambda_batch"],
    }
    return payload | w.payload(), figures
