"""Phase 1, width scaling: every width's runs, lines, eigenvalues and adaptive sharpness,
declared once (``declare``) and read into the notebook's payload through the handles the
declaration returned (``payload``)."""

import dataclasses

from lslib.models import build_model, n_params
from lslib.paper.names import label
from lslib.paper.reading_names import adopted
from lslib.paper.sections import beyond
from lslib.paper.sections.common import (
    RunCalls,
    add_plane,
    adopted_lines,
    figure,
    run_numbers,
    run_work,
    stop_rules,
)
from lslib.paper.sections.measures import oscillation
from lslib.paper.sections.work import Handle, Work, once
from lslib.paper.settings import Section


@dataclasses.dataclass(frozen=True)
class Width:
    """One width's declared runs (one per seed), their adaptive sharpness and the first
    seed's plane."""

    width: int
    runs: tuple[RunCalls, ...]
    adaptive: tuple[Handle, ...]
    plane: Handle


@dataclasses.dataclass(frozen=True)
class Declared:
    """Phase 1's work and the handles its payload reads."""

    work: Work
    widths: tuple[Width, ...]


def declare(S: Section) -> Declared:
    """Every width: each seed's run, lines, eigenvalues and adaptive sharpness; the first
    seed's plane."""
    w, widths = Work("phase1"), []
    for width in S.widths:
        calls, adaptive = [], []
        for s in S.seeds:
            c = S.train(width=width, seed=s)
            calls.append(run_work(w, S, c))
            adaptive.append(beyond.add_adaptive(w, S, c))
        plane = add_plane(w, S, calls[0].run)
        widths.append(Width(width, tuple(calls), tuple(adaptive), plane))
    return Declared(w, tuple(widths))


def work(S: Section) -> Work:
    """Phase 1's declared work (the grid's tasks and the plan read it)."""
    return once(declare, S).work


def payload(S: Section) -> tuple[dict, dict]:
    """Width scaling: for each width, every seed's run, 1D rise and eigenvalues; the
    landscape figure of the first seed."""
    d = once(declare, S)
    w, rows, figs = d.work, [], []
    for k in d.widths:
        runs = [c.run for c in k.runs]
        rows.append(
            {"width": k.width, "params": n_params(build_model(S.model, k.width))}
            | run_numbers(w, S, k.runs)
            | {"stop_rules": stop_rules(w, S, runs)}
            | {"oscillation": [oscillation(adopted_lines(w, S, c.adopted)) for c in k.runs]}
            | beyond.adaptive_numbers(w, k.adaptive)
        )
        figs.append(figure(w, S, k.runs[0], k.plane, label(S.model, k.width)))
    payload = {"rows": rows, "reading": adopted(S), "span": S.span}
    return payload | w.payload(), {"landscapes": figs}
