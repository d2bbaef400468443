"""Wall time of a build on N workers: list scheduling of the task graph (longest remaining
path first), with the notebooks run one after another as their tasks finish; the critical
path is the bound no number of workers beats."""

import heapq
from collections import defaultdict


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
    items: dict,
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


def levels(items: dict, notebooks=()) -> dict[str, float]:
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


def groups(todo: list, alongside: set) -> list[list[int]]:
    """The grid's notebooks (indices into ``todo``, its (notebook, output, parameters)) in
    the order they run: each alone, but consecutive ones in ``alongside`` together."""
    groups = []
    for j, (nb, _, _) in enumerate(todo):
        if groups and nb in alongside and todo[groups[-1][-1]][0] in alongside:
            groups[-1].append(j)
        else:
            groups.append([j])
    return groups


def clock(seconds: float) -> str:
    """Seconds as a clock, 'M:SS', or 'H:MM:SS' from an hour on."""
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )
