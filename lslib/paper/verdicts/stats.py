"""Seed statistics: means with 95 % intervals, and the intervals the verdicts compare.

Every number a reader compares is a mean over independently seeded runs with a 95 %
Student-t interval (mean ± t_{0.975, n-1} s / sqrt(n)); with one seed the interval is
unbounded. Differences of two groups use Welch's interval, trends over widths the
least-squares slope's t-interval, ratios the delta method on the log scale, and rank
correlations Fisher's z with the Spearman variance correction (Bonett & Wright 2000).

An interval is read against a claim's region by `region_outcome` (touching decides
nothing), a number the report prints is the interval of its rounding (`reported`), and
`fmt_pm` rounds an estimate to the precision of its interval. p-values, Holm, TOST, power
and the between-model rank correlation are in `lslib.paper.verdicts.inference`.
"""

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
from scipy import stats as st

LEVEL = 0.95
INSIDE, OUTSIDE, STRADDLES = "inside", "outside", "straddles"


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


# ---------------------------------------------------------------- the decision rule


def region_outcome(lo: float, hi: float, region_lo: float, region_hi: float) -> str:
    """Where an interval [lo, hi] lies against a region (region_lo, region_hi).

    "inside": strictly inside (the claim holds); "outside": strictly beyond one boundary
    (it does not hold); "straddles": anything else, an interval that touches a boundary
    included: a tie decides nothing (inconclusive, not a failure).

    Raises:
        ValueError: for a NaN bound (a missing value is the caller's "not evaluable").
    """
    if any(math.isnan(v) for v in (lo, hi, region_lo, region_hi)):
        raise ValueError("region_outcome needs numbers; NaN is 'not evaluable' upstream")
    if region_lo < lo and hi < region_hi:
        return INSIDE
    if hi < region_lo or lo > region_hi:
        return OUTSIDE
    return STRADDLES


def reported(text: str) -> Interval:
    """A number as the report prints it, as the interval of its rounding.

    "15.72" stands for anything in [15.715, 15.725]: ± half a unit of the last printed
    digit ("0.0008" → ±0.00005, "1.2e-3" → ±0.00005, "98.1" → ±0.05, "15" → ±0.5).
    Trailing zeros count as printed ("1.50" → ±0.005).

    Args:
        text: the number as printed (a Unicode minus and thousands commas are accepted).
    Returns:
        ``Interval(value, value - ulp/2, value + ulp/2, 1)``.
    """
    s = text.strip().replace("−", "-").replace(",", "")
    try:
        d = Decimal(s)
    except InvalidOperation as err:
        raise ValueError(f"not a printed number: {text!r}") from err
    if not d.is_finite():
        raise ValueError(f"not a finite printed number: {text!r}")
    half = Decimal(1).scaleb(d.as_tuple().exponent) / 2
    return Interval(float(d), float(d - half), float(d + half), 1)


# ---------------------------------------------------------------- numbers a reader can read

_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _fixed(v: float, decimals: int) -> str:
    s = f"{round(v, decimals) + 0.0:.{max(decimals, 0)}f}"  # + 0.0: no "-0"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def fmt_pm(value: float, half: float) -> str:
    """An estimate rounded to the precision of its interval: "175 ± 270", "0.0123 ± 0.0021".

    The half-width keeps 2 significant digits and the estimate is rounded to the same
    decimal place (but never coarser than units: 174.8 ± 270 → "175 ± 270"). Outside 10⁻³ ≤
    |x| < 10⁶ a common factor is taken out: "(1.23 ± 0.21) × 10⁻⁵". An exact value
    (half 0) keeps 4 significant digits; an unknown spread (half ∞) reads "± ∞".

    Args:
        value: the estimate.
        half: the interval's half-width (≥ 0).
    Returns:
        The text, without exponent notation for ordinary magnitudes.
    """
    if not math.isfinite(value) or math.isnan(half):
        return "—"
    if math.isinf(half):
        return f"{fmt_pm(value, 0.0)} ± ∞"
    big = max(abs(value), half)
    if big == 0:
        return "0"
    mag = math.floor(math.log10(big))
    if mag < -3 or mag >= 6:
        inner = fmt_pm(value / 10.0**mag, half / 10.0**mag)
        return f"{inner if half == 0 else f'({inner})'} × 10{str(mag).translate(_SUP)}"
    if half == 0:
        return _fixed(value, 3 - mag)
    d = 1 - math.floor(math.log10(half))
    if round(half, d) >= 10.0 ** (2 - d):  # 0.0996 rounds up to 0.10: one digit fewer
        d -= 1
    return f"{_fixed(value, max(d, 0))} ± {_fixed(round(half, d), d)}"
