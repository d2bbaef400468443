"""The verdicts' vocabulary: the five outcomes, a claim, its parts and verdict, and the counts.

An outcome is one of ``OUTCOMES`` (``UNTESTABLE`` is an adjusted label); a ``Claim`` pairs
the report's words with a test that returns a ``Verdict`` made of ``Part`` decisions (or
raises ``Missing``, read as not evaluable). ``category`` places a claim by our verdict and
the verdict on the report's own numbers; ``counts`` gives the numbers the reproduction page
quotes. The rule that decides them is in ``engine``.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lslib.paper.verdicts import inference as inf

HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUABLE = (
    "holds",
    "does not hold",
    "inconclusive",
    "not evaluable",
)
# a decided outcome: the 95 % interval lies inside ± the smallest effect that matters, so
# the claimed difference does not hold in substance (an equivalence test at the same level)
NO_DIFF = "no meaningful difference"
OUTCOMES = (HOLDS, FAILS, NO_DIFF, INCONCLUSIVE, NOT_EVALUABLE)
DECIDED = (HOLDS, FAILS, NO_DIFF)
# an adjusted label, not a raw outcome: no data this design can produce decides the claim
UNTESTABLE = "not testable with this design"
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over 10 classes
ALPHA = 0.025  # one-sided level of each decision, so the family level of Holm's step-down


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
    p_null: float = math.nan  # p of "no meaningful difference" (inside ± the smallest effect)
    # the seeds that would decide this part at a one-sided level (Holm's step level)
    need_at: Callable[[float], int | None] | None = field(default=None, repr=False)
    untestable: str = ""  # why no data of this design can decide it ("needs ≥ 5 models")


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome and evidence, combined from its parts, with the claim's p-values."""

    outcome: str
    evidence: str
    parts: tuple = field(default=(), repr=False)
    p_in: float = math.nan
    p_out: float = math.nan
    need: int | str | None = None
    p_null: float = math.nan
    untestable: str = ""  # non-empty: no data of this design decides it (left out of Holm)

    @property
    def p(self) -> float:
        """Holm's input: the p of the decision taken (the smallest when undecided); NaN
        when not evaluable, which no Holm family can reject."""
        if self.outcome == HOLDS:
            return self.p_in
        if self.outcome == FAILS:
            return self.p_out
        if self.outcome == NO_DIFF:
            return self.p_null
        if self.outcome == NOT_EVALUABLE:
            return math.nan
        return float(np.nanmin([self.p_in, self.p_out, self.p_null, 1.0]))


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
    options: dict = field(default_factory=dict)  # the test's options from the design (paired)

    def verdict(self, results: dict, exact: bool = False) -> Verdict:
        """The claim's verdict on ``results`` (``exact``: on the report's numbers); missing
        evidence (``Missing``) reads not evaluable."""
        try:
            return self.test(results, exact, **self.options)
        except Missing as e:
            return Verdict(NOT_EVALUABLE, str(e))


# ---------------------------------------------------------------- categories and counts


def category(ours: str, report: str) -> str:
    """Where a claim stands, given our verdict and the verdict on the report's numbers (the
    report's own numbers inside its smallest effect contradict a claimed difference)."""
    if report in (FAILS, NO_DIFF):
        return "contradicted by the report's own numbers"
    if report == NOT_EVALUABLE:
        return "not testable from the report's numbers"
    if ours == HOLDS:
        return "holds in both"
    if ours == FAILS:
        return "holds in the report, not here"
    if ours == NO_DIFF:
        return "holds in the report, no meaningful difference here"
    if ours == NOT_EVALUABLE:
        return "holds in the report, not evaluable here"
    if ours == UNTESTABLE:
        return "holds in the report, not testable with this design"
    return "holds in the report, undecided here"


CATEGORIES = {
    "holds in both": "c_both",
    "holds in the report, not here": "c_repro",
    "holds in the report, no meaningful difference here": "c_nmd",
    "holds in the report, undecided here": "c_undecided",
    "holds in the report, not evaluable here": "c_ne_here",
    "holds in the report, not testable with this design": "c_design",
    "contradicted by the report's own numbers": "c_self",
    "not testable from the report's numbers": "c_untestable",
}
_COUNT_NAMES = {
    HOLDS: "n_hold",
    FAILS: "n_fail",
    NO_DIFF: "n_nmd",
    INCONCLUSIVE: "n_inc",
    NOT_EVALUABLE: "n_ne",
    UNTESTABLE: "n_design",
}
REPORT, BEYOND = "the report's claims", "beyond the report"  # the Holm families


def counts(rows: list[dict]) -> dict:
    """The numbers the reproduction page's prose quotes: the report's claims (checks of this
    reproduction and its claims beyond the report apart) per adjusted verdict, per raw
    verdict (``raw_…``) and per category; ``n_decided`` adds holds, does not hold and no
    meaningful difference, ``n_testable`` leaves out what the design cannot decide, and
    ``beyond_…`` count the claims beyond the report, their own family."""
    out = {}
    for prefix, fam in (("", REPORT), ("beyond_", BEYOND)):
        rs = [r for r in rows if not r.get("check") and r.get("family", REPORT) == fam]
        key = "adjusted" if all("adjusted" in r for r in rs) else "verdict"
        c = {"n_claims": len(rs)}
        c |= {name: sum(r[key] == v for r in rs) for v, name in _COUNT_NAMES.items()}
        c["n_decided"] = c["n_hold"] + c["n_fail"] + c["n_nmd"]
        c["n_testable"] = c["n_claims"] - c["n_design"]
        if not prefix:
            c |= {f"raw_{n}": sum(r["verdict"] == v for r in rs) for v, n in _COUNT_NAMES.items()}
            c |= {name: sum(r.get("category") == k for r in rs) for k, name in CATEGORIES.items()}
        out |= {prefix + k: v for k, v in c.items()}
    return out
