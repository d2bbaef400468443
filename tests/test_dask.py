"""The grid's tasks, in this process and on a 2-worker Dask LocalCluster (smoke profile).

On Dask the results are bit-identical to the sequential path (both use the build's one thread
count per task, the cores by default, also when workers x threads exceeds the cores), also
when a worker is killed mid-task; one key is computed once across worker processes; a task
that raises stops the build with the sequential grid's message; and nothing is left
running afterwards.
"""

import contextlib
import hashlib
import io
import os
import signal
import struct
import sys
import time
from pathlib import Path

import cloudpickle
import numpy as np
import psutil
import pytest
import torch

from lslib import cache
from lslib.paper.build import executors, grid, schedule, store_times
from lslib.paper.build import plan as P
from lslib.paper.build import tasks as T
from lslib.paper.build.progress import Progress
from lslib.paper.profiles import section

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/

SMALL = {"model": "mlp", "profile": "smoke"}


@contextlib.contextmanager
def store(path: Path):
    old = os.environ.get("LSLIB_CACHE")
    os.environ["LSLIB_CACHE"] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("LSLIB_CACHE", None)
        else:
            os.environ["LSLIB_CACHE"] = old


def _bits(v, h) -> None:
    """Feed every bit of a stored value to ``h`` (tensors, arrays, floats, containers)."""
    if isinstance(v, torch.Tensor):
        h.update(str((v.dtype, tuple(v.shape))).encode() + v.detach().cpu().numpy().tobytes())
    elif isinstance(v, np.ndarray):
        h.update(str((v.dtype, v.shape)).encode() + np.ascontiguousarray(v).tobytes())
    elif isinstance(v, dict):
        for k in sorted(v, key=str):
            if k == "wall_s":  # a training epoch's own timing, not a result
                continue
            h.update(str(k).encode())
            _bits(v[k], h)
    elif isinstance(v, list | tuple):
        h.update(b"[%d" % len(v))
        for x in v:
            _bits(x, h)
    elif isinstance(v, float):
        h.update(struct.pack("<d", v))
    else:
        h.update(repr(v).encode())


def contents(path: Path) -> dict:
    """Every entry of a store: its key -> a digest of its value's bits (not its metadata)."""
    out = {}
    for f in sorted(path.glob("*/*.pt")):
        if f.parent.name == "mnist":
            continue
        entry = cache._decode(f.read_bytes())
        h = hashlib.sha256()
        _bits(entry["value"], h)
        out[f"{f.parent.name}/{f.name}"] = h.hexdigest()
    return out


def build_graph(*names) -> dict:
    return T.graph(t for n in names for t in T.section_tasks(n, section(n, dict(SMALL))))


def run_here(graph: dict, threads: int | None = None) -> str:
    out = io.StringIO()
    progress = Progress({k: 1.0 for k in graph}, 1.0, stream=out)
    executors.InProcess(graph, threads).wait(list(graph), progress)
    return out.getvalue()


def run_on(client, graph: dict, path: Path, during=None) -> None:
    ex = executors.OnDask(graph, client, threads=executors.task_threads(), store=str(path))
    ex.progress = Progress({k: 1.0 for k in graph}, 2.0, stream=io.StringIO())
    ex.submit(list(graph))
    if during:
        during()
    ex.wait(list(graph), ex.progress)


def children() -> list:
    """This process's descendants, less multiprocessing's resource tracker (one per process
    that ever spawned, by design; it ends with this process)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(p.cmdline()):
                out.append(p)
    return out


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker LocalCluster on 127.0.0.1; at the end, closed with nothing left running."""
    before = {p.pid for p in children()}
    client, lc = executors.local_cluster(2)
    yield client
    client.close()
    lc.close()
    deadline = time.time() + 20
    while time.time() < deadline:
        left = [p for p in children() if p.pid not in before]
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes left behind: {[(p.pid, p.cmdline()[:3]) for p in left]}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Phase 1 and 3 (MLP, smoke) run sequentially here, as `make book` would (torch's
    default threads): the store and log."""
    path = tmp_path_factory.mktemp("sequential")
    graph = build_graph("phase1", "phase3")
    with store(path):
        log = run_here(graph)
    return graph, contents(path), log


def test_the_local_cluster_and_its_dashboard_listen_on_127_0_0_1_only(cluster):
    info = cluster.scheduler_info()
    addresses = [info["address"], *info["workers"], *(w["nanny"] for w in info["workers"].values())]
    assert all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
    assert cluster.dashboard_link.startswith("http://127.0.0.1:")
    listening = [
        c.laddr.ip
        for p in [psutil.Process(), *children()]
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and set(listening) <= {"127.0.0.1"}, listening


def test_the_sequential_path_shows_progress_in_words(reference):
    _, stored, log = reference
    assert (
        stored
        and " done · training MLP-16, seed 0 — " in log
        and "training MLP-16, seed 0, epoch 1 of at most 2" in log
    )
    assert "connectivity of MLP-32, seeds 0 and 1" in log and "elapsed, ~" in log


def threads_recorded(path: Path) -> set:
    """The torch thread counts the entries of a store were computed with."""
    return {
        cache.decode_meta(f.read_bytes())["threads"]
        for f in path.glob("*/*.pt")
        if f.parent.name != "mnist"
    }


def test_dask_results_are_bit_identical_to_the_sequential_path(cluster, reference, tmp_path):
    """With the defaults on both sides: the workers use the sequential path's thread count
    (on 2 cores, two 2-thread workers), not cores / workers."""
    graph, expected, _ = reference
    run_on(cluster, graph, tmp_path)
    assert threads_recorded(tmp_path) == {executors.task_threads()}
    assert contents(tmp_path) == expected


@pytest.mark.skipif(
    executors.task_threads() < 2, reason="the build's thread count is 1: nothing to compare"
)
def test_another_thread_count_gives_other_bits(reference, tmp_path):
    """Why the thread count is one number for the build: at 1 thread instead of the
    default, the same tasks store other bits (so the test above can fail)."""
    graph, expected, _ = reference
    with store(tmp_path):
        run_here(graph, threads=1)
    assert threads_recorded(tmp_path) == {1}
    assert contents(tmp_path) != expected


def test_the_thread_count_is_one_number_for_the_build(monkeypatch):
    monkeypatch.delenv("LSLIB_THREADS", raising=False)
    assert executors.task_threads() == torch.get_num_threads() and executors.task_threads(3) == 3
    monkeypatch.setenv("LSLIB_THREADS", "5")
    assert executors.task_threads() == 5 and executors.task_threads(1) == 1
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="threads=.* allowed: an int >= 1"):
            executors.task_threads(bad)


def _holder(path: Path, pids: set) -> int | None:
    """The worker pid named in a held lock file of the store, if any."""
    for lock in path.glob("epoch/*.lock"):
        with contextlib.suppress(OSError, ValueError):
            text = lock.read_text()
            if text and (pid := int(text.split('"pid": ')[1].split(",")[0])) in pids:
                return pid
    return None


def test_a_worker_killed_mid_task_reruns_it_elsewhere_with_the_same_results(
    cluster, tmp_path_factory
):
    """kill -9 of the worker process training a run: the task reruns on another worker and
    the store ends bit-identical to the sequential one."""
    S = section("phase1", dict(SMALL, widths=[96], subset=12000))  # epochs long enough to hit
    graph = T.graph(T.section_tasks("phase1", S))
    ref, dask_store = tmp_path_factory.mktemp("ref"), tmp_path_factory.mktemp("killed")
    with store(ref):
        run_here(graph)
    pids = set(cluster.run(os.getpid).values())
    killed = []

    def kill():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            pid = _holder(dask_store, pids)
            if pid:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.01)

    run_on(cluster, graph, dask_store, during=kill)
    assert killed, "no worker was seen training"
    assert contents(dask_store) == contents(ref)
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert killed[0] not in set(cluster.run(os.getpid).values())


def _slow_entry(path: str) -> dict:
    """One store entry that takes a second to compute, counted."""
    os.environ["LSLIB_CACHE"] = path
    before = cache.stats.computed
    value = cache.cached(
        "slow", {"case": "once"}, lambda: (time.sleep(1.0), os.getpid())[1], "lslib.paths"
    )
    return {"computed": cache.stats.computed - before, "value": value, "pid": os.getpid()}


def test_one_key_is_computed_once_across_worker_processes(cluster, tmp_path):
    workers = list(cluster.scheduler_info()["workers"])
    futures = [cluster.submit(_slow_entry, str(tmp_path), workers=[w], pure=False) for w in workers]
    a, b = cluster.gather(futures)
    assert a["pid"] != b["pid"]  # two processes asked at once
    assert a["computed"] + b["computed"] == 1 and a["value"] == b["value"]


def _boom(c) -> None:
    raise ValueError(f"boom at width {c.width}")


def test_a_raising_task_stops_the_build_with_the_same_message(cluster, tmp_path):
    c = section("phase1", dict(SMALL)).train(width=16)
    bad = T.Task("boom-1", _boom, (c,), "training MLP-16, seed 0")
    after = T.Task("after-1", _boom, (c,), "1D lines of MLP-16, seed 0", deps=("boom-1",))
    graph = {"boom-1": bad, "after-1": after}
    messages = []
    for ex in (executors.InProcess(graph), executors.OnDask(graph, cluster, store=str(tmp_path))):
        progress = Progress({k: 1.0 for k in graph}, 1.0, stream=io.StringIO())
        ex.progress = progress
        ex.submit(list(graph))
        with pytest.raises(executors.TaskFailed) as e:
            ex.wait(list(graph), progress, " for notebooks/phase1.ipynb with {'model': 'mlp'}")
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith('task "training MLP-16, seed 0" for notebooks/phase1.ipynb')
    assert (
        "ValueError: boom at width 16" in messages[0] and "TrainConfig(model='mlp'" in messages[0]
    )


def test_the_grid_on_two_workers_prints_the_dashboard_and_leaves_no_process(tmp_path, capsys):
    import nbformat

    (tmp_path / "nb").mkdir()
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import os\nfrom ipykernel.kernelapp import IPKernelApp\n"
            "app = IPKernelApp.instance()\nprint(app.transport)\nprint(app.ip)\n"
            "print(oct(os.stat(os.path.dirname(app.ip)).st_mode & 0o777))"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(tmp_path / "nb" / "page.ipynb"))
    (tmp_path / "grid.yml").write_text("output: out\njobs:\n  - {notebook: nb/page.ipynb}\n")
    before = {p.pid for p in children()}
    assert grid.run("grid.yml", "smoke", root=tmp_path, workers=2) == 0
    out = capsys.readouterr().out
    assert "Dask dashboard: http://127.0.0.1:" in out and "[1/1] nb/page.ipynb" in out
    shared = 2 * executors.task_threads() > executors.cores()  # e.g. 2 x 2 threads on 2 cores
    assert ("share" in out and "bit for bit" in out) == shared, out
    executed = nbformat.read(str(tmp_path / "out" / "page.ipynb"), 4)
    transport, sockets, mode = executed.cells[-1].outputs[0]["text"].split()
    # the kernel on Unix sockets in a private folder (no port, nothing in the checkout),
    # short enough for a socket's path limit, and gone after the build
    folder = Path(sockets).parent
    assert transport == "ipc" and folder.name.startswith("lslib-kernels-") and mode == "0o700"
    assert len(sockets) + len("-ipc-5") < 100 and not folder.exists()
    time.sleep(0.5)
    left = [p for p in children() if p.pid not in before]
    assert not left, [p.cmdline()[:3] for p in left]


def test_the_plan_knows_what_is_stored_and_schedules_on_workers(reference, tmp_path):
    graph, _, _ = reference
    with store(tmp_path):
        run_here(graph)
        items = P.items(graph)
        assert all(it.cached for it in items.values())
        cold = P.items(graph, cold=True)
    assert not any(it.cached for it in cold.values())
    assert all(it.seconds > 0 for it in cold.values() if it.task.fn is not T.train or it.epochs)
    # a chain a -> b of 2 + 3 s and a 4 s task c: 9 s alone, 5 s on two workers
    t = lambda k, *deps: T.Task(k, print, (), k, deps)  # noqa: E731
    items = {
        k: P.Item(t(k, *d), False, s, "")
        for k, s, d in (("a", 2.0, ()), ("b", 3.0, ("a",)), ("c", 4.0, ()))
    }
    assert schedule.schedule(items, [], 1)["wall_s"] == 9.0
    two = schedule.schedule(items, [(1.0, ["b"])], 2)
    assert two["wall_s"] == 6.0 and two["critical_s"] == 6.0 and two["work_s"] == 10.0
    assert schedule.schedule(items, [(1.0, ["b"])], 0)["wall_s"] == 10.0


def test_the_slurm_example_makes_a_job_script_without_submitting(tmp_path):
    """cluster/slurm.yaml builds a SLURMCluster (its scheduler here on 127.0.0.1 for the
    test); each job is one worker of one task at a time with LSLIB_THREADS torch threads."""
    pytest.importorskip("dask_jobqueue")
    import yaml
    from dask_jobqueue import SLURMCluster

    cfg = yaml.safe_load((Path(__file__).parent.parent / "cluster" / "slurm.yaml").read_text())
    cfg = cfg | {"scheduler_options": {"host": "127.0.0.1", "dashboard_address": ":0"}}
    cfg.pop("interface", None)
    cfg["log_directory"] = str(tmp_path / cfg["log_directory"])  # not a folder in the checkout
    with SLURMCluster(**cfg) as sc:
        script = sc.job_script()
    assert "#SBATCH --cpus-per-task=8" in script and "--nthreads 1" in script
    assert "LSLIB_THREADS=8" in script and "LSLIB_CACHE" in script


def test_an_empty_store_is_planned_from_the_reference_build(tmp_path):
    """A fresh clone's first build has estimates: every task kind of every section, in both
    families, that the reference build (lslib/paper/build/reference_times.json) timed is
    estimated from it; a kind it did not time (a new analysis) plans as "no estimate yet"
    until a build records it, and scripts/reference_times.py rewrites the file."""
    ref = store_times.reference()
    assert ref["machine"] and ref["rates"] and ref["notebooks"]
    with store(tmp_path):
        records = store_times.Records.read()
        assert not records.rate  # nothing recorded here: all of it is the reference's
        for model in ("mlp", "cnn"):
            for name in ("phase1", "phase2", "phase3"):
                S = section(name, {"model": model, "profile": "smoke"})
                graph = T.graph(T.section_tasks(name, S))
                for it in P.items(graph, records=records).values():
                    kind = "epoch" if it.task.fn is T.train else P._first(it.task)[0]
                    if f"{kind} {model}" not in ref["rates"]:
                        assert it.basis == store_times.NO_ESTIMATE and it.seconds == 0, (
                            it.task.label
                        )
                        continue
                    # a run whose epochs an earlier run of its trajectory trains costs 0 s
                    chained = it.task.fn is T.train and it.task.deps
                    assert (it.seconds > 0 or chained) and it.basis == "reference build", (
                        it.task.label,
                        it.basis,
                    )
        assert (
            store_times.notebook_seconds("phase1-mlp", "paper")
            == ref["notebooks"]["phase1-mlp paper"]
        )
    import yaml

    root = Path(__file__).parent.parent
    todo = grid.jobs(yaml.safe_load((root / "book" / "grid.yml").read_text()), "paper", None, root)
    assert {f"{out.stem} paper" for _, out, _ in todo} <= set(ref["notebooks"])


def test_tasks_that_share_the_cores_or_get_fewer_threads_are_stretched():
    # recorded with 2 threads; here 2 cores
    assert schedule.share(0, 2, 2, 2) == 1.0  # sequential, as recorded
    assert schedule.share(0, 1, 2, 2) == 2.0  # sequential with half the threads
    assert schedule.share(1, 2, 2, 2) == 1.0
    assert schedule.share(2, 2, 2, 2) == 2.0  # two 2-thread workers share the 2 cores
    assert schedule.share(2, 1, 2, 2) == 2.0  # two 1-thread workers: each task at 1 thread
    assert schedule.share(4, 1, 2, 2) == 4.0  # four workers on 2 cores: half a core each
    assert schedule.share(8, 4, 32, 2) == 1.0  # more threads than recorded: no speed-up counted
    t = lambda k, *deps: T.Task(k, print, (), k, deps)  # noqa: E731
    items = {
        k: P.Item(t(k, *d), False, s, "")
        for k, s, d in (("a", 2.0, ()), ("b", 3.0, ("a",)), ("c", 4.0, ()))
    }
    plain, stretched = schedule.schedule(items, [], 2), schedule.schedule(items, [], 2, stretch=2.0)
    assert stretched["wall_s"] == 2 * plain["wall_s"] and stretched["work_s"] == 18.0
