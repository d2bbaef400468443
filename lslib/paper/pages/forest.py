"""The forest plot: every claim at a glance on the standardized axis of
``verdicts.positions``."""

import math

import numpy as np

from lslib.paper.verdicts.outcomes import FAILS, HOLDS, INCONCLUSIVE, NO_DIFF, UNTESTABLE

COLOURS = {
    HOLDS: "#1a7f37",
    FAILS: "#cf222e",
    NO_DIFF: "#0969da",
    INCONCLUSIVE: "#9a6700",
    "not evaluable": "#57606a",
    UNTESTABLE: "#8250df",
}


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
