"""Regression tests for the verdict engine's defects 1-9 of issue 35, each with its expected
answer computed independently (a simulation with a fixed seed, a closed form, scipy)."""

import math

import numpy as np
import pytest
from scipy import stats as st

from lslib.paper.verdicts import (
    claim_tests,
    claims,
    claims_beyond,
    claims_correlations,
    claims_phase1,
    outcomes,
)
from lslib.paper.verdicts import engine as verdicts
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts import power as pw
from lslib.paper.verdicts.outcomes import (
    BEYOND,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NO_DIFF,
    NOT_EVALUABLE,
    REPORT,
    UNTESTABLE,
    Part,
)

ALPHA = 0.025


def _mc_bound(rate: float, reps: int) -> float:
    """A nominal rate plus three Monte-Carlo standard errors."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / reps)


def test_1_16_ranking_is_a_test_at_its_level():
    """Two models tied in truth (epochs 20 and 20; rise clearly ordered): the order cannot
    truly agree, so "holds" must come at most 2.5 % of the time (the old bootstrap: ~9 %)."""
    gen = np.random.default_rng(35)
    reps, held = 500, 0
    for _ in range(reps):
        rise = [gen.normal(m, 0.1, 3) for m in (1.0, 2.0, 3.0)]
        epochs = [gen.normal(m, 2.0, 3) for m in (10.0, 20.0, 20.0)]
        p = claims_correlations._ranks_part("mlp", ["a", "b", "c"], rise, epochs, False)
        held += p.outcome == HOLDS
        assert 0 <= p.p_in <= 1 and (p.outcome != HOLDS or p.p_in < ALPHA)  # a genuine p
    assert held / reps <= _mc_bound(ALPHA, reps), held / reps


def test_nan_p_values_combine_symmetrically():
    fail = Part(FAILS, "f", p_in=0.9, p_out=0.001)
    ne = Part(NOT_EVALUABLE, "n")
    a, b = verdicts.combine([fail, ne]), verdicts.combine([ne, fail])
    assert (a.outcome, a.p_out, math.isnan(a.p_in)) == (FAILS, 0.002, True)  # Bonferroni, k = 2
    assert (b.outcome, b.p_out, math.isnan(b.p_in)) == (FAILS, 0.002, True)
    # a claim not evaluable never carries a small p into Holm, in either order
    small = Part(INCONCLUSIVE, "i", p_in=0.001, p_out=0.9)
    for parts in ([small, ne], [ne, small]):
        v = verdicts.combine(parts)
        assert v.outcome == NOT_EVALUABLE and math.isnan(v.p)


def test_decisions_without_a_p_value_are_tested_or_left_out():
    # B.9 rests on one seed: no p-value, so no place in a Holm family, and it says why
    R = {
        ("phase2", "cnn"): {
            "edge": {"sgd": {"lambda1": [10.0, 39.0], "gd_threshold": 40.0, "seed": 0}}
        }
    }
    v = claims_beyond.sgd_at_the_edge("cnn")(R, False)
    assert v.outcome == HOLDS and math.isnan(v.p) and "one seed" in v.untestable
    rows = [
        {"check": False, "verdict": HOLDS, "p": math.nan, "untestable": v.untestable},
        {"check": False, "verdict": HOLDS, "p": 0.02},
    ]
    claims.adjust(rows)  # alone in the family, 0.02 < 0.025: kept
    assert [r["adjusted"] for r in rows] == [UNTESTABLE, HOLDS]


def test_equivalence_uses_the_95_percent_interval_for_the_report_too():
    """Defects 4 and 5: a report value between our 90 % and 95 % bounds is inside our 95 %
    interval (scipy's Welch interval)."""
    a, b = np.array([10.0, 10.2, 9.8]), np.array([10.1, 9.9, 10.0])
    ref = st.ttest_ind(a, b, equal_var=False)
    lo95 = ref.confidence_interval(0.95).low
    lo90 = ref.confidence_interval(0.90).low
    e = inf.est_diff(a, b)
    ours = verdicts.combine([verdicts.equivalent(e, -1.0, 1.0, "d")])
    assert ours.parts[0].stat.lo == pytest.approx(lo95)
    r = (lo95 + lo90) / 2
    theirs = verdicts.combine([verdicts.part(inf.Interval(r, r, r, 1), -1.0, 1.0, "report")])
    assert claims.against(ours, theirs) == "inside"


def test_zero_spread_is_not_certainty():
    """Three identical integer epoch counts: the spread below one epoch is rounded away, so
    s² is floored at 1/12 (rounding to a unit); identical non-integers leave it unknown."""
    p = verdicts.less([10, 10, 10], [15, 15, 15], False, "a", "b", "epochs")
    se = math.sqrt(2 * (1 / 12) / 3)  # Welch with equal variances and n = 3: 4 dof
    assert p.p_in == pytest.approx(st.t.sf(5 / se, 4), rel=1e-9)
    assert p.p_in > 0 and p.outcome == HOLDS
    q = verdicts.less([0.5] * 3, [0.7] * 3, False, "a", "b", "loss")
    assert q.outcome == INCONCLUSIVE and q.p_in == 1.0


def test_holm_families_leave_out_what_this_design_cannot_decide():
    """The report's two claims at p = 0.01 and 0.02 are adjusted among themselves (m = 2:
    0.02, 0.02 < 0.025); the claims beyond the report and an untestable correlation are not
    in their family (with them, m = 5 and 5 x 0.01 = 0.05 would undo both)."""
    rows = [
        {"check": False, "family": REPORT, "verdict": HOLDS, "p": p, "report verdict": HOLDS}
        for p in (0.01, 0.02)
    ]
    rows += [{"check": False, "family": BEYOND, "verdict": HOLDS, "p": 0.001} for _ in range(2)]
    rows.append(
        {
            "check": False,
            "family": REPORT,
            "verdict": INCONCLUSIVE,
            "p": 0.5,
            "untestable": "needs ≥ 5 models (ρ between 3)",
            "report verdict": HOLDS,
        }
    )
    claims.adjust(rows)
    assert [r["adjusted"] for r in rows] == [HOLDS, HOLDS, HOLDS, HOLDS, UNTESTABLE]
    assert rows[0]["p (Holm)"] == pytest.approx(0.02) and rows[2]["p (Holm)"] == pytest.approx(
        0.002
    )
    c = outcomes.counts(rows)
    assert (c["n_claims"], c["n_hold"], c["n_design"], c["n_testable"]) == (3, 2, 1, 2)
    assert (c["beyond_n_claims"], c["beyond_n_hold"]) == (2, 2)
    assert c["c_design"] == 1


def test_three_models_are_too_few_for_a_correlation_at_any_level():
    # the exact permutation p of a perfect ranking is 1/k!: 1/24 > 0.025 >= 1/120
    assert verdicts.models_needed(0.025) == 5
    assert verdicts.models_needed(0.025 / 55) == 7  # 1/720 > 4.5e-4 > 1/5040
    xs = [np.array([1.0, 1.1, 0.9]) + k for k in range(3)]
    e = claim_tests.est_model_spearman(xs, [x * 2 for x in xs])
    p = verdicts.between_models(verdicts.judge(e, 0.5, 1.0, "ρ"), 3)
    assert p.untestable and verdicts.combine([p]).untestable


def test_the_smallest_effect_decides_no_meaningful_difference():
    """Accuracies 0.9700 and 0.9702 (sd 0.0001): the 95 % interval of the difference lies
    inside ±0.001, the smallest effect that matters: no meaningful difference, decided, with
    TOST's p against ±0.001 (scipy's one-sided Welch tests)."""
    a, b = [0.9699, 0.9700, 0.9701], [0.9701, 0.9702, 0.9703]
    p = verdicts.less(b, a, False, "b", "a", "accuracy", smallest=0.001)  # "b lower"
    assert p.outcome == NO_DIFF
    b1 = np.array(b)
    lo = st.ttest_ind(b1 + 0.001, a, equal_var=False, alternative="greater").pvalue
    hi = st.ttest_ind(b1 - 0.001, a, equal_var=False, alternative="less").pvalue
    assert p.p_null == pytest.approx(max(lo, hi), rel=1e-9)
    v = verdicts.combine([p])
    assert v.outcome == NO_DIFF and v.p == p.p_null
    rows = [{"check": False, "verdict": NO_DIFF, "p": v.p, "report verdict": HOLDS}]
    claims.adjust(rows)
    assert rows[0]["adjusted"] == NO_DIFF and outcomes.counts(rows)["n_decided"] == 1
    assert rows[0]["category"] == "holds in the report, no meaningful difference here"


def test_seeds_needed_at_the_claims_own_level():
    """An effect of one seed sd, undecided with 3 seeds: 17 seeds per group at 2.5 %, 38 at
    Holm's first step over 55 claims (the non-central t, as G*Power)."""
    a, b = np.array([-1.0, 0.0, 1.0]), np.array([-2.0, -1.0, 0.0])  # d = 1, s = 1
    v = verdicts.combine([verdicts.less(b, a, False, "b", "a", "x")])
    assert v.outcome == INCONCLUSIVE
    assert verdicts.need_at(v, ALPHA) == pw.seeds_needed(1.0, (1.0, 1.0), 0.0) == 17
    assert verdicts.need_at(v, ALPHA / 55) == pw.seeds_needed(1.0, (1, 1), 0.0, alpha=ALPHA / 55)
    assert verdicts.need_at(v, ALPHA / 55) == 38


def test_no_claim_says_not_computed():
    assert not any("not computed" in str(c.rule) for c in claims.CLAIMS)
    import inspect

    from lslib.paper.verdicts import claims_pairs, claims_shape

    for mod in (claims_pairs, claims_shape, claims_phase1, claims_correlations, verdicts):
        assert '"not computed"' not in inspect.getsource(mod)


def test_a_threshold_claims_seeds_needed_are_at_its_own_level_too():
    """3.12/3.13's test (mean accuracy above 99 %): undecided on 3 seeds, its seeds needed at
    Holm's first step over 13 claims are the one-sample power at that level, more than at
    2.5 %; it used to give the 2.5 % number at every level."""
    from lslib.paper.verdicts import claims_phase3, design

    acc = 0.992 + 0.001 * np.array([-1.0, 0.0, 1.0])  # 99.2 % ± 0.1: 2 sd above 99 %
    test = claims_phase3.above("mlp", lambda R, m: acc, 99.0, "test accuracy (%)", 100.0, "acc")
    v = test({}, False)
    assert v.outcome == INCONCLUSIVE
    smallest = design.value("acc")
    at = {a: pw.power_mean(acc * 100, 99.0, smallest, alpha=a) for a in (ALPHA, ALPHA / 13)}
    assert verdicts.need_at(v, ALPHA) == at[ALPHA]
    assert verdicts.need_at(v, ALPHA / 13) == at[ALPHA / 13] > at[ALPHA]
