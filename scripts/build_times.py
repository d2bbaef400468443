"""Where a build's time went, from the times the run store records for each entry.

    python scripts/build_times.py [--profile paper]

Every entry of the run store carries the seconds its computation took (``wall_s``). This
sums them per model family and task kind, for seed 0 alone and for every seed, over the
entries of the current code whose runs use the profile's training set. Only computations
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
from lslib.paper.profiles import PROFILE_SIZES

KINDS = {"epoch": "training", "lines": "1D lines", "plane": "planes", "hessian": "Hessian top-3",
         "flatness": "flatness (Table 5)", "density": "spectral density",
         "connectivity": "connectivity", "trajectory": "trajectory PCA",
         "trajectory_plane": "trajectory plane"}  # fmt: skip


def _runs(config) -> list[dict]:
    """Every training run (as a canonical dict) inside an entry's config."""
    if isinstance(config, dict):
        if "optimizer" in config and "seed" in config:
            return [config]
        return [r for v in config.values() for r in _runs(v)]
    if isinstance(config, list):
        return [r for v in config for r in _runs(v)]
    return []


def entries(profile: str):
    subset = PROFILE_SIZES[profile]["subset"]
    codes = {"epoch": cache.fingerprint(*T.CODE)}
    other = cache.fingerprint(*analyses.CODE)
    for kind in KINDS:
        for path in sorted((cache.cache_dir() / kind).glob("*.pt")):
            blob = path.read_bytes()
            payload = blob.partition(b"\n")[2]
            meta = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)["meta"]
            runs = _runs(meta["config"])
            if meta["code"] != codes.get(kind, other) or not runs:
                continue
            if any(r.get("subset") != subset for r in runs):
                continue
            yield kind, runs[0]["model"], sorted({r["seed"] for r in runs}), meta["wall_s"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", choices=sorted(PROFILE_SIZES))
    a = ap.parse_args(argv)
    total, seed0 = defaultdict(float), defaultdict(float)
    for kind, model, seeds, wall in entries(a.profile):
        total[(model, kind)] += wall
        if seeds == [0]:
            seed0[(model, kind)] += wall
    if not total:
        print(f"no entries of the current code for profile {a.profile}", file=sys.stderr)
        return 1
    print("| model | task | seed 0 (s) | all seeds (s) | ratio |")
    print("|---|---|---|---|---|")
    for model in ("mlp", "cnn"):
        for kind, name in KINDS.items():
            t = total.get((model, kind), 0.0)
            if t:
                s = seed0.get((model, kind), 0.0)
                ratio = f"{t / s:.2f}" if s else "—"
                print(f"| {model} | {name} | {s:.0f} | {t:.0f} | {ratio} |")
    t, s = sum(total.values()), sum(seed0.values())
    print(f"| all | all tasks | {s:.0f} | {t:.0f} | {t / s:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
