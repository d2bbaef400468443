"""A plan before the run: which tasks a build needs, which are stored, how long the rest takes.

``python -m lslib.paper.grid book/grid.yml --plan [--workers N]`` prints it. Each missing
task's time comes from the run store's own records (every entry keeps the seconds its
computation took, ``wall_s``): the same entry computed by older code, else the same
computation for another seed, else the median seconds per unit of work of its kind (and
model family) times its own work, where work is the model's multiply-adds per image times
the images and points it evaluates. A training run is its epochs times the seconds an
epoch of that run takes; a run trained until convergence is guessed to stop where other
seeds of it stopped (else at 10 epochs or its cap). Where the store has no record of a kind
at all (a fresh clone's empty store), the rates, stopping epochs and notebook times of the
repository's reference build (``reference_times.json``, written by
``scripts/reference_times.py`` from a cold paper build's store) stand in, so the first build
too has an estimate; they were measured on the machine that file names, so on another they
are a guess of the right order. The wall time on N workers is the
list-scheduling makespan of the task graph (longest remaining path first), with the
notebooks run one after another by the grid as their tasks finish; the critical path is
the bound no number of workers beats.
"""

import dataclasses
import heapq
import io
import json
import statistics
from collections import defaultdict
from pathlib import Path

import torch

from lslib import cache
from lslib.data import N_TRAIN
from lslib.paper.tasks import Task, order, train
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
        epochs, threads = defaultdict(dict), []
        folder = cache_dir() if folder is None else folder
        for path in sorted(folder.glob("*/*.pt")):
            try:
                payload = path.read_bytes().partition(b"\n")[2]
                meta = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)[
                    "meta"
                ]
                kind, config, wall = meta["kind"], meta["config"], float(meta["wall_s"])
            except Exception:  # corrupt or foreign: the store deals with it when it is read
                continue
            if keep is not None and not keep(meta):
                continue
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


# ---------------------------------------------------------------- wall time on N workers


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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(times, indent=1, sort_keys=True))
    tmp.replace(path)


def share(workers: int, threads: int, cores: int, recorded: int | None = None) -> float:
    """How much longer a task takes here than its estimate: a task was recorded using
    ``recorded`` threads; here it gets ``threads``, and no more than its share of the cores
    (cores / workers; the sequential path, ``workers=0``, has them all). Time is taken to
    scale with the cores a task gets, and more of them than recorded are not counted on.
    A constant factor, so it ignores the ends of the build, where fewer tasks run, and the
    notebooks' kernels, which share the cores too."""
    gets = min(threads, max(cores, 1) / max(workers, 1))
    return max(1.0, (recorded or threads) / gets)


def schedule(
    items: dict[str, Item],
    notebooks: list[tuple[float, list[str]]],
    workers: int,
    stretch: float = 1.0,
) -> dict:
    """Predicted wall time of a build.

    notebooks: (seconds, keys of the tasks it needs) in the order the grid runs them.
    workers: 0 for the sequential grid (tasks and notebooks in one process, one after
    another), else the tasks run on that many workers while the grid runs the notebooks.
    stretch: each task's time over its estimate (``share``; 1 where every worker has the
    cores the task was recorded with).
    Returns the seconds of work, the critical path and the makespan.
    """
    dur = {k: it.seconds * stretch for k, it in items.items()}
    deps = {k: [d for d in it.task.deps if d in items] for k, it in items.items()}
    work_s = sum(dur.values()) + sum(s for s, _ in notebooks)
    # critical path: the longest chain of tasks, then notebooks in order
    finish = {}
    for k in _topo(deps):
        finish[k] = dur[k] + max((finish[d] for d in deps[k]), default=0.0)
    t = 0.0
    for s, keys in notebooks:
        t = max([t] + [finish[k] for k in keys if k in finish]) + s
    critical = max([t, *finish.values()])
    if workers <= 0:
        return {"work_s": work_s, "critical_s": critical, "wall_s": work_s}
    done = _list_schedule(dur, deps, workers, notebooks)
    t = 0.0
    for s, keys in notebooks:
        t = max([t] + [done[k] for k in keys if k in done]) + s
    return {"work_s": work_s, "critical_s": critical, "wall_s": max([t, *done.values()])}


def _topo(deps: dict) -> list:
    seen, out = set(), []

    def visit(k):
        if k not in seen:
            seen.add(k)
            for d in deps[k]:
                visit(d)
            out.append(k)

    for k in deps:
        visit(k)
    return out


def _levels(dur: dict, deps: dict, notebooks=()) -> tuple[dict, dict]:
    """Each task's seconds to the end along its longest path of dependents, the notebooks
    included: a notebook waits for its tasks and runs after the one before it, so a task
    the first notebook needs heads a path through every notebook."""
    users = defaultdict(list)
    for k, ds in deps.items():
        for d in ds:
            users[d].append(k)
    after, tail = defaultdict(float), 0.0
    for s, keys in reversed(list(notebooks)):
        tail += s
        for k in keys:
            after[k] = max(after[k], tail)
    level = {}
    for k in reversed(_topo(deps)):
        level[k] = dur[k] + max([after[k], *(level[u] for u in users[k])])
    return level, users


def levels(items: dict[str, Item], notebooks=()) -> dict[str, float]:
    """The order the workers take ready tasks in, here and on Dask: the longest path to the
    end of the build first (``_levels``)."""
    dur = {k: it.seconds for k, it in items.items()}
    deps = {k: [d for d in it.task.deps if d in items] for k, it in items.items()}
    return _levels(dur, deps, notebooks)[0]


def _list_schedule(dur: dict, deps: dict, workers: int, notebooks=()) -> dict:
    """Finish time of each task when ``workers`` take the ready task with the longest path
    to the end first, ties in the order given (HLFET list scheduling)."""
    level, users = _levels(dur, deps, notebooks)
    waiting = {k: len(ds) for k, ds in deps.items()}
    ready = [(-level[k], i, k) for i, k in enumerate(deps) if waiting[k] == 0]
    heapq.heapify(ready)
    running, done, free, now, n = [], {}, workers, 0.0, 0
    while ready or running:
        while ready and free:
            _, _, k = heapq.heappop(ready)
            heapq.heappush(running, (now + dur[k], n, k))
            n, free = n + 1, free - 1
        now, _, k = heapq.heappop(running)
        done[k], free = now, free + 1
        for u in users[k]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (-level[u], n, u))
                n += 1
    return done


def clock(seconds: float) -> str:
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )
