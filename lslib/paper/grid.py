"""Run the notebooks of a grid file with papermill: ``python -m lslib.paper.grid book/grid.yml``.

Each job is a notebook and, optionally, a list of models; every (notebook, model) pair
runs once with ``model`` and ``profile`` injected as parameters. Before a section's
notebook runs, the grid computes the tasks it needs (``lslib.paper.tasks``: training runs
and analyses, each stored in the run store), so the notebook only reads the store. The
tasks run in this process, in dependency order (the default), or on Dask: a local cluster
of ``--workers N`` processes, or an existing scheduler (``--scheduler``), or SLURM jobs
(``--slurm``), all submitted at once as a task graph while the notebooks run in order as
their tasks finish. ``--plan`` prints what a build will compute and how long it will take
(``lslib.paper.plan``). Progress against that plan is shown throughout. A notebook executes into
a temporary file that is renamed to its final name only when every cell finished, so a
failed, killed or crashed run never leaves a page the book would render (the failed copy
is kept as ``<name>.failed.ipynb`` for debugging). On a failure, including a dead kernel,
the runner stops and names the notebook, its parameters and the error; notebooks that
finished are kept. A task that fails stops it the same way, naming the task, its config and
the error, in every mode.
"""

import argparse
import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path

import yaml

from lslib import cache
from lslib.paper import plan as P
from lslib.paper import tasks as T
from lslib.paper.profiles import PROFILES
from lslib.paths import REPO, cache_dir


def jobs(grid: dict, profile: str, only: list[str] | None = None, root: Path = REPO):
    """(input notebook, output notebook, parameters) for every cell of the grid.

    Paths in the grid file are relative to ``root``. ``only`` names notebooks (stems) to
    run; an unknown name is an error listing the known ones.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {PROFILES}")
    out_dir = root / grid.get("output", "book/_executed")
    known = [Path(job["notebook"]).stem for job in grid["jobs"]]
    unknown = sorted(set(only or []) - set(known))
    if unknown:
        raise ValueError(f"--only {unknown}: no such notebook in the grid; known: {known}")
    out = []
    for job in grid["jobs"]:
        nb = root / job["notebook"]
        if not nb.is_file():
            raise FileNotFoundError(f"grid notebook {job['notebook']} does not exist")
        if only and nb.stem not in only:
            continue
        for model in job.get("models", [None]):
            params = {"profile": profile} | ({"model": model} if model else {})
            name = f"{nb.stem}-{model}" if model else nb.stem
            out.append((nb, out_dir / f"{name}.ipynb", params))
    return out


_KERNELS: dict = {}  # the private folder of this process's kernel sockets, once made


def _kernel_folder() -> Path:
    """A folder only this user can enter (mode 0700, made by mkdtemp) for the kernels'
    sockets, short enough for a Unix socket's path limit; removed by ``_drop_kernel_folder``."""
    if "dir" not in _KERNELS:
        import tempfile

        _KERNELS["dir"] = Path(tempfile.mkdtemp(prefix="lslib-kernels-"))
    return _KERNELS["dir"]


def _drop_kernel_folder() -> None:
    import shutil

    if "dir" in _KERNELS:
        shutil.rmtree(_KERNELS.pop("dir"), ignore_errors=True)


def _kernel_manager():
    """Jupyter's kernel manager with the kernel's channels on Unix sockets in a private
    folder (``_kernel_folder``) instead of TCP ports on 127.0.0.1: no other user of the
    machine can reach a notebook's kernel, and the kernel does not warn that its TCP
    traffic is unencrypted."""
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("connection_file")
        def _default_connection_file(self):  # the sockets are named after it, next to it
            return str(_kernel_folder() / f"k{uuid.uuid4().hex[:8]}.json")

    return IPCKernelManager


def _execute(nb: Path, out: Path, params: dict, root: Path) -> str | None:
    """Run one notebook into ``out``; None on success, else the error in one line."""
    import papermill as pm

    tmp = out.with_name(f".{out.stem}.running.ipynb")
    failed = out.with_name(f"{out.stem}.failed.ipynb")
    out.unlink(missing_ok=True)  # a stale page must not survive a failed rerun
    failed.unlink(missing_ok=True)
    try:
        pm.execute_notebook(
            str(nb),
            str(tmp),
            parameters=params,
            cwd=str(root),
            kernel_name="python3",
            progress_bar=False,
            kernel_manager_class=_kernel_manager(),
        )
    except pm.PapermillExecutionError as e:
        error = f"cell {e.exec_count}: {e.ename}: {e.evalue}"
    except Exception as e:  # a dead kernel (killed, out of memory), a timeout, ...
        error = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        if "DeadKernel" in type(e).__name__:
            error += " (the kernel died: killed, or out of memory?)"
    else:
        _finish_page(tmp, params)
        os.replace(tmp, out)
        return None
    if tmp.exists():
        os.replace(tmp, failed)
    return error


def _finish_page(path: Path, params: dict) -> None:
    """Ready an executed notebook for the book: papermill's injected parameters cell is
    tagged so it is not rendered (the .ipynb keeps it), and the page title names the model
    ("Phase 1: width scaling — MLP"), since one notebook makes a page per model."""
    import nbformat

    from lslib.paper.sections import NAMES

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    model = params.get("model")
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if model in NAMES and first is not None and first.source.startswith("# "):
        title, _, rest = first.source.partition("\n")
        first.source = f"{title} — {NAMES[model]}\n{rest}"
    nbformat.write(nb, str(path))


# ---------------------------------------------------------------- progress


class Progress:
    """Tasks and notebooks done out of the plan's, what runs now in words, the time elapsed
    and an estimate of the time left: a tqdm bar in a terminal, plain lines in a log."""

    def __init__(self, estimates: dict[str, float], parallel: float, stream=None):
        self.stream = stream or sys.stdout
        self.est, self.parallel = estimates, max(parallel, 1.0)
        self.done: dict[str, float] = {}
        self.running: dict[str, str] = {}  # key -> what it does now, in words
        self.began: dict[str, float] = {}
        self.start = time.monotonic()
        self.lock = threading.RLock()
        self.bar = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(
                total=len(estimates),
                file=self.stream,
                dynamic_ncols=True,
                bar_format="{n_fmt}/{total_fmt} |{bar:16}| {desc}",
            )

    def left(self) -> float:
        """The plan's seconds of what is not finished, over the plan's parallelism, corrected
        by how the finished tasks compared with their estimates."""
        with self.lock:
            est_done = sum(self.est.get(k, 0.0) for k in self.done)
            took = sum(self.done.values())
            speed = min(max(took / est_done, 0.25), 4.0) if est_done > 30 else 1.0
            now = time.monotonic()
            rest = sum(
                max(self.est.get(k, 0.0) * speed - (now - self.began.get(k, now)), 0.0)
                for k in self.est
                if k not in self.done
            )
        return rest / self.parallel

    def status(self, text: str) -> str:
        elapsed = time.monotonic() - self.start
        count = "" if self.bar is not None else f"{len(self.done)}/{len(self.est)} done · "
        return f"{count}{text} — {P.clock(elapsed)} elapsed, ~{P.clock(self.left())} left"

    def started(self, key: str, text: str, quiet: bool = False) -> None:
        """``key`` runs now, doing ``text`` (``quiet``: in a log, the caller says so)."""
        with self.lock:
            self.began.setdefault(key, time.monotonic())
            self.running[key] = text
            if not quiet or self.bar is not None:
                self._show(text)

    def detail(self, key: str, text: str) -> None:
        with self.lock:
            if key in self.done:
                return
            self.running[key] = text
            self._show(text)

    def finished(self, key: str) -> None:
        with self.lock:
            self.done[key] = time.monotonic() - self.began.get(key, time.monotonic())
            self.running.pop(key, None)
            if self.bar is not None:
                self.bar.update(1)
                now = "; ".join(self.running.values()) or "waiting"
                self.bar.set_description_str(self.status(now), refresh=True)

    def _show(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(self.status("; ".join(self.running.values())))
        else:
            print(self.status(text), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _describe(event: str, kind: str, config, task_label: str, epochs: int | None, fixed: bool):
    """A store computation in words, within its task ('..., epoch 7 of at most 30')."""
    if event != "start" or kind != "epoch" or not isinstance(config, dict):
        return None
    e = config.get("epoch", 0)
    if not e:
        return None
    return f"{task_label}, epoch {e} of {'' if fixed else 'at most '}{epochs}"


def _call(task: T.Task, say, threads: int | None) -> dict:
    """Run one task here, with ``threads`` torch threads; ``say(text)`` hears its progress.
    Returns what it computed (kind -> count) and its seconds."""
    import torch

    fixed = task.run is not None and task.run.epochs is not None
    computed: dict[str, int] = {}

    def hook(event, kind, config):
        if event == "end":
            computed[kind] = computed.get(kind, 0) + 1
        text = _describe(event, kind, config, task.label, task.epochs, fixed)
        if text:
            say(text)

    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        with cache.watching(hook):
            task()
    finally:
        torch.set_num_threads(old)
    return {"computed": computed, "seconds": time.perf_counter() - start}


class TaskFailed(RuntimeError):
    """A task raised; the message names the task, its config and the error."""


def failure(task: T.Task, error: BaseException, where: str = "") -> str:
    config = ", ".join(repr(a) for a in task.args)
    msg = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f'task "{task.label}"{where} ({config}): {type(error).__name__}: {msg}'


# ---------------------------------------------------------------- running the tasks


class InProcess:
    """The sequential path: each notebook's tasks run here, in dependency order, just before
    it (no extra process)."""

    dashboard = None

    def __init__(self, graph: dict, threads: int | None = None):
        self.graph, self.threads = graph, task_threads(threads)

    def submit(self, keys) -> None:
        pass

    def wait(self, keys, progress: Progress, where: str = "") -> None:
        for task in T.order(self.graph, keys):
            if task.key in progress.done or task.key not in progress.est:
                continue
            progress.started(task.key, task.label)
            try:
                _call(task, lambda text, k=task.key: progress.detail(k, text), self.threads)
            except Exception as e:
                raise TaskFailed(failure(task, e, where)) from e
            progress.finished(task.key)

    def close(self) -> None:
        pass


_MALLOC = {"fixed": False}


def _glibc_thresholds() -> None:
    """Undo Dask's MALLOC_TRIM_THRESHOLD_=65536 in this worker, once.

    Dask's nannies start workers with it (their default worker environment, on any cluster).
    Any fixed threshold turns off glibc's dynamic one, so every large tensor is mapped and
    unmapped anew and a training epoch takes 1.6-1.8x as long. Set the thresholds where
    glibc's own rule ends on 64-bit Linux (32 MiB to map, twice that to trim)."""
    if _MALLOC["fixed"] or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    _MALLOC["fixed"] = True
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD


def _remote(fn, args, label, epochs, fixed, key, threads, store, *deps) -> dict:
    """A task on a Dask worker: run it into the store, tell the client its progress."""
    from distributed import get_worker

    _glibc_thresholds()

    if store:
        os.environ["LSLIB_CACHE"] = store
    if threads is None and os.environ.get("LSLIB_THREADS"):
        threads = int(os.environ["LSLIB_THREADS"])
    worker = get_worker()
    task = T.Task(key, fn, args, label, epochs=epochs)
    say = lambda text: worker.log_event(TOPIC, {"key": key, "text": text})  # noqa: E731
    say(label)
    return _call(task, say, threads)


TOPIC = "lslib-progress"


class OnDask:
    """The tasks as one Dask graph (dependencies as Dask dependencies); the cache is the
    hand-off, so a task returns only what it computed and how long it took."""

    def __init__(
        self,
        graph: dict,
        client,
        cluster=None,
        threads: int | None = None,
        store: str | None = None,
    ):
        self.graph, self.client, self.cluster = graph, client, cluster
        self.threads, self.store = threads, store
        self.futures: dict = {}
        self.levels: dict[str, float] = {}  # the plan's: longest path first, as it predicts
        self.dashboard = client.dashboard_link
        self.progress: Progress | None = None
        client.subscribe_topic(TOPIC, self._event)

    def _event(self, event) -> None:
        msg = event[1] if isinstance(event, tuple) else event
        if self.progress is not None and isinstance(msg, dict):
            if msg["key"] in self.futures:
                self.progress.started(msg["key"], msg["text"])

    def submit(self, keys) -> None:
        todo = T.order(self.graph, keys)
        for i, task in enumerate(todo):
            if task.key in self.futures or (
                self.progress is not None and task.key not in self.progress.est
            ):
                continue
            deps = [self.futures[d] for d in task.deps if d in self.futures]
            fixed = task.run is not None and task.run.epochs is not None
            self.futures[task.key] = self.client.submit(
                _remote,
                task.fn,
                task.args,
                task.label,
                task.epochs,
                fixed,
                task.key,
                self.threads,
                self.store,
                *deps,
                key=task.key,
                pure=False,
                priority=round(self.levels.get(task.key, 0.0) * 1000) * len(todo) + len(todo) - i,
            )
            self.futures[task.key].add_done_callback(self._done)

    def _done(self, future) -> None:
        if future.status == "finished" and self.progress is not None:
            self.progress.finished(future.key)

    def wait(self, keys, progress: Progress, where: str = "") -> None:
        from distributed import wait

        mine = [self.futures[t.key] for t in T.order(self.graph, keys) if t.key in self.futures]
        wait(mine, return_when="ALL_COMPLETED")
        erred = [f for f in self.futures.values() if f.status == "error"]
        if erred:  # the root cause: an erred task none of whose dependencies erred
            bad = {f.key for f in erred}
            root = next(f for f in erred if not set(self.graph[f.key].deps) & bad)
            raise TaskFailed(failure(self.graph[root.key], root.exception(), where))
        for f in mine:  # the callback may lag behind wait()
            if f.key not in progress.done:
                progress.finished(f.key)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.futures.values()), force=True)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def task_threads(threads: int | None = None) -> int:
    """The torch threads of every task of a build in this process or on a local cluster:
    ``threads`` if given, else ``LSLIB_THREADS``, else torch's default here (the machine's
    cores, or ``OMP_NUM_THREADS``).

    It is one number for the whole build, not cores / workers, because it decides the bits:
    the CPU kernels split their sums over the threads (MKL's GEMM, oneDNN's convolution
    weight gradients), so 1 and 2 threads round differently and training carries the
    difference forward. With one number, a local Dask build is the sequential build, bit
    for bit. (Remote workers use their own ``LSLIB_THREADS`` unless ``--threads`` is given.)
    """
    where = "threads"
    if threads is None and os.environ.get("LSLIB_THREADS"):
        where, threads = "LSLIB_THREADS", os.environ["LSLIB_THREADS"]
        try:
            threads = int(threads)
        except ValueError:
            raise ValueError(
                f"LSLIB_THREADS={threads!r} is invalid; allowed: an int >= 1"
            ) from None
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{where}={threads!r} is invalid; allowed: an int >= 1")
    return threads


def local_cluster(workers: int, threads: int | None = None):
    """A LocalCluster of ``workers`` processes, one task at a time each, listening on
    127.0.0.1 only (scheduler, workers and dashboard), each task with ``task_threads``.

    When workers x threads exceeds the cores, the workers' OpenMP threads wait passively
    (``OMP_WAIT_POLICY=PASSIVE``): spinning threads of one worker would take the cores the
    others need (two 2-thread workers on 2 cores: 1.4x faster passive than spinning).

    Its nannies would export Dask's default worker environment, MALLOC_TRIM_THRESHOLD_=65536
    among it (see ``_glibc_thresholds``), and they export it into this process too, so the
    notebooks' kernels would inherit it: the workers get only the thread counts, and this
    process's environment is put back.
    """
    import dask
    from distributed import Client, LocalCluster

    threads = task_threads(threads)
    environ = {
        k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    }
    if workers * threads > cores():
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
    saved = dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:8787",
                silence_logs=logging.ERROR,
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Client(cluster), cluster


def slurm_cluster(config_file: str):
    """A dask-jobqueue SLURMCluster from a YAML file of its arguments (no job submitted)."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(**yaml.safe_load(Path(config_file).read_text()))


def security(ca: str | None, cert: str | None, key: str | None):
    """TLS for a remote scheduler when certificates are given (dask's Security)."""
    if not (ca or cert or key):
        return None
    from distributed.security import Security

    return Security(
        tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True
    )


def executor(
    graph,
    workers: int = 0,
    scheduler: str | None = None,
    threads: int | None = None,
    tls=None,
    slurm: str | None = None,
):
    """Where the tasks run: here (no workers, no scheduler), a LocalCluster, an existing
    scheduler, or SLURM jobs."""
    scheduler = scheduler or os.environ.get("LSLIB_DASK_SCHEDULER") or None
    if not workers and not scheduler and not slurm:
        return InProcess(graph, threads)
    from distributed import Client

    if scheduler:
        return OnDask(graph, Client(scheduler, security=tls), threads=threads)
    if slurm:
        cluster = slurm_cluster(slurm)
        cluster.scale(jobs=workers or 1)
        return OnDask(graph, Client(cluster), cluster, threads=threads)
    threads = task_threads(threads)
    client, cluster = local_cluster(workers, threads)
    return OnDask(graph, client, cluster, threads=threads, store=str(cache_dir()))


# ---------------------------------------------------------------- the build


def _tasks(todo) -> tuple[dict, list[list[str]]]:
    """The task graph of the jobs, and the keys each job needs."""
    from lslib.paper.profiles import section

    per_job = []
    for nb, _, params in todo:
        S = section(nb.stem, params) if nb.stem in T.BUILDERS else None
        per_job.append(T.section_tasks(nb.stem, S) if S else [])
    graph = T.graph(t for ts in per_job for t in ts)
    return graph, [[t.key for t in ts] for ts in per_job]


def make_plan(
    todo,
    profile: str,
    workers: int,
    cold: bool = False,
    timings: str | None = None,
    threads: int | None = None,
):
    """The build's tasks and notebooks with their estimates, and the predicted wall time of
    running them here with ``threads`` per task (``workers``: on a local cluster of that
    many; 0: sequentially), or, with ``threads=None``, on ``workers`` that each have the
    cores a task was recorded with. Also returns the factor applied to each task's time and
    the records the estimates came from."""
    if timings and not Path(timings).is_dir():
        raise ValueError(
            f"--timings {timings}: no such folder (a run store's, e.g. an "
            "earlier build's LSLIB_CACHE)"
        )
    graph, needs = _tasks(todo)
    records = P.Records.read(Path(timings) if timings else None)
    items = P.items(graph, cold=cold, records=records)
    notebooks = [
        (P.notebook_seconds(out.stem, profile, timings), keys)
        for (_, out, _), keys in zip(todo, needs, strict=True)
    ]
    stretch = P.share(workers, threads, cores(), records.threads) if threads else 1.0
    pred = P.schedule(items, notebooks, workers, stretch)
    return graph, needs, items, notebooks, pred, stretch, records


def print_plan(
    todo,
    profile: str,
    workers: int,
    cold: bool = False,
    timings: str | None = None,
    stream=None,
    threads: int | None = None,
    local: bool = True,
) -> None:
    """The plan: every task, stored or its estimate; the predicted wall time here (this
    machine's cores, ``threads`` per task, sequentially and, with ``workers`` and
    ``local``, on a local cluster) and on a cluster whose workers have cores of their own."""
    stream = stream or sys.stdout
    t = task_threads(threads)
    _, _, items, notebooks, pred, _, records = make_plan(todo, profile, 0, cold, timings, t)
    missing = [it for it in items.values() if not it.cached]
    for it in items.values():
        state = "stored" if it.cached else f"~{P.clock(it.seconds):>7}  ({it.basis})"
        epochs = f", {it.epochs} epochs to train" if it.epochs else ""
        print(f"  {'✓' if it.cached else '·'} {it.task.label}{epochs}  {state}", file=stream)
    print(
        f"{len(items)} tasks: {len(items) - len(missing)} stored, {len(missing)} to compute "
        f"({P.clock(sum(it.seconds for it in missing))} of work as recorded); "
        f"{len(notebooks)} notebooks (~{P.clock(sum(s for s, _ in notebooks))})",
        file=stream,
    )
    print(f"predicted wall time here ({cores()} cores, {t} threads per task):", file=stream)
    print(f"  {'sequential (no Dask)':>26}: {P.clock(pred['wall_s'])}", file=stream)
    if workers and local:
        stretch = P.share(workers, t, cores(), records.threads)
        here = P.schedule(items, notebooks, workers, stretch)
        print(
            f"  {f'local cluster, {workers} worker' + 's' * (workers > 1):>26}: {P.clock(here['wall_s'])}  "
            f"(each task {stretch:.2g}x as recorded)",
            file=stream,
        )
    apart = P.schedule(items, notebooks, 1)
    print(
        "on a cluster, each worker with the cores a task was recorded with (critical path "
        f"{P.clock(apart['critical_s'])}):",
        file=stream,
    )
    for n in sorted({1, 2, 8, 32, 128} | ({workers} if workers and not local else set())):
        wall = P.schedule(items, notebooks, n)["wall_s"]
        mark = "  <- --workers" if n == workers and not local else ""
        print(f"  {f'{n} worker' + 's' * (n > 1):>26}: {P.clock(wall)}{mark}", file=stream)


def run(
    grid_file: str,
    profile: str,
    only: list[str] | None = None,
    root: Path = REPO,
    workers: int = 0,
    scheduler: str | None = None,
    threads: int | None = None,
    tls=None,
    slurm: str | None = None,
    timings: str | None = None,
) -> int:
    root = Path(root).resolve()
    # the kernels inherit this: the sections save their numbers next to the book they feed
    os.environ.setdefault("LSLIB_RESULTS", str(root / "book" / "_results"))
    grid = yaml.safe_load((root / grid_file).read_text())
    todo = jobs(grid, profile, only, root)
    todo[0][1].parent.mkdir(parents=True, exist_ok=True)
    remote = bool(scheduler or os.environ.get("LSLIB_DASK_SCHEDULER") or slurm)
    if threads is not None:
        task_threads(threads)  # refused here, before anything starts, wherever it runs
    graph, needs, items, notebooks, pred, stretch, _ = make_plan(
        todo, profile, workers, timings=timings, threads=None if remote else task_threads(threads)
    )
    # the progress counts in the times the tasks take here, so that its parallelism is
    # the schedule's (work over wall) and its correction starts at 1
    estimates = {k: it.seconds * stretch for k, it in items.items() if not it.cached}
    estimates |= {
        f"notebook:{out.stem}": s for (_, out, _), (s, _) in zip(todo, notebooks, strict=True)
    }
    parallel = max(pred["work_s"], 1.0) / max(pred["wall_s"], 1.0)
    n_stored = sum(it.cached for it in items.values())
    print(
        f"plan: {len(items)} tasks ({n_stored} stored, {len(items) - n_stored} to compute) "
        f"and {len(todo)} notebooks; predicted {P.clock(pred['wall_s'])}",
        flush=True,
    )
    if workers and not remote and workers * task_threads(threads) > cores():
        t, c = task_threads(threads), cores()
        faster = f"--workers {c} --threads 1" if workers > c else f"--threads {c // workers}"
        print(
            f"note: {workers} workers x {t} threads share {c} cores, so that the results are "
            f"the sequential build's bit for bit; {faster} would give each worker cores of "
            "its own (and the bits of a sequential build with that --threads)",
            flush=True,
        )
    start = time.perf_counter()
    ex = executor(graph, workers, scheduler, threads, tls, slurm)
    progress = Progress(estimates, parallel)
    try:
        if ex.dashboard:
            print(f"Dask dashboard: {ex.dashboard}", flush=True)
        if isinstance(ex, OnDask):
            ex.progress, ex.levels = progress, P.levels(items, notebooks)
            ex.submit(k for keys in needs for k in keys)
        for (nb, out, params), keys in zip(todo, needs, strict=True):
            where = f" for {nb.relative_to(root)} with {params}"
            try:
                ex.wait(keys, progress, where)
            except TaskFailed as e:
                print(f"FAILED: {e}", file=sys.stderr, flush=True)
                return 1
            key, i = f"notebook:{out.stem}", len([k for k in progress.done if k[:9] == "notebook:"])
            progress.started(key, f"notebook {nb.relative_to(root)} {params}", quiet=True)
            if progress.bar is None:
                print(
                    f"[{i + 1}/{len(todo)}] {nb.relative_to(root)} {params} ... "
                    f"({progress.status('').split(' — ', 1)[1]})",
                    flush=True,
                )
            t = time.perf_counter()
            error = _execute(nb, out, params, root)
            if error:
                failed = out.with_name(f"{out.stem}.failed.ipynb")
                where = (
                    f" (the executed copy with the traceback: {failed})" if failed.exists() else ""
                )
                print(
                    f"FAILED: {nb.relative_to(root)} with {params}: {error}{where}",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            progress.finished(key)
            P.record_notebook(out.stem, profile, time.perf_counter() - t)
            print(
                f"      done in {time.perf_counter() - t:.0f} s -> {out.relative_to(root)}",
                flush=True,
            )
    finally:
        progress.close()
        ex.close()
        _drop_kernel_folder()
    print(f"grid finished: {len(todo)} notebooks in {time.perf_counter() - start:.0f} s")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run a papermill grid of notebooks.")
    ap.add_argument("grid", help="the grid file, relative to --root, e.g. book/grid.yml")
    ap.add_argument("--profile", default="paper", choices=PROFILES)
    ap.add_argument("--only", nargs="*", help="notebook names to run (e.g. phase1 summary)")
    ap.add_argument("--root", default=str(REPO), help="folder the grid's paths are relative to")
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run the tasks on a local Dask cluster of N processes (0: in this "
        "process, no Dask); with --slurm, the number of jobs",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of every task, here, on a local cluster's workers and, "
        "if given, on remote workers; it decides the results' last bits (default: "
        "LSLIB_THREADS, else torch's default here, the cores; a remote worker's "
        "own LSLIB_THREADS)",
    )
    ap.add_argument(
        "--scheduler",
        default=None,
        help="address of an existing Dask scheduler (tcp:// or tls://; default "
        "LSLIB_DASK_SCHEDULER)",
    )
    ap.add_argument("--tls-ca", help="CA certificate for a tls:// scheduler")
    ap.add_argument("--tls-cert", help="client certificate for a tls:// scheduler")
    ap.add_argument("--tls-key", help="client key for a tls:// scheduler")
    ap.add_argument("--slurm", help="a dask-jobqueue SLURMCluster config, e.g. cluster/slurm.yaml")
    ap.add_argument(
        "--plan",
        action="store_true",
        help="print the tasks, which are stored and the predicted time; run nothing",
    )
    ap.add_argument("--cold", action="store_true", help="with --plan: as if the store were empty")
    ap.add_argument(
        "--timings",
        default=None,
        help="the run store whose recorded times make the estimates (default: the "
        "store in use); e.g. an earlier build's, for a build into an empty store",
    )
    ap.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="with --plan: plan for seeds 0..N-1 in every section",
    )
    a = ap.parse_args(argv)
    try:
        if a.plan:
            grid = yaml.safe_load((Path(a.root) / a.grid).read_text())
            todo = jobs(grid, a.profile, a.only, Path(a.root))
            if a.seeds:
                seeds = list(range(a.seeds))
                todo = [
                    (nb, out, p | ({"seeds": seeds} if nb.stem in T.BUILDERS else {}))
                    for nb, out, p in todo
                ]
            remote = bool(a.scheduler or os.environ.get("LSLIB_DASK_SCHEDULER") or a.slurm)
            print_plan(
                todo, a.profile, a.workers, a.cold, a.timings, threads=a.threads, local=not remote
            )
            return 0
        tls = security(a.tls_ca, a.tls_cert, a.tls_key)
        return run(
            a.grid,
            a.profile,
            a.only,
            Path(a.root),
            a.workers,
            a.scheduler,
            a.threads,
            tls,
            a.slurm,
            a.timings,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
