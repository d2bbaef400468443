"""Run the notebooks of a grid file with papermill: ``python -m lslib.grid book/grid.yml``.

Each job is a notebook and, optionally, a list of models; every (notebook, model) pair
runs once with ``model`` and ``profile`` injected as parameters (the injected cell stays
in the executed copy, so every page says how it was made). Progress is printed per
notebook. On a failure the runner stops and names the notebook, its parameters and the
failing cell's error; notebooks that finished are kept.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from lslib.config import PROFILES

REPO = Path(__file__).resolve().parent.parent


def jobs(grid: dict, profile: str, only: list[str] | None = None, root: Path = REPO):
    """(input notebook, output notebook, parameters) for every cell of the grid.

    Paths in the grid file are relative to ``root`` (the repository by default).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is unknown; allowed: {PROFILES}")
    out_dir = root / grid.get("output", "book/_executed")
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


def run(grid_file: str, profile: str, only: list[str] | None = None, root: Path = REPO) -> int:
    import papermill as pm

    root = Path(root).resolve()
    # the kernels inherit this: the sections save their numbers next to the book they feed
    os.environ.setdefault("LSLIB_RESULTS", str(root / "book" / "_results"))
    grid = yaml.safe_load((root / grid_file).read_text())
    todo = jobs(grid, profile, only, root)
    todo[0][1].parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, (nb, out, params) in enumerate(todo, 1):
        t = time.perf_counter()
        print(f"[{i}/{len(todo)}] {nb.relative_to(root)} {params} ...", flush=True)
        try:
            pm.execute_notebook(str(nb), str(out), parameters=params, cwd=str(root),
                                kernel_name="python3", progress_bar=False)  # fmt: skip
        except pm.PapermillExecutionError as e:
            print(f"FAILED: {nb.relative_to(root)} with {params}, cell {e.exec_count}: "
                  f"{e.ename}: {e.evalue}\n(the executed copy with the traceback: {out})",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(
            f"      done in {time.perf_counter() - t:.0f} s -> {out.relative_to(root)}", flush=True
        )
    print(f"grid finished: {len(todo)} notebooks in {time.perf_counter() - start:.0f} s")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run a papermill grid of notebooks.")
    ap.add_argument("grid", help="the grid file, relative to --root, e.g. book/grid.yml")
    ap.add_argument("--profile", default="paper", choices=PROFILES)
    ap.add_argument("--only", nargs="*", help="notebook names to run (e.g. phase1 summary)")
    ap.add_argument("--root", default=str(REPO), help="folder the grid's paths are relative to")
    a = ap.parse_args(argv)
    return run(a.grid, a.profile, a.only, Path(a.root))


if __name__ == "__main__":
    sys.exit(main())
