"""Every claim at a glance: its interval against its region, on one standardized axis.

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

import numpy as np

from lslib.paper.verdicts import FAILS, HOLDS, INCONCLUSIVE, NO_DIFF, UNTESTABLE, Part, Verdict

COLOURS = {
    HOLDS: "#1a7f37",
    FAILS: "#cf222e",
    NO_DIFF: "#0969da",
    INCONCLUSIVE: "#9a6700",
    "not evaluable": "#57606a",
    UNTESTABLE: "#8250df",
}


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


def forest(ids, x, lo, hi, report, outcomes, clip: float = 6.0):
    """The forest plot: one row per claim, its bar and estimate coloured by outcome, the
    report's value as an open diamond, the claim's side shaded.

    Args:
        ids: claim ids (n,), top to bottom.
        x, lo, hi: the standardized estimate and bar ends (n,); NaN for a claim without one.
        report: the report's standardized value (n,); NaN where it gives none.
        outcomes: the verdict shown (n,), one of ``COLOURS``.
        clip: the axis runs over [-clip, clip]; values beyond are drawn at the edge (▸/◂).
    Returns:
        A matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n = len(ids)
    x, lo, hi, report = (np.clip(np.asarray(a, float), -clip, clip) for a in (x, lo, hi, report))
    y = np.arange(n)[::-1]
    fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.19 * n))
    ax.axvspan(0, clip, color="#1a7f37", alpha=0.06, lw=0)
    ax.axvline(0, color="k", lw=0.8)
    for yi, a, b, c, r, o in zip(y, lo, hi, x, report, outcomes, strict=True):
        col = COLOURS.get(o, "#57606a")
        if math.isnan(c):
            ax.text(0.15, yi, o, va="center", fontsize=7, color=col)
            continue
        ax.plot([a, b], [yi, yi], color=col, lw=2, solid_capstyle="butt")
        ax.plot([c], [yi], "o", color=col, ms=4)
        if not math.isnan(r):
            ax.plot([r], [yi], "D", mfc="none", mec="k", ms=5, mew=0.8)
    ax.set_yticks(y, ids, fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(-clip - 0.2, clip + 0.2)
    ax.set_xlabel(
        "distance of our estimate from the claim's boundary, in half-widths of our 95 % "
        "interval\n(> 0: on the claim's side; a bar clear of 0 decides; clipped at "
        f"±{clip:g})",
        fontsize=8,
    )
    handles = [Line2D([], [], color=c, lw=2, marker="o", ms=4, label=o) for o, c in COLOURS.items()]
    handles.append(Line2D([], [], ls="", marker="D", mfc="none", mec="k", label="report's value"))
    ax.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0))
    ax.grid(axis="x", lw=0.3, alpha=0.5)
    fig.tight_layout()
    return fig
