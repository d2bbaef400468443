"""The verdict engine: five outcomes, one rule, p-values, and the claims' shape.

Every claim reduces to statistics with a 95 % interval over seeds (``inference``) and a
region the claim asserts (for example "difference < 0", "ratio within [1/2, 2]"). The
verdict is the same rule for every claim (``inference.region_outcome``):

- **holds**: every interval lies strictly inside its region;
- **does not hold**: some interval lies strictly outside its region;
- **no meaningful difference**: a claimed difference whose interval lies inside ± the
  smallest effect that matters (decided: the difference does not hold in substance);
- **inconclusive**: neither; an interval that touches a boundary decides nothing;
- **not evaluable**: a result is missing or non-finite, or censored epoch counts (runs
  stopped by the epoch cap, lower bounds) cannot decide the comparison.

Each decision has one-sided p-values against the region's boundary, all at 2.5 % (p < 0.025
exactly when the 95 % interval clears it): ``p_in`` for "inside" (intersection-union over
the parts), ``p_out`` for "outside" and ``p_null`` for "no meaningful difference" (the 95 %
interval inside ± the smallest effect that matters; Bonferroni over the parts); a part
without a p never lends the claim a small one. ``claims.adjust`` adjusts them by Holm within
each family. "Comparable" claims use two one-sided tests at the same 2.5 % a side (the 95 %
interval). Zero spread over seeds is not certainty (``inference.seed_var``). The report's
own numbers are exact but printed rounded: each is the interval of its rounding (± half a
unit of its last printed digit), combined by interval arithmetic.

A compound claim is split into parts; it holds when every part holds, does not hold when
any part does not, and is otherwise no meaningful difference, not evaluable or
inconclusive, in that order. After Holm, a claim no data of this design can decide (a
correlation between too few models, one seed) reads "not testable with this design".

The outcomes, ``Part``, ``Verdict`` and ``Claim`` are in ``outcomes``; reading a claim's
values from the results in ``evidence``; this module holds the rule, the report's rounding
and the shapes of a part (``less``, ``ratio_in``, ``equivalent``).
"""

import dataclasses
import math

import numpy as np

from lslib.paper.verdicts import claim_tests, design, formatting, power
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.evidence import interval_text, mean_text
from lslib.paper.verdicts.outcomes import (
    ALPHA,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NO_DIFF,
    NOT_EVALUABLE,
    UNTESTABLE,
    Missing,
    Part,
    Verdict,
)

# ---------------------------------------------------------------- the report's rounding


def rounding(v: float, printed=None) -> inf.Interval:
    """A number of the report as the interval of its rounding: ± the half unit ``printed``
    gives for it (the digits as printed in the reference file, trailing zeros included:
    ``claims.Printed``, passed as a claim's ``exact``); else its shortest repr."""
    v = float(v)
    h = printed.half(v) if hasattr(printed, "half") else None
    if h is None:
        r = formatting.reported(repr(v)) if math.isfinite(v) else inf.Interval(v, v, v, 1)
        return r
    return inf.Interval(v, v - h, v + h, 1)


def r_mean(v, printed=None) -> inf.Interval:
    """The mean of printed numbers with the interval their rounding allows."""
    rs = [rounding(x, printed) for x in inf.values(v)]
    return inf.Interval(
        *(float(np.mean([getattr(r, k) for r in rs])) for k in ("value", "lo", "hi")), len(rs)
    )


def r_diff(a, b, printed=None) -> inf.Interval:
    """The report's mean(a) - mean(b) as the interval its rounding allows."""
    ia, ib = r_mean(a, printed), r_mean(b, printed)
    return inf.Interval(ia.value - ib.value, ia.lo - ib.hi, ia.hi - ib.lo, ia.n + ib.n)


def r_log_ratio(a, b, printed=None) -> inf.Interval:
    """The report's log(mean(a) / mean(b)) as the interval its rounding allows (NaN unless
    both are surely positive)."""
    ia, ib = r_mean(a, printed), r_mean(b, printed)
    if not (ia.lo > 0 and ib.lo > 0):
        return inf.Interval(math.nan, math.nan, math.nan, ia.n + ib.n)
    return inf.Interval(
        math.log(ia.value / ib.value), math.log(ia.lo / ib.hi), math.log(ia.hi / ib.lo), 2
    )


# ---------------------------------------------------------------- the verdict rule

_WHERE = {inf.INSIDE: HOLDS, inf.OUTSIDE: FAILS, inf.STRADDLES: INCONCLUSIVE}


def decide(i: inf.Interval, lo: float = -math.inf, hi: float = math.inf) -> str:
    """The rule: interval strictly inside (lo, hi) -> holds; strictly outside -> does not
    hold; touching or straddling a boundary -> inconclusive; NaN -> not evaluable."""
    if not (math.isfinite(i.value) and not math.isnan(i.lo) and not math.isnan(i.hi)):
        return NOT_EVALUABLE
    return _WHERE[inf.region_outcome(i.lo, i.hi, lo, hi)]


def _need_text(need) -> str:
    if need is None or need == "":
        return ""
    if isinstance(need, int):
        return f"; {need} seeds per group would decide it at 80 % power"
    return f"; seeds needed: {need}"


def _iut(ps) -> float:
    """Intersection-union p (every part must hold): the largest; NaN if a part has none,
    whatever the order (a part that cannot be tested cannot make the claim hold)."""
    ps = list(ps)
    return max(ps) if ps and not any(math.isnan(p) for p in ps) else math.nan


def _bonferroni(ps, k: int) -> float:
    """Union p (some part decides it): k times the smallest finite one, k counting every
    part (a part without a p still spent its share); NaN if none has a p."""
    f = [p for p in ps if not math.isnan(p)]
    return min(1.0, k * min(f)) if f else math.nan


def combine(parts: list) -> Verdict:
    """Parts -> one verdict: any failure fails; a part with no meaningful difference makes
    the claim's difference not hold in substance; all must hold to hold. ``p_in`` is the
    largest part's (intersection-union), ``p_out`` and ``p_null`` k times the smallest
    (Bonferroni); NaNs enter symmetrically, so the order of the parts does not matter."""
    ps = [p if isinstance(p, Part) else Part(*p) for p in parts]
    outcomes = [p.outcome for p in ps]
    for o in (FAILS, NO_DIFF, NOT_EVALUABLE, INCONCLUSIVE):
        if o in outcomes:
            break
    else:
        o = HOLDS
    k = len(ps)
    p_in = _iut(p.p_in for p in ps)
    p_out, p_null = _bonferroni([p.p_out for p in ps], k), _bonferroni([p.p_null for p in ps], k)
    needs = [p.need for p in ps if p.outcome == INCONCLUSIVE]
    need = None
    if o == INCONCLUSIVE and needs:
        if all(isinstance(n, int) for n in needs):
            need = max(needs)
        else:
            need = next((n for n in needs if isinstance(n, str)), None) or "none would"
    untestable = "; ".join(dict.fromkeys(p.untestable for p in ps)) if ps else ""
    untestable = untestable if ps and all(p.untestable for p in ps) else ""
    ev = "; ".join(p.evidence for p in ps)
    return Verdict(o, ev, tuple(ps), p_in, p_out, need, p_null, untestable)


def need_at(v: Verdict, level: float) -> int | str | None:
    """The seeds per group that would decide ``v`` at a one-sided ``level`` (Holm's step
    level of the claim): a failure needs one failing part decided, a claim that holds
    every part; the parts' own ``need`` where they have no such function."""
    fails = v.outcome == FAILS
    ps = [
        p for p in v.parts if p.outcome == (FAILS if fails else p.outcome) and p.outcome != NO_DIFF
    ]
    ps = [p for p in ps if fails or p.outcome in (HOLDS, INCONCLUSIVE)]
    if not ps or any(p.need_at is None for p in ps):
        return v.need
    ns = [p.need_at(level) for p in ps]
    if any(n is None for n in ns):
        return v.need if v.need is not None else "none would"
    return min(ns) if fails else max(ns)


def models_needed(level: float = ALPHA) -> int:
    """The fewest models for which ρ between models can be decided at one-sided ``level``:
    even a perfect ranking of k models has an exact permutation p of 1/k!, so k needs
    1/k! < level (5 at 2.5 %); with fewer, an interval that excludes a boundary is an
    artefact of the normal approximation, not evidence."""
    k = 2
    while 1 / math.factorial(k) >= level:
        k += 1
    return k


def between_models(p: Part, k: int) -> Part:
    """A part that correlates k models: not testable with this design when k is too few."""
    if k >= models_needed():
        return p
    why = f"needs ≥ {models_needed()} models (ρ between {k})"
    return dataclasses.replace(p, untestable=why, evidence=f"{p.evidence} [{UNTESTABLE}: {why}]")


def _binding(e: inf.Estimate, lo: float, hi: float) -> float:
    """The region's boundary nearer the estimate (the one a decision must clear)."""
    bs = [b for b in (lo, hi) if math.isfinite(b)]
    return min(bs, key=lambda b: abs(e.value - b)) if bs else math.nan


def judge(
    e: inf.Estimate | None,
    lo: float,
    hi: float,
    text: str,
    exact_interval: inf.Interval | None = None,
    need=None,
    log: bool = False,
    smallest: float | None = None,
) -> Part:
    """One part: the estimate (or, for the report, the interval its rounding allows)
    against the region (lo, hi), with p-values and the seeds needed when undecided.

    ``smallest`` (≥ 0) is the smallest effect that matters around the region's one finite
    boundary b: a 95 % interval inside (b - smallest, b + smallest) is "no meaningful
    difference", a decided outcome that comes before "holds" (an effect that is there but
    too small to matter does not carry the claim); a direction significantly reversed stays
    "does not hold", whatever its size. ``need``: the seeds as a number or text,
    or a function of the one-sided level; by default the estimate's own power
    (`power.power_estimate`)."""
    b = _binding(e, lo, hi) if e is not None else (lo if math.isfinite(lo) else hi)
    near = smallest is not None and math.isfinite(b)
    if exact_interval is not None:
        i = exact_interval
        o = decide(i, lo, hi)
        if near and o in (HOLDS, INCONCLUSIVE) and decide(i, b - smallest, b + smallest) == HOLDS:
            o = NO_DIFF
        stat = _shown(i, log)
        return Part(o, f"{text} → {o}", stat, None, log, region=(lo, hi))
    i = inf.interval(e)
    o = decide(i, lo, hi)
    rp = inf.region_p(e, lo, hi) if o != NOT_EVALUABLE else inf.RegionP(math.nan, math.nan)
    p_null = math.nan
    if near and o in (HOLDS, INCONCLUSIVE):
        p_null = inf.region_p(e, b - smallest, b + smallest).inside
        o = NO_DIFF if decide(i, b - smallest, b + smallest) == HOLDS else o
    if need is None and math.isfinite(b):
        need = lambda a: power.power_estimate(e, b, smallest or 0.0, alpha=a)  # noqa: E731
    at = need if callable(need) else None
    shown_need = (need(ALPHA) if at else need) if o == INCONCLUSIVE else None
    ev = f"{text} → {o}{_need_text(shown_need)}"
    return Part(
        o, ev, _shown(i, log), e, log, rp.inside, rp.outside, shown_need, (lo, hi), p_null, at
    )


def _shown(i: inf.Interval, log: bool) -> inf.Interval:
    if not log:
        return i
    ex = lambda x: math.exp(x) if not math.isnan(x) else x  # noqa: E731
    return inf.Interval(ex(i.value), ex(i.lo), ex(i.hi), i.n)


def part(i: inf.Interval, lo: float, hi: float, text: str) -> Part:
    """A part judged on an interval alone (no p-value): checks of known numbers."""
    return judge(None, lo, hi, text, exact_interval=i)


def censor(p: Part, a_bound: bool, b_bound: bool) -> Part:
    """ "a < b" where censored values are lower bounds (true ≥ observed): a decision stands
    only when the bounds cannot reverse it (holds needs a exact; fails needs b exact)."""
    if not (a_bound or b_bound):
        return p
    stands = (p.outcome == HOLDS and not a_bound) or (p.outcome == FAILS and not b_bound)
    if stands:
        ev = p.evidence + " (censored epochs read as bounds: it stands)"
        return dataclasses.replace(p, evidence=ev, need=None)
    return dataclasses.replace(
        p,
        outcome=NOT_EVALUABLE,
        evidence=p.evidence + " → not evaluable (censored: epochs of capped "
        "runs are lower bounds, and the bounds do not decide it)",
        p_in=math.nan,
        p_out=math.nan,
        need=None,
    )


def less(
    a, b, exact, name_a, name_b, what, smallest=0.0, bounds=(False, False), seeds=None
) -> Part:
    """mean(a) < mean(b): Welch's interval of the difference below 0 (``seeds``: a's and
    b's seeds, paired by seed: the paired t of the differences); inside ± ``smallest`` it
    is "no meaningful difference" (``bounds``: a's, b's values are lower bounds, censored
    epochs)."""
    text = f"{what} {name_a} {mean_text(a, exact)} vs {name_b} {mean_text(b, exact)}, difference "
    if callable(smallest):
        smallest = smallest(a, b)
    if exact:
        i = r_diff(a, b, exact)
        p = judge(None, -math.inf, 0.0, text + interval_text(i), i, smallest=smallest)
    else:
        pa, pb = inf.paired(a, b, *seeds) if seeds else (a, b)
        e = inf.est_paired_diff(pa, pb) if seeds else inf.est_diff(a, b)
        text += "paired by seed " if seeds else ""

        def need(level):  # against 0, or against ± smallest where the effect is inside it
            if len(pa) < 2 or len(pb) < 2:
                return None
            bound = 0.0 if abs(e.value) > smallest else math.copysign(smallest, e.value)
            me = smallest if bound == 0 else 0.0
            if seeds:
                return power.power_mean(inf.values(pa) - pb, bound, me, alpha=level)
            return power.power_diff(a, b, me, bound, alpha=level)

        i = inf.interval(e)
        p = judge(e, -math.inf, 0.0, text + interval_text(i), need=need, smallest=smallest)
    return censor(p, *bounds)


def relative(share: float):
    """The smallest effect that matters as a share of the second group's mean."""
    return lambda a, b: share * abs(float(np.mean(b)))


def ratio_in(a, b, exact, lo, hi, name_a, name_b, what, smallest=None) -> Part:
    """mean(a) / mean(b) within (lo, hi), on the log scale; ``smallest`` (for the seeds
    needed): by default log(1 + the design's ``relative`` share)."""
    if smallest is None:
        smallest = math.log1p(design.value("relative"))
    if exact:
        r = r_log_ratio(a, b, exact)
    else:
        e = inf.est_log_ratio(a, b)
        r = inf.interval(e)
    if not math.isfinite(r.value):
        raise Missing(
            f"{what.rstrip(':, ')}: the ratio {name_a}/{name_b} needs positive means "
            f"({mean_text(a, exact)}, {mean_text(b, exact)})"
        )
    text = (
        f"{what} {name_a}/{name_b} = {interval_text(_shown(r, True))} (claimed in ({lo:g}, {hi:g}))"
    )
    if exact:
        return judge(None, math.log(lo), math.log(hi), text, exact_interval=r, log=True)
    bound = lo if abs(e.value - math.log(lo)) < abs(e.value - math.log(hi)) else hi

    def need(level):
        if len(a) < 2 or len(b) < 2:
            return None
        return power.power_log_ratio(a, b, smallest, bound, alpha=level)

    return judge(e, math.log(lo), math.log(hi), text, need=need, log=True)


def equivalent(e, lo, hi, text, exact_interval=None, log=False) -> Part:
    """Equivalence within the margin (lo, hi) by two one-sided tests (TOST) at the level of
    every other decision (2.5 % each side: the 95 % interval inside the margin); the
    report's numbers by their rounding interval."""
    if exact_interval is not None:
        return judge(None, lo, hi, text, exact_interval=exact_interval, log=log)
    t = claim_tests.tost(e, lo, hi, ALPHA)
    o = {"equivalent": HOLDS, "not equivalent": FAILS, "inconclusive": INCONCLUSIVE}.get(
        t.outcome, NOT_EVALUABLE
    )
    shown = _shown(t.interval, log)
    rp = inf.region_p(e, lo, hi)
    b = _binding(e, lo, hi)
    at = lambda a: power.power_estimate(e, b, alpha=a)  # noqa: E731
    need = at(ALPHA) if o == INCONCLUSIVE else None
    ev = (
        f"{text}; 95 % interval {interval_text(shown)} (TOST p = {t.p:.3g}) → {o}{_need_text(need)}"
    )
    return Part(o, ev, shown, e, log, t.p, rp.outside, need, (lo, hi), need_at=at)
