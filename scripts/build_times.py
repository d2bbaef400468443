"""Where a build's time went, from the times the run store records for each entry.

    python scripts/build_times.py [--profile paper]

Every entry of the run store carries the seconds its computation took (``wall_s``). This
sums them per section, model family and task kind, for the tasks of seed 0 alone and for
every seed, over the entries of the current code whose runs use the profile's training set
(training epochs are shared by the sections, so they form their own row). Only computations
are counted: reading the store, the notebooks' own work (tables, figures) and the book
build are not (the grid's total wall time is printed by ``make book``).
"""

import argparse
import io
import sys
from collections import defaultdict

import torch

from lslib import cache
from lslib import train as T
from lslib.paper import analyses
from lslib.paper.plan import runs_of
from lslib.paper.profiles import PROFILE_SIZES

KINDS = {
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
}


def entries(profile: str):
    subset = PROFILE_SIZES[profile]["subset"]
    codes = {"epoch": cache.fingerprint(T.__name__)}
    other = cache.fingerprint(analyses.__name__)
    for kind in KINDS:
        for path in sorted((cache.cache_dir() / kind).glob("*.pt")):
            blob = path.read_bytes()
            payload = blob.partition(b"\n")[2]
            meta = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)["meta"]
            runs = runs_of(meta["config"])
            if meta["code"] != codes.get(kind, other) or not runs:
                continue
            if any(r.get("subset") != subset for r in runs):
                continue
            yield (
                _section(kind, runs[0]),
                kind,
                runs[0]["model"],
                sorted({r["seed"] for r in runs}),
                meta["wall_s"],
            )


def _section(kind: str, run: dict) -> str:
    """Which section an entry serves (epochs are shared by all: 'training')."""
    if kind == "epoch":
        return "training"
    if kind in ("connectivity", "trajectory", "trajectory_plane", "flatness", "density"):
        return "phase3"
    return "phase1" if run["epochs"] is None else "phase2"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", choices=sorted(PROFILE_SIZES))
    a = ap.parse_args(argv)
    total, seed0 = defaultdict(float), defaultdict(float)
    for section, kind, model, seeds, wall in entries(a.profile):
        total[(section, model, kind)] += wall
        if seeds == [0]:
            seed0[(section, model, kind)] += wall
    if not total:
        print(f"no entries of the current code for profile {a.profile}", file=sys.stderr)
        return 1
    print("| section | model | task | seed 0 only (s) | all seeds (s) |")
    print("|---|---|---|---|---|")
    for key in sorted(total, key=lambda k: (k[0], k[1] == "cnn", list(KINDS).index(k[2]))):
        section, model, kind = key
        print(
            f"| {section} | {model} | {KINDS[kind]} | {seed0.get(key, 0.0):.0f} | {total[key]:.0f} |"
        )
    t, s = sum(total.values()), sum(seed0.values())
    print(f"| all | | every task | {s:.0f} ({s / 60:.1f} min) | {t:.0f} ({t / 60:.1f} min) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
