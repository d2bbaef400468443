"""Claims about seed pairs (Phase 3's interpolations): the seed as the unit of the pair
mean (jackknife over seeds), Frankle's error-barrier criterion, and CNN against MLP."""

import dataclasses
import math

import numpy as np

from lslib.paper.sections.measures import FRANKLE_THRESHOLD
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.engine import combine, judge, part, r_mean
from lslib.paper.verdicts.evidence import interval_text, payload_of, seed_values
from lslib.paper.verdicts.outcomes import CHANCE_LOSS, Claim, Missing


def _p3(R, model) -> dict:
    return payload_of(R, "phase3", model)


def _pairs(R, model, key) -> tuple[np.ndarray, list]:
    """Per-pair values of ``key`` and each pair's two seeds (indices)."""
    p = _p3(R, model).get("pairs") or []
    if not p:
        raise Missing(f"phase3 {model} has no seed pairs")
    v = seed_values({key: [q.get(key) for q in p]}, key, f"{model} pairs")
    seeds = [tuple(q.get("seeds", (i, -1 - i))) for i, q in enumerate(p)]
    return v, seeds


def pair_estimate(values, seeds) -> inf.Estimate:
    """The mean over seed pairs with the seed as the unit: pairs that share a seed are not
    independent, so the standard error is the jackknife's over seeds (leave one seed and
    its pairs out; n - 1 degrees of freedom), not the pairs' spread."""
    v = np.asarray(values, float)
    ids = sorted({s for p in seeds for s in p})
    m = float(v.mean())
    if len(ids) < 3:
        return inf.Estimate(m, m, math.inf, math.inf, len(ids))
    loo = np.array([v[[s not in p for p in seeds]].mean() for s in ids])
    n = len(ids)
    se = math.sqrt((n - 1) / n * float(((loo - loo.mean()) ** 2).sum()))
    return inf.Estimate(m, m, se, n - 1, n) if se > 0 else inf.Estimate(m, m, 0.0, math.inf, n)


def p3_vals(R, model, key) -> np.ndarray:
    """Phase 3's per-seed values of ``key`` for ``model`` (from its flatness block where
    the key is one of its measures)."""
    r = _p3(R, model)
    if key in r.get("flatness", {}):
        return seed_values(r["flatness"], key, f"{model} flatness")
    return seed_values(r, key, f"phase3 {model}")


def _report_pair(R, model, key, printed=None) -> inf.Interval:
    """The report's pair quantity with its rounding interval (derived ones by interval
    arithmetic from its printed barrier and endpoint loss)."""
    q = (_p3(R, model).get("pairs") or [{}])[0]
    b, e = r_mean([q["barrier"]], printed), r_mean([q["endpoint_loss"]], printed)
    if key == "relative_barrier":
        return inf.Interval(b.value / e.value, b.lo / e.hi, b.hi / e.lo, 1)
    if key == "max_loss":
        return inf.Interval(b.value + e.value, b.lo + e.lo, b.hi + e.hi, 1)
    return r_mean([q[key]], printed)


def connected(model):
    """Frankle et al.'s criterion: the mean error barrier over seed pairs below 2 %; the
    report's own reading (largest loss below ln 10) is shown beside it, not judged."""

    def test(R, exact):
        if exact:  # the report prints no error barrier: its own reading is what it tested
            i = _report_pair(R, model, "max_loss", exact)
            text = (
                f"the report prints no error barrier; its reading, the largest loss on the "
                f"path {interval_text(i)} (below ln 10 = {CHANCE_LOSS:.4g})"
            )
            # another quantity than ours: judged, but not placed against our interval
            return combine([dataclasses.replace(part(i, -math.inf, CHANCE_LOSS, text), stat=None)])
        v, seeds = _pairs(R, model, "error_barrier")
        e = pair_estimate(v, seeds)
        ml = pair_estimate(*_pairs(R, model, "max_loss"))
        text = (
            f"error barrier, mean over {len(v)} seed pairs (seed as the unit): "
            f"{interval_text(inf.interval(e))} (claimed < {FRANKLE_THRESHOLD:g}); the "
            f"report's reading, largest loss {interval_text(inf.interval(ml))} vs ln 10"
        )
        return combine([judge(e, -math.inf, FRANKLE_THRESHOLD, text)])

    return test


def cnn_mlp_pairs(key: str, cnn_lower: bool, what: str):
    """A pair quantity, CNN against MLP: the difference of the two seed-as-unit means."""

    def test(R, exact):
        if exact:
            c, m = _report_pair(R, "cnn", key, exact), _report_pair(R, "mlp", key, exact)
            d = inf.Interval(c.value - m.value, c.lo - m.hi, c.hi - m.lo, 2)
            text = f"{what} CNN {interval_text(c)} vs MLP {interval_text(m)}, difference {interval_text(d)}"
        else:
            ec, em = pair_estimate(*_pairs(R, "cnn", key)), pair_estimate(*_pairs(R, "mlp", key))
            d0 = ec.value - em.value
            dof = min(ec.dof, em.dof)
            e = inf.Estimate(d0, d0, math.hypot(ec.se, em.se), dof, ec.n + em.n)
            text = (
                f"{what} CNN {interval_text(inf.interval(ec))} vs MLP "
                f"{interval_text(inf.interval(em))} (seed as the unit), difference "
                f"{interval_text(inf.interval(e))}"
            )
        lo, hi = (-math.inf, 0.0) if cnn_lower else (0.0, math.inf)
        if exact:
            return combine([judge(None, lo, hi, text, d)])
        return combine([judge(e, lo, hi, text)])

    return test


def bezier_low(model):
    """The trained Bezier curve as a low-loss path: its loss barrier per pair over the pair's
    endpoint loss below 1 (the curve never more than doubles its endpoints' loss), mean over
    pairs with the seed as the unit."""

    def test(R, exact):
        if exact:
            raise Missing("the report prints no barrier along its Bezier curves")
        b, seeds = _pairs(R, model, "bezier_barrier")
        e_loss, _ = _pairs(R, model, "endpoint_loss")
        if not (e_loss > 0).all():
            raise Missing(f"{model}: endpoint losses must be positive")
        e = pair_estimate(b / e_loss, seeds)
        text = (
            f"{model.upper()} Bezier loss barrier / endpoint loss, mean over {len(b)} seed "
            f"pairs (seed as the unit): {interval_text(inf.interval(e))} (claimed < 1)"
        )
        return judge(e, -math.inf, 1.0, text)

    return test


def linear_across_seeds(R, exact):
    """Linearly connected across seeds: Frankle's error barrier below 2 % on the straight
    path between seeds, in each family (after permutation alignment shown beside)."""
    if exact:
        raise Missing("the report prints no error barrier")
    parts = []
    for model in ("mlp", "cnn"):
        e = pair_estimate(*_pairs(R, model, "error_barrier"))
        try:
            a = interval_text(
                inf.interval(pair_estimate(*_pairs(R, model, "aligned_error_barrier")))
            )
        except Missing:
            a = "—"
        text = (
            f"{model.upper()} error barrier, plain {interval_text(inf.interval(e))} "
            f"(claimed < {FRANKLE_THRESHOLD:g}); after permutation alignment {a}"
        )
        parts.append(judge(e, -math.inf, FRANKLE_THRESHOLD, text))
    return combine(parts)


_BEZIER_RULE = (
    "loss barrier along the trained Bezier curve over the pair's endpoint loss, mean over seed "
    "pairs (seed as the unit, jackknife), 95 % interval < 1 in each family"
)


def _bezier_both(R, exact):
    return combine([bezier_low("mlp")(R, exact), bezier_low("cnn")(R, exact)])


CLAIMS = [
    Claim(
        "3.17",
        "phase3",
        "A trained Bezier curve joins independently trained solutions at low loss.",
        "The existence of a continuous low-loss path between independently trained solutions",
        "§4.1",
        _BEZIER_RULE,
        _bezier_both,
    ),
    Claim(
        "3.18",
        "phase3",
        "Solutions are linearly connected across seeds (error barrier below 2 %).",
        "low-curvature manifolds that are linearly connected across initialization and random seeds",
        "§4.3",
        "Frankle et al.'s error barrier on the straight path between seeds, plain (no "
        "alignment), mean over seed pairs (seed as the unit, jackknife), 95 % interval < 2 % "
        "in MLP and CNN; the barrier after permutation alignment shown beside",
        linear_across_seeds,
    ),
]
