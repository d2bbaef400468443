"""Where a build's tasks run: here, in dependency order (``InProcess``), or as one Dask graph
(``OnDask``) on a local cluster, an existing scheduler (TLS where certificates are given) or
SLURM jobs; and the one torch thread count every task of a build uses.

A task that fails stops the build with ``TaskFailed``, naming the task, its config and the
error, in every mode.
"""

import contextlib
import logging
import os
import time
from pathlib import Path

import yaml

from lslib import cache
from lslib.paper.build import tasks
from lslib.paper.build.progress import Progress
from lslib.paths import cache_dir, env_seconds


def _describe(event: str, kind: str, config, task_label: str, epochs: int | None, fixed: bool):
    """A store computation in words, within its task ('..., epoch 7 of at most 30')."""
    if event != "start" or kind != "epoch" or not isinstance(config, dict):
        return None
    e = config.get("epoch", 0)
    if not e:
        return None
    return f"{task_label}, epoch {e} of {'' if fixed else 'at most '}{epochs}"


def _call(task: tasks.Task, say, threads: int | None) -> dict:
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


def failure(task: tasks.Task, error: BaseException, where: str = "") -> str:
    """A failed task in one line: its label, ``where`` (the notebook it was for), its
    config and the error's first line."""
    config = ", ".join(repr(a) for a in task.args)
    msg = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f'task "{task.label}"{where} ({config}): {type(error).__name__}: {msg}'


class InProcess:
    """The sequential path: each notebook's tasks run here, in dependency order, just before
    it (no extra process)."""

    dashboard = None

    def __init__(self, graph: dict, threads: int | None = None):
        self.graph, self.threads = graph, task_threads(threads)

    def submit(self, keys) -> None:
        pass

    def wait(self, keys, progress: Progress, where: str = "") -> None:
        for task in tasks.order(self.graph, keys):
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
    unmapped anew and a training epoch takes much longer (``book/scale.md``). Set
    the thresholds where glibc's own rule ends on 64-bit Linux (32 MiB to map, twice that
    to trim)."""
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
    task = tasks.Task(key, fn, args, label, epochs=epochs)
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
        todo = tasks.order(self.graph, keys)
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

        mine = [self.futures[t.key] for t in tasks.order(self.graph, keys) if t.key in self.futures]
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
    """The CPU cores this process may run on (its affinity, else the machine's count)."""
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
    others need (measured in ``book/scale.md``).

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


CONNECT_TIMEOUT_S = 30.0  # default of LSLIB_CONNECT_TIMEOUT: seconds to reach a scheduler


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
    if workers < 0:
        raise ValueError(f"workers={workers}: must be >= 0 (0 runs the tasks here)")
    scheduler = scheduler or os.environ.get("LSLIB_DASK_SCHEDULER") or None
    if not workers and not scheduler and not slurm:
        return InProcess(graph, threads)
    from distributed import Client

    if scheduler:
        timeout = env_seconds("LSLIB_CONNECT_TIMEOUT", CONNECT_TIMEOUT_S)
        try:
            client = Client(scheduler, security=tls, timeout=timeout)
        except (OSError, TimeoutError) as e:  # nothing listens, or it does not answer
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(
                f"cannot reach the Dask scheduler at {scheduler} within {timeout:.0f} s "
                f"({first}); is it running, and is the address right? "
                "(LSLIB_CONNECT_TIMEOUT sets the wait)"
            ) from None
        return OnDask(graph, client, threads=threads)
    if slurm:
        cluster = slurm_cluster(slurm)
        cluster.scale(jobs=workers or 1)
        return OnDask(graph, Client(cluster), cluster, threads=threads)
    threads = task_threads(threads)
    client, cluster = local_cluster(workers, threads)
    return OnDask(graph, client, cluster, threads=threads, store=str(cache_dir()))
