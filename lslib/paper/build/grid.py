"""Run the notebooks of a grid file with papermill: ``python -m lslib.paper book/grid.yml``.

Each job is a notebook and, optionally, a list of models; every (notebook, model) pair
runs once with ``model`` and ``profile`` injected as parameters. Before a section's
notebook runs, the grid computes the tasks it needs (``tasks``: the training runs and
analyses its declaration lists, each stored in the run store), so the notebook only reads
the store. The tasks run in this process, in dependency order (the default), or on Dask: a
local cluster of ``--workers N`` processes, or an existing scheduler (``--scheduler``), or
SLURM jobs (``--slurm``), all submitted at once as a task graph while the notebooks run in
order as their tasks finish (``executors``). ``--plan`` prints what a build will compute
and how long it will take (``plan``); progress against that plan is shown throughout
(``progress``). Each notebook is executed by ``notebooks``, which never leaves a page of a
failed run; the grid passes it, as parameters its parameters cell declares, the results
folder (``results_dir``: ``LSLIB_RESULTS``, else ``book/_results``) and the grid file
(``grid_file``), so the sections save next to the book they feed and the pages read
exactly this grid's sections. On a failure, including a dead kernel, the runner stops and names the notebook,
its parameters and the error; notebooks that finished are kept. A task that fails stops it
the same way, naming the task, its config and the error, in every mode.
"""

import argparse
import os
import sys
import time
from pathlib import Path

from lslib import fused
from lslib.paper import gridfile, profiles
from lslib.paper.build import plan, store_times
from lslib.paper.build.executors import OnDask, TaskFailed, cores, executor, security, task_threads
from lslib.paper.build.notebooks import drop_kernel_folder, execute
from lslib.paper.build.progress import Progress
from lslib.paper.build.schedule import clock, groups, levels
from lslib.paper.profiles import PROFILES
from lslib.paper.sections.declared import SECTIONS
from lslib.paths import REPO, cache_dir, env_seconds, writable


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
    """Build the grid ``grid_file`` (relative to ``root``) for ``profile``: each notebook's
    tasks (here, or on Dask: ``workers``, ``scheduler``, ``tls``, ``slurm``; ``threads`` per
    task), then the notebook. ``timings``: the store whose records make the plan's estimates.

    Returns the exit status: 0 when every notebook finished, 1 at the first failure (named).
    """
    root = Path(root).resolve()
    # What the notebooks are passed (where they declare it): the sections save their
    # numbers next to the book they feed, and the pages read exactly this grid's sections.
    place = {
        "results_dir": os.environ.get("LSLIB_RESULTS") or str(root / "book" / "_results"),
        "grid_file": str(root / grid_file),
    }
    env_seconds("LSLIB_LOCK_TIMEOUT", 1.0)  # a bad value is refused here, not at a task
    env_seconds("LSLIB_CONNECT_TIMEOUT", 1.0)
    writable(cache_dir(), "LSLIB_CACHE")  # before any compute, not after a section
    writable(Path(place["results_dir"]), "LSLIB_RESULTS")
    # The book's MLP surfaces take about 2 s in all (a cold paper build's store); building
    # the compiled kernel takes about 20 s, which they never pay back. So a build leaves it
    # out unless LSLIB_FUSED is set (the workers and the notebooks' kernels inherit this).
    os.environ.setdefault("LSLIB_FUSED", "0")
    fused.setting()  # a bad LSLIB_FUSED is refused here, not at the first plane
    grid = gridfile.load(root / grid_file, root)
    todo = jobs(grid, profile, only, root)
    together = _alongside(grid, root)
    todo[0][1].parent.mkdir(parents=True, exist_ok=True)
    remote = bool(scheduler or os.environ.get("LSLIB_DASK_SCHEDULER") or slurm)
    if threads is not None:
        task_threads(threads)  # refused here, before anything starts, wherever it runs
    graph, needs, items, notebooks, pred, stretch, *_ = plan.make_plan(
        todo,
        profile,
        workers,
        timings=timings,
        threads=None if remote else task_threads(threads),
        together=together,
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
        f"and {len(todo)} notebooks; predicted {clock(pred['wall_s'])}",
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
            ex.progress, ex.levels = progress, levels(items, notebooks)
            ex.submit(k for keys in needs for k in keys)
        for group in groups(todo, together):
            for j in group:
                nb, _, params = todo[j]
                try:
                    ex.wait(needs[j], progress, f" for {nb.relative_to(root)} with {params}")
                except TaskFailed as e:
                    print(f"FAILED: {e}", file=sys.stderr, flush=True)
                    return 1
            if not _pages(todo, group, root, profile, progress, place):
                return 1
    finally:
        progress.close()
        ex.close()
        drop_kernel_folder()
    print(f"grid finished: {len(todo)} notebooks in {time.perf_counter() - start:.0f} s")
    return 0


def _alongside(grid: dict, root: Path) -> set:
    """The notebooks marked ``alongside: true`` in the grid file: pages that only read what
    the notebooks before them saved, so that consecutive ones may run side by side."""
    for job in grid["jobs"]:
        if not isinstance(job.get("alongside", False), bool):
            raise ValueError(
                f"grid job {job['notebook']}: alongside={job['alongside']!r}; allowed: true, false"
            )
    return {root / job["notebook"] for job in grid["jobs"] if job.get("alongside")}


def _pages(todo: list, group: list[int], root: Path, profile: str, progress, place: dict) -> bool:
    """Execute the notebooks of ``group``, up to one per core at a time (each is its own
    kernel process), each passed the ``place`` parameters it declares; False (the failure
    printed) when one failed. Notebooks of a group that started are let finish; a failure is
    reported in the grid's order."""
    from concurrent.futures import ThreadPoolExecutor

    def one(j):
        t = time.perf_counter()
        nb, out, params = todo[j]
        return execute(nb, out, params, root, place), time.perf_counter() - t

    n = len([k for k in progress.done if k[:9] == "notebook:"])
    for i, j in enumerate(group):
        nb, out, params = todo[j]
        progress.started(f"notebook:{out.stem}", f"notebook {nb.relative_to(root)} {params}", True)
        if progress.bar is None:
            print(
                f"[{n + i + 1}/{len(todo)}] {nb.relative_to(root)} {params} ... "
                f"({progress.status('').split(' — ', 1)[1]})",
                flush=True,
            )
    with ThreadPoolExecutor(max_workers=min(len(group), cores())) as pool:
        ran = list(pool.map(one, group))
    for j, (error, seconds) in zip(group, ran, strict=True):
        nb, out, params = todo[j]
        if error:
            failed = out.with_name(f"{out.stem}.failed.ipynb")
            where = f" (the executed copy with the traceback: {failed})" if failed.exists() else ""
            print(
                f"FAILED: {nb.relative_to(root)} with {params}: {error}{where}",
                file=sys.stderr,
                flush=True,
            )
            return False
        progress.finished(f"notebook:{out.stem}")
        store_times.record_notebook(out.stem, profile, seconds)
        print(f"      done in {seconds:.0f} s -> {out.relative_to(root)}", flush=True)
    return True


def check_arguments(a) -> None:
    """Refuse bad command-line values before anything starts (ValueError, naming them)."""
    if a.workers < 0:
        raise ValueError(f"--workers {a.workers}: must be >= 0 (0 runs the tasks here)")
    if a.seeds is not None and a.seeds < 1:
        raise ValueError(f"--seeds {a.seeds}: must be >= 1 (plans seeds 0..N-1)")
    if a.seeds is not None and not a.plan:
        raise ValueError("--seeds only applies to --plan (a build takes each section's seeds)")
    tls = {"--tls-ca": a.tls_ca, "--tls-cert": a.tls_cert, "--tls-key": a.tls_key}
    given = {flag: path for flag, path in tls.items() if path}
    if given and not (a.scheduler or os.environ.get("LSLIB_DASK_SCHEDULER")):
        raise ValueError(
            f"{', '.join(given)} given without a scheduler: TLS is for a tls:// --scheduler "
            "(or LSLIB_DASK_SCHEDULER)"
        )
    for flag, path in given.items():
        if not Path(path).is_file():
            raise ValueError(f"{flag} {path}: no such file")


def main(argv=None) -> int:
    """The command line (``python -m lslib.paper book/grid.yml``): plan or build; the exit status."""
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
        check_arguments(a)
        if a.plan:
            grid = gridfile.load(Path(a.root) / a.grid, Path(a.root))
            todo = jobs(grid, a.profile, a.only, Path(a.root))
            seeds = {} if a.seeds is None else dict.fromkeys(SECTIONS, list(range(a.seeds)))
            remote = bool(a.scheduler or os.environ.get("LSLIB_DASK_SCHEDULER") or a.slurm)
            with profiles.seeds_as(seeds):
                plan.print_plan(
                    todo,
                    a.profile,
                    a.workers,
                    a.cold,
                    a.timings,
                    threads=a.threads,
                    local=not remote,
                    together=_alongside(grid, Path(a.root)),
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
    from lslib.paper.build.allocator import restart_with_tunables

    restart_with_tunables()
    sys.exit(main())
