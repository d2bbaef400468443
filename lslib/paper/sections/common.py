"""What the sections share: a run's declared lines and eigenvalues, planes, and the
per-seed numbers read from them (``run_work`` declares and returns the handles,
``run_numbers`` reads through them)."""

import dataclasses

import numpy as np

from lslib.config import DISTS, TrainConfig
from lslib.paper.reading_names import adopted, ll_reading, parse_reading, spans
from lslib.paper.sections import analyses, analyses_curvature
from lslib.paper.sections.calls import (
    adopted_call,
    hessian_config,
    landscape_config,
    plane_call,
)
from lslib.paper.sections.measures import (
    STOP_RULES,
    line_readings,
    rise,
    select,
    stop_epoch,
)
from lslib.paper.sections.work import Handle, Work
from lslib.paper.settings import Section

WHAT = {  # what each analysis computes, in words (the tasks' labels)
    analyses.lines: "1D lines",
    analyses.ll_lines: "loss-landscapes lines",
    analyses.plane: "2D plane",
    analyses.ll_plane: "loss-landscapes plane",
}


@dataclasses.dataclass(frozen=True)
class Lines:
    """A run's declared 1D lines: one per direction law, loss-landscapes' own, and which
    of them the adopted reading is read from."""

    by_law: dict[str, Handle]
    ll: Handle
    adopted: Handle


@dataclasses.dataclass(frozen=True)
class RunCalls:
    """A run and the handles of its declared lines (every reading, or None when only the
    adopted one is declared), adopted lines and top-3 Hessian eigenvalues."""

    run: TrainConfig
    lines: Lines | None
    adopted: Handle
    hessian: Handle


def add_lines(w: Work, S: Section, c) -> Lines:
    """Declare a run's lines under both direction laws and loss-landscapes' own."""
    by_law = {
        d: w.add(f"lines, {d}", analyses.lines, landscape_config(S, c, d), what="1D lines", of=c)
        for d in DISTS
    }
    cfg = landscape_config(S, c, "uniform")
    ll = w.add("lines, loss-landscapes", analyses.ll_lines, cfg, what="loss-landscapes lines", of=c)
    parsed = parse_reading(S.line_reading)
    return Lines(by_law, ll, ll if parsed is None else by_law[parsed[0]])


def run_work(w: Work, S: Section, c, every_reading: bool = True) -> RunCalls:
    """A run, its lines (both direction laws and loss-landscapes' own, or the adopted
    reading's alone) and its top-3 Hessian eigenvalues."""
    w.train(c)
    if every_reading:
        lines = add_lines(w, S, c)
        adopted_h = lines.adopted
    else:
        fn, cfg = adopted_call(S, c)
        parsed = parse_reading(S.line_reading)
        name = "lines, loss-landscapes" if parsed is None else f"lines, {parsed[0]}"
        lines, adopted_h = None, w.add(name, fn, cfg, what=WHAT[fn], of=c)
    hess = w.add(
        "hessian", analyses_curvature.hessian, hessian_config(S, c), what="Hessian top-3", of=c
    )
    return RunCalls(c, lines, adopted_h, hess)


def add_plane(w: Work, S: Section, run, size: int | None = None) -> Handle:
    """Declare the 2D plane of ``run`` (on ``size`` images: the comparison's)."""
    fn, cfg = plane_call(S, run, size)
    name = "plane" if size is None else "plane, compare size"
    return w.add(name, fn, cfg, what=WHAT[fn], of=run)


def lines_and_readings(w: Work, S: Section, lines: list[Lines]) -> tuple[list, dict]:
    """Per seed, the lines of both direction laws; and each reading's per-seed mean rise
    (loss-landscapes' own included)."""
    per = [{d: w(h) for d, h in ln.by_law.items()} for ln in lines]
    ll = [w(ln.ll) for ln in lines]
    rr = [
        line_readings(p, spans(S)) | {ll_reading(S.span): rise(q)}
        for p, q in zip(per, ll, strict=True)
    ]
    return per, {k: [r[k] for r in rr] for k in rr[0]}


def adopted_lines(w: Work, S: Section, h: Handle) -> dict:
    """The lines of the adopted reading alone, read through ``h`` (the adopted lines, or
    another declared call of the same lines, e.g. on more images): alphas, lines
    (n_dirs, points), centre."""
    parsed = parse_reading(S.line_reading)
    ln = w(h)
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


def run_numbers(w: Work, S: Section, calls: list[RunCalls]) -> dict:
    """Per-seed training outcome, 1D rise (every reading where declared, else the adopted
    one) and top-3 eigenvalues of the runs declared by ``run_work``."""
    fits = [w.summary(k.run) for k in calls]
    if all(k.lines is not None for k in calls):
        _, readings = lines_and_readings(w, S, [k.lines for k in calls])
        rises = readings[adopted(S)]
    else:
        readings, rises = None, [rise(adopted_lines(w, S, k.adopted)) for k in calls]
    out = {
        "seeds": [k.run.seed for k in calls],
        "status": [f["status"] for f in fits],
        "epochs": [f["epochs"] for f in fits],
        "test_loss": [f["test_loss"] for f in fits],
        "test_acc": [f["test_acc"] for f in fits],
        "train_loss": [[h["train_loss"] for h in f["history"]] for f in fits],
        "rise": rises,
        "rise_readings": readings,
    }
    hess = [w(k.hessian) for k in calls]
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


def stop_rules(w: Work, S: Section, runs: list) -> dict:
    """Per stopping rule (the adopted one first), the epoch each run would have stopped at
    and its status, read from the runs' recorded histories."""
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


def figure(w: Work, S: Section, calls: RunCalls, plane: Handle, title: str) -> dict:
    """The landscape figure's arrays: a run's adopted lines and its plane."""
    ln, pl = adopted_lines(w, S, calls.adopted), w(plane)
    return {
        "title": title,
        "alphas": ln["alphas"],
        "lines": ln["lines"],
        "xs": pl["xs"],
        "ys": pl["ys"],
        "plane": pl["plane"],
        "reading": adopted(S),
    }
