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
too has an estimate; they were measured on the machine that file names, so on another they
are a guess of the right order. The wall time on N workers comes
from ``schedule``.
"""

import dataclasses
import json
import os
import statistics
import sys
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

from lslib import cache
from lslib.data import N_TRAIN
from lslib.paper.build import tasks as T
from lslib.paper.build.executors import cores, task_threads
from lslib.paper.build.schedule import clock, groups, schedule, share
from lslib.paper.build.tasks import Task, order, train
from lslib.paper.profiles import section
from lslib.paper.sections.declared import SECTIONS
from lslib.paths import cache_dir

DEFAULT_EPOCHS = 10  # a run to convergence that no seed has run yet: its guessed length
NOTEBOOK_S = 10.0  # a notebook's own time (tables, figures) when none is recorded
TIMES = "notebook_times.json"  # in the run store's folder: the grid's record of them
REFERENCE = Path(__file__).with_name("reference_times.json")  # a reference build's records


def reference() -> dict:
    """The reference build's rates, stopping epochs and notebook times ({} without the file)."""
    try:
        return json.loads(REFERENCE.read_text())
    except (OSError, ValueError):
        return {}


def flops(model: str, width: int) -> float:
    """Multiply-adds of one image through ``model`` of ``width`` (lslib.models)."""
    w = width
    if model == "cnn":
        return 28 * 28 * 9 * w + 14 * 14 * 9 * 2 * w * w + 98 * w * 2 * w + 20 * w
    return 784 * w + 10 * w


def runs_of(config) -> list[dict]:
    """The training runs (canonical dicts) inside a canonical config."""
    if isinstance(config, dict):
        if "optimizer" in config and "seed" in config:
            return [config]
        return [r for v in config.values() for r in runs_of(v)]
    if isinstance(config, list):
        return [r for v in config for r in runs_of(v)]
    return []


def _get(config, name, default=1):
    """The first field ``name`` in a canonical config, searched depth first."""
    if isinstance(config, dict):
        if name in config:
            return config[name]
        for v in config.values():
            found = _get(v, name, None)
            if found is not None:
                return found
    if isinstance(config, list):
        for v in config:
            found = _get(v, name, None)
            if found is not None:
                return found
    return default


def work(kind: str, config) -> float:
    """Units of work of one computation (only ratios within a kind are used)."""
    runs = runs_of(config)
    per_image = flops(runs[0]["model"], runs[0]["width"]) if runs else 1.0
    g = lambda name, default=1: _get(config, name, default)  # noqa: E731
    images = g("size", 1)
    if kind == "epoch":
        return per_image * (runs[0].get("subset") or N_TRAIN)
    points = {
        "lines": g("n_dirs") * g("line_steps"),
        "plane": g("grid") ** 2,
        "trajectory_plane": g("grid") ** 2,
        "trajectory": g("pc1_steps") * 6,
        "connectivity": g("points") * 4,
    }.get(kind)
    if points is not None:
        extra = g("bezier_epochs", 0) * (runs[0].get("subset") or N_TRAIN) if runs else 0
        return per_image * (points * images + extra)
    if kind in ("hessian",):
        return per_image * g("n_batches") * g("batch_size")
    if kind == "flatness":
        return per_image * (g("hessian_batches") * 128 + g("trace_samples") * 128 + 200 * images)
    return per_image * images * g("batch_size")


def _strip(config, fields=("seed",)):
    if isinstance(config, dict):
        return {k: _strip(v, fields) for k, v in config.items() if k not in fields}
    if isinstance(config, list):
        return [_strip(v, fields) for v in config]
    return config


def _blob(kind, config) -> str:
    return json.dumps([kind, config], sort_keys=True)


# The module whose code computes each kind of entry (its fingerprint is the entry's code).
CODE_OF = {"epoch": "lslib.train", "adaptive": "lslib.paper.sections.analyses_beyond"}
CODE_OF |= {"edge": "lslib.paper.sections.analyses_beyond"}
CODE_OF |= dict.fromkeys(
    ("hessian", "flatness", "density", "lambda_batch"), "lslib.paper.sections.analyses_curvature"
)


def current_code(kind: str) -> str:
    """The fingerprint of today's code for entries of ``kind`` (older entries differ)."""
    return cache.fingerprint(CODE_OF.get(kind, "lslib.paper.sections.analyses"))


# An entry whose CPU time per thread is below this share of its wall time waited for the
# cores (something else ran beside it): its wall time says more about that than about it.
CONTENDED = 0.5


def busy(meta: dict) -> float | None:
    """CPU seconds per thread per wall second of an entry computed on the CPU (1.0: its
    threads never waited), or None where that is not known (no CPU time recorded, as in
    older entries, or a GPU entry, whose CPU threads wait for the device by design)."""
    cpu, wall, threads = meta.get("cpu_s"), meta.get("wall_s"), meta.get("threads")
    if meta.get("device_type", "cpu") != "cpu":
        return None
    if not (isinstance(cpu, (int, float)) and isinstance(threads, int) and threads > 0):
        return None
    return cpu / (threads * wall) if wall and wall > 0 else None


def busy_share(metas) -> dict:
    """Per kind, the median ``busy`` of its entries that were not contended: how busy that
    kind keeps its threads when it runs alone."""
    found = defaultdict(list)
    for meta in metas:
        if (u := busy(meta)) is not None and u >= CONTENDED:
            found[meta["kind"]].append(u)
    return {k: statistics.median(v) for k, v in found.items()}


def alone_s(meta: dict, usual: dict) -> float:
    """The seconds an entry would take alone. Its wall time, unless it was contended (it
    waited for the cores): then its CPU seconds per thread over how busy its kind keeps its
    threads alone (``busy_share``). Where its kind has no uncontended entry to go by, its
    wall time (an overestimate, never an underestimate)."""
    u, usual_u = busy(meta), usual.get(meta["kind"])
    if u is None or u >= CONTENDED or usual_u is None:
        return float(meta["wall_s"])
    return meta["cpu_s"] / meta["threads"] / usual_u


@dataclasses.dataclass
class Records:
    """The seconds the store recorded, indexed for the estimates."""

    exact: dict
    other_seed: dict
    rate: dict  # (kind, family) and (kind, None) -> seconds per unit of work
    stopped: dict  # a run's trajectory without its seed -> epochs stored per seed
    reference: dict = dataclasses.field(default_factory=dict)  # (kind, family) -> s per unit
    threads: int | None = None  # the torch threads most entries were computed with

    @classmethod
    def read(cls, folder=None, fallback: bool = True, keep=None) -> "Records":
        """The records of the store in ``folder`` (default: the one in use); ``fallback``:
        with the reference build's behind them; ``keep(meta)``: only the entries it accepts."""
        exact, other, rate = {}, defaultdict(list), defaultdict(list)
        epochs, threads, metas, old = defaultdict(dict), [], [], 0
        folder = cache_dir() if folder is None else folder
        for path in sorted(folder.glob("*/*.pt")):
            try:
                meta = cache.decode_meta(path.read_bytes())  # digest, then JSON: never code
                if "config" not in meta or not isinstance(meta["kind"], str):
                    continue
                if not float(meta["wall_s"]) >= 0:
                    continue
            except cache.OldFormat:
                old += 1
                continue
            except Exception:  # corrupt or foreign: the store deals with it when it is read
                continue
            if keep is None or keep(meta):
                metas.append(meta)
        if old:
            warnings.warn(
                f"{old} entries of {folder} are in the old pickled format, which is never "
                "loaded (it could run code): their times are not used, and they are "
                "recomputed when needed",
                stacklevel=2,
            )
        usual = busy_share(metas)
        for meta in metas:
            kind, config, wall = meta["kind"], meta["config"], alone_s(meta, usual)
            threads.append(meta.get("threads"))
            exact[_blob(kind, config)] = wall
            fields = ("seed", "epoch") if kind == "epoch" else ("seed",)
            other[_blob(kind, _strip(config, fields))].append(wall)
            runs = runs_of(config)
            u = work(kind, config)
            rate[(kind, runs[0]["model"] if runs else None)].append(wall / u)
            rate[(kind, None)].append(wall / u)
            if kind == "epoch":
                run = config["run"]
                key = _blob("run", _strip(run))
                epochs[key][run["seed"]] = max(epochs[key].get(run["seed"], 0), config["epoch"])
        ref = reference() if fallback else {}
        for key, seeds in ref.get("stopped", {}).items():  # the store's own come first
            epochs.setdefault(key, {int(k): v for k, v in seeds.items()})
        refrate = {tuple(k.split(" ")): v for k, v in ref.get("rates", {}).items()}
        counted = [t for t in threads if isinstance(t, int)] or (
            [ref["threads"]] if "threads" in ref else []
        )
        most = max(set(counted), key=counted.count) if counted else None
        return cls(exact, dict(other), dict(rate), dict(epochs), refrate, most)

    def summary(self) -> dict:
        """Per kind and family, the median seconds per unit of work: what the reference
        file keeps (``scripts/reference_times.py``)."""
        return {
            f"{kind} {family}": statistics.median(r)
            for (kind, family), r in sorted(self.rate.items(), key=str)
            if family is not None
        }

    def seconds(self, kind: str, config, exact: bool = True) -> tuple[float, str]:
        """Estimated seconds of one computation, and how it was estimated (``exact=False``:
        skip the entry's own record, for an epoch: the median epoch of its trajectory)."""
        if exact and (s := self.exact.get(_blob(kind, config))) is not None:
            return s, "recorded"
        fields = ("seed", "epoch") if kind == "epoch" else ("seed",)
        if s := self.other_seed.get(_blob(kind, _strip(config, fields))):
            return statistics.median(s), "epochs of its seeds" if kind == "epoch" else "other seeds"
        runs = runs_of(config)
        family = runs[0]["model"] if runs else None
        for fam in (family, None):
            if r := self.rate.get((kind, fam)):
                how = "scaled" if fam else "scaled from the other family"
                return statistics.median(r) * work(kind, config), how
        if r := self.reference.get((kind, str(family))):
            return r * work(kind, config), "reference build"
        return 0.0, "unknown"


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
    stored = records.stopped.get(_blob("run", _strip(cache.canonical(_path(task)))), {})
    if own and c.seed in stored:
        return stored[c.seed]
    others = [e for s, e in stored.items() if s != c.seed] or list(stored.values())
    return min(c.max_epochs, round(statistics.median(others)) if others else DEFAULT_EPOCHS)


# ---------------------------------------------------------------- notebooks' own times


def notebook_seconds(name: str, profile: str, folder=None) -> float:
    """A notebook's own seconds: recorded in the store in ``folder`` (default: the one in
    use), else in the reference build."""
    try:
        times = json.loads(((cache_dir() if folder is None else Path(folder)) / TIMES).read_text())
    except (OSError, ValueError):
        times = {}
    times = reference().get("notebooks", {}) | times
    return float(times.get(f"{name} {profile}", NOTEBOOK_S))


def record_notebook(name: str, profile: str, seconds: float) -> None:
    path = cache_dir() / TIMES
    try:
        times = json.loads(path.read_text())
    except (OSError, ValueError):
        times = {}
    times[f"{name} {profile}"] = round(seconds, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own: two processes recording at once never share a temporary
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{TIMES}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(times, indent=1, sort_keys=True))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# ---------------------------------------------------------------- the plan of a build


def job_tasks(todo) -> tuple[dict, list[list[str]]]:
    """The task graph of the jobs, and the keys each job needs."""
    per_job = []
    for nb, _, params in todo:
        S = section(nb.stem, params) if nb.stem in SECTIONS else None
        per_job.append(T.section_tasks(nb.stem, S) if S else [])
    return T.graph(t for ts in per_job for t in ts), [[t.key for t in ts] for ts in per_job]


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
):
    """The build's tasks and notebooks with their estimates, and the predicted wall time of
    running them here with ``threads`` per task (``workers``: on a local cluster of that
    many; 0: sequentially), or, with ``threads=None``, on ``workers`` that each have the
    cores a task was recorded with. Also returns the factor applied to each task's time and
    the records the estimates came from. ``together``: the notebooks the grid runs side by
    side (``side_by_side``)."""
    if timings and not Path(timings).is_dir():
        raise ValueError(
            f"--timings {timings}: no such folder (a run store's, e.g. an "
            "earlier build's LSLIB_CACHE)"
        )
    tasks, needs = job_tasks(todo)
    records = Records.read(Path(timings) if timings else None)
    planned = items(tasks, cold=cold, records=records)
    notebooks = [
        (notebook_seconds(out.stem, profile, timings), keys)
        for (_, out, _), keys in zip(todo, needs, strict=True)
    ]
    notebooks = side_by_side(todo, notebooks, together, cores())
    stretch = share(workers, threads, cores(), records.threads) if threads else 1.0
    pred = schedule(planned, notebooks, workers, stretch)
    return tasks, needs, planned, notebooks, pred, stretch, records


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
    _, _, items, notebooks, pred, _, records = make_plan(
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
