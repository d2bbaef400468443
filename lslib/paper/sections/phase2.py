"""Phase 2, the optimizer sweep at one width: each optimizer's runs, their numbers, the edge
of stability, and the comparison at matched training loss (``matched``)."""

import dataclasses

from lslib.models import build_model, n_params
from lslib.paper.names import label
from lslib.paper.reading_names import adopted
from lslib.paper.sections import analyses as A
from lslib.paper.sections import beyond
from lslib.paper.sections.common import (
    add_plane,
    figure,
    run_numbers,
    run_work,
)
from lslib.paper.sections.work import Work
from lslib.paper.settings import Section


def work(S: Section) -> Work:
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


def payload(S: Section) -> tuple[dict, dict]:
    """The optimizer sweep at one width: per optimizer, every seed's numbers; the training
    curves and landscapes of the first seed."""
    w, rows, figs, curves = work(S), [], [], {}
    runs = {o: [S.train(optimizer=o, seed=s) for s in S.seeds] for o in S.optimizers}
    for o in S.optimizers:
        rows.append({"optimizer": o} | run_numbers(w, S, runs[o]))
        rows[-1] |= beyond.adaptive_numbers(w, runs[o])
        figs.append(figure(w, S, runs[o][0], f"{label(S.model, S.width)}, {o}"))
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
        m = run_numbers(w, S, at, every_reading=False)
        out[o] = {
            "level": level,
            "epochs": epochs,
            "l1": m["l1"],
            "rise": m["rise"],
            "train_loss": [t[e - 1] for t, e in zip(losses[o], epochs, strict=True)],
        }
    return out
