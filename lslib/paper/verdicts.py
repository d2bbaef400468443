"""The verdict engine: four outcomes, one rule, p-values, and the claims' shape.

Every claim reduces to statistics with a 95 % interval over seeds (``stats``,
``inference``) and a region the claim asserts (for example "difference < 0", "ratio
within [1/2, 2]"). The verdict is the same rule for every claim (``inf.region_outcome``):

- **holds**: every interval lies strictly inside its region;
- **does not hold**: some interval lies strictly outside its region;
- **inconclusive**: neither; an interval that touches a boundary decides nothing;
- **not evaluable**: a result is missing or non-finite, or censored epoch counts (runs
  stopped by the epoch cap, lower bounds) cannot decide the comparison.

Each decision has one-sided p-values against the region's boundary (p < 0.025 exactly
when the 95 % interval clears it): ``p_in`` for "inside" (intersection-union over the
parts) and ``p_out`` for "outside" (Bonferroni over the parts); ``claims.evaluate`` adjusts
them by Holm over the report's claims. "Comparable" claims use two one-sided tests (the
90 % interval, 5 % each side). The report's own numbers are exact but printed rounded: each
is the interval of its rounding (± half a unit of its last printed digit), combined by
interval arithmetic.

A compound claim is split into parts; it holds when every part holds, does not hold when
any part does not, and is otherwise not evaluable or inconclusive.
"""

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lslib.paper import inference as inf
from lslib.paper import power

HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUABLE = (
    "holds",
    "does not hold",
    "inconclusive",
    "not evaluable",
)
OUTCOMES = (HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUABLE)
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over 10 classes
ALPHA = 0.025  # one-sided level of each decision, so the family level of Holm's step-down
LOG_10_PERCENT = math.log(1.1)  # a ratio's smallest effect that matters: 10 %
NO_EFFECT = "no meaningful difference"  # the seeds needed when the effect is below the smallest


class Missing(LookupError):
    """The evidence a claim needs is missing, non-finite or censored."""


@dataclass(frozen=True)
class Part:
    """One decision of a claim: its outcome and evidence, the statistic compared (on the
    shown scale), its p-values, and the seeds per group that would decide it."""

    outcome: str
    evidence: str
    stat: inf.Interval | None = None
    est: inf.Estimate | None = None
    log: bool = False  # stat is exp of the estimate (a ratio judged on the log scale)
    p_in: float = math.nan
    p_out: float = math.nan
    need: int | str | None = None
    region: tuple[float, float] = (-math.inf, math.inf)  # (lo, hi) on the estimate's scale


@dataclass(frozen=True)
class Verdict:
    outcome: str
    evidence: str
    parts: tuple = field(default=(), repr=False)
    p_in: float = math.nan
    p_out: float = math.nan
    need: int | str | None = None

    @property
    def p(self) -> float:
        """Holm's input: the p of the decision taken (the smaller one when undecided)."""
        if self.outcome == HOLDS:
            return self.p_in
        if self.outcome == FAILS:
            return self.p_out
        return min(self.p_in, self.p_out)


@dataclass(frozen=True)
class Claim:
    """One claim: our statement, the report's words it tests, the rule, the smallest effect
    that matters, and the test."""

    id: str
    section: str
    text: str
    quote: str
    where: str
    rule: str
    test: Callable[[dict, bool], Verdict]
    smallest: str = "any non-zero effect"
    check: bool = False  # a check of this reproduction, not a claim of the report

    def verdict(self, results: dict, exact: bool = False) -> Verdict:
        try:
            return self.test(results, exact)
        except Missing as e:
            return Verdict(NOT_EVALUABLE, str(e))


# ---------------------------------------------------------------- reading results


def payload_of(R: dict, section: str, model: str) -> dict:
    r = R.get((section, model))
    if not r:
        raise Missing(f"{section} results for {model} are missing")
    return r


def seed_values(row: dict, key: str, what: str) -> np.ndarray:
    """Per-seed values of ``key`` (epoch counts of capped runs: see `epoch_values`)."""
    if row.get(key) is None:
        raise Missing(f"{what}: {key} is missing")
    v = inf.values(row[key])
    if not len(v) or not np.isfinite(v).all():
        raise Missing(f"{what}: {key} is not finite ({row[key]})")
    if key == "epochs":
        v, censored = epoch_values(row, what)
        if censored:
            raise Missing(f"{what}: epochs censored (runs stopped by the epoch cap)")
    return v


def epoch_values(row: dict, what: str) -> tuple[np.ndarray, bool]:
    """Per-seed epoch counts and whether any is censored: a run stopped by the epoch cap
    ("max_epochs") has a lower bound (≥ its epochs); any other unconverged run is missing."""
    if row.get("epochs") is None:
        raise Missing(f"{what}: epochs is missing")
    v = inf.values(row["epochs"])
    if not len(v) or not np.isfinite(v).all():
        raise Missing(f"{what}: epochs is not finite ({row['epochs']})")
    status = row.get("status", [])
    bad = sorted({s for s in status if s not in ("converged", "max_epochs")})
    if bad:
        raise Missing(f"{what}: epochs of runs stopped as {', '.join(bad)}")
    return v, "max_epochs" in status


def width_rows(R, model) -> list[dict]:
    rows = sorted(payload_of(R, "phase1", model).get("rows", []), key=lambda r: r["width"])
    if len(rows) < 2:
        raise Missing(f"phase1 {model} needs at least two widths")
    return rows


def fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def interval_text(i: inf.Interval) -> str:
    if i.lo == i.hi:
        return fmt(i.value)
    if not (math.isfinite(i.lo) and math.isfinite(i.hi)):
        return f"{fmt(i.value)} [{fmt(i.lo)}, {fmt(i.hi)}]"
    return f"{inf.fmt_pm(i.value, max(i.hi - i.value, i.value - i.lo))} [{fmt(i.lo)}, {fmt(i.hi)}]"


def mean_text(v, exact, scale=1.0) -> str:
    m = inf.mean(v, exact)
    if exact or not math.isfinite(m.half):
        return inf.fmt(m, 4, scale)
    return inf.fmt_pm(m.value * scale, m.half * scale)


# ---------------------------------------------------------------- the report's rounding

PRINTED: dict[float, float] = {}  # value -> half a unit of its last printed digit (reference)


def rounding(v: float) -> inf.Interval:
    """A number of the report as the interval of its rounding (``PRINTED`` keeps the digits
    as printed in the reference file, trailing zeros included; else its shortest repr)."""
    v = float(v)
    h = PRINTED.get(v)
    if h is None:
        r = inf.reported(repr(v)) if math.isfinite(v) else inf.Interval(v, v, v, 1)
        return r
    return inf.Interval(v, v - h, v + h, 1)


def r_mean(v) -> inf.Interval:
    """The mean of printed numbers with the interval their rounding allows."""
    rs = [rounding(x) for x in inf.values(v)]
    return inf.Interval(
        *(float(np.mean([getattr(r, k) for r in rs])) for k in ("value", "lo", "hi")), len(rs)
    )


def r_diff(a, b) -> inf.Interval:
    ia, ib = r_mean(a), r_mean(b)
    return inf.Interval(ia.value - ib.value, ia.lo - ib.hi, ia.hi - ib.lo, ia.n + ib.n)


def r_log_ratio(a, b) -> inf.Interval:
    ia, ib = r_mean(a), r_mean(b)
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


def combine(parts: list) -> Verdict:
    """Parts -> one verdict: any failure fails; all must hold to hold. ``p_in`` is the
    largest part's (intersection-union), ``p_out`` k times the smallest (Bonferroni)."""
    ps = [p if isinstance(p, Part) else Part(*p) for p in parts]
    outcomes = [p.outcome for p in ps]
    for o in (FAILS, NOT_EVALUABLE, INCONCLUSIVE):
        if o in outcomes:
            break
    else:
        o = HOLDS
    p_in = max((p.p_in for p in ps), default=math.nan)
    p_out = min(1.0, len(ps) * min((p.p_out for p in ps), default=math.nan))
    needs = [p.need for p in ps if p.outcome == INCONCLUSIVE]
    need = None
    if o == INCONCLUSIVE and needs:
        if NO_EFFECT in needs:
            need = NO_EFFECT
        elif all(isinstance(n, int) for n in needs):
            need = max(needs)
        else:
            need = next(n for n in needs if not isinstance(n, int)) or "not computed"
    return Verdict(o, "; ".join(p.evidence for p in ps), tuple(ps), p_in, p_out, need)


def judge(
    e: inf.Estimate | None,
    lo: float,
    hi: float,
    text: str,
    exact_interval: inf.Interval | None = None,
    need=None,
    log: bool = False,
) -> Part:
    """One part: the estimate (or, for the report, the interval its rounding allows)
    against the region (lo, hi), with p-values and the seeds needed when undecided."""
    if exact_interval is not None:
        i = exact_interval
        o = decide(i, lo, hi)
        stat = _shown(i, log)
        return Part(o, f"{text} → {o}", stat, None, log, region=(lo, hi))
    i = inf.interval(e)
    o = decide(i, lo, hi)
    rp = inf.region_p(e, lo, hi) if o != NOT_EVALUABLE else inf.RegionP(math.nan, math.nan)
    need = need if o == INCONCLUSIVE else None
    ev = f"{text} → {o}{_need_text(need)}"
    return Part(o, ev, _shown(i, log), e, log, rp.inside, rp.outside, need, (lo, hi))


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


def less(a, b, exact, name_a, name_b, what, smallest=0.0, bounds=(False, False)) -> Part:
    """mean(a) < mean(b): Welch's interval of the difference below 0 (``bounds``: a's, b's
    values are lower bounds, censored epochs)."""
    text = f"{what} {name_a} {mean_text(a, exact)} vs {name_b} {mean_text(b, exact)}, difference "
    if callable(smallest):
        smallest = smallest(a, b)
    if exact:
        i = r_diff(a, b)
        p = judge(None, -math.inf, 0.0, text + interval_text(i), exact_interval=i)
    else:
        e = inf.est_diff(a, b)
        need = power.power_diff(a, b, smallest) if len(a) > 1 and len(b) > 1 else None
        need = NO_EFFECT if need is None and abs(e.value) <= smallest else need
        p = judge(e, -math.inf, 0.0, text + interval_text(inf.interval(e)), need=need)
    return censor(p, *bounds)


def relative(share: float):
    """The smallest effect that matters as a share of the second group's mean."""
    return lambda a, b: share * abs(float(np.mean(b)))


def ratio_in(a, b, exact, lo, hi, name_a, name_b, what, smallest=LOG_10_PERCENT) -> Part:
    """mean(a) / mean(b) within (lo, hi), on the log scale."""
    if exact:
        r = r_log_ratio(a, b)
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
    need = power.power_log_ratio(a, b, smallest, bound) if len(a) > 1 and len(b) > 1 else None
    need = NO_EFFECT if need is None and abs(e.value - math.log(bound)) <= smallest else need
    return judge(e, math.log(lo), math.log(hi), text, need=need, log=True)


def equivalent(e, lo, hi, text, exact_interval=None, log=False) -> Part:
    """Equivalence within the margin (lo, hi) by two one-sided tests (TOST, 90 % interval,
    5 % each side); the report's numbers by their rounding interval."""
    if exact_interval is not None:
        return judge(None, lo, hi, text, exact_interval=exact_interval, log=log)
    t = inf.tost(e, lo, hi)
    o = {"equivalent": HOLDS, "not equivalent": FAILS, "inconclusive": INCONCLUSIVE}.get(
        t.outcome, NOT_EVALUABLE
    )
    shown = _shown(t.interval, log)
    rp = inf.region_p(e, lo, hi)
    ev = f"{text}; 90 % interval {interval_text(shown)} (TOST p = {t.p:.3g}) → {o}"
    need = "not computed" if o == INCONCLUSIVE else None
    return Part(o, ev, shown, e, log, t.p, rp.outside, need, (lo, hi))


# ---------------------------------------------------------------- categories and counts


def category(ours: str, report: str) -> str:
    """Where a claim stands, given our verdict and the verdict on the report's numbers."""
    if report == FAILS:
        return "contradicted by the report's own numbers"
    if report == NOT_EVALUABLE:
        return "not testable from the report's numbers"
    if ours == HOLDS:
        return "holds in both"
    if ours == FAILS:
        return "holds in the report, not here"
    if ours == NOT_EVALUABLE:
        return "holds in the report, not evaluable here"
    return "holds in the report, undecided here"


CATEGORIES = {
    "holds in both": "c_both",
    "holds in the report, not here": "c_repro",
    "holds in the report, undecided here": "c_undecided",
    "holds in the report, not evaluable here": "c_ne_here",
    "contradicted by the report's own numbers": "c_self",
    "not testable from the report's numbers": "c_untestable",
}
_COUNT_NAMES = {HOLDS: "n_hold", FAILS: "n_fail", INCONCLUSIVE: "n_inc", NOT_EVALUABLE: "n_ne"}


def counts(rows: list[dict]) -> dict:
    """The numbers the reproduction page's prose quotes: the report's claims (checks of this
    reproduction apart) per adjusted verdict, per raw verdict (``raw_…``) and per category."""
    rows = [r for r in rows if not r.get("check")]
    out = {"n_claims": len(rows)}
    key = "adjusted" if all("adjusted" in r for r in rows) else "verdict"
    out |= {name: sum(r[key] == v for r in rows) for v, name in _COUNT_NAMES.items()}
    out |= {f"raw_{name}": sum(r["verdict"] == v for r in rows) for v, name in _COUNT_NAMES.items()}
    out |= {name: sum(r.get("category") == c for r in rows) for c, name in CATEGORIES.items()}
    return out
