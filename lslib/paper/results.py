"""Section results on disk, bound to what made them, and the rule that never mixes them.

Each section notebook saves its payload with ``save(S, payload, results_dir)``: JSON in
the results folder its ``results_dir`` parameter names (the grid passes ``book/_results``
for its own notebooks; an ad hoc papermill run without it writes where ``LSLIB_RESULTS``
says, else to ``lslib-results/`` in the folder it runs in, never into the book's), with
the complete parameters of the run (every section parameter
after the profile filled it in, the seeds), the fingerprint of all the code that made it
(``MAKERS`` and everything they import, the paper wing included) and a SHA-256 digest of
its contents.

``load_all`` reads them back for the summary, reproduction and readings pages (the grid
passes them its results folder and grid file as parameters too), and stops
with ``StaleResults`` naming the file and what is wrong unless the folder holds exactly the
grid's sections for the profile, each intact, made with the grid's own parameters for
that profile and by the code loaded now: no stray, duplicate, missing, edited or foreign
file changes a verdict silently. The digest catches accidents, not forgery: whoever
rewrites a file can rewrite its digest (see the README's threat model).
"""

import datetime
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from lslib import cache, codeid
from lslib.paths import BOOK, REPO, results_dir, writable

# What makes a section's results: the section code (and all it imports: the analyses, the
# library, the profiles) and this module.
MAKERS = ("lslib.paper.sections.declared", __name__)


class StaleResults(ValueError):
    """Results that do not belong to the build that reads them."""


def code_fingerprint() -> str:
    """The fingerprint of the code that makes a section's results (``MAKERS``)."""
    return cache.fingerprint(*MAKERS)


def notebook_fingerprint(section: str) -> str | None:
    """SHA-256 of the code cells of the section's notebook (``notebooks/<section>.ipynb``),
    the other half of the code that writes its results: a notebook edited to save other
    numbers makes them stale. None where there is no such notebook."""
    try:
        nb = json.loads((REPO / "notebooks" / f"{section}.ipynb").read_text())
    except (OSError, ValueError):
        return None
    cells = [c.get("source", "") for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    code = "\0".join(c if isinstance(c, str) else "".join(c) for c in cells)
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def environment() -> dict:
    """What else decides the numbers' last bits: torch threads, torch version, kernel path."""
    from lslib import fused

    return {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "kernel": fused.provenance(),
    }


def _plain(o):
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, np.generic):
        return _plain(o.item())
    if isinstance(o, float) and not np.isfinite(o):
        return None  # JSON has no NaN; readers treat None as a missing value
    return o


def params_of(S) -> dict:
    """Every parameter of a section run (``settings.Section``), as JSON values."""
    return _plain(cache.canonical({k: v for k, v in vars(S).items() if k != "name"}))


def _digest(content: dict) -> str:
    blob = json.dumps(content, sort_keys=True, ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def save(S, payload: dict, folder: Path | str | None = None) -> Path:
    """Write one section's numbers for one model (atomically), bound to what made them.

    Args:
        S: the run's ``settings.Section``.
        payload: the section's numbers (JSON-able; NaN is saved as None).
        folder: the results folder (the grid passes its own as the notebook's
            ``results_dir``); None: ``LSLIB_RESULTS``, else ``lslib-results/`` here, where
            an ad hoc run never overwrites another run's results of other parameters.

    Returns the file written. Refused (StaleCode) when the code that made the payload
    changed on disk since it was loaded.
    """
    codeid.check_fresh(*MAKERS, what=f"the {S.name} results")
    # a folder chosen (passed, or LSLIB_RESULTS set by hand), else the ad hoc lslib-results/
    chosen = bool(folder) or bool(os.environ.get("LSLIB_RESULTS"))
    setting = "results_dir" if folder else "LSLIB_RESULTS"
    folder = writable(Path(folder) if folder else results_dir(), setting)
    path = folder / f"{S.name}-{S.model}.json"
    meta = {
        "section": S.name,
        "model": S.model,
        "profile": S.profile,
        "seeds": list(S.seeds),
        "params": params_of(S),
        "code": code_fingerprint(),
        "notebook": notebook_fingerprint(S.name),
        **environment(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if not chosen:
        _refuse_another_run(path, meta)
    content = _plain({"meta": meta, **payload})
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"digest": _digest(content), **content}, indent=1))
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(
            e.errno,
            f"could not write the results {path} ({e.strerror or e}); free space there, or choose another {setting}",
        ) from e
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _refuse_another_run(path: Path, meta: dict) -> None:
    """An ad hoc run (no folder chosen) never overwrites the results of another ad hoc
    run of other parameters in the same folder: it stops, naming the file."""
    try:
        old = json.loads(path.read_text()).get("meta", {})
    except (OSError, ValueError, AttributeError):
        return  # none yet (or not ours: ``load_all`` names it)
    diff = _first_difference(old.get("params", {}), _plain(meta["params"]))
    if diff:
        raise FileExistsError(
            f"{path} holds the results of another run "
            f"({diff.replace(', the grid', ', this run')}); move it away, or set "
            "LSLIB_RESULTS to another folder for this run"
        )


def read(path: Path) -> dict:
    """One results file, its digest checked; StaleResults if unreadable or altered."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise StaleResults(
            f"results file {path} is unreadable ({type(e).__name__}: {e}); rebuild it "
            "with `make book`"
        ) from e
    if not isinstance(data, dict) or "meta" not in data or "digest" not in data:
        raise StaleResults(
            f"results file {path} has no provenance or digest (an older format, or not "
            "ours); rebuild it with `make book`"
        )
    digest = data.pop("digest")
    if _digest(data) != digest:
        raise StaleResults(
            f"results file {path} does not match its digest: it was changed after it was "
            "written; rebuild it with `make book`"
        )
    return data


def expected(profile: str, grid_file: Path | str | None = None) -> dict:
    """{(section, model): parameters} of every section run of the grid for ``profile``
    (``grid_file``: default ``book/grid.yml``)."""
    from lslib.paper import gridfile
    from lslib.paper.profiles import SECTION_DEFAULTS, section

    grid_file = Path(grid_file or BOOK / "grid.yml")
    grid = gridfile.load(grid_file)
    out = {}
    for job in grid["jobs"]:
        name = Path(job["notebook"]).stem
        if name in SECTION_DEFAULTS:
            for model in job.get("models", ["mlp"]):
                out[(name, model)] = params_of(section(name, {"profile": profile, "model": model}))
    return out


def _first_difference(have: dict, want: dict) -> str:
    for k in sorted(set(have) | set(want)):
        if have.get(k, "<absent>") != want.get(k, "<absent>"):
            return f"{k} = {have.get(k, '<absent>')!r}, the grid's is {want.get(k, '<absent>')!r}"
    return ""


def load_all(
    profile: str, folder: Path | str | None = None, grid_file: Path | str | None = None
) -> dict:
    """{(section, model): payload} of the grid's sections for ``profile``.

    Args:
        profile: the profile the results must have been made with.
        folder: the results folder (the grid passes its own as the page's ``results_dir``);
            None: ``LSLIB_RESULTS``, else ``lslib-results/`` here.
        grid_file: the grid whose sections and parameters they must be (the grid passes
            itself as the page's ``grid_file``); None: ``book/grid.yml``.

    Raises StaleResults, naming the file and the reason, for a stray, missing, unreadable
    or altered file, a file whose parameters differ from the grid's (naming the first
    parameter that differs), or one made by other code than this process runs.
    """
    folder = Path(folder or results_dir())
    want = expected(profile, grid_file)
    names = {f"{s}-{m}.json": (s, m) for s, m in want}
    rebuild = f"rebuild them with `make book PROFILE={profile}`"
    present = (
        sorted(p for p in folder.glob("*") if ".tmp" not in p.suffix) if folder.is_dir() else []
    )
    stray = [p.name for p in present if p.name not in names]
    if stray:
        raise StaleResults(
            f"{folder} holds files that are not the grid's section results: "
            f"{', '.join(stray)}; move them away (the book reads {', '.join(sorted(names))})"
        )
    missing = sorted(set(names) - {p.name for p in present})
    if missing:
        raise StaleResults(f"results missing in {folder}: {', '.join(missing)}; {rebuild}")
    code, out, stale = code_fingerprint(), {}, []
    for name, (s, m) in sorted(names.items()):
        data = read(folder / name)
        meta = data["meta"]
        if (meta.get("section"), meta.get("model")) != (s, m):
            raise StaleResults(
                f"{folder / name} holds the results of {meta.get('section')}-{meta.get('model')}"
            )
        diff = _first_difference(meta.get("params", {}), want[(s, m)])
        if diff:
            raise StaleResults(
                f"{folder / name} was made with other parameters than the grid's for the "
                f"{profile} profile ({diff}); {rebuild}"
            )
        if meta.get("code") != code:
            stale.append(f"{name} (code {meta.get('code')})")
        elif meta.get("notebook") != notebook_fingerprint(s):
            stale.append(f"{name} (notebook {s}.ipynb edited since: {meta.get('notebook')})")
        out[(s, m)] = data
    if stale:
        raise StaleResults(
            f"results in {folder} were made by other code than this (code {code}): "
            f"{', '.join(stale)}; {rebuild}"
        )
    return out


def provenance(results: dict) -> dict:
    """The profile, seeds per section and code fingerprint of a consistent set of results."""
    metas = [r["meta"] for r in results.values()]
    return {
        "profile": metas[0]["profile"] if metas else None,
        "code": metas[0]["code"] if metas else None,
        "seeds": {f"{m['section']}-{m['model']}": m["seeds"] for m in metas},
    }
