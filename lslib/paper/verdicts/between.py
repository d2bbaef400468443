"""Spearman's ρ between models, with bounds that allow for the seed noise in each mean.

The estimand is the population ρ_S of the models' true means (x, y): the ρ of the
distribution of models these k stand for, not the ρ of these k models' true means. The
statistic is ρ of the k model means. Two things separate it from the estimand:

- which k models were drawn: the k means are k independent draws of a noisy mean, so
  Fisher's z of ρ with Bonett & Wright's (2000) variance (1 + ρ²/2)/(k - 3) bounds ρ_obs,
  the population ρ of the *noisy* means;
- the seed noise attenuates ρ_obs towards 0 (errors in variables): with a Gaussian copula
  and independent normal noise in x and y, Pearson's ρ_obs = ρ·sqrt(R_x·R_y), R the
  reliability of a mean (the share of its variance that is the model's), and
  ρ_S = (6/π)·asin(ρ_P/2). R has an exact lower bound from the one-way random-effects
  F ratio (between-model variance of the means against the pooled seed variance / n).

So the bound towards 0 is ρ_obs's own (attenuation only shrinks |ρ|); the bound away from 0
is ρ_obs's divided by the lowest reliability the seeds allow (±1 when that can be 0). The
error of one side is at most (ρ_obs's side) + (x's reliability) + (y's): Bonferroni, with
half the side's level on ρ_obs and a quarter on each reliability. Away from 0 each bound
uses the Bonett–Wright variance at the bound (the larger of it and the plug-in one), and
a perfect ranking is read half a step (Σd² = 1) below perfect, not at 0.999: with k = 5 to
8 models the 0.999 reading missed ρ_S = 0.95 on one side 8-38 % of the time (simulated,
20,000 draws a case), as a perfect ranking of so few models is common.

Approximate, and conservative where checked: it assumes a Gaussian copula for the true means,
seed noise independent between x and y (a run whose x and y err together would move ρ_obs
away from 0 too, and the bound towards 0 would no longer be safe), one noise spread and equal
seeds a model; the Fisher-z step is a normal approximation. tests/test_between_models.py
checks k = 5 to 8, ρ_S ≤ 0.95, seed noise 0.3 to 3 model SDs, 3 seeds. The price is power:
with 5 models the bounds almost always span 0.
"""

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
from scipy import special
from scipy import stats as st

from lslib.paper.verdicts.inference import Estimate, fisher

_Q = NormalDist().inv_cdf
_TOP = math.nextafter(1.0, 0.0)  # a bound of |ρ| stops short of 1, which no claim crosses


def _g(p: float) -> float:
    """Spearman's ρ of a bivariate normal with Pearson's ``p``."""
    return 6 / math.pi * math.asin(max(-1.0, min(1.0, p)) / 2)


def _g_inv(s: float) -> float:
    return 2 * math.sin(math.pi * s / 6)


@dataclass(frozen=True)
class TwoPiece(Estimate):
    """ρ with asymmetric 95 % bounds: the inference scale is 0 at the estimate and ±1 at
    the bounds (se = 1/1.96, normal), linear in Fisher's z on each side, so `interval`
    gives the bounds and `p_beyond` is below 2.5 % exactly when a bound clears ``b``."""

    z: tuple[float, float, float] = field(default=(math.nan,) * 3)  # atanh: lo, ρ, hi

    def to_link(self, b: float) -> float:
        if abs(b) >= 1:
            return math.copysign(math.inf, b)
        lo, mid, hi = self.z
        zb = math.atanh(b)
        if zb == mid:
            return 0.0
        return (zb - mid) / abs((hi if zb > mid else lo) - mid)

    def from_link(self, u: float) -> float:
        lo, mid, hi = self.z
        return math.tanh(mid if u == 0 else mid + u * abs((hi if u > 0 else lo) - mid))


def _f_ratio(xs: list) -> tuple[float, int, int]:
    """Between-model variance of the means over the seed variance of a mean, and its dof:
    F / θ ~ F(k - 1, Σ(n - 1)), θ = 1 / (1 - R) (exact with equal seeds a model)."""
    means = np.array([a.mean() for a in xs])
    d2 = sum(len(a) - 1 for a in xs)
    if d2 == 0:
        return math.nan, len(xs) - 1, 0  # one seed a model: the noise is unknown
    s2 = sum(float(((a - a.mean()) ** 2).sum()) for a in xs) / d2
    noise = s2 * float(np.mean([1 / len(a) for a in xs]))
    between = float(means.var(ddof=1))
    return (math.inf if noise == 0 else between / noise), len(xs) - 1, d2


@dataclass(frozen=True)
class Between:
    """What ρ between k models needs: ρ of the means and each quantity's F ratio."""

    r: float
    k: int
    fx: tuple[float, int, int]
    fy: tuple[float, int, int]

    @classmethod
    def of(cls, xs: list, ys: list) -> "Between":
        rx, ry = st.rankdata([[a.mean() for a in xs], [b.mean() for b in ys]], axis=-1)
        rx, ry = rx - rx.mean(), ry - ry.mean()
        r = float((rx * ry).sum() / math.sqrt((rx * rx).sum() * (ry * ry).sum()))
        return cls(r, len(xs), _f_ratio(xs), _f_ratio(ys))

    def _reliability_lo(self, f: tuple[float, int, int], level: float) -> float:
        ratio, d1, d2 = f
        if math.isinf(ratio):
            return 1.0  # seeds identical: the means are the models'
        if math.isnan(ratio):
            return 0.0
        theta = ratio / float(special.fdtri(d1, d2, 1 - level))
        return min(1.0, max(0.0, 1 - 1 / theta))

    def bounds(self, side: float = 0.025) -> tuple[float, float]:
        """Bounds (lo, hi) of the population ρ_S, each wrong at most ``side`` (approx.)."""
        k = self.k
        if k < 4:
            return -1.0, 1.0
        cap = 1 - 6 / (k * (k * k - 1))  # a perfect ranking: half a step below perfect
        rc = max(-cap, min(cap, self.r))
        zc, q = math.atanh(rc), _Q(1 - side / 2)
        a = math.sqrt(
            self._reliability_lo(self.fx, side / 4) * self._reliability_lo(self.fy, side / 4)
        )
        out = []
        for sign in (-1, 1):
            z = zc
            for _ in range(30):  # the variance at the bound, when larger (a fixed point)
                v = (1 + max(rc * rc, math.tanh(z) ** 2) / 2) / (k - 3)
                z = zc + sign * q * math.sqrt(v)
            b = math.tanh(z)
            if b * sign > 0:  # away from 0: undo the attenuation
                b = math.copysign(1.0, b) if a == 0 else _g(_g_inv(b) / a)
            out.append(math.copysign(min(abs(b), _TOP), b))  # ±1 is a region's edge
        return out[0], out[1]

    def estimate(self) -> Estimate:
        if self.k < 4:
            return fisher(self.r, self.k)  # unbounded: too few models for any interval
        lo, hi = self.bounds()
        cap = 1 - 6 / (self.k * (self.k**2 - 1))
        mid = math.atanh(max(-cap, min(cap, self.r)))
        z = (_atanh(lo), mid, _atanh(hi))
        return TwoPiece(self.r, 0.0, 1 / _Q(0.975), math.inf, self.k, "two-piece", z)

    def abs_bounds(self, side: float) -> tuple[float, float]:
        """Bounds of |ρ_S|: the upper one wrong at most ``side``, the lower one at most
        2·``side`` (folding at 0: either bound of ρ can put |ρ| too high)."""
        lo, hi = self.bounds(side)
        if lo <= 0 <= hi:
            return 0.0, max(-lo, hi)
        return min(abs(lo), abs(hi)), max(abs(lo), abs(hi))


def _atanh(b: float) -> float:
    return math.copysign(math.inf, b) if abs(b) >= 1 else math.atanh(b)
