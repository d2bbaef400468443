"""Phase 2, the optimizer sweep at one width: each optimizer's runs, their numbers, the edge
of stability, and the comparison at matched training loss (``matched``), declared once
(``declare``) and read into the payload through the handles the declaration returned."""

import dataclasses

from lslib.models import build_model, n_params
from lslib.paper.names import label
from lslib.paper.reading_names import adopted
from lslib.paper.sections import analyses, beyond
from lslib.paper.sections.common import (
    RunCalls,
    add_plane,
    figure,
    run_numbers,
    run_work,
)
from lslib.paper.sections.work import Handle, Work, once
from lslib.paper.settings import Section


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """One optimizer's declared runs (one per seed), their adaptive sharpness, and the
    first seed's plane and edge of stability."""

    name: str
    runs: tuple[RunCalls, ...]
    adaptive: tuple[Handle, ...]
    plane: Handle
    edge: Handle


@dataclasses.dataclass(frozen=True)
class Declared:
    """Phase 2's work and the handles its payload reads."""

    work: Work
    optimizers: tuple[Optimizer, ...]
    matched: Handle


def declare(S: Section) -> Declared:
    """Every optimizer: each seed's run, lines, eigenvalues and adaptive sharpness; the
    first seed's plane and lambda_1 after every epoch; then the comparison at matched
    training loss, after every run."""
    w, optimizers, every = Work("phase2"), [], []
    for o in S.optimizers:
        calls, adaptive = [], []
        for s in S.seeds:
            c = S.train(optimizer=o, seed=s)
            calls.append(run_work(w, S, c))
            adaptive.append(beyond.add_adaptive(w, S, c))
        first = calls[0].run
        plane, edge = add_plane(w, S, first), beyond.add_edge(w, S, first)
        optimizers.append(Optimizer(o, tuple(calls), tuple(adaptive), plane, edge))
        every += [k.run for k in calls]
    values = {k: v for k, v in vars(S).items() if k != "name"}
    m = w.add("matched", matched, values, tuple(every), what="Phase 2 at matched training loss")
    return Declared(w, tuple(optimizers), m)


def work(S: Section) -> Work:
    """Phase 2's declared work (the grid's tasks and the plan read it)."""
    return once(declare, S).work


def payload(S: Section) -> tuple[dict, dict]:
    """The optimizer sweep at one width: per optimizer, every seed's numbers; the training
    curves and landscapes of the first seed."""
    d = once(declare, S)
    w, rows, figs, curves = d.work, [], [], {}
    for o in d.optimizers:
        rows.append({"optimizer": o.name} | run_numbers(w, S, o.runs))
        rows[-1] |= beyond.adaptive_numbers(w, o.adaptive)
        figs.append(figure(w, S, o.runs[0], o.plane, f"{label(S.model, S.width)}, {o.name}"))
        curves[o.name] = w.summary(o.runs[0].run)["history"]
    for r, m in zip(rows, w(d.matched).values(), strict=True):
        r["matched"] = m
    payload = {
        "width": S.width,
        "params": n_params(build_model(S.model, S.width)),
        "rows": rows,
        "reading": adopted(S),
        "edge": beyond.edge_numbers(w, {o.name: (o.runs[0].run, o.edge) for o in d.optimizers}),
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
        o: [[h["train_loss"] for h in analyses.run_summary(c)["history"]] for c in cs]
        for o, cs in by.items()
    }
    level = max(min(t) for ts in losses.values() for t in ts)
    out = {}
    for o, cs in by.items():
        epochs = [next(i + 1 for i, v in enumerate(t) if v <= level) for t in losses[o]]
        at = [dataclasses.replace(c, epochs=e) for c, e in zip(cs, epochs, strict=True)]
        w = Work("phase2 at matched loss")
        m = run_numbers(w, S, [run_work(w, S, c, every_reading=False) for c in at])
        out[o] = {
            "level": level,
            "epochs": epochs,
            "l1": m["l1"],
            "rise": m["rise"],
            "train_loss": [t[e - 1] for t, e in zip(losses[o], epochs, strict=True)],
        }
    return out
