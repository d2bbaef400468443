"""Run the notebooks of a grid file with papermill: ``python -m lslib.paper.grid book/grid.yml``.

Each job is a notebook and, optionally, a list of models; every (notebook, model) pair
runs once with ``model`` and ``profile`` injected as parameters. A notebook executes into
a temporary file that is renamed to its final name only when every cell finished, so a
failed, killed or crashed run never leaves a page the book would render (the failed copy
is kept as ``<name>.failed.ipynb`` for debugging). On a failure, including a dead kernel,
the runner stops and names the notebook, its parameters and the error; notebooks that
finished are kept.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from lslib.paper.profiles import PROFILES
from lslib.paths import REPO


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


def _execute(nb: Path, out: Path, params: dict, root: Path) -> str | None:
    """Run one notebook into ``out``; None on success, else the error in one line."""
    import papermill as pm

    tmp = out.with_name(f".{out.stem}.running.ipynb")
    failed = out.with_name(f"{out.stem}.failed.ipynb")
    out.unlink(missing_ok=True)  # a stale page must not survive a failed rerun
    failed.unlink(missing_ok=True)
    try:
        pm.execute_notebook(str(nb), str(tmp), parameters=params, cwd=str(root),
                            kernel_name="python3", progress_bar=False)  # fmt: skip
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


def run(grid_file: str, profile: str, only: list[str] | None = None, root: Path = REPO) -> int:
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
        error = _execute(nb, out, params, root)
        if error:
            failed = out.with_name(f"{out.stem}.failed.ipynb")
            where = f" (the executed copy with the traceback: {failed})" if failed.exists() else ""
            print(f"FAILED: {nb.relative_to(root)} with {params}: {error}{where}",
                  file=sys.stderr, flush=True)  # fmt: skip
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
    try:
        return run(a.grid, a.profile, a.only, Path(a.root))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
