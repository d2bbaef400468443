"""Each section's work, declared once (lslib/paper/sections/declared.py, lslib/paper/sections/work.py): the
grid's tasks are the declared calls, the payload reads only declared calls and, after the
tasks ran, computes nothing new; and the README's "Adding an analysis" walkthrough, followed
in a smoke section: one declaration, seen by the plan, the task graph and the payload."""

import dataclasses
import io

import numpy as np
import pytest

from lslib import cache
from lslib.paper.build import executors, progress
from lslib.paper.build import plan as P
from lslib.paper.build import tasks as T
from lslib.paper.profiles import section
from lslib.paper.sections import analyses as A
from lslib.paper.sections import declared as sections
from lslib.paper.sections import phase1, phase2
from lslib.paper.sections.calls import landscape_config
from lslib.paper.sections.work import Work

SMALL = {"model": "mlp", "profile": "smoke"}


def run_here(graph: dict) -> None:
    bar = progress.Progress({k: 1.0 for k in graph}, 1.0, stream=io.StringIO())
    executors.InProcess(graph).wait(list(graph), bar)


def computed_by(fn, *args) -> tuple[list, object]:
    """The store entries ``fn(*args)`` computes (kinds), and its value."""
    asked = []
    with cache.watching(lambda event, kind, config: asked.append(kind) if event == "end" else 0):
        value = fn(*args)
    return asked, value


@pytest.mark.parametrize("name", ["phase1", "phase2", "phase3"])
def test_the_tasks_are_the_declared_calls_and_runs(name):
    S = section(name, dict(SMALL))
    w = sections.SECTIONS[name].work(S)
    tasks = T.section_tasks(name, S)
    keys = {T.key_of(c.fn, c.args) for c in w.calls.values()}
    trains = [t for t in tasks if t.fn is T.train]
    assert {t.key for t in tasks if t.fn is not T.train} == keys
    assert [t.run for t in trains] == w.runs  # every run declared, in order, first
    assert tasks[: len(trains)] == trains
    for task in tasks:
        assert set(task.deps) <= {t.key for t in trains}, task.label


def test_work_that_depends_on_results_depends_on_the_runs_it_reads():
    S = section("phase2", dict(SMALL))
    tasks = T.section_tasks("phase2", S)
    (matched,) = [t for t in tasks if t.fn is phase2.matched]
    assert matched.label.startswith("Phase 2 at matched training loss of MLP-")
    assert set(matched.deps) == {t.key for t in tasks if t.fn is T.train}
    assert len(matched.deps) == len(S.optimizers) * len(S.seeds)


def test_a_value_that_is_not_declared_is_an_error():
    S = section("phase1", dict(SMALL))
    w = sections.declared(S)
    with pytest.raises(KeyError, match="'flatness' .* is not declared"):
        w("flatness", S.train(width=S.widths[0]))
    with pytest.raises(KeyError, match="run .* is not declared"):
        w.summary(S.train(width=999))
    with pytest.raises(ValueError, match="declared twice"):
        w.add("plane", A.plane, None, what="2D plane", of=S.train(width=S.widths[0]))
    assert w.payload() == {}  # the report's sections put nothing through ``into``


@pytest.mark.parametrize("name", ["phase1", "phase2", "phase3"])
def test_after_its_tasks_a_section_computes_nothing_new(name, tmp_path, monkeypatch):
    """What a section reads is what the grid computed before its notebook."""
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    S = section(name, dict(SMALL))
    run_here(T.graph(T.section_tasks(name, S)))
    asked, _ = computed_by(sections.SECTIONS[name].payload, S)
    assert not asked, f"{name}.payload computed entries no task stores: {set(asked)}"


# ---------------------------------------------------------------- the README's walkthrough


def toy(c) -> dict:
    """The toy analysis: the 1D lines of one direction (a store entry of its own)."""
    return A.lines(c)


def test_adding_an_analysis_is_one_declaration(monkeypatch, tmp_path):
    """README, "Adding an analysis": a function of a config, then one ``w.add`` in the
    section's declaration (here the declaration is wrapped, as editing phase1_work would
    do): the plan, the task graph and the payload see it, no other module touched."""
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    declare = phase1.work

    def with_toy(S) -> Work:
        w = declare(S)
        for c in w.runs:
            cfg = dataclasses.replace(landscape_config(S, c), n_dirs=1)
            w.add("toy", toy, cfg, what="toy lines", of=c, into="toy_rise", read=mean_rise)
        return w

    def mean_rise(v) -> float:
        return float(np.nanmean(np.asarray(v["lines"]) - v["centre"]))

    monkeypatch.setattr(phase1, "work", with_toy)
    S = section("phase1", dict(SMALL, widths=[16], seeds=[0, 1]))
    graph = T.graph(T.section_tasks("phase1", S))
    mine = [t for t in graph.values() if t.fn is toy]
    assert [t.label for t in mine] == ["toy lines of MLP-16, seed 0", "toy lines of MLP-16, seed 1"]

    plan = P.items(graph)  # the plan: each toy task to compute, estimated
    assert all(not plan[t.key].cached and plan[t.key].basis != "stored" for t in mine)

    run_here(graph)
    assert all(P.items(graph)[t.key].cached for t in mine)
    asked, (payload, _) = computed_by(phase1.payload, S)
    assert not asked and len(payload["toy_rise"]) == 2
    assert payload["toy_rise"][0] == mean_rise(toy(mine[0].args[0]))
