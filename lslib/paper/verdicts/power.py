"""Power: the seeds per group that would decide a claim, if the observed effect were true.

A claim left undecided by its seeds is decided at 80 % power by the number of seeds
`seeds_needed` gives: one-sided at 2.5 % (the side of a 95 % interval) against the region's
boundary, exact under normality through the non-central t. An effect inside the smallest
effect that matters has no such number ("no meaningful difference").
"""

import math

import numpy as np
from scipy import stats as st

from lslib.paper.verdicts.inference import Estimate, seed_var, values


def _power(effect: float, sds: tuple[float, ...], n: int, alpha: float) -> float:
    """Power of the one-sided level-α t-test (Welch dof for two groups) with n per group."""
    v = [s**2 / n for s in sds]
    se = math.sqrt(sum(v))
    if se == 0:
        return 1.0
    dof = n - 1 if len(v) == 1 else sum(v) ** 2 / sum(vi**2 / (n - 1) for vi in v)
    return float(st.nct.sf(st.t.ppf(1 - alpha, dof), dof, abs(effect) / se))


def seeds_needed(
    effect: float,
    sds,
    min_effect: float,
    power: float = 0.8,
    alpha: float = 0.025,
    max_n: int = 1_000_000,
) -> int | None:
    """Seeds per group that decide a claim with probability ``power`` if ``effect`` is true.

    The test is one-sided at ``alpha`` (the side of a 95 % interval) against the region's
    boundary, exact under normality through the non-central t; two groups use Welch's
    degrees of freedom with equal seeds per group (an approximation to Welch's test).

    Args:
        effect: the distance of the true value from the boundary (observed: estimate -
            boundary).
        sds: the per-seed standard deviation, one (a mean) or two (a difference; for a
            log ratio the coefficients of variation s/mean).
        min_effect: the smallest effect that matters (≥ 0), on the scale of ``effect``.
        power, alpha: the power wanted and the one-sided level.
    Returns:
        n ≥ 2, or None when |effect| ≤ min_effect: no number of seeds is worth running
        ("no meaningful difference"); also None when a spread is unknown (one seed) or
        the seeds needed exceed ``max_n``.
    """
    sds = tuple(float(s) for s in np.atleast_1d(sds))
    if not (abs(effect) > min_effect) or len(sds) not in (1, 2) or not np.isfinite(sds).all():
        return None
    if _power(effect, sds, max_n, alpha) < power:
        return None
    lo, hi = 1, 2  # power at lo < power <= power at hi; power rises with n
    while _power(effect, sds, hi, alpha) < power:
        lo, hi = hi, min(2 * hi, max_n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _power(effect, sds, mid, alpha) < power else (lo, mid)
    return hi


def _sd(v) -> float:
    v = values(v)
    return math.sqrt(seed_var(v)) if len(v) > 1 else math.nan


def power_mean(v, bound: float, min_effect: float, power: float = 0.8, alpha=0.025) -> int | None:
    """Seeds that decide "mean vs ``bound``" if the observed mean and spread are true."""
    return seeds_needed(float(values(v).mean()) - bound, _sd(v), min_effect, power, alpha)


def power_diff(
    a, b, min_effect: float, bound: float = 0.0, power: float = 0.8, alpha: float = 0.025
) -> int | None:
    """Seeds per group that decide "mean(a) - mean(b) vs ``bound``" (Welch)."""
    d = float(values(a).mean() - values(b).mean()) - bound
    return seeds_needed(d, (_sd(a), _sd(b)), min_effect, power, alpha)


def power_estimate(
    e: Estimate, bound: float, min_effect: float = 0.0, power: float = 0.8, alpha: float = 0.025
) -> int | None:
    """Seeds that decide "θ vs ``bound``" from an estimate alone (a jackknife mean over seed
    pairs, a ratio of such means): its standard error read as σ / sqrt(n) with n its seeds,
    a one-sample t-test. An approximation where the estimate is not a plain mean; it is
    what lets every undecided claim say how many seeds would decide it."""
    n = max(e.n, 2)
    if e.link != "identity" or not (0 < e.se < math.inf) or not math.isfinite(e.value):
        return None
    return seeds_needed(e.value - e.to_link(bound), e.se * math.sqrt(n), min_effect, power, alpha)


def power_log_ratio(
    a, b, min_effect: float, bound: float = 1.0, power: float = 0.8, alpha: float = 0.025
) -> int | None:
    """Seeds per group that decide "mean(a) / mean(b) vs ``bound``" on the log scale.

    ``min_effect`` is on the log scale (10 % of the value: log(1.1)).
    """
    ma, mb = float(values(a).mean()), float(values(b).mean())
    if not (ma > 0 and mb > 0):
        return None
    d = math.log(ma / mb) - math.log(bound)
    return seeds_needed(d, (_sd(a) / ma, _sd(b) / mb), min_effect, power, alpha)
