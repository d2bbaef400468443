"""The tests behind claims of shape: ρ between models, equivalence, and monotone trends.

``est_model_spearman`` takes the model as the unit of replication (its bounds in ``between``);
``tost`` decides a "comparable" claim by two one-sided tests within a margin; ``monotone``
decides "increases/decreases with width" by an intersection-union test over every adjacent
step. Each builds on the estimates, intervals and p-values of ``inference`` (one Welch, one
Fisher z).
"""

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from lslib.paper.verdicts.between import Between
from lslib.paper.verdicts.inference import (
    INSIDE,
    OUTSIDE,
    Estimate,
    Interval,
    est_diff,
    est_log_ratio,
    est_slope,
    interval,
    p_beyond,
    region_outcome,
    values,
)

# ---------------------------------------------------------------- models as the unit


def est_model_spearman(x, y) -> Estimate:
    """Spearman's ρ between models, with the model as the unit of replication.

    The estimand is the population ρ of the models' true means (the models these k stand
    for); the statistic is ρ of the k model means. Its bounds (`between.Between`) allow for
    which k models were drawn (Fisher's z on k points) and for the seed noise, which
    attenuates ρ of the means towards 0: the bound away from 0 is widened by the lowest
    reliability of a mean the seeds allow. Closed form, no resampling: deterministic.

    Args:
        x, y: one sequence of per-seed values per model (``x[i]`` = model i's seeds,
            paired with ``y[i]``); k models.
    Returns:
        A `between.TwoPiece` `Estimate` with n = k (its `interval` the asymmetric 95 %
        bounds); NaN if a value is missing or a mean constant; unbounded for k < 4.
    """
    xs, ys = [values(v) for v in x], [values(v) for v in y]
    if len(xs) != len(ys) or any(
        len(a) != len(b) or len(a) == 0 for a, b in zip(xs, ys, strict=True)
    ):
        raise ValueError("x and y need one non-empty list of paired seeds per model")
    k = len(xs)
    mx, my = np.array([a.mean() for a in xs]), np.array([b.mean() for b in ys])
    if k < 3 or not (np.isfinite(mx).all() and np.isfinite(my).all()):
        return Estimate(math.nan, math.nan, math.nan, math.nan, k, "atanh")
    if np.ptp(mx) == 0 or np.ptp(my) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, k, "atanh")
    return Between.of(xs, ys).estimate()


def model_spearman(x, y) -> Interval:
    """The 95 % interval of `est_model_spearman` (ρ between models, seeds honest)."""
    return interval(est_model_spearman(x, y))


def model_abs_spearman(x, y) -> Interval:
    """|ρ| between models (a claim about the strength of the association), 95 % interval."""
    return abs_interval(model_spearman(x, y))


def abs_interval(i: Interval) -> Interval:
    """The interval of |θ| implied by an interval of θ (it covers whenever θ's does).

    For claims about the strength of a correlation (|ρ| > b: use `region_p(e, -b, b)
    .outside`; |ρ| < b: `.inside`).
    """
    if not math.isfinite(i.value):
        return i
    if i.lo <= 0 <= i.hi:
        return Interval(abs(i.value), 0.0, max(-i.lo, i.hi), i.n)
    return Interval(abs(i.value), min(abs(i.lo), abs(i.hi)), max(abs(i.lo), abs(i.hi)), i.n)


# ---------------------------------------------------------------- equivalence


@dataclass(frozen=True)
class Equivalence:
    """A two one-sided tests reading: outcome, TOST p, and the (1 - 2α) interval."""

    outcome: str  # "equivalent", "not equivalent" or "inconclusive"
    p: float  # the larger of the two one-sided p's
    interval: Interval


def tost(e: Estimate, lo: float, hi: float, alpha: float = 0.025) -> Equivalence:
    """Equivalence within the margin (lo, hi) by two one-sided tests (Schuirmann 1987).

    Equivalent when both one-sided tests reject at ``alpha`` (the 1 - 2α interval lies
    strictly inside the margin). ``alpha`` is 2.5 %, the one-sided level of every other
    decision (the 95 % interval), so an equivalence claim is decided at the family's level; not equivalent when the interval lies strictly beyond
    one margin (a one-sided test at ``alpha`` that the effect exceeds it); else
    inconclusive. Touching a margin is inconclusive.
    """
    i = interval(e, 1 - 2 * alpha)
    p = max(p_beyond(e, lo, +1), p_beyond(e, hi, -1))
    if not math.isfinite(e.value):
        return Equivalence("not evaluable", math.nan, i)
    where = region_outcome(i.lo, i.hi, lo, hi)
    outcome = {INSIDE: "equivalent", OUTSIDE: "not equivalent"}.get(where, "inconclusive")
    return Equivalence(outcome, p, i)


def tost_diff(a, b, margin: float, alpha: float = 0.025) -> Equivalence:
    """mean(a) - mean(b) within ± ``margin`` (Welch), by TOST at the 1 - 2α interval."""
    return tost(est_diff(a, b), -margin, margin, alpha)


def tost_log_ratio(a, b, factor: float, alpha: float = 0.025) -> Equivalence:
    """mean(a) / mean(b) within (1/factor, factor), by TOST on the log scale.

    The interval returned is of the log ratio (exponentiate to show the ratio).
    """
    return tost(est_log_ratio(a, b), -math.log(factor), math.log(factor), alpha)


# ---------------------------------------------------------------- trends over widths


@dataclass(frozen=True)
class Trend:
    """A monotone trend over ordered groups: every adjacent step, and the overall slope."""

    outcome: str  # region words: "inside" (monotone), "outside" (a step reversed), "straddles"
    steps: tuple[Interval, ...]  # group i+1 minus group i, Welch 95 % intervals
    slope: Interval  # least-squares slope over every seed: the secondary "overall trend"
    p_inside: float  # intersection-union: the largest step p for the claimed direction
    p_outside: float  # Bonferroni over the steps: (k - 1) x the smallest reversed-step p


def monotone(xs, groups, sign: int, exact: bool = False) -> Trend:
    """Does the quantity move in direction ``sign`` at every step from one x to the next?

    An intersection-union test (Berger 1982): monotone ("inside") when every adjacent
    step's 95 % Welch interval lies strictly on the claimed side (no multiplicity cost);
    reversed ("outside") when some step's interval lies strictly on the wrong side; else
    "straddles". A pattern like 15.72 → 16.27 → 9.31 is not a decrease, whatever its
    slope. ``p_outside`` is Bonferroni-adjusted over the k - 1 steps because "some step
    is reversed" is a union; the per-step rule above is the raw reading.

    Args:
        xs: the ordered x (widths, or log2 widths for the slope), shape (k,).
        groups: ``groups[i]`` the per-seed values at ``xs[i]``.
        sign: +1 (increases with x) or -1 (decreases).
        exact: the values are reported numbers (points, no intervals).
    Returns:
        A `Trend`.
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, not {sign!r}")
    order = np.argsort(np.asarray(xs, dtype=np.float64), kind="stable")
    xs, groups = [xs[i] for i in order], [groups[i] for i in order]
    ests = [est_diff(b, a, exact) for a, b in pairwise(groups)]
    steps = tuple(interval(e) for e in ests)
    slope = interval(est_slope(xs, groups, exact))
    if not ests or not all(math.isfinite(s.value) for s in steps):
        return Trend("not evaluable", steps, slope, math.nan, math.nan)
    region = (0.0, math.inf) if sign > 0 else (-math.inf, 0.0)
    where = [region_outcome(s.lo, s.hi, *region) for s in steps]
    outcome = (
        INSIDE if all(w == INSIDE for w in where) else OUTSIDE if OUTSIDE in where else "straddles"
    )
    p_in = max(p_beyond(e, 0.0, sign) for e in ests)
    p_out = min(1.0, len(ests) * min(p_beyond(e, 0.0, -sign) for e in ests))
    return Trend(outcome, steps, slope, p_in, p_out)
