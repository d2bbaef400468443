"""Seed statistics and the inference of the verdicts: one API.

Every number a reader compares is a statistic over independently seeded runs with a 95 %
interval: a mean (Student t, n - 1 dof), a difference of two groups (Welch) or of pairs
sharing a seed (paired t), a ratio (the delta method on the log scale), a slope over widths
(least squares, n - 2 dof), a rank correlation (Fisher's z, Bonett & Wright's variance), or
ρ between models with the model as the unit. Each is an `Estimate` (the statistic with its
standard error and dof on the scale of the inference), from which come the `interval`, the
one-sided p-values against a region's boundary (`p_beyond`, `region_p`) and the families'
adjustments (Holm, Benjamini–Yekutieli). The tests built on them are in ``claim_tests``,
the seeds that would decide a claim in ``power``, numbers as text in ``formatting``.

Conventions: a claim "θ in (lo, hi)" holds when the 95 % interval lies strictly inside,
i.e. each finite boundary is rejected by a one-sided test at 2.5 %; an interval that
touches a boundary decides nothing (`region_outcome`), and a p-value equal to α does not
reject, so the two readings agree.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

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


# ---------------------------------------------------------------- estimates and p-values


@dataclass(frozen=True)
class Estimate:
    """A statistic with its standard error and t degrees of freedom.

    ``value`` is the statistic as reported (a difference, a log ratio, a slope, ρ);
    ``center`` is the same on the scale of the inference: equal to ``value`` for ``link``
    "identity", ``atanh(ρ)`` for "atanh" (Fisher's z). ``dof`` is ``math.inf`` for a normal
    reference; ``se`` is 0 for an exact (reported) value and ``math.inf`` when one seed
    leaves the spread unknown.
    """

    value: float
    center: float
    se: float
    dof: float
    n: int
    link: str = "identity"

    def to_link(self, b: float) -> float:
        """A boundary on the inference scale (ρ = ±1 maps to ±∞)."""
        if self.link == "identity":
            return b
        return math.copysign(math.inf, b) if abs(b) >= 1 else math.atanh(b)

    def from_link(self, z: float) -> float:
        return z if self.link == "identity" else math.tanh(z)


def _quantile(dof: float, q: float) -> float:
    return NormalDist().inv_cdf(q) if math.isinf(dof) else float(st.t.ppf(q, dof))


def interval(e: Estimate, level: float = LEVEL) -> Interval:
    """The two-sided ``level`` interval of an estimate, back on the reported scale.

    Exact values give lo = hi = value, an unknown spread the whole line ([-1, 1] for ρ).
    """
    if not math.isfinite(e.value):
        return Interval(e.value, math.nan, math.nan, e.n)
    if e.se == 0:
        return Interval(e.value, e.value, e.value, e.n)
    if not math.isfinite(e.se):
        return Interval(e.value, e.from_link(-math.inf), e.from_link(math.inf), e.n)
    h = _quantile(e.dof, 0.5 + level / 2) * e.se
    return Interval(e.value, e.from_link(e.center - h), e.from_link(e.center + h), e.n)


def p_beyond(e: Estimate, bound: float, side: int) -> float:
    """One-sided p-value of "the true value is beyond ``bound`` on ``side``".

    The null hypothesis is the complement (θ ≤ bound for side +1, θ ≥ bound for side -1);
    a small p is evidence for the claimed side. A t-test (``e.dof``) or z-test (infinite
    dof) at the boundary, so p < 0.025 exactly when the 95 % interval clears it.

    ``bound`` is on the reported scale (ρ units), ``side`` +1 (claimed above) or -1. Exact
    values give 0 or 1, an unknown spread 1, a missing value NaN.
    """
    if side not in (1, -1):
        raise ValueError(f"side must be +1 or -1, not {side!r}")
    if not math.isfinite(e.value):
        return math.nan
    b = e.to_link(bound)
    d = side * (e.center - b)  # > 0: the estimate lies on the claimed side
    if math.isinf(b):
        return 0.0 if d > 0 else 1.0
    if e.se == 0:
        return 0.0 if d > 0 else 1.0
    if not math.isfinite(e.se):
        return 1.0
    z = d / e.se
    return float(st.norm.sf(z) if math.isinf(e.dof) else st.t.sf(z, e.dof))


@dataclass(frozen=True)
class RegionP:
    """p-values of a decision against a region: ``inside`` (the claim holds) and
    ``outside`` (it does not)."""

    inside: float
    outside: float


def region_p(e: Estimate, lo: float = -math.inf, hi: float = math.inf) -> RegionP:
    """p-values for "θ inside (lo, hi)" and for "θ outside [lo, hi]".

    Inside is an intersection-union test (the larger of the two one-sided p's, Berger
    1982), of level α with no multiplicity cost. Outside takes the smaller one-sided p, as the interval rule
    does ("entirely above hi or entirely below lo"); its size is α when the region is
    wide against the standard error and at most 2α for a very narrow region.
    """
    inside = max(p_beyond(e, lo, +1), p_beyond(e, hi, -1))
    outside = min(p_beyond(e, lo, -1), p_beyond(e, hi, +1))
    return RegionP(inside, outside)


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence).

    The i-th smallest of m p-values becomes max_{j ≤ i} min(1, (m - j + 1) p_(j)); a
    hypothesis is rejected at family level α when its adjusted p < α (Holm 1979).

    NaN is a planned claim not evaluable on these results: it stays in the family as p = 1
    (the family is fixed before the data, so a missing result does not shrink m) and its
    adjusted p is NaN. Returns the adjusted p-values in the order given.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(q, kind="stable")
    m = len(order)
    adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    out = np.empty(p.shape)
    out[order] = np.minimum(adj, 1.0)
    return np.where(np.isnan(p), np.nan, out)


def holm_levels(p, alpha: float) -> np.ndarray:
    """Each hypothesis's step level in Holm's procedure, α / (m - j) for the j-th smallest
    (0-based; NaN counted as p = 1, as in `holm`): the level it is actually tested at."""
    q = np.where(np.isnan(np.asarray(p, dtype=np.float64)), 1.0, p)
    order = np.argsort(q, kind="stable")
    out = np.empty(len(q))
    out[order] = alpha / (len(q) - np.arange(len(q)))
    return out


def by(p) -> np.ndarray:
    """Benjamini & Yekutieli's (2001) adjusted p-values: false-discovery rate control under
    any dependence. The i-th smallest of m becomes min_{j ≥ i} min(1, m c_m p_(j) / j),
    c_m = Σ 1/k; NaN as in `holm` (p = 1 in the family, NaN out)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.where(np.isnan(p), 1.0, p)
    m = len(q)
    order = np.argsort(q, kind="stable")
    c = float(np.sum(1 / np.arange(1, m + 1))) if m else 1.0
    raw = q[order] * m * c / np.arange(1, m + 1)
    out = np.empty(m)
    out[order] = np.minimum(np.minimum.accumulate(raw[::-1])[::-1], 1.0)
    return np.where(np.isnan(p), np.nan, out)


def by_levels(p, alpha: float) -> np.ndarray:
    """Each hypothesis's level in BY's step-up, j α / (m c_m) for the j-th smallest (1-based):
    the level its own p must clear when every smaller p is rejected."""
    q = np.where(np.isnan(np.asarray(p, dtype=np.float64)), 1.0, p)
    m = len(q)
    c = float(np.sum(1 / np.arange(1, m + 1))) if m else 1.0
    out = np.empty(m)
    out[np.argsort(q, kind="stable")] = alpha * np.arange(1, m + 1) / (m * c)
    return out


# ---------------------------------------------------------------- estimators


def _exact(value: float, n: int, link: str = "identity") -> Estimate:
    c = value if link == "identity" else math.atanh(min(max(value, -0.999), 0.999))
    return Estimate(value, c, 0.0, math.inf, n, link)


RESOLUTION_VAR = 1 / 12  # the variance of rounding to a whole unit (Sheppard)


def seed_var(v) -> float:
    """The per-seed sample variance s², never below what the measurement can resolve.

    Identical seeds (to float rounding) do not mean a spread of zero: with integer values (epoch counts) the
    spread below one unit is rounded away, so s² is floored at 1/12, the variance of
    rounding to a unit; identical non-integer values (a quantity no seed moved, or the
    same run saved twice) leave the spread unknown (∞), so nothing is decided on them.
    Zero spread would give se = 0 and p = 0, a certainty no threshold could undo. Returns
    s² (ddof 1, n ≥ 2), max(s², 1/12) for integers, ∞ for identical non-integers.
    """
    v = values(v)
    s2 = float(v.var(ddof=1))
    s2 = 0.0 if s2 <= (1e-12 * float(np.abs(v).max())) ** 2 else s2  # float rounding: none
    if s2 >= RESOLUTION_VAR:
        return s2
    if np.all(v == np.round(v)):
        return RESOLUTION_VAR
    return s2 if s2 > 0 else math.inf


def _welch(value: float, va: float, vb: float, na: int, nb: int) -> Estimate:
    """value with standard error sqrt(va + vb) and Welch-Satterthwaite degrees of freedom."""
    if na < 2 or nb < 2 or not math.isfinite(va + vb):
        return Estimate(value, value, math.inf, math.inf, na + nb)
    dof = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return Estimate(value, value, math.sqrt(va + vb), dof, na + nb)


def est_mean(v, exact: bool = False) -> Estimate:
    """Mean over seeds, standard error s / sqrt(n) (s floored: `seed_var`), n - 1 dof."""
    v = values(v)
    m = float(v.mean()) if len(v) else math.nan
    if exact or len(v) < 2 or not math.isfinite(m):
        se = 0.0 if exact or not math.isfinite(m) else math.inf
        return Estimate(m, m, se, math.inf, len(v))
    se = math.sqrt(seed_var(v) / len(v))
    return Estimate(m, m, se, len(v) - 1 if math.isfinite(se) else math.inf, len(v))


def est_diff(a, b, exact: bool = False) -> Estimate:
    """mean(a) - mean(b) with Welch's standard error and degrees of freedom."""
    a, b = values(a), values(b)
    d = float(a.mean() - b.mean())
    if exact or not math.isfinite(d):
        return _exact(d, len(a) + len(b))
    va = seed_var(a) / len(a) if len(a) > 1 else 0.0
    vb = seed_var(b) / len(b) if len(b) > 1 else 0.0
    return _welch(d, va, vb, len(a), len(b))


def paired(a, b, seeds_a, seeds_b) -> tuple[np.ndarray, np.ndarray]:
    """a's and b's values at the seeds both have, in seed order (the pairs of a paired
    comparison: a seed fixes the initial weights and the data order)."""
    ia, ib = ({s: i for i, s in enumerate(x)} for x in (seeds_a, seeds_b))
    common = sorted(set(ia) & set(ib), key=lambda s: ia[s])
    return values(a)[[ia[s] for s in common]], values(b)[[ib[s] for s in common]]


def est_paired_diff(a, b) -> Estimate:
    """mean(a - b) over pairs (a[i], b[i] share seed i): the paired t (``ttest_rel``)."""
    if len(values(a)) != len(values(b)):
        raise ValueError("a paired difference needs one b per a (see `paired`)")
    return est_mean(values(a) - values(b))


def pooled_log_var(groups) -> tuple[float, int]:
    """The seed variance of log values pooled over configurations (one linear model on the
    log scale, a mean per configuration): Σ(n_i - 1)s_i² / Σ(n_i - 1) and its dof. Valid
    only when the configurations share one spread (tests/test_design_sim measures the cost
    of heterogeneity; ``book/design.yml`` says where it is used)."""
    logs = [np.log(values(g)) for g in groups if len(values(g)) > 1]
    dof = sum(len(g) - 1 for g in logs)
    return sum((len(g) - 1) * float(g.var(ddof=1)) for g in logs) / dof, dof


def est_pooled_log_diff(a, b, s2: float, dof: int) -> Estimate:
    """mean(log a) - mean(log b) with the pooled variance ``s2`` on ``dof`` dof."""
    la, lb = np.log(values(a)), np.log(values(b))
    d = float(la.mean() - lb.mean())
    return Estimate(d, d, math.sqrt(s2 * (1 / len(la) + 1 / len(lb))), dof, len(la) + len(lb))


def est_log_ratio(a, b, exact: bool = False) -> Estimate:
    """log(mean(a) / mean(b)), delta-method Welch standard error; NaN unless both means > 0."""
    a, b = values(a), values(b)
    ma, mb = float(a.mean()), float(b.mean())
    if not (ma > 0 and mb > 0):
        return Estimate(math.nan, math.nan, math.nan, math.nan, len(a) + len(b))
    r = math.log(ma / mb)
    if exact:
        return _exact(r, len(a) + len(b))
    va = seed_var(a) / len(a) / ma**2 if len(a) > 1 else 0.0
    vb = seed_var(b) / len(b) / mb**2 if len(b) > 1 else 0.0
    return _welch(r, va, vb, len(a), len(b))


def est_slope(xs, groups, exact: bool = False) -> Estimate:
    """Least-squares slope over every seed's value (see `slope`), n - 2 dof."""
    x = np.concatenate(
        [np.full(len(values(g)), xi, float) for xi, g in zip(xs, groups, strict=True)]
    )
    y = np.concatenate([values(g) for g in groups])
    if not np.isfinite(y).all() or len(set(x)) < 2:
        return Estimate(math.nan, math.nan, math.nan, math.nan, len(y))
    xc = x - x.mean()
    b = float((xc * (y - y.mean())).sum() / (xc**2).sum())
    if exact:
        return _exact(b, len(y))
    if len(y) < 3:
        return Estimate(b, b, math.inf, math.inf, len(y))
    resid = y - y.mean() - b * xc
    se = math.sqrt(float((resid**2).sum()) / (len(y) - 2) / float((xc**2).sum()))
    return Estimate(b, b, se, len(y) - 2, len(y)) if se > 0 else _exact(b, len(y))


def fisher(r: float, n: int, extra_var: float = 0.0) -> Estimate:
    """Fisher's z with Bonett & Wright's (2000) Spearman variance (1 + r²/2)/(n - 3)."""
    rc = min(max(r, -0.999), 0.999)  # a perfect sample correlation still has an interval
    if n < 4:
        return Estimate(r, math.atanh(rc), math.inf, math.inf, n, "atanh")
    se = math.sqrt((1 + rc**2 / 2) / (n - 3) + extra_var)
    return Estimate(r, math.atanh(rc), se, math.inf, n, "atanh")


def est_spearman(x, y, exact: bool = False) -> Estimate:
    """Spearman's ρ over the values given, (each value a unit)."""
    x, y = values(x), values(y)
    ok = np.isfinite(x).all() and np.isfinite(y).all() and len(x) >= 3
    if not ok or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, len(x), "atanh")
    r = float(st.spearmanr(x, y).statistic)
    return _exact(r, len(x), "atanh") if exact else fisher(r, len(x))


# ---------------------------------------------------------------- the intervals a reader compares


def mean(v, exact: bool = False) -> Interval:
    """Mean over seeds with its t-interval (``exact``: a reported number, no interval)."""
    return interval(est_mean(v, exact))


def diff(a, b, exact: bool = False) -> Interval:
    """mean(a) - mean(b) with Welch's interval."""
    return interval(est_diff(a, b, exact))


def log_ratio(a, b, exact: bool = False) -> Interval:
    """log(mean(a) / mean(b)) with a delta-method Welch interval; NaN unless both means > 0."""
    return interval(est_log_ratio(a, b, exact))


def slope(xs, groups, exact: bool = False) -> Interval:
    """Least-squares slope of the values on x, pooling every seed's value at each x
    (``groups[i]`` holds the per-seed values at ``xs[i]``), n - 2 degrees of freedom."""
    return interval(est_slope(xs, groups, exact))


def spearman(x, y, exact: bool = False) -> Interval:
    """Spearman's rank correlation with a Fisher-z interval (variance (1 + r^2/2)/(n - 3))."""
    return interval(est_spearman(x, y, exact))
