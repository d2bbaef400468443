"""Seed statistics: means with 95 % intervals, and the intervals the verdicts compare.

Every number a reader compares is a mean over independently seeded runs with a 95 %
Student-t interval (mean ± t_{0.975, n-1} s / sqrt(n)); with one seed the interval is
unbounded. Differences of two groups use Welch's interval, trends over widths the
least-squares slope's t-interval, ratios the delta method on the log scale, and rank
correlations Fisher's z with the Spearman variance correction (Bonett & Wright 2000).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A statistic with its 95 % interval [lo, hi] and the number of values behind it."""

    value: float
    lo: float
    hi: float
    n: int

    @property
    def half(self) -> float:
        return (self.hi - self.lo) / 2

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)


def values(v) -> np.ndarray:
    """A 1-D float array; None (a missing or non-finite saved value) becomes NaN."""
    return np.array([np.nan if x is None else x for x in np.ravel(v)], dtype=np.float64)


def _t(dof: float) -> float:
    return float(st.t.ppf(0.5 + LEVEL / 2, dof)) if dof > 0 else math.inf


def mean(v, exact: bool = False) -> Interval:
    """Mean over seeds with its t-interval (``exact``: a reported number, no interval)."""
    v = values(v)
    m = float(v.mean()) if len(v) else math.nan
    if exact or not math.isfinite(m):
        return Interval(m, m, m, len(v))
    if len(v) < 2:
        return Interval(m, -math.inf, math.inf, 1)
    h = _t(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return Interval(m, m - h, m + h, len(v))


def _welch(value: float, va: float, vb: float, na: int, nb: int) -> Interval:
    """value ± t * sqrt(va + vb), with Welch-Satterthwaite degrees of freedom (va, vb: the
    squared standard errors of the two groups)."""
    n = na + nb
    if na < 2 or nb < 2:
        return Interval(value, -math.inf, math.inf, n)
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(value, value, value, n)
    dof = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    h = _t(dof) * se
    return Interval(value, value - h, value + h, n)


def diff(a, b, exact: bool = False) -> Interval:
    """mean(a) - mean(b) with Welch's interval."""
    a, b = values(a), values(b)
    d = float(a.mean() - b.mean())
    if exact or not math.isfinite(d):
        return Interval(d, d, d, len(a) + len(b))
    va = a.var(ddof=1) / len(a) if len(a) > 1 else 0.0
    vb = b.var(ddof=1) / len(b) if len(b) > 1 else 0.0
    return _welch(d, va, vb, len(a), len(b))


def log_ratio(a, b, exact: bool = False) -> Interval:
    """log(mean(a) / mean(b)) with a delta-method Welch interval; NaN unless both means > 0."""
    a, b = values(a), values(b)
    ma, mb = float(a.mean()), float(b.mean())
    if not (ma > 0 and mb > 0):
        return Interval(math.nan, math.nan, math.nan, len(a) + len(b))
    r = math.log(ma / mb)
    if exact:
        return Interval(r, r, r, len(a) + len(b))
    va = a.var(ddof=1) / len(a) / ma**2 if len(a) > 1 else 0.0
    vb = b.var(ddof=1) / len(b) / mb**2 if len(b) > 1 else 0.0
    return _welch(r, va, vb, len(a), len(b))


def slope(xs, groups, exact: bool = False) -> Interval:
    """Least-squares slope of the values on x, pooling every seed's value at each x.

    ``groups[i]`` holds the per-seed values at ``xs[i]``; the interval is the slope's
    t-interval with n - 2 degrees of freedom.
    """
    x = np.concatenate(
        [np.full(len(values(g)), xi, dtype=np.float64) for xi, g in zip(xs, groups, strict=True)]
    )
    y = np.concatenate([values(g) for g in groups])
    if not np.isfinite(y).all() or len(set(x)) < 2:
        return Interval(math.nan, math.nan, math.nan, len(y))
    xc = x - x.mean()
    b = float((xc * (y - y.mean())).sum() / (xc**2).sum())
    if exact:
        return Interval(b, b, b, len(y))
    if len(y) < 3:
        return Interval(b, -math.inf, math.inf, len(y))
    resid = y - y.mean() - b * xc
    se = math.sqrt(float((resid**2).sum()) / (len(y) - 2) / float((xc**2).sum()))
    h = _t(len(y) - 2) * se
    return Interval(b, b - h, b + h, len(y))


def spearman(x, y, exact: bool = False) -> Interval:
    """Spearman's rank correlation with a Fisher-z interval (variance (1 + r^2/2)/(n - 3))."""
    x, y = values(x), values(y)
    if not (np.isfinite(x).all() and np.isfinite(y).all()) or len(x) < 3:
        return Interval(math.nan, math.nan, math.nan, len(x))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return Interval(math.nan, math.nan, math.nan, len(x))
    r = float(st.spearmanr(x, y).statistic)
    if exact:
        return Interval(r, r, r, len(x))
    if len(x) < 4:
        return Interval(r, -1.0, 1.0, len(x))
    rc = min(max(r, -0.999), 0.999)  # a perfect sample correlation still has an interval
    z, se = math.atanh(rc), math.sqrt((1 + rc**2 / 2) / (len(x) - 3))
    h = float(st.norm.ppf(0.5 + LEVEL / 2)) * se
    return Interval(r, math.tanh(z - h), math.tanh(z + h), len(x))


def fmt(i: Interval, digits: int = 4, scale: float = 1.0) -> str:
    """'mean ± half-width' (the mean alone for exact values, '—' for a missing one)."""
    if not math.isfinite(i.value):
        return "—"
    m = i.value * scale
    if i.lo == i.hi:
        return f"{m:.{digits}g}"
    if not math.isfinite(i.half):
        return f"{m:.{digits}g} (1 seed)"
    return f"{m:.{digits}g} ± {i.half * scale:.2g}"
