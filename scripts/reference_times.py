"""Write lslib/paper/build/reference_times.json from a paper build's run store.

    python scripts/reference_times.py [STORE] [--machine "what it ran on"]

The plan (``python -m lslib.paper book/grid.yml --plan``) estimates a task from the store in
use; where that store has no record of the task's kind (a fresh clone), it falls back to
this file: per task kind and model family the median seconds per unit of work, the epochs
each run stopped at, and each paper notebook's own seconds. Only the store's entries of the
current code on the paper profile's training set count. It also times the plan's
calibration workloads here (``lslib.paper.build.calibrate``, three times; half a minute), so that another
machine's plan scales these rates by its own time for the same work over this one's; run it
on the machine that made the build, with nothing else running. Rewrite it after a paper
build whenever the code's costs change, and say in --machine where it was measured.
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from lslib.paper.build import calibrate, store_times
from lslib.paper.profiles import PROFILE_SIZES
from lslib.paths import cache_dir


def paper_entry(meta: dict, current: bool = True) -> bool:
    """An entry whose runs use the paper profile's training set (``current``: and of the
    current code)."""
    runs = store_times.runs_of(meta["config"])
    subset = PROFILE_SIZES["paper"]["subset"]
    same = store_times.is_current(meta) or not current
    return same and bool(runs) and all(r.get("subset") == subset for r in runs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", nargs="?", default=None, help="a run store (default: LSLIB_CACHE's)")
    ap.add_argument("--machine", default=None, help="what the build ran on, in words")
    ap.add_argument("--out", default=str(store_times.REFERENCE))
    ap.add_argument(
        "--no-calibration",
        dest="calibrate",
        action="store_false",
        help="do not time the calibration workloads (the plan then derives them from the rates)",
    )
    a = ap.parse_args(argv)
    store = Path(a.store) if a.store else cache_dir()
    records = store_times.Records.read(store, fallback=False, keep=paper_entry)
    # a kind the adopted readings do not use (e.g. lslib planes, for other line readings)
    # keeps the rate of its entries of older code
    older = store_times.Records.read(
        store, fallback=False, keep=lambda m: paper_entry(m, current=False)
    )
    if not records.rate:
        print(f"error: {store} holds no paper-profile entries of the current code", file=sys.stderr)
        return 2
    try:
        notebooks = json.loads((store / store_times.TIMES).read_text())
    except (OSError, ValueError):
        notebooks = {}
    calibration = {}
    if a.calibrate:
        threads = records.threads or torch.get_num_threads()
        # the reference every machine is scaled against: the median of three measurements
        # (each the median of calibrate.REPEATS runs), so that one slow spell counts less
        times = [calibrate.measure(threads) for _ in range(3)]
        if min(m["busy"] for m in times) < store_times.CONTENDED:
            print("warning: the cores were busy: no calibration recorded", file=sys.stderr)
        else:
            mid = {f: sorted(m[f] for m in times)[1] for f in calibrate.WORKLOADS}
            calibration = {f: float(f"{mid[f]:.4g}") for f in calibrate.WORKLOADS}
            calibration |= {"steps": calibrate.workload_steps(), "threads": threads}
            calibration["machine"] = calibrate.machine_key(threads)  # no calibration here
    machine = a.machine or f"{platform.machine()}, {torch.get_num_threads()} torch threads"
    out = {
        "machine": f"{machine}, torch {torch.__version__.split('+')[0]}",
        "threads": records.threads,
        "rates": {k: float(f"{v:.4g}") for k, v in (older.summary() | records.summary()).items()},
        "stopped": {k: dict(sorted(v.items())) for k, v in sorted(records.stopped.items())},
        "notebooks": {k: v for k, v in sorted(notebooks.items()) if k.endswith(" paper")},
    } | ({"calibration": calibration} if calibration else {})
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(
        f"wrote {Path(a.out).name}: {len(out['rates'])} rates, {len(out['stopped'])} runs, "
        f"{len(out['notebooks'])} notebooks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
