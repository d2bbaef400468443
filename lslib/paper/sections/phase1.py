"""Phase 1, width scaling: every width's runs, lines, eigenvalues and adaptive sharpness,
declared once (``work``) and read into the notebook's payload (``payload``)."""

from lslib.models import build_model, n_params
from lslib.paper.names import label
from lslib.paper.reading_names import adopted
from lslib.paper.sections import beyond
from lslib.paper.sections.common import (
    add_plane,
    adopted_lines,
    figure,
    run_numbers,
    run_work,
    stop_rules,
)
from lslib.paper.sections.measures import (
    oscillation,
)
from lslib.paper.sections.work import Work
from lslib.paper.settings import Section


def work(S: Section) -> Work:
    w = Work("phase1")
    for width in S.widths:
        runs = [S.train(width=width, seed=s) for s in S.seeds]
        for c in runs:
            run_work(w, S, c)
            beyond.add_adaptive(w, S, c)
        add_plane(w, S, runs[0])
    return w


def payload(S: Section) -> tuple[dict, dict]:
    """Width scaling: for each width, every seed's run, 1D rise and eigenvalues; the
    landscape figure of the first seed."""
    w, rows, figs = work(S), [], []
    for width in S.widths:
        runs = [S.train(width=width, seed=s) for s in S.seeds]
        params = n_params(build_model(S.model, width))
        rows.append(
            {"width": width, "params": params}
            | run_numbers(w, S, runs)
            | {"stop_rules": stop_rules(w, S, runs)}
            | {"oscillation": [oscillation(adopted_lines(w, S, c)) for c in runs]}
            | beyond.adaptive_numbers(w, runs)
        )
        figs.append(figure(w, S, runs[0], label(S.model, width)))
    payload = {"rows": rows, "reading": adopted(S), "span": S.span}
    return payload | w.payload(), {"landscapes": figs}
