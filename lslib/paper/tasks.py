"""The expensive, independent work of each section, as tasks the grid runs before its notebook.

A task is one call of a cached function: a training run (``train_or_load``) or one analysis
of ``lslib.paper.analyses``. Its result is the run store's entry, so the store is the
hand-off: a task computes and stores, the notebook then reads. ``section_tasks(name, S)``
lists what ``sections.<name>(S)`` will ask the store for, with each analysis depending on
the training runs in its config; ``graph`` merges the lists of several sections and chains
the runs that share one trajectory (their epochs are one set of checkpoints, see
``lslib.train.path_of``), shortest first, so two workers never train the same epochs.

To add an analysis a section has started to use, add one line to that section's builder
below, the same call as in ``sections.py`` with ``t.add(fn, config)`` in place of
``fn(config)``; ``tests/test_dask.py`` fails while a section asks for something no task
computes.
"""

import dataclasses
import hashlib
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable

from lslib.cache import canonical
from lslib.config import TrainConfig
from lslib.paper import analyses as A
from lslib.paper import sections
from lslib.paper.profiles import Section
from lslib.paper.sections import _hessian, label
from lslib.train import path_of, train_or_load

# What each task computes, in words (unknown functions are named by their own name).
WHAT = {
    "lines": "1D lines",
    "plane": "2D plane",
    "hessian": "Hessian top-3",
    "connectivity": "connectivity",
    "trajectory": "trajectory PCA",
    "trajectory_plane": "trajectory plane",
    "flatness": "flatness",
    "spectral_density": "spectral density",
    "ll_lines": "loss-landscapes lines",
    "ll_plane": "loss-landscapes plane",
    "lambda_vs_batch": "λ1 against batch size",
    "matched": "Phase 2 at matched training loss",
}


def train(c: TrainConfig) -> None:
    """A training run into the store (the grid shows its own progress, not tqdm's)."""
    train_or_load(c, progress=False)


@dataclasses.dataclass(frozen=True)
class Task:
    """One call ``fn(*args)`` whose result is stored in the run store.

    key: stable across processes and machines (the function and its arguments' canonical
    form, hashed). label: what it does, in words. deps: keys of the tasks to run first.
    epochs: for a training run, the most epochs it may train (None otherwise).
    """

    key: str
    fn: Callable
    args: tuple
    label: str
    deps: tuple[str, ...] = ()
    epochs: int | None = None

    def __call__(self):
        return self.fn(*self.args)

    @property
    def run(self) -> TrainConfig | None:
        """The training config of a training task."""
        return self.args[0] if self.fn is train else None


def key_of(fn: Callable, args: tuple) -> str:
    blob = json.dumps([fn.__name__, canonical(list(args))], sort_keys=True)
    return f"{fn.__name__}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def runs_in(obj) -> list[TrainConfig]:
    """Every training config inside ``obj`` (nested configs, tuples), in order."""
    if isinstance(obj, TrainConfig):
        return [obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [r for f in dataclasses.fields(obj) for r in runs_in(getattr(obj, f.name))]
    if isinstance(obj, list | tuple):
        return [r for v in obj for r in runs_in(v)]
    return []


def describe(c: TrainConfig) -> str:
    """'SimpleCNN-64, seed 1' (the optimizer named when it is not the report's momentum)."""
    opt = "" if c.optimizer == "momentum" else f" ({c.optimizer})"
    return f"{label(c.model, c.width)}{opt}, seed {c.seed}"


class TaskList:
    """Tasks in the order they are added, without duplicates."""

    def __init__(self):
        self.tasks: dict[str, Task] = {}

    def train(self, c: TrainConfig) -> str:
        key = key_of(train, (c,))
        self.tasks.setdefault(
            key, Task(key, train, (c,), f"training {describe(c)}", epochs=c.epochs or c.max_epochs)
        )
        return key

    def add(self, fn: Callable, *args) -> str:
        """The task ``fn(*args)``, after the training runs in ``args``."""
        runs = runs_in(args)
        deps = tuple(dict.fromkeys(self.train(c) for c in runs))
        seeds = sorted({c.seed for c in runs})
        who = (
            describe(runs[0])
            if len(seeds) < 2
            else (
                describe(runs[0]).rsplit(", seed", 1)[0]
                + f", seeds {' and '.join(map(str, seeds))}"
            )
        )
        key = key_of(fn, args)
        what = WHAT.get(fn.__name__, fn.__name__.replace("_", " "))
        self.tasks.setdefault(key, Task(key, fn, args, f"{what} of {who}", deps))
        return key


# ---------------------------------------------------------------- the sections' tasks
# Each mirrors its function in sections.py, through the same call builders (S.line_calls,
# S.plane_call, ...), so a configuration changed there changes here too.


def _run_numbers(t: TaskList, S: Section, runs: list) -> None:
    for c in runs:
        t.train(c)
        for fn, cfg in sections.line_calls(S, c):
            t.add(fn, cfg)
        t.add(A.hessian, _hessian(S, c))


def phase1(t: TaskList, S: Section) -> None:
    for w in S.widths:
        runs = [S.train(width=w, seed=s) for s in S.seeds]
        _run_numbers(t, S, runs)
        t.add(*sections.plane_call(S, runs[0]))


def matched(values: dict, runs: tuple) -> None:
    """Phase 2 at matched training loss (its epochs are known once the runs are trained)."""
    S = Section("phase2", values)
    by = {o: [c for c in runs if c.optimizer == o] for o in S.optimizers}
    sections.matched(S, by)


def phase2(t: TaskList, S: Section) -> None:
    every = []
    for o in S.optimizers:
        runs = [S.train(optimizer=o, seed=s) for s in S.seeds]
        _run_numbers(t, S, runs)
        t.add(*sections.plane_call(S, runs[0]))
        every += runs
    values = {k: v for k, v in vars(S).items() if k != "name"}
    t.add(matched, values, tuple(every))


def phase3(t: TaskList, S: Section) -> None:
    runs = [S.train(seed=s) for s in S.seeds]
    for c in runs:
        t.train(c)
    for a, b in itertools.combinations(runs, 2):
        t.add(A.connectivity, sections.connectivity_config(S, a, b))
    for c in runs:
        for tc in sections.trajectory_configs(S, c):
            t.add(A.trajectory, tc)
        t.add(A.flatness, sections.flatness_config(S, c))
        for fn, cfg in sections.line_calls(S, c):
            t.add(fn, cfg)
    t.add(A.lambda_vs_batch, *sections.lambda_args(S, runs[0]))
    t.add(*sections.adopted_call(S, runs[0], S.compare_eval_size))
    t.add(*sections.plane_call(S, runs[0]))
    t.add(*sections.plane_call(S, runs[0], S.compare_eval_size))
    t.add(A.spectral_density, *sections.density_args(S, runs[0]))
    t.add(A.trajectory_plane, sections.trajectory_configs(S, runs[0])[0])


BUILDERS = {"phase1": phase1, "phase2": phase2, "phase3": phase3}


def section_tasks(name: str, S: Section) -> list[Task]:
    """The tasks ``sections.<name>(S)`` needs, training runs first; [] for a page that is not
    a section (the summary)."""
    if name not in BUILDERS:
        return []
    t = TaskList()
    BUILDERS[name](t, S)
    return sorted(t.tasks.values(), key=lambda task: task.fn is not train)


def graph(tasks: Iterable[Task]) -> dict[str, Task]:
    """Tasks by key, without duplicates, with the training runs of one trajectory chained:
    sorted by the most epochs each may train, each run depends on the one before, so its
    epochs are trained once, in order, and extended by the next."""
    out: dict[str, Task] = {}
    for task in tasks:
        out.setdefault(task.key, task)
    chains = defaultdict(list)
    for task in out.values():
        if task.run is not None:
            chains[json.dumps(canonical(path_of(task.run)), sort_keys=True)].append(task)
    for chain in chains.values():
        chain.sort(key=lambda task: (task.epochs, task.key))
        for prev, task in itertools.pairwise(chain):
            out[task.key] = dataclasses.replace(task, deps=task.deps + (prev.key,))
    return out


def order(tasks: dict[str, Task], want: Iterable[str] | None = None) -> list[Task]:
    """The tasks ``want`` (default all) and everything they depend on, dependencies first,
    otherwise in the order given."""
    seen, out = set(), []

    def visit(key):
        if key in seen:
            return
        seen.add(key)
        for d in tasks[key].deps:
            visit(d)
        out.append(tasks[key])

    for key in tasks if want is None else want:
        visit(key)
    return out
