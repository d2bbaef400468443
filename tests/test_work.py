"""Each section's work, declared once (lslib/paper/sections/declared.py, lslib/paper/sections/work.py): the
grid's tasks are the declared calls, the payload reads only declared calls and, after the
tasks ran, computes nothing new; values are read only through the handles the declaration
returned. The README's "Adding an analysis" walkthrough is tests/test_walkthrough.py."""

import io
from collections import Counter

import pytest

from lslib import cache
from lslib.paper import gridfile, profiles
from lslib.paper.build import executors, plan, progress, tasks
from lslib.paper.build.grid import jobs
from lslib.paper.profiles import SECTION_DEFAULTS, section
from lslib.paper.sections import analyses, analyses_curvature, phase1, phase2, phase3
from lslib.paper.sections import declared as sections
from lslib.paper.sections.work import Handle
from lslib.paths import BOOK

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
    made = tasks.section_tasks(name, S)
    keys = {tasks.key_of(c.fn, c.args) for c in w.calls.values()}
    trains = [t for t in made if t.fn is tasks.train]
    assert {t.key for t in made if t.fn is not tasks.train} == keys
    assert [t.run for t in trains] == w.runs  # every run declared, in order, first
    assert made[: len(trains)] == trains
    for task in made:
        assert set(task.deps) <= {t.key for t in trains}, task.label


def test_work_that_depends_on_results_depends_on_the_runs_it_reads():
    S = section("phase2", dict(SMALL))
    made = tasks.section_tasks("phase2", S)
    (matched,) = [t for t in made if t.fn is phase2.matched]
    assert matched.label.startswith("Phase 2 at matched training loss of MLP-")
    assert set(matched.deps) == {t.key for t in made if t.fn is tasks.train}
    assert len(matched.deps) == len(S.optimizers) * len(S.seeds)


def test_a_value_is_read_only_through_the_handle_its_declaration_returned():
    S = section("phase1", dict(SMALL))
    d = phase1.declare(S)
    w, first = d.work, d.widths[0].runs[0]
    assert w.call(first.hessian).fn is analyses_curvature.hessian  # what was declared
    with pytest.raises(TypeError, match="through the handle w.add returned"):
        w("plane")  # a name is not a handle: a typo cannot pass until run time
    with pytest.raises(KeyError, match="'flatness' .* is not declared in this Work"):
        w(Handle("phase1", "flatness", first.run))  # a handle Phase 1 never returned
    phase3 = section("phase3", dict(SMALL))
    other = sections.SECTIONS["phase3"].declare(phase3).seeds[0].flatness
    with pytest.raises(KeyError, match="not declared in this Work"):
        w(other)  # another section's handle
    with pytest.raises(KeyError, match="run .* is not declared"):
        w.summary(S.train(width=999))
    with pytest.raises(ValueError, match="declared twice"):
        w.add("plane", analyses.plane, None, what="2D plane", of=first.run)
    assert w.payload() == {}  # the report's sections put nothing through ``into``


@pytest.mark.parametrize("name", ["phase1", "phase2", "phase3"])
def test_after_its_tasks_a_section_computes_nothing_new(name, tmp_path, monkeypatch):
    """What a section reads is what the grid computed before its notebook."""
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    S = section(name, dict(SMALL))
    run_here(tasks.graph(tasks.section_tasks(name, S)))
    asked, _ = computed_by(sections.SECTIONS[name].payload, S)
    assert not asked, f"{name}.payload computed entries no task stores: {set(asked)}"


def test_each_section_is_validated_once_and_declared_once_per_process(monkeypatch, tmp_path):
    """A build's process validates each section once and evaluates its declaration once,
    however many readers ask: the grid's plan and task graph (twice over), Phase 3's
    family (Phase 1 and 2's sections), a notebook's validation cell (every parameter in
    its namespace) and its payload."""
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))  # an empty store: nothing computed
    monkeypatch.setattr(profiles, "_VALIDATED", {})
    validated, declared = Counter(), Counter()
    validate = profiles.validate
    monkeypatch.setattr(
        profiles, "validate", lambda n, v: validated.update([(n, v["model"])]) or validate(n, v)
    )
    for module in (phase1, phase2, phase3):

        def counted(S, declare=module.declare):
            declared.update([(S.name, S.model)])
            return declare(S)

        monkeypatch.setattr(module, "declare", counted)
    todo = jobs(gridfile.load(BOOK / "grid.yml"), "smoke")
    plan.job_tasks(todo)  # the plan, then the run's task graph
    plan.job_tasks(todo)
    for name, module in sections.SECTIONS.items():
        for model in ("mlp", "cnn"):
            namespace = dict(SECTION_DEFAULTS[name]) | {
                "profile": "smoke",
                "model": model,
                "results_dir": None,
            }
            S = section(name, namespace)  # the notebook's validation cell
            assert sections.declared(S) is module.work(S) is sections.declared(S)
            with cache.probing(), pytest.raises(cache.Missing):  # the payload, till a value
                module.payload(S)
    pairs = {(n, m) for n in sections.SECTIONS for m in ("mlp", "cnn")}
    assert validated == dict.fromkeys(pairs, 1)
    assert declared == dict.fromkeys(pairs, 1)


def test_a_section_is_frozen():
    S = section("phase1", dict(SMALL))
    with pytest.raises(AttributeError, match="Section phase1 is frozen: widths cannot be set"):
        S.widths = [8]
    with pytest.raises(AttributeError, match="frozen"):
        del S.seeds
    assert S.widths == section("phase1", dict(SMALL)).widths
    assert S == profiles.Section("phase1", {k: v for k, v in vars(S).items() if k != "name"})
    assert hash(S) == hash(section("phase1", dict(SMALL)))
