"""Every claim on one standardized axis: its interval against its region (the forest plot's
coordinates; the plot itself is ``pages.forest``).

A claim's region is one or two boundaries on its statistic's scale (a difference, a log
ratio, ρ). To put claims of every scale on one axis, a part's estimate is measured from the
boundary that binds it, in units of its interval's half-width, signed so that positive is
the claim's side: x = (v - lo_region) / h for "> lo", (hi_region - v) / h for "< hi". The
interval becomes a bar that crosses 0 exactly when the interval touches or crosses the
boundary, so the verdict reads off the picture: a bar right of 0 holds, left of 0 does not
hold, across 0 is inconclusive. The report's value is placed on the same axis (same
boundary, same units), so its distance from our estimate is visible too.
"""

import math
from dataclasses import dataclass

from lslib.paper.verdicts.outcomes import Part, Verdict


@dataclass(frozen=True)
class Position:
    """A part on the standardized axis: estimate, bar ends and the report's value (NaN when
    the report gives none)."""

    x: float
    lo: float
    hi: float
    report: float = math.nan


def _scale(p: Part, v: float) -> float:
    return math.log(v) if p.log and v > 0 else (math.nan if p.log else v)


def standardize(p: Part, report: Part | None = None) -> Position | None:
    """One part on the standardized axis, or None when it has no interval (exact only).

    Args:
        p: a part of our verdict (its ``stat`` on the shown scale, ``region`` on the
            estimate's: log for ratios).
        report: the same part judged on the report's numbers, for its value.
    """
    if p.est is None or p.stat is None or not p.stat.finite:
        return None
    v, lo, hi = (_scale(p, t) for t in (p.stat.value, p.stat.lo, p.stat.hi))
    h = (hi - lo) / 2
    if not (0 < h < math.inf) or math.isnan(v):  # one seed: no interval to measure in
        return None
    r = _scale(p, report.stat.value) if report is not None and report.stat else math.nan
    best = None
    for b, side in ((p.region[0], 1), (p.region[1], -1)):
        if not math.isfinite(b):
            continue
        ends = sorted((side * (lo - b) / h, side * (hi - b) / h))
        pos = Position(side * (v - b) / h, ends[0], ends[1], side * (r - b) / h)
        if best is None or pos.lo < best.lo:
            best = pos
    return best


def claim_position(ours: Verdict, theirs: Verdict | None = None) -> Position | None:
    """The part that decides the claim: among the parts whose outcome is the claim's, the one
    whose bar reaches furthest against the claim (for a claim that holds, its weakest part)."""
    rep = list(theirs.parts) if theirs is not None else []
    rep += [None] * (len(ours.parts) - len(rep))
    cands = []
    for p, r in zip(ours.parts, rep, strict=False):
        if p.outcome == ours.outcome:
            pos = standardize(p, r)
            if pos is not None:
                cands.append(pos)
    return min(cands, key=lambda q: q.lo, default=None)
