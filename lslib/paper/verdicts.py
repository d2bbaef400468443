"""The verdict engine: four outcomes, one rule, and the claims' shape.

Every claim reduces to statistics with a 95 % interval over seeds (``stats``) and a
region the claim asserts (for example "difference < 0", "ratio within [1/2, 2]"). The
verdict is the same rule for every claim:

- **holds**: every interval lies inside its region;
- **does not hold**: some interval lies entirely outside its region;
- **inconclusive**: neither (the effect the claim needs is not resolved by the seeds);
- **not evaluable**: a result is missing or non-finite, or an epoch count is censored (a
  run stopped by the epoch cap has no converged epoch count).

A compound claim is split into parts; it holds when every part holds, does not hold when
any part does not, and is otherwise not evaluable or inconclusive.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lslib.paper import stats

HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUABLE = (
    "holds",
    "does not hold",
    "inconclusive",
    "not evaluable",
)
OUTCOMES = (HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUABLE)
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over 10 classes


class Missing(LookupError):
    """The evidence a claim needs is missing, non-finite or censored."""


@dataclass(frozen=True)
class Verdict:
    outcome: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    """One claim: our statement, the report's words it tests, the rule, and the test."""

    id: str
    section: str
    text: str
    quote: str
    where: str
    rule: str
    test: Callable[[dict, bool], Verdict]

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
    """Per-seed values of ``key``; an epoch count of a run that did not converge is censored."""
    if row.get(key) is None:
        raise Missing(f"{what}: {key} is missing")
    v = stats.values(row[key])
    if not len(v) or not np.isfinite(v).all():
        raise Missing(f"{what}: {key} is not finite ({row[key]})")
    if key == "epochs":
        bad = [s for s in row.get("status", []) if s != "converged"]
        if bad:
            raise Missing(
                f"{what}: epochs censored (runs stopped as {', '.join(sorted(set(bad)))})"
            )
    return v


def width_rows(R, model) -> list[dict]:
    rows = sorted(payload_of(R, "phase1", model).get("rows", []), key=lambda r: r["width"])
    if len(rows) < 2:
        raise Missing(f"phase1 {model} needs at least two widths")
    return rows


def fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def interval_text(i: stats.Interval) -> str:
    if i.lo == i.hi:
        return fmt(i.value)
    return f"{fmt(i.value)} [{fmt(i.lo)}, {fmt(i.hi)}]"


def mean_text(v, exact, scale=1.0) -> str:
    return stats.fmt(stats.mean(v, exact), 4, scale)


# ---------------------------------------------------------------- the verdict rule


def decide(i: stats.Interval, lo: float = -math.inf, hi: float = math.inf) -> str:
    """The rule: interval inside (lo, hi) -> holds; entirely outside -> does not hold."""
    if not math.isfinite(i.value):
        return NOT_EVALUABLE
    if lo < i.lo and i.hi < hi:
        return HOLDS
    if i.hi <= lo or i.lo >= hi:
        return FAILS
    return INCONCLUSIVE


def combine(parts: list[tuple[str, str]]) -> Verdict:
    """Parts (outcome, evidence) -> one verdict: any failure fails; all must hold to hold."""
    outcomes = [o for o, _ in parts]
    for o in (FAILS, NOT_EVALUABLE, INCONCLUSIVE):
        if o in outcomes:
            break
    else:
        o = HOLDS
    return Verdict(o, "; ".join(e for _, e in parts))


def part(i: stats.Interval, lo: float, hi: float, text: str) -> tuple[str, str]:
    o = decide(i, lo, hi)
    return o, f"{text} → {o}"


def less(a, b, exact, name_a, name_b, what) -> tuple[str, str]:
    """mean(a) < mean(b): Welch's interval of the difference below 0."""
    d = stats.diff(a, b, exact)
    return part(
        d,
        -math.inf,
        0.0,
        f"{what} {name_a} {mean_text(a, exact)} vs {name_b} "
        f"{mean_text(b, exact)}, difference {interval_text(d)}",
    )


def ratio_in(a, b, exact, lo, hi, name_a, name_b, what) -> tuple[str, str]:
    """mean(a) / mean(b) within (lo, hi), on the log scale."""
    r = stats.log_ratio(a, b, exact)
    if not math.isfinite(r.value):
        raise Missing(
            f"{what.rstrip(':, ')}: the ratio {name_a}/{name_b} needs positive means "
            f"({mean_text(a, exact)}, {mean_text(b, exact)})"
        )
    e = stats.Interval(math.exp(r.value), math.exp(r.lo), math.exp(r.hi), r.n)
    return part(
        r,
        math.log(lo),
        math.log(hi),
        f"{what} {name_a}/{name_b} = {interval_text(e)} (claimed in ({lo:g}, {hi:g}))",
    )


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
    return "holds in the report, undecided here"


CATEGORIES = {
    "holds in both": "c_both",
    "holds in the report, not here": "c_repro",
    "holds in the report, undecided here": "c_undecided",
    "contradicted by the report's own numbers": "c_self",
    "not testable from the report's numbers": "c_untestable",
}
_COUNT_NAMES = {HOLDS: "n_hold", FAILS: "n_fail", INCONCLUSIVE: "n_inc", NOT_EVALUABLE: "n_ne"}


def counts(rows: list[dict]) -> dict:
    """The numbers the reproduction page's prose quotes: claims per verdict and category."""
    out = {"n_claims": len(rows)}
    out |= {name: sum(r["verdict"] == v for r in rows) for v, name in _COUNT_NAMES.items()}
    out |= {name: sum(r.get("category") == c for r in rows) for c, name in CATEGORIES.items()}
    return out
