"""Claims about the landscape's shape across models: the oscillation of MLP curves, CNN
landscapes smoother and more connected, and flat minima against stability (issue 20, item 18).
"""

import math

import numpy as np

from lslib.paper.names import NAMES, label
from lslib.paper.verdicts import claim_tests, design, power
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.claims_pairs import _pairs, pair_estimate
from lslib.paper.verdicts.claims_phase1 import comparable_pairs
from lslib.paper.verdicts.engine import between_models, combine, judge, less
from lslib.paper.verdicts.evidence import interval_text, seed_values, width_rows
from lslib.paper.verdicts.outcomes import NOT_EVALUABLE, Claim, Missing, Part

NEAR_MONOTONE = 1.1  # "almost monotonic": TV/range below 1.1, the curve retraces < 5 % of its range
DRAMATIC = (
    2.0  # "dramatically": a factor of at least 2 (the report's "large" differences are 2x-10x)
)
MIN_MODELS = 3  # a rank correlation between models needs at least 3 of them


def oscillatory_vs_monotone(R, exact):
    """The narrowest MLP's 1D curves oscillate more than the widest's, and the widest's are
    almost monotone (``measures.oscillation``: 1 for monotone curves)."""
    if exact:
        raise Missing("the report prints no measure of oscillation")
    rows = width_rows(R, "mlp")
    (nn, vn), (nw, vw) = [
        (label("mlp", r["width"]), seed_values(r, "oscillation", label("mlp", r["width"])))
        for r in (rows[0], rows[-1])
    ]
    what = "1D oscillation (TV/range per side, 1 = monotone):"
    more = less(vw, vn, exact, nw, nn, what, smallest=design.value("retrace"))
    e = inf.est_mean(vw)
    text = f"{nw} oscillation {interval_text(inf.interval(e))} (claimed < {NEAR_MONOTONE:g})"
    return combine([more, judge(e, -math.inf, NEAR_MONOTONE, text)])


def _log_ratio_below(e: inf.Estimate, text: str, need=None) -> Part:
    """mean ratio ≤ 1 / ``DRAMATIC`` on the log scale (shown as the ratio)."""
    if not math.isfinite(e.value):
        raise Missing(f"{text}: the ratio needs positive means")
    shown = inf.interval(e)
    shown = f"{math.exp(shown.value):.3g} [{math.exp(shown.lo):.3g}, {math.exp(shown.hi):.3g}]"
    text = f"{text} = {shown} (claimed < 1/{DRAMATIC:g})"
    return judge(e, -math.inf, -math.log(DRAMATIC), text, need=need, log=True)


def smoother_and_connected(R, exact):
    """Smoother: each CNN's mean 1D rise at most half that of the MLP of comparable parameter
    count; more connected: the CNN's mean error barrier between seeds at most half the MLP's."""
    if exact:
        raise Missing("the report prints neither 1D rises nor error barriers")
    parts = []
    for c, m in comparable_pairs(R):
        nc, nm = label("cnn", c["width"]), label("mlp", m["width"])
        vc, vm = seed_values(c, "rise", nc), seed_values(m, "rise", nm)
        need = lambda a, vc=vc, vm=vm: power.power_log_ratio(  # noqa: E731
            vc, vm, math.log1p(design.value("relative")), 1 / DRAMATIC, alpha=a
        )
        e = inf.est_log_ratio(vc, vm)
        parts.append(_log_ratio_below(e, f"smoother: 1D rise {nc}/{nm}", need))
    ec, em = (
        pair_estimate(*_pairs(R, "cnn", "error_barrier")),
        pair_estimate(*_pairs(R, "mlp", "error_barrier")),
    )
    if not (ec.value > 0 and em.value > 0):
        raise Missing("more connected: the ratio of error barriers needs positive means")
    se = math.hypot(ec.se / ec.value, em.se / em.value)
    lr = math.log(ec.value / em.value)
    e = inf.Estimate(lr, lr, se, min(ec.dof, em.dof), ec.n + em.n)
    text = "more connected: error barrier between seeds CNN/MLP (seed as the unit)"
    parts.append(_log_ratio_below(e, text))
    return combine(parts)


def _rho_part(model: str, names: list, xs: list, ys: list, what: str, skipped=()) -> Part:
    """ρ between the models of one family > 0, the model as the unit; fewer than
    ``MIN_MODELS`` models or an undefined ρ is not evaluable, with the reason."""
    head = f"{what}, {NAMES[model]} ({', '.join(names) or 'no model'})"
    head += f" [left out: {'; '.join(skipped)}]" if skipped else ""
    if len(xs) < MIN_MODELS:
        p = Part(
            NOT_EVALUABLE,
            f"{head}: {len(xs)} model(s) with both quantities; ρ between models needs "
            f"≥ {MIN_MODELS} → {NOT_EVALUABLE}",
        )
        return between_models(p, len(xs))
    e = claim_tests.est_model_spearman(xs, ys)
    if not math.isfinite(e.value):
        return Part(NOT_EVALUABLE, f"{head}: ρ undefined (a constant quantity) → {NOT_EVALUABLE}")
    text = f"{head}: Spearman ρ between {len(xs)} models {interval_text(inf.interval(e))} (claimed > 0)"
    return between_models(judge(e, 0.0, 1.0, text, need="more models, not seeds"), len(xs))


def _perturbation_part(R, model) -> Part:
    """ΔL under perturbation is measured in Phase 3 only, on one model per family."""
    p3 = R.get(("phase3", model))
    names = label(model, p3["width"]) if p3 else "none"
    p = Part(
        NOT_EVALUABLE,
        f"parameter perturbation (Phase 3's ΔL), {NAMES[model]}: measured on {int(bool(p3))} "
        f"model ({names}); ρ between models needs ≥ {MIN_MODELS} → {NOT_EVALUABLE}",
    )
    return between_models(p, int(bool(p3)))


def _phase1_family(R, model, stability) -> tuple[list, list, list, list]:
    names, xs, ys, skipped = [], [], [], []
    for r in width_rows(R, model):
        n = label(model, r["width"])
        try:
            x, y = seed_values(r, "rise", n), stability(r, n)
        except Missing as e:
            skipped.append(str(e))
            continue
        names.append(n)
        xs.append(x)
        ys.append(y)
    return names, xs, ys, skipped


def _batch_spread(r, n) -> np.ndarray:
    """λ1's coefficient of variation over batch subsets, per seed (scale-free)."""
    return seed_values(r, "l1_batch_std", n) / seed_values(r, "l1", n)


def _seed_spread(r, n) -> np.ndarray:
    """Each seed's absolute deviation of test loss from the model's seed mean: their mean is
    the model's spread over re-initializations."""
    v = seed_values(r, "test_loss", n)
    if len(v) < 2:
        raise Missing(f"{n}: one seed has no spread")
    return np.abs(v - v.mean())


def flat_is_stable(R, exact):
    """Flatter models (lower 1D rise) are the more stable, per family, the model as the unit:
    under parameter perturbation (Phase 3's ΔL), batch subsets (λ1's spread over batches) and
    re-initializations (test loss's spread over seeds)."""
    if exact:
        raise Missing("the report prints no per-model spreads to correlate")
    parts = []
    for model in ("mlp", "cnn"):
        parts.append(_perturbation_part(R, model))
        for what, f in (
            ("batch subsets (CV of λ1 over batches)", _batch_spread),
            ("re-initializations (test-loss spread over seeds)", _seed_spread),
        ):
            try:
                names, xs, ys, skipped = _phase1_family(R, model, f)
                parts.append(_rho_part(model, names, xs, ys, what, skipped))
            except Missing as err:
                parts.append(Part(NOT_EVALUABLE, f"{what}: {err} → {NOT_EVALUABLE}"))
    return combine(parts)


CLAIMS = [
    Claim(
        "1.19",
        "phase1",
        "The narrowest MLP's 1D curves oscillate more than the widest's, which are almost monotone.",
        "1D curves are highly oscillatory with large loss barriers. … 1D curves are almost monotonic and very flat around the minimum",
        "§2.2",
        "oscillation of a 1D curve: total variation over range on each side of the minimum, mean "
        "over sides and directions, per seed (1 = monotone); MLP-32's mean above MLP-128's "
        "(Welch 95 % interval of the difference), and MLP-128's mean below 1.1 (95 % interval): "
        "'almost monotonic' allows the curve to retrace at most 5 % of its range",
        oscillatory_vs_monotone,
    ),
    Claim(
        "3.19",
        "phase3",
        "CNN landscapes are at least twice as smooth (1D rise) and twice as connected (error barrier) as MLPs'.",
        "Convolutional architectures induce dramatically smoother and more connected loss land- … scapes than fully-connected MLPs",
        "§2.4",
        "smoother: each CNN's mean 1D rise over that of the MLP of nearest parameter count "
        "(within a factor 2) below 1/2; more connected: the CNN's mean error barrier between seeds "
        "(seed as the unit, jackknife) over the MLP's below 1/2; delta-method 95 % intervals on "
        "the log scale. 'Dramatically' is read as a factor ≥ 2, the least of the 2x-10x "
        "differences the report calls large",
        smoother_and_connected,
        smallest="10 % of the ratio",
    ),
    Claim(
        "3.20",
        "phase3",
        "Flatter models are more stable under perturbation, batch subsets and re-initialization.",
        "flat minima correlate with stability under parameter perturbation, batch-subset changes, and re-initializations",
        "§3.4",
        "per family, Spearman ρ between models (the model as the unit, est_model_spearman) of "
        "the mean 1D rise and each stability measure > 0 (95 % interval): Phase 3's ΔL under "
        "perturbation, λ1's coefficient of variation over batch subsets and the test loss's "
        "spread over seeds (Phase 1's widths); fewer than 3 models with both quantities: "
        "not evaluable",
        flat_is_stable,
        smallest="none declared (a between-model correlation: more models decide it, not seeds)",
    ),
]
