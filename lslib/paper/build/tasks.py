"""The expensive, independent work of each section, as tasks the grid runs before its notebook.

A task is one call of a cached function: a training run (``train_or_load``) or one call a
section declares (``sections.declared.SECTIONS``, see ``lslib/paper/sections/work.py``). Its result is the run
store's entry, so the store is the hand-off: a task computes and stores, the notebook then
reads. ``section_tasks(name, S)`` turns a section's declaration into tasks, each call
depending on the training runs in its arguments; ``graph`` merges the lists of several
sections and chains the runs that share one trajectory (their epochs are one set of
checkpoints, see ``lslib.train.path_of``), shortest first, so two workers never train the
same epochs. Nothing here knows a section: a call declared there is a task here.
"""

import dataclasses
import hashlib
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable

from lslib.cache import canonical
from lslib.config import TrainConfig
from lslib.paper.names import label
from lslib.paper.sections.declared import SECTIONS
from lslib.paper.sections.work import Call
from lslib.paper.settings import Section
from lslib.train import path_of, train_or_load


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
    """The task key of ``fn(*args)``: its name and a hash of its arguments' canonical form."""
    blob = json.dumps([fn.__name__, canonical(list(args))], sort_keys=True)
    return f"{fn.__name__}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def describe(c: TrainConfig) -> str:
    """'SimpleCNN-64, seed 1' (the optimizer named when it is not the report's momentum)."""
    opt = "" if c.optimizer == "momentum" else f" ({c.optimizer})"
    return f"{label(c.model, c.width)}{opt}, seed {c.seed}"


def training_task(c: TrainConfig) -> Task:
    """The task that trains ``c`` into the store (``epochs``: the most it may train)."""
    key = key_of(train, (c,))
    return Task(key, train, (c,), f"training {describe(c)}", epochs=c.epochs or c.max_epochs)


def call_task(call: Call) -> Task:
    """The task of a declared call, after the training runs in its arguments."""
    runs = call.runs
    deps = tuple(dict.fromkeys(training_task(c).key for c in runs))
    seeds = sorted({c.seed for c in runs})
    who = describe(runs[0])
    if len(seeds) > 1:
        who = f"{who.rsplit(', seed', 1)[0]}, seeds {' and '.join(map(str, seeds))}"
    return Task(key_of(call.fn, call.args), call.fn, call.args, f"{call.what} of {who}", deps)


def section_tasks(name: str, S: Section) -> list[Task]:
    """The tasks of the section's declaration, training runs first; [] for a page that is
    not a section (the summary)."""
    if name not in SECTIONS:
        return []
    w = SECTIONS[name].work(S)
    calls = list(w.calls.values())
    runs = list(dict.fromkeys(w.runs + [c for call in calls for c in call.runs]))
    out = {t.key: t for t in map(training_task, runs)}
    for call in calls:
        task = call_task(call)
        out.setdefault(task.key, task)
    return list(out.values())


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
