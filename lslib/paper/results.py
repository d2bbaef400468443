"""Section results on disk, with their provenance, and the rule that never mixes them.

Each section notebook saves its payload with ``save`` (JSON under ``book/_results`` or
``LSLIB_RESULTS``) together with the profile, the seeds, a fingerprint of the code that
computed it and the time. ``load_all`` reads them back for the summary and reproduction
pages and refuses results of different profiles or code fingerprints, naming the stale
sections and the command that rebuilds them.
"""

import datetime
import json
import os
from pathlib import Path

import numpy as np

from lslib import cache
from lslib.paths import results_dir


class StaleResults(ValueError):
    """Results of different profiles or code versions were about to be combined."""


# What makes a section's results: the section code (and all it imports: the analyses, the
# library, the profiles) and this module.
MAKERS = ("lslib.paper.sections", __name__)


def code_fingerprint() -> str:
    return cache.fingerprint(*MAKERS)


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


def save(section: str, model: str, profile: str, seeds: list, payload: dict) -> Path:
    """Write one section's numbers for one model (atomically), with their provenance."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{section}-{model}.json"
    meta = {
        "section": section,
        "model": model,
        "profile": profile,
        "seeds": list(seeds),
        "code": code_fingerprint(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(_plain({"meta": meta, **payload}), indent=1))
    os.replace(tmp, path)
    return path


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise StaleResults(
            f"results file {path} is unreadable ({type(e).__name__}: {e}); "
            f"rebuild it with `make book`"
        ) from e
    if "meta" not in data:
        raise StaleResults(
            f"results file {path} has no provenance (an older format); rebuild it with `make book`"
        )
    return data


def load_all(profile: str | None = None, folder: Path | None = None) -> dict:
    """{(section, model): payload} for every results file present, all of one profile and
    one code fingerprint (``profile``, when given, must be theirs).

    Raises StaleResults naming the sections that disagree and how to rebuild them.
    """
    folder = folder or results_dir()
    out = {}
    for path in sorted(Path(folder).glob("*.json")):
        data = _read(path)
        out[(data["meta"]["section"], data["meta"]["model"])] = data
    if not out:
        return out
    want_profile = profile or _majority([d["meta"]["profile"] for d in out.values()])
    want_code = code_fingerprint()
    stale = [
        f"{s}-{m} (profile {d['meta']['profile']}, code {d['meta']['code']})"
        for (s, m), d in out.items()
        if d["meta"]["profile"] != want_profile or d["meta"]["code"] != want_code
    ]
    if stale:
        raise StaleResults(
            f"results in {folder} do not belong to one build (wanted profile {want_profile}, "
            f"code {want_code}); stale: {', '.join(stale)}. Rebuild them with "
            f"`make book PROFILE={want_profile}`"
        )
    return out


def _majority(values):
    return max(set(values), key=values.count)


def provenance(results: dict) -> dict:
    """The profile, seeds per section and code fingerprint of a consistent set of results."""
    metas = [r["meta"] for r in results.values()]
    return {
        "profile": metas[0]["profile"] if metas else None,
        "code": metas[0]["code"] if metas else None,
        "seeds": {f"{m['section']}-{m['model']}": m["seeds"] for m in metas},
    }
