"""A plan before the run: which tasks a build needs, which are stored, how long the rest takes.

``python -m lslib.paper book/grid.yml --plan [--workers N]`` prints it (``print_plan``). Each missing
task's time comes from the run store's own records (every entry keeps the wall and CPU
seconds its computation took, ``wall_s`` and ``cpu_s``, and its threads; an entry that
waited for the cores, its CPU time per thread below half its wall time, is taken at its CPU
time instead, so it is not taken as slow: ``alone_s``): the same entry computed by older code, else the same
computation for another seed, else the median seconds per unit of work of its kind (and
model family) times its own work, where work is the model's multiply-adds per image times
the images and points it evaluates. A training run is its epochs times the seconds an
epoch of that run takes; a run trained until convergence is guessed to stop where other
seeds of it stopped (else at 10 epochs or its cap). Where the store has no record of a kind
at all (a fresh clone's empty store), the rates, stopping epochs and notebook times of the
repository's reference build (``reference_times.json``, written by
``scripts/reference_times.py`` from a cold paper build's store) stand in, so the first build
too has an estimate. They were measured on the machine that file names, so where the plan
uses them it first times a miniature paper epoch of each family here and scales the
reference's rates of that family by its time over the reference's for the same work
(``calibrate``: a few seconds, kept in the store's folder; not where another process has
the cores, nor with ``LSLIB_CALIBRATE=0``); the store's own records are never scaled (the
records and estimates: ``store_times``). One factor per family, from training, scales
every kind of task of that family, so kinds whose speed differs between the machines in
another proportion (forward-only planes, Hessian-vector products) stay off by the
difference. The wall time on N workers comes from ``schedule``.
"""

import dataclasses
import statistics
import sys
from pathlib import Path

from lslib import cache
from lslib.paper.build import calibrate, tasks
from lslib.paper.build.executors import cores, task_threads
from lslib.paper.build.schedule import clock, groups, schedule, share
from lslib.paper.build.store_times import (
    NO_ESTIMATE,
    OTHER_SIZES,
    REFERENCE_BASIS,
    Records,
    blob,
    notebook_seconds,
    strip_fields,
)
from lslib.paper.build.tasks import Task, order, train
from lslib.paper.profiles import section
from lslib.paper.sections.declared import SECTIONS

DEFAULT_EPOCHS = 10  # a run to convergence that no seed has run yet: its guessed length


@dataclasses.dataclass
class Item:
    """A task in the plan: stored or not, its estimated seconds and how they were found."""

    task: Task
    cached: bool
    seconds: float
    basis: str
    epochs: int = 0  # training: the epochs still to train


def _probe(task: Task) -> cache.Missing | None:
    """None when the task is served by the store, else the first entry it would compute."""
    with cache.probing():
        try:
            task()
        except cache.Missing as m:
            return m
    return None


def items(graph: dict[str, Task], cold: bool = False, records: Records | None = None):
    """Every task with its status and estimate (``cold``: as if the store were empty)."""
    records = Records.read() if records is None else records
    out, reach = {}, {}
    for task in order(graph):
        missing = None if cold else _probe(task)
        if not cold and missing is None:
            out[task.key] = Item(task, True, 0.0, "stored")
            reach[task.key] = _end(task, records, own=True) if task.fn is train else 0
            continue
        if task.fn is not train:
            kind, config = (missing.kind, missing.config) if missing else _first(task)
            s, how = records.seconds(kind, config)
            out[task.key] = Item(task, False, s, how)
            continue
        # a training run: the epochs past what is stored and what its chain trains first
        start = (missing.config["epoch"] - 1) if missing and missing.kind == "epoch" else 0
        before = max((reach[d] for d in task.deps if d in reach), default=0)
        end = _end(task, records)
        todo = max(0, end - max(start, before))
        run = {"run": cache.canonical(_path(task)), "epoch": 1}
        per, how = records.seconds("epoch", run, exact=False)
        reach[task.key] = max(end, start, before)
        out[task.key] = Item(task, False, per * todo, how, todo)
    return out


def _path(task: Task) -> dict:
    from lslib.train import path_of

    return path_of(task.run)


def _first(task: Task):
    """The kind and canonical config of a task's own entry (its first ``cached`` call)."""
    with cache.probing(stored=False):
        try:
            task()
        except cache.Missing as m:
            return m.kind, m.config
    return task.fn.__name__, {}


def _end(task: Task, records: Records, own: bool = False) -> int:
    """The epoch a training run ends at: its set epochs, or where its other seeds stopped
    (``own``: a stored run, where its own seed's epochs stop)."""
    c = task.run
    if c.epochs:
        return c.epochs
    stored = records.stopped.get(blob("run", strip_fields(cache.canonical(_path(task)))), {})
    if own and c.seed in stored:
        return stored[c.seed]
    others = [e for s, e in stored.items() if s != c.seed] or list(stored.values())
    return min(c.max_epochs, round(statistics.median(others)) if others else DEFAULT_EPOCHS)


# ---------------------------------------------------------------- the plan of a build


def job_tasks(todo) -> tuple[dict, list[list[str]]]:
    """The task graph of the jobs, and the keys each job needs."""
    per_job = []
    for nb, _, params in todo:
        S = section(nb.stem, params) if nb.stem in SECTIONS else None
        per_job.append(tasks.section_tasks(nb.stem, S) if S else [])
    return tasks.graph(t for ts in per_job for t in ts), [[t.key for t in ts] for ts in per_job]


def side_by_side(todo, notebooks: list, together: set, slots: int) -> list:
    """``notebooks`` (seconds, keys) with each run of consecutive notebooks in ``together``
    (which the grid runs side by side, ``slots`` at a time, in order) given the wall time of
    its run, shared out in proportion to their seconds, so that the schedule's one after
    another adds up to it."""
    out = list(notebooks)
    for group in groups(todo, together):
        if len(group) < 2:
            continue
        free = [0.0] * max(1, min(slots, len(group)))
        for j in group:  # each starts on the first slot to come free
            free[free.index(min(free))] += notebooks[j][0]
        total = sum(notebooks[j][0] for j in group)
        for j in group:
            out[j] = (notebooks[j][0] * max(free) / total if total else 0.0, notebooks[j][1])
    return out


def make_plan(
    todo,
    profile: str,
    workers: int,
    cold: bool = False,
    timings: str | None = None,
    threads: int | None = None,
    together: set = frozenset(),
    calibrated: bool | None = None,
):
    """The build's tasks and notebooks with their estimates, and the predicted wall time of
    running them here with ``threads`` per task (``workers``: on a local cluster of that
    many; 0: sequentially), or, with ``threads=None``, on ``workers`` that each have the
    cores a task was recorded with. Also returns the factor applied to each task's time,
    the records the estimates came from and the calibration of the reference build's rates
    to this machine (None where none was made). ``together``: the notebooks the grid runs
    side by side (``side_by_side``); ``calibrated``: whether to scale the reference's rates
    to this machine where they are used (``calibrate``; default ``LSLIB_CALIBRATE``)."""
    if timings and not Path(timings).is_dir():
        raise ValueError(
            f"--timings {timings}: no such folder (a run store's, e.g. an "
            "earlier build's LSLIB_CACHE)"
        )
    graph, needs = job_tasks(todo)
    records = Records.read(Path(timings) if timings else None)
    planned = items(graph, cold=cold, records=records)
    cal = None
    if calibrate.setting() if calibrated is None else calibrated:
        if any(
            it.basis == REFERENCE_BASIS or it.basis.endswith(OTHER_SIZES) for it in planned.values()
        ):
            cal = calibrate.calibrated()
            records = dataclasses.replace(records, scale=cal.factors)
            planned = items(graph, cold=cold, records=records)
    notebooks = [
        (notebook_seconds(out.stem, profile, timings), keys)
        for (_, out, _), keys in zip(todo, needs, strict=True)
    ]
    notebooks = side_by_side(todo, notebooks, together, cores())
    stretch = share(workers, threads, cores(), records.threads) if threads else 1.0
    pred = schedule(planned, notebooks, workers, stretch)
    return graph, needs, planned, notebooks, pred, stretch, records, cal


def unestimated(items: dict) -> str | None:
    """The plan's note on tasks of a kind no build has timed, or None when there are none."""
    new = [it for it in items.values() if it.basis == NO_ESTIMATE]
    if not new:
        return None
    kinds = sorted({it.task.label.split(" of ")[0] for it in new})
    return (
        f"{len(new)} tasks have no estimate yet ({', '.join(kinds)}: no build has timed their "
        "kind); the predictions below leave them out"
    )


def print_plan(
    todo,
    profile: str,
    workers: int,
    cold: bool = False,
    timings: str | None = None,
    stream=None,
    threads: int | None = None,
    local: bool = True,
    together: set = frozenset(),
) -> None:
    """The plan: every task, stored or its estimate; the predicted wall time here (this
    machine's cores, ``threads`` per task, sequentially and, with ``workers`` and
    ``local``, on a local cluster) and on a cluster whose workers have cores of their own."""
    stream = stream or sys.stdout
    t = task_threads(threads)
    _, _, items, notebooks, pred, _, records, cal = make_plan(
        todo, profile, 0, cold, timings, t, together
    )
    missing = [it for it in items.values() if not it.cached]
    for it in items.values():
        state = "stored" if it.cached else f"~{clock(it.seconds):>7}  ({it.basis})"
        epochs = f", {it.epochs} epochs to train" if it.epochs else ""
        print(f"  {'✓' if it.cached else '·'} {it.task.label}{epochs}  {state}", file=stream)
    print(
        f"{len(items)} tasks: {len(items) - len(missing)} stored, {len(missing)} to compute "
        f"({clock(sum(it.seconds for it in missing))} of work as recorded); "
        f"{len(notebooks)} notebooks (~{clock(sum(s for s, _ in notebooks))})",
        file=stream,
    )
    if note := unestimated(items):
        print(note, file=stream)
    if cal:
        print(cal.line, file=stream)
    print(f"predicted wall time here ({cores()} cores, {t} threads per task):", file=stream)
    print(f"  {'sequential (no Dask)':>26}: {clock(pred['wall_s'])}", file=stream)
    if workers and local:
        stretch = share(workers, t, cores(), records.threads)
        here = schedule(items, notebooks, workers, stretch)
        print(
            f"  {f'local cluster, {workers} worker' + 's' * (workers > 1):>26}: {clock(here['wall_s'])}  "
            f"(each task {stretch:.2g}x as recorded)",
            file=stream,
        )
    apart = schedule(items, notebooks, 1)
    print(
        "on a cluster, each worker with the cores a task was recorded with (critical path "
        f"{clock(apart['critical_s'])}):",
        file=stream,
    )
    for n in sorted({1, 2, 8, 32, 128} | ({workers} if workers and not local else set())):
        wall = schedule(items, notebooks, n)["wall_s"]
        mark = "  <- --workers" if n == workers and not local else ""
        print(f"  {f'{n} worker' + 's' * (n > 1):>26}: {clock(wall)}{mark}", file=stream)
