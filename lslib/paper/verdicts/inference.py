"""Seed statistics and the inference of the verdicts: one API.

Every number a reader compares is a statistic over independently seeded runs with a 95 %
interval: a mean (Student t, n - 1 dof), a difference of two groups (Welch), a ratio (the
delta method on the log scale), a slope over widths (least squares, n - 2 dof), a rank
correlation (Fisher's z with Bonett & Wright's variance), or ρ between models with the model
as the unit. Each is an `Estimate` (the statistic with its standard error and degrees of
freedom, on the scale of the inference) from which come the `interval`, the one-sided
p-values against a region's boundary (`p_beyond`, `region_p`), Holm's adjustment, two
one-sided tests for "comparable" claims and a monotone trend over widths; `mean`, `diff`,
`log_ratio`, `slope` and `spearman` are the intervals of those estimates. The seeds that
would decide a claim are in `lslib.paper.verdicts.power`.

An interval is read against a claim's region by `region_outcome` (touching decides
nothing), a number the report prints is the interval of its rounding (`reported`), and
`fmt_pm` rounds an estimate to the precision of its interval.

Conventions: a claim "θ in (lo, hi)" holds when the 95 % interval lies strictly inside,
i.e. each finite boundary is rejected by a one-sided test at 2.5 %; an interval that
touches a boundary decides nothing (`region_outcome`), and a p-value equal to α does not
reject, so the two readings agree.
"""

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import pairwise
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

    Args:
        e: the estimate.
        level: the coverage (0.90 for TOST, 0.95 for the verdicts).
    Returns:
        ``Interval(value, lo, hi, n)``; exact values give lo = hi = value, an unknown
        spread the whole line (or [-1, 1] for a correlation).
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

    Args:
        e: the estimate.
        bound: the boundary on the reported scale (ρ units for a correlation).
        side: +1 (claimed above) or -1 (claimed below).
    Returns:
        p in [0, 1]; 0 or 1 for exact values; 1 when the spread is unknown; NaN for a
        missing value.
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

    Args:
        p: the raw p-values of the family, shape (m,). NaN is a planned claim that could
            not be evaluated on these results: it stays in the family as p = 1 (the family
            is fixed by the design before the data, so a missing result does not shrink m)
            and its adjusted p is NaN.
    Returns:
        The adjusted p-values, in the order given.
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


# ---------------------------------------------------------------- estimators


def _exact(value: float, n: int, link: str = "identity") -> Estimate:
    c = value if link == "identity" else math.atanh(min(max(value, -0.999), 0.999))
    return Estimate(value, c, 0.0, math.inf, n, link)


RESOLUTION_VAR = 1 / 12  # the variance of rounding to a whole unit (Sheppard)


def seed_var(v) -> float:
    """The per-seed sample variance s², never below what the measurement can resolve.

    Identical seeds do not mean a spread of zero: with integer values (epoch counts) the
    spread below one unit is rounded away, so s² is floored at 1/12, the variance of
    rounding to a unit; identical non-integer values (a quantity no seed moved, or the
    same run saved twice) leave the spread unknown (∞), so nothing is decided on them.
    Zero spread would give se = 0 and p = 0, a certainty no threshold could undo.

    Args:
        v: per-seed values, n ≥ 2.
    Returns:
        s² (ddof 1), max(s², 1/12) for integer values, ∞ for identical non-integers.
    """
    v = values(v)
    s2 = float(v.var(ddof=1))
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


def _fisher(r: float, n: int, extra_var: float = 0.0) -> Estimate:
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
    return _exact(r, len(x), "atanh") if exact else _fisher(r, len(x))


# ---------------------------------------------------------------- models as the unit


def _rank_rows(m: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row pair: m has shape (2, B, k) -> (B,)."""
    r = st.rankdata(m, axis=-1)
    r = r - r.mean(axis=-1, keepdims=True)
    num = (r[0] * r[1]).sum(-1)
    den = np.sqrt((r[0] ** 2).sum(-1) * (r[1] ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def _seed_bootstrap(xs, ys, n_boot: int, gen) -> np.ndarray:
    """Model means over seeds resampled jointly for x and y, shape (2, n_boot, k).

    Residuals are scaled by sqrt(n/(n - 1)) so a resampled mean has variance s²/n.
    """
    boot = np.empty((2, n_boot, len(xs)))
    for n in {len(a) for a in xs}:  # models with the same number of seeds at once
        i = [j for j, a in enumerate(xs) if len(a) == n]
        v = np.stack([np.stack([xs[j] for j in i]), np.stack([ys[j] for j in i])])  # (2, m, n)
        c = math.sqrt(n / (n - 1)) if n > 1 else 0.0  # one seed: no spread to resample
        idx = gen.integers(0, n, size=(n_boot, len(i), n))
        res = v - v.mean(-1, keepdims=True)
        picked = np.take_along_axis(res[:, None], idx[None], axis=-1)  # (2, B, m, n)
        boot[:, :, i] = v.mean(-1)[:, None] + c * picked.mean(-1)
    return boot


def est_model_spearman(x, y, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Spearman's ρ between models, with the model as the unit of replication.

    The estimand is ρ between the models' true means in the population of models these k
    stand for; the statistic is ρ of the k model means. Its error has two parts: which
    k models were drawn (Fisher's z with Bonett & Wright's variance on k points, as if the
    means were exact) and the seed noise in each model's mean (the variance of z over a
    seed bootstrap). The z-variance is their sum: with near-identical seeds the second
    vanishes and the interval is the k-point one; with noisy seeds it widens the interval
    by what the seeds leave unknown. The bootstrap resamples seeds jointly for x and y (a
    run's two quantities stay paired) and rescales residuals by sqrt(n/(n - 1)) so a
    resampled mean has the variance s²/n rather than (n - 1)s²/n² (Davison & Hinkley 1997);
    it is seeded, so the result is deterministic.

    Limitation: large seed noise attenuates ρ of the means towards 0 (errors in
    variables); the interval is widened for it, not re-centred.

    Args:
        x, y: one sequence of per-seed values per model (``x[i]`` = model i's seeds,
            paired with ``y[i]``); k models.
        n_boot: seed-bootstrap replicates.
        seed: the bootstrap's random seed.
    Returns:
        An "atanh" `Estimate` with n = k; NaN if a value is missing or a mean constant;
        an unbounded interval for k < 4.
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
    r = float(_rank_rows(np.stack([mx, my])[:, None, :])[0])
    if k < 4:
        return _fisher(r, k)
    boot = _seed_bootstrap(xs, ys, n_boot, np.random.default_rng(seed))
    zb = np.arctanh(np.clip(_rank_rows(boot), -0.999, 0.999))
    return _fisher(r, k, float(zb.var(ddof=1)))


def model_spearman(x, y, n_boot: int = 2000, seed: int = 0) -> Interval:
    """The 95 % interval of `est_model_spearman` (ρ between models, seeds honest)."""
    return interval(est_model_spearman(x, y, n_boot, seed))


def model_abs_spearman(x, y, n_boot: int = 2000, seed: int = 0) -> Interval:
    """|ρ| between models (a claim about the strength of the association), 95 % interval."""
    return abs_interval(model_spearman(x, y, n_boot, seed))


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


# ---------------------------------------------------------------- the report's numbers and readable ones


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
