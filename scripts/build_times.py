"""Where a build's time went, from the times the run store records for each entry.

    python scripts/build_times.py [--profile paper]

Every entry of the run store carries the wall seconds its computation took (``wall_s``),
its process CPU seconds (``cpu_s``) and its torch threads. This sums the wall seconds per
section, model family and task kind, for the tasks of seed 0 alone and for every seed, over
the entries of the current code whose runs use the profile's training set (training epochs
are shared by the sections, so they form their own row), beside the CPU seconds per thread.
An entry whose CPU seconds per thread are below ``CONTENDED`` (half) of its wall seconds
waited for the cores while something else ran: each row counts those (their wall time
overstates the work; the plan takes their CPU time instead) and the entries that record no
CPU time. Only computations are counted: reading the store, the notebooks' own work
(tables, figures) and the book build are not (the grid's total wall time is printed by
``make book``).
"""

import argparse
import sys
from collections import defaultdict

from lslib import cache
from lslib.paper.build.store_times import CONTENDED, busy, is_current, runs_of
from lslib.paper.profiles import PROFILE_SIZES

# The tasks' names in the table; a kind without one (a new analysis) is shown by its own name.
LABELS = {
    "epoch": "training",
    "lines": "1D lines",
    "plane": "planes",
    "hessian": "Hessian top-3",
    "flatness": "flatness (Table 5)",
    "density": "spectral density",
    "connectivity": "connectivity",
    "trajectory": "trajectory PCA",
    "trajectory_plane": "trajectory plane",
    "ll_lines": "loss-landscapes lines",
    "ll_plane": "loss-landscapes planes",
    "lambda_batch": "λ1 against batch size",
    "adaptive": "adaptive sharpness",
    "edge": "λ1 after every epoch",
}


def entries(profile: str):
    """Each entry of the current code whose runs use ``profile``'s training set: (section,
    kind, model family, seeds, meta). Every kind in the store is read, none listed by hand."""
    subset = PROFILE_SIZES[profile]["subset"]
    folders = sorted(p for p in cache.cache_dir().glob("*") if p.is_dir())
    for folder in folders:
        kind = folder.name
        for path in sorted(folder.glob("*.pt")):
            try:
                meta = cache.decode_meta(path.read_bytes())  # digest, then JSON: never code
            except (OSError, ValueError) as e:
                print(f"skipped {path}: {e}", file=sys.stderr)
                continue
            runs = runs_of(meta["config"])
            if meta.get("kind") != kind or not is_current(meta) or not runs:
                continue
            if any(r.get("subset") != subset for r in runs):
                continue
            yield (
                _section(kind, runs[0]),
                kind,
                runs[0]["model"],
                sorted({r["seed"] for r in runs}),
                meta,
            )


def _section(kind: str, run: dict) -> str:
    """Which section an entry serves (epochs are shared by all: 'training')."""
    if kind == "epoch":
        return "training"
    if kind in ("adaptive", "edge"):
        return "beyond the report"
    if kind in ("connectivity", "trajectory", "trajectory_plane", "flatness", "density"):
        return "phase3"
    return "phase1" if run["epochs"] is None else "phase2"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", choices=sorted(PROFILE_SIZES))
    a = ap.parse_args(argv)
    rows = table(entries(a.profile))
    if not rows:
        print(f"no entries of the current code for profile {a.profile}", file=sys.stderr)
        return 1
    print(
        "| section | model | task | seed 0 only (s) | all seeds (s) | CPU per thread (s) "
        "| contended | CPU unknown |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (section, model, kind), r in rows.items():
        print(
            f"| {section} | {model} | {LABELS.get(kind, kind)} | {r['seed0']:.0f} | {r['wall']:.0f} "
            f"| {r['cpu']:.0f} | {r['contended']} | {r['unknown']} |"
        )
    t = {
        k: sum(r[k] for r in rows.values())
        for k in ("seed0", "wall", "cpu", "contended", "unknown")
    }
    print(
        f"| all | | every task | {t['seed0']:.0f} ({t['seed0'] / 60:.1f} min) "
        f"| {t['wall']:.0f} ({t['wall'] / 60:.1f} min) | {t['cpu']:.0f} | {t['contended']} "
        f"| {t['unknown']} |"
    )
    if t["contended"]:
        print(
            f"\n{t['contended']} entries were contended (CPU per thread below {CONTENDED:.0%} of "
            "their wall time): their wall seconds include waiting for the cores."
        )
    return 0


def table(found) -> dict:
    """Per (section, model, kind), in the printed order: wall seconds of seed 0's tasks and
    of all, CPU seconds per thread (where recorded), and how many entries were contended
    or record no CPU time. ``found``: (section, kind, model, seeds, meta) as ``entries``."""
    rows = defaultdict(lambda: dict(seed0=0.0, wall=0.0, cpu=0.0, contended=0, unknown=0))
    for section, kind, model, seeds, meta in found:
        r = rows[(section, model, kind)]
        r["wall"] += meta["wall_s"]
        r["seed0"] += meta["wall_s"] if seeds == [0] else 0.0
        u = busy(meta)
        if u is None:
            r["unknown"] += 1
        else:
            r["cpu"] += meta["cpu_s"] / meta["threads"]
            r["contended"] += u < CONTENDED
    rank = {kind: i for i, kind in enumerate(LABELS)}  # the listed first, then the rest by name
    order = lambda k: (k[0], k[1] == "cnn", rank.get(k[2], len(rank)), k[2])
    return {k: rows[k] for k in sorted(rows, key=order)}


if __name__ == "__main__":
    sys.exit(main())
