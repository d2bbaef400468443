"""What the sections share: a run's declared lines and eigenvalues, planes, and the
per-seed numbers read from them (``run_work`` declares, ``run_numbers`` reads)."""

import numpy as np

from lslib.config import DISTS
from lslib.paper.reading_names import adopted, ll_reading, parse_reading, spans
from lslib.paper.sections import analyses as A
from lslib.paper.sections import analyses_curvature
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
from lslib.paper.sections.work import Work
from lslib.paper.settings import Section

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
    w.add("hessian", analyses_curvature.hessian, hessian_config(S, c), what="Hessian top-3", of=c)


def add_plane(w: Work, S: Section, run, size: int | None = None) -> None:
    fn, cfg = plane_call(S, run, size)
    w.add("plane" if size is None else "plane, compare size", fn, cfg, what=WHAT[fn], of=run)


def lines_and_readings(w: Work, S: Section, runs: list) -> tuple[list, dict]:
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


def run_numbers(w: Work, S: Section, runs: list, every_reading: bool = True) -> dict:
    """Per-seed training outcome, 1D rise (every reading, or the adopted one) and top-3
    eigenvalues of runs."""
    fits = [w.summary(c) for c in runs]
    if every_reading:
        _, readings = lines_and_readings(w, S, runs)
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


def stop_rules(w: Work, S: Section, runs: list) -> dict:
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


def figure(w: Work, S: Section, run, title: str) -> dict:
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
