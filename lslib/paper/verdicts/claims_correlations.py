"""The rules of the report's Phase 1 correlation claims: ρ between the models of a family.

``correlation`` reads Spearman's ρ between the models of each family (the model is the unit,
the seeds' spread entering through Fisher z); ``less_predictive_for_cnn`` compares its
strength between families; ``ranks_agree`` asks whether ordering the models by mean 1D rise
orders them by mean epochs. The claims that use them are in ``claims_phase1``.
"""

import itertools
import math

import numpy as np

from lslib.paper.names import NAMES, label
from lslib.paper.verdicts import claim_tests, power
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.between import Between
from lslib.paper.verdicts.engine import (
    between_models,
    combine,
    judge,
)
from lslib.paper.verdicts.evidence import interval_text, seed_values, width_rows
from lslib.paper.verdicts.outcomes import (
    ALPHA,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Missing,
    Part,
)

_MORE = "more models, not seeds"  # a correlation between models: models are its unit


def _family(R, model, keys) -> tuple[list, list, list]:
    names, xs, ys = [], [], []
    for r in width_rows(R, model):
        n = label(model, r["width"])
        names.append(n)
        xs.append(seed_values(r, keys[0], n))
        ys.append(seed_values(r, keys[1], n))
    return names, xs, ys


def _rho(xs, ys, exact) -> inf.Estimate:
    """ρ between models (model means; the model is the unit, the seeds' spread enters)."""
    if exact:
        return inf.est_spearman([x.mean() for x in xs], [y.mean() for y in ys], True)
    return claim_tests.est_model_spearman(xs, ys)


def correlation(keys: tuple[str, str], lo: float, hi: float, models=("mlp", "cnn")):
    """Spearman's ρ between the models of each family (model means, the model as the unit);
    a claim over both families holds only if it holds in each."""

    def test(R, exact):
        parts = []
        for model in models:
            names, xs, ys = _family(R, model, keys)
            e = _rho(xs, ys, exact)
            if not math.isfinite(e.value):
                raise Missing(
                    f"Spearman ρ({keys[0]}, {keys[1]}) is undefined over the {len(xs)} "
                    f"{model} models (fewer than 3, or a constant quantity)"
                )
            i = inf.interval(e)
            text = (
                f"{NAMES[model]}: Spearman ρ({keys[0]}, {keys[1]}) between {len(xs)} models = "
                f"{interval_text(i)} (claimed in ({lo:g}, {hi:g}))"
            )
            if exact:
                parts.append(judge(None, lo, hi, text, i))
            else:
                parts.append(between_models(judge(e, lo, hi, text, need=_MORE), len(xs)))
        return combine(parts)

    return test


def less_predictive_for_cnn(R, exact):
    """|ρ(λ1, accuracy)| between CNN models is below that between MLP models: the claim is
    about strength, so the signs do not enter.

    Holds when the CNN family's upper bound of |ρ| lies below the MLP family's lower bound;
    does not hold when the MLP's upper bound lies below the CNN's lower bound. Each family's
    bounds are `between.Between` bounds at α/3 a side: an upper bound of |ρ| errs at most
    α/3 and a lower one at most 2α/3 (folded at 0, either side of ρ can put |ρ| too high),
    so a decision errs at most α when the two strengths are equal (Bonferroni;
    approximate as the bounds are, and conservative: the old difference of |Fisher z|,
    normal on a folded, plug-in scale, erred 2-4 times as often at |ρ| = 0.9, 6 models a
    family; tests/test_between_models.py). p: the smallest α at which it would decide."""
    fam = {m: _family(R, m, ("l1", "test_acc"))[1:] for m in ("mlp", "cnn")}
    es = {m: _rho(*fam[m], exact) for m in fam}
    em, ec = es["mlp"], es["cnn"]
    if not (math.isfinite(em.value) and math.isfinite(ec.value)):
        raise Missing("ρ(λ1, accuracy) is undefined for one family")
    shown = {m: claim_tests.abs_interval(inf.interval(es[m])) for m in es}
    text = (
        f"|ρ(λ1, accuracy)| between models: MLP {interval_text(shown['mlp'])}, "
        f"CNN {interval_text(shown['cnn'])}"
    )
    if exact:
        d = abs(ec.value) - abs(em.value)
        return combine([judge(None, -math.inf, 0.0, text, inf.Interval(d, d, d, ec.n + em.n))])
    bm, bc = (Between.of(*fam[m]) for m in ("mlp", "cnn"))
    p_in, p_out = _p_below(bc, bm), _p_below(bm, bc)
    o = HOLDS if p_in < ALPHA else FAILS if p_out < ALPHA else INCONCLUSIVE
    text += f"; CNN below MLP (p = {p_in:.3g}), MLP below CNN (p = {p_out:.3g}) → {o}"
    need = _MORE if o == INCONCLUSIVE else None
    text += f"; seeds needed: {need}" if need else ""
    part = Part(o, text, None, None, False, p_in, p_out, need)
    return combine([between_models(part, min(ec.n, em.n))])


def _p_below(a: Between, b: Between) -> float:
    """The smallest α at which |ρ| of ``a`` is bounded below |ρ| of ``b`` (both at α/3)."""

    def clear(alpha):
        return a.abs_bounds(alpha / 3)[1] < b.abs_bounds(alpha / 3)[0]

    lo, hi = 1e-12, 1.0
    if not clear(hi) or clear(lo):
        return hi if not clear(hi) else lo
    for _ in range(40):  # bisection on log α: the bounds narrow as α grows
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if clear(mid) else (mid, hi)
    return hi


def ranks_agree(R, exact):
    """Within each family, ordering the models by mean 1D rise orders them by mean epochs."""
    parts = []
    for model in ("mlp", "cnn"):
        names, rise, epochs = _family(R, model, ("rise", "epochs"))
        parts.append(_ranks_part(model, names, rise, epochs, exact))
    return combine(parts)


def _ranks_part(model, names, rise, epochs, exact) -> Part:
    """The ranking by mean 1D rise equals the ranking by mean epochs, as a test at 2.5 %.

    Holds: in the order of the mean rises, every adjacent step rises in both quantities,
    each step's one-sided Welch test at 2.5 % (intersection-union, Berger 1982: the orders
    of the true means then agree; p the largest step p). Does not hold: some pair of models
    is ordered oppositely by the two quantities, both significantly (intersection-union
    within the pair, Bonferroni over the k(k - 1)/2 pairs). Each test uses one quantity's
    seeds, so a run's rise and epochs need no pairing. (A seed bootstrap of "ρ = 1 in
    ≥ 97.5 % of resamples" was about four times too liberal with 3 seeds, and its share no p-value.)
    The report's numbers: the order of its means."""
    mr, me = [float(v.mean()) for v in rise], [float(v.mean()) for v in epochs]
    point = inf.spearman(mr, me, True).value
    if not math.isfinite(point):
        raise Missing(f"the {model} ranking is undefined (a constant quantity)")
    order = [int(i) for i in np.argsort(mr, kind="stable")]
    ranked = ", ".join(names[i] for i in order)
    head = f"{NAMES[model]}, flattest to roughest by mean 1D rise: {ranked}; Spearman ρ with mean epochs {point:.3g}"
    if exact:
        o = HOLDS if point == 1 else FAILS
        return Part(o, f"{head} → {o}")
    steps = [(i, j) for i, j in itertools.pairwise(order)]
    p_in = max(
        inf.p_beyond(inf.est_diff(q[j], q[i]), 0.0, +1) for i, j in steps for q in (rise, epochs)
    )
    pairs = list(itertools.combinations(range(len(mr)), 2))
    p_pair = min(
        max(
            inf.p_beyond(inf.est_diff(rise[i], rise[j]), 0.0, s),
            inf.p_beyond(inf.est_diff(epochs[i], epochs[j]), 0.0, -s),
        )
        for i, j in pairs
        for s in (1, -1)
    )
    p_out = min(1.0, len(pairs) * p_pair)
    o = HOLDS if p_in < ALPHA else FAILS if p_out < ALPHA else INCONCLUSIVE

    def need(level):
        ns = [
            power.power_diff(q[j], q[i], 0.0, alpha=level) for i, j in steps for q in (rise, epochs)
        ]
        return None if None in ns else max(ns)

    n = need(ALPHA) if o == INCONCLUSIVE else None
    text = (
        f"{head}; every step up in both (p = {p_in:.3g}), a pair reversed (p = {p_out:.3g}) → {o}"
    )
    text += f"; {n} seeds per group would decide it at 80 % power" if n else ""
    return Part(o, text, None, None, False, p_in, p_out, n, need_at=need)
