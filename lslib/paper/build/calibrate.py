"""This machine against the reference build's: a short measurement that scales its rates.

A fresh clone's plan estimates from the reference build's rates (``store_times.reference``),
which were measured on the machine ``reference_times.json`` names; on another machine they
are off by how much faster or slower it is (the benchmarks' README gives the case of an AMD
EPYC against the reference's Intel Xeon). So where the plan uses them, ``calibrated`` times a
miniature paper epoch of each family here (``mini_epoch``: ``WORKLOADS``' training steps of
MLP-128 and SimpleCNN-32 at the paper's batch of 128, through ``train.train_epoch`` on random
MNIST-shaped tensors, then the forward-only evaluation of the ``EVAL`` share of those images
that a paper epoch evaluates after its training: its validation and test sets), the median
of ``REPEATS`` after a warm-up, with the threads the reference was measured with. The median,
not the fastest: the plan predicts a build's average pace, and the fastest of a few runs is
the luckiest (``spread`` records how far they went; the book's scale page gives the drift
measured on a shared 2-core machine). The
reference's seconds for the same work are its own measurement of it where the file records
one (``scripts/reference_times.py`` writes it), else its epoch rate times the work
(``store_times.work``'s units). Their ratio per family scales every reference rate of that
family (``factors``); the store's own records are never scaled.

The measurement is kept per machine (``fused.cpu_identity``), threads and torch version in
``calibration.json`` in the run store's folder and read back by later plans (an unreadable
or malformed file is measured again). One whose threads waited for the cores (CPU time per
thread below ``store_times.CONTENDED`` of its wall time: another process had them) would
say more about that process than about this machine: it is neither used nor kept.
``LSLIB_CALIBRATE=0`` turns the calibration off, and on the reference build's own kind of
machine (the same ``machine_key``, which ``reference_times.json`` records) there is nothing
to calibrate: a shared 2-core machine drifts by ±15 % between measurements a minute apart,
more than the few seconds of a measurement can average out, while the reference's rates
average a whole build.
"""

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path

import torch

from lslib.data import N_TRAIN, N_VAL
from lslib.paper.build.allocator import switch
from lslib.paper.build.executors import cores
from lslib.paper.build.store_times import CONTENDED, flops, reference
from lslib.paths import cache_dir

FILE = "calibration.json"  # in the run store's folder
BATCH = 128  # the paper's training batch
WORKLOADS = {"mlp": (128, 300), "cnn": (32, 20)}  # family: (width, training steps)
EVAL = 2 * N_VAL / N_TRAIN  # images a paper epoch evaluates (val and test) per one trained
REPEATS = 5  # timed runs after the warm-up; the median counts
NAMES = {"mlp": "MLP", "cnn": "CNN"}


def setting(environ=os.environ) -> bool:
    """``LSLIB_CALIBRATE``: on (1, true, on, yes, unset) or off (0, false, off, no)."""
    return switch("LSLIB_CALIBRATE", environ)


def work_of(family: str) -> float:
    """The work (``store_times.work``'s units for an epoch) of a family's miniature epoch."""
    width, steps = WORKLOADS[family]
    return flops(family, width) * steps * BATCH


def mini_epoch(family: str):
    """A function that runs the family's miniature epoch once (its data and model made
    here, outside the timing)."""
    from lslib.data import Split
    from lslib.models import build_model
    from lslib.params import evaluate, params_of
    from lslib.train import fast_layout, make_optimizer, train_epoch

    width, steps = WORKLOADS[family]
    gen = torch.Generator().manual_seed(0)
    n, m = steps * BATCH, round(steps * BATCH * EVAL)
    train = Split(
        torch.randn(n, 1, 28, 28, generator=gen), torch.randint(0, 10, (n,), generator=gen)
    )
    x, y = torch.randn(m, 1, 28, 28, generator=gen), torch.randint(0, 10, (m,), generator=gen)
    model = build_model(family, width, seed=0)
    model = model.to(memory_format=fast_layout(model, "cpu"))
    opt = make_optimizer("momentum", model.parameters(), 0.01)

    def run():
        train_epoch(model, opt, train, BATCH, torch.Generator().manual_seed(0))
        evaluate(model, params_of(model), x, y)

    return run


def clock() -> tuple[float, float]:
    """Wall and CPU seconds (this process's, all its threads) so far."""
    return time.perf_counter(), time.process_time()


def typical(run, repeats: int = REPEATS, clock=clock) -> tuple[float, float, float, float]:
    """``run()`` once to warm up, then ``repeats`` times: the median run's wall and CPU
    seconds, and the fastest and slowest runs' wall seconds."""
    run()
    runs = []
    for _ in range(repeats):
        w0, c0 = clock()
        run()
        w1, c1 = clock()
        runs.append((w1 - w0, c1 - c0))
    runs.sort()
    wall, cpu = runs[len(runs) // 2] if len(runs) % 2 else _mid(runs)
    return wall, cpu, runs[0][0], runs[-1][0]


def _mid(runs: list) -> tuple[float, float]:
    a, b = runs[len(runs) // 2 - 1], runs[len(runs) // 2]
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def measure(threads: int, make=mini_epoch, clock=clock) -> dict:
    """Each family's miniature epoch here with ``threads`` torch threads: its median seconds;
    ``spread``, per family the fastest and slowest run over the median; and ``busy``, the
    least CPU time per thread per wall second of the families' median runs (below
    ``CONTENDED``: their threads waited for the cores). The global RNG and the thread count
    are left as they were."""
    out, spread, busy, start = {}, {}, math.inf, clock()[0]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=[]):
            for family in WORKLOADS:
                wall, cpu, lo, hi = typical(make(family), clock=clock)
                out[family] = wall
                spread[family] = [lo / wall, hi / wall] if wall > 0 else [1.0, 1.0]
                busy = min(busy, cpu / threads / wall if wall > 0 else 0.0)
                if busy < CONTENDED:  # the rest would wait as long, and not be used
                    break
    finally:
        torch.set_num_threads(before)
    return out | {"spread": spread, "busy": busy, "took_s": clock()[0] - start}


def machine_key(threads: int) -> str:
    """The calibration's key: this CPU, its cores, the threads and torch's version."""
    from lslib.fused import cpu_identity

    what = f"{cpu_identity()}|{cores()} cores|{threads} threads|torch {torch.__version__}"
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def valid(entry) -> bool:
    """A kept measurement of today's workloads: positive finite seconds for each family."""
    if not (isinstance(entry, dict) and entry.get("steps") == workload_steps()):
        return False
    secs = [entry.get(f) for f in WORKLOADS]
    return all(isinstance(s, (int, float)) and 0 < s < math.inf for s in secs)


def workload_steps() -> dict:
    """Each family's training steps (a kept measurement of other steps is measured again)."""
    return {f: steps for f, (_, steps) in WORKLOADS.items()}


def _read(path: Path) -> dict:
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):  # absent or torn: measured again
        return {}
    return table if isinstance(table, dict) else {}


def _write(path: Path, table: dict) -> None:
    """Atomically; a store folder that cannot be written is no error (measured again)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{FILE}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(table, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def reference_seconds(ref: dict, family: str, threads: int) -> float | None:
    """The reference machine's seconds for the family's miniature epoch with ``threads``:
    its own measurement where it recorded one, else its epoch rate times the work, taken
    to scale with the threads as ``schedule.share`` does (None: no rate to go by)."""
    own = ref.get("calibration")
    if valid(own) and own.get("threads") == threads:
        return float(own[family])
    rate = ref.get("rates", {}).get(f"epoch {family}")
    if not isinstance(rate, (int, float)) or rate <= 0:
        return None
    return rate * work_of(family) * max(1.0, ref.get("threads", threads) / threads)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Per family, this machine's time over the reference's for the same work (empty:
    not calibrated), and the plan's line saying what was measured or why not."""

    factors: dict
    line: str


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) CPU jiffies of every core since boot, from /proc/stat; None elsewhere."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and waiting for I/O
    return sum(fields) - idle, sum(fields)


def loadavg(window: float = 0.5) -> float:
    """The cores in use now: over the last ``window`` seconds (/proc/stat), where the system
    says; else the load over the last minute (0 where it says neither). Not the 1-minute
    load first: it stays high for a minute after a process ends, and a fresh clone's
    ``make book`` starts its plan right after pip has run."""
    a = _cpu_times()
    if a is not None:
        time.sleep(window)
        b = _cpu_times()
        if b is not None and b[1] > a[1]:
            return (b[0] - a[0]) / (b[1] - a[1]) * (os.cpu_count() or 1)
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


SAME = (
    "not calibrated: this is the reference build's kind of machine (its CPU, cores, threads "
    "and torch), so its rates, averaged over a whole build, are used as they are; a few "
    "seconds' measurement would only add this machine's drift to them"
)


def _busy(why: str) -> str:
    return (
        f"not calibrated to this machine: {why}; another process has the cores, so the "
        "reference machine's rates are used as they are (measured at the next plan)"
    )


def factors(measured: dict, ref: dict, threads: int) -> dict:
    """Per family, the measured seconds over the reference's (``reference_seconds``)."""
    out = {}
    for family in WORKLOADS:
        r = reference_seconds(ref, family, threads)
        if r and measured.get(family):
            out[family] = measured[family] / r
    return out


def calibrated(folder=None, measure=measure) -> Calibration:
    """The calibration of this machine against the reference build: kept in ``FILE`` in
    the store's folder (``folder``, default the one in use), else measured now with the
    reference's threads (no more than the cores) and kept, unless its threads waited for
    the cores."""
    ref = reference()
    threads = max(1, min(ref.get("threads") or cores(), cores()))
    path = (cache_dir() if folder is None else Path(folder)) / FILE
    table, key = _read(path), machine_key(threads)
    if (ref.get("calibration") or {}).get("machine") == key:
        return Calibration({}, SAME)
    kept = table.get(key)
    if valid(kept):
        how = f"measured earlier, kept in {path}"
    else:
        if (load := loadavg()) >= cores() - threads + 1:
            return Calibration(
                {}, _busy(f"the machine is busy ({load:.1f} of {cores()} cores in use)")
            )
        kept = measure(threads)
        if kept["busy"] < CONTENDED:
            ran = f"its threads ran {kept['busy']:.0%} of the time while it measured"
            return Calibration({}, _busy(f"{ran} ({loadavg():.1f} of {cores()} cores in use)"))
        kept = {f: round(kept[f], 5) for f in WORKLOADS} | {
            "busy": round(kept["busy"], 3),
            "spread": {f: [round(x, 3) for x in v] for f, v in kept.get("spread", {}).items()},
            "steps": workload_steps(),
            "threads": threads,
            "took_s": round(kept["took_s"], 2),
            "torch": torch.__version__,
        }
        _write(path, table | {key: kept})
        how = f"{kept['took_s']:.1f} s"
    f = factors(kept, ref, threads)
    if not f:
        return Calibration({}, "not calibrated: the reference build has no epoch rates")
    scaled = ", ".join(f"{NAMES[k]} ×{v:.2f}{_range(kept, k)}" for k, v in f.items())
    (mw, ms), (cw, cs) = WORKLOADS["mlp"], WORKLOADS["cnn"]
    against = "its own" if valid(ref.get("calibration")) else "its epoch rate's"
    return Calibration(
        f,
        f"calibrated to this machine: the reference build's rates {scaled} ({ms} training "
        f"steps of MLP-{mw} and {cs} of SimpleCNN-{cw} with an epoch's evaluation, "
        f"{threads} threads, the median of {REPEATS} runs, against {against} seconds for "
        f"them; {how})",
    )


def _range(kept: dict, family: str) -> str:
    """`` (runs −a %…+b %)``: how far the fastest and slowest run went from the median;
    empty where the measurement kept no spread."""
    lo, hi = (kept.get("spread") or {}).get(family, (None, None))
    if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))):
        return ""
    return f" (runs {100 * (lo - 1):+.0f} %…{100 * (hi - 1):+.0f} %)"
