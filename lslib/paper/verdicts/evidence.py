"""The evidence of a claim: its values read from the saved results, and written as text.

``payload_of``, ``seed_values``, ``epoch_values`` and ``width_rows`` read a section's
results, raising ``Missing`` for what is absent, non-finite or censored; ``interval_text``
and ``mean_text`` write a statistic as a verdict's evidence.
"""

import math

import numpy as np

from lslib.paper.verdicts import formatting
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.outcomes import Missing


def payload_of(R: dict, section: str, model: str) -> dict:
    """One section's saved payload for ``model``; Missing when absent."""
    r = R.get((section, model))
    if not r:
        raise Missing(f"{section} results for {model} are missing")
    return r


def seed_values(row: dict, key: str, what: str) -> np.ndarray:
    """Per-seed values of ``key`` (epoch counts of capped runs: see `epoch_values`)."""
    if row.get(key) is None:
        raise Missing(f"{what}: {key} is missing")
    v = inf.values(row[key])
    if not len(v) or not np.isfinite(v).all():
        raise Missing(f"{what}: {key} is not finite ({row[key]})")
    if key == "epochs":
        v, censored = epoch_values(row, what)
        if censored:
            raise Missing(f"{what}: epochs censored (runs stopped by the epoch cap)")
    return v


def epoch_values(row: dict, what: str) -> tuple[np.ndarray, bool]:
    """Per-seed epoch counts and whether any is censored: a run stopped by the epoch cap
    ("max_epochs") has a lower bound (≥ its epochs); any other unconverged run is missing."""
    if row.get("epochs") is None:
        raise Missing(f"{what}: epochs is missing")
    v = inf.values(row["epochs"])
    if not len(v) or not np.isfinite(v).all():
        raise Missing(f"{what}: epochs is not finite ({row['epochs']})")
    status = row.get("status", [])
    bad = sorted({s for s in status if s not in ("converged", "max_epochs")})
    if bad:
        raise Missing(f"{what}: epochs of runs stopped as {', '.join(bad)}")
    return v, "max_epochs" in status


def width_rows(R, model) -> list[dict]:
    """Phase 1's rows for ``model``, narrowest first; Missing with fewer than two widths."""
    rows = sorted(payload_of(R, "phase1", model).get("rows", []), key=lambda r: r["width"])
    if len(rows) < 2:
        raise Missing(f"phase1 {model} needs at least two widths")
    return rows


def fmt(v: float) -> str:
    """A value to 4 significant digits (its repr when not finite)."""
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def interval_text(i: inf.Interval) -> str:
    """An interval as evidence: "estimate ± half [lo, hi]" (the value alone when exact)."""
    if i.lo == i.hi:
        return fmt(i.value)
    if not (math.isfinite(i.lo) and math.isfinite(i.hi)):
        return f"{fmt(i.value)} [{fmt(i.lo)}, {fmt(i.hi)}]"
    return f"{formatting.fmt_pm(i.value, max(i.hi - i.value, i.value - i.lo))} [{fmt(i.lo)}, {fmt(i.hi)}]"


def mean_text(v, exact, scale=1.0) -> str:
    """The mean over seeds as text, rounded to its interval (``exact``: a reported number)."""
    m = inf.mean(v, exact)
    if exact or not math.isfinite(m.half):
        return formatting.fmt(m, 4, scale)
    return formatting.fmt_pm(m.value * scale, m.half * scale)
