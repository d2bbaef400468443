"""Phase 3, connectivity and the trajectory: every pair of seeds' connectivity, every
seed's trajectory PCA and flatness, and the readings of Table 5's quantities."""

import dataclasses
import itertools

import numpy as np

from lslib.config import HessianConfig, TrainConfig
from lslib.models import build_model, n_params
from lslib.paper.reading_names import adopted
from lslib.paper.sections import analyses, analyses_curvature, beyond
from lslib.paper.sections.calls import (
    DENSITY,
    adopted_call,
    connectivity_config,
    flatness_config,
    hessian_config,
    trajectory_configs,
)
from lslib.paper.sections.common import (
    WHAT,
    Lines,
    add_lines,
    add_plane,
    adopted_lines,
    lines_and_readings,
)
from lslib.paper.sections.measures import (
    error_barrier,
    near_zero_share,
    parabola,
    perturb_readings,
    sharpness_readings,
)
from lslib.paper.sections.work import Handle, Work, once
from lslib.paper.settings import Section


@dataclasses.dataclass(frozen=True)
class Seed:
    """One seed's declared run and the handles of its trajectory PCA (the adopted reading's
    and the other), flatness, adaptive sharpness and lines."""

    run: TrainConfig
    trajectory: Handle
    other: Handle
    flatness: Handle
    adaptive: Handle
    lines: Lines


@dataclasses.dataclass(frozen=True)
class Declared:
    """Phase 3's work and the handles its payload reads: per seed, per pair of seeds, the
    first seed's (spread over batches, data sizes, spectrum) and the family's models."""

    work: Work
    seeds: tuple[Seed, ...]
    pairs: tuple[tuple[int, int, Handle], ...]
    lambda_batch: Handle
    adopted_big: Handle
    plane: Handle
    plane_big: Handle
    density: Handle
    trajectory_plane: Handle
    family: tuple[beyond.Member, ...]


def declare(S: Section) -> Declared:
    """Every pair of seeds' connectivity; every seed's trajectory PCA, flatness, adaptive
    sharpness and lines; the first seed's lambda_1 against batch size, lines and planes on
    two data sizes, spectral density and trajectory plane; every model of the family."""
    w = Work("phase3")
    runs = [w.train(S.train(seed=s)) for s in S.seeds]
    pairs = []
    for i, j in itertools.combinations(range(len(runs)), 2):
        a, b = runs[i], runs[j]
        cfg = connectivity_config(S, a, b)
        pairs.append(
            (
                i,
                j,
                w.add("connectivity", analyses.connectivity, cfg, what="connectivity", of=(a, b)),
            )
        )
    seeds = []
    for c in runs:
        adopted_pca, other = trajectory_configs(S, c)
        tr = w.add("trajectory", analyses.trajectory, adopted_pca, what="trajectory PCA", of=c)
        ot = w.add("trajectory, other", analyses.trajectory, other, what="trajectory PCA", of=c)
        fl = w.add(
            "flatness", analyses_curvature.flatness, flatness_config(S, c), what="flatness", of=c
        )
        ad = beyond.add_adaptive(w, S, c)
        seeds.append(Seed(c, tr, ot, fl, ad, add_lines(w, S, c)))
    first = runs[0]  # the first seed's: spread over batches, data sizes, spectrum
    lam = hessian_config(S, first, tol=1e-4), tuple(S.batch_sizes), S.full_hessian_images
    lam_h = w.add(
        "lambda_vs_batch",
        analyses_curvature.lambda_vs_batch,
        *lam,
        what="λ1 against batch size",
        of=first,
    )
    fn, cfg = adopted_call(S, first, S.compare_eval_size)
    big = w.add("adopted lines, compare size", fn, cfg, what=WHAT[fn], of=first)
    plane, plane_big = add_plane(w, S, first), add_plane(w, S, first, S.compare_eval_size)
    slq = DENSITY[S.profile]
    density = HessianConfig(run=first, batch_size=S.hessian_batch_size), S.curvature_images
    density += (slq["steps"], slq["runs"])
    dens = w.add(
        "spectral_density",
        analyses_curvature.spectral_density,
        *density,
        what="spectral density",
        of=first,
    )
    tp = trajectory_configs(S, first)[0]
    tp_h = w.add(
        "trajectory_plane", analyses.trajectory_plane, tp, what="trajectory plane", of=first
    )
    family = beyond.declare_family(w, S)
    return Declared(
        w, tuple(seeds), tuple(pairs), lam_h, big, plane, plane_big, dens, tp_h, tuple(family)
    )


def work(S: Section) -> Work:
    """Phase 3's declared work (the grid's tasks and the plan read it)."""
    return once(declare, S).work


def payload(S: Section) -> tuple[dict, dict]:
    """Connectivity over every pair of seeds, the trajectory and flatness of every seed,
    and the readings of Table 5's quantities."""
    d = once(declare, S)
    w, runs = d.work, [s.run for s in d.seeds]
    fits = [w.summary(c) for c in runs]
    pairs, conns = [], []
    for i, j, h in d.pairs:
        conn = w(h)
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
    trajs = [w(s.trajectory) for s in d.seeds]
    other = [w(s.other) for s in d.seeds]  # for the readings page
    flats = [w(s.flatness) for s in d.seeds]
    _, small_r = lines_and_readings(w, S, [s.lines for s in d.seeds])
    sharp = [
        sharpness_readings(f, {k: v[i] for k, v in small_r.items()}) for i, f in enumerate(flats)
    ]
    pert = [perturb_readings(f) for f in flats]
    lam = w(d.lambda_batch)  # first seed: spread over batches
    # eval_size vs compare_eval_size images, first seed: the adopted lines direction by
    # direction (paired) and the plane
    small_ln = adopted_lines(w, S, d.seeds[0].lines.adopted)
    big_ln = adopted_lines(w, S, d.adopted_big)
    rise_dir = lambda ln: np.nanmean(ln["lines"] - ln["centre"], axis=1)  # noqa: E731
    small_pl, big_pl = w(d.plane), w(d.plane_big)
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
        | beyond.adaptive_numbers(w, [s.adaptive for s in d.seeds]),
        "family": beyond.family(w, list(d.family), [s.flatness for s in d.seeds]),
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
    density = w(d.density)
    payload["density_near_zero"] = near_zero_share(density, payload["flatness"]["lambda1"][0])
    figures = {
        "connectivity": conns[0],
        "trajectory": trajs[0],
        "trajectory_plane": w(d.trajectory_plane),
        "density": density,
        "perturb_curve": payload["flatness"]["perturb_curve"],
        "lambda_batch": payload["lambda_batch"],
    }
    return payload | w.payload(), figures
