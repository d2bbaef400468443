"""The report's claims that the instruments beyond it test (see ``claims`` and ``beyond``):
sharpness against generalization, measure by measure, over every model of a family; and
SGD's sharp SimpleCNN minimum against its stability threshold."""

import dataclasses
import math

import numpy as np

from lslib.paper.names import NAMES
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.claim_tests import est_model_spearman, model_spearman
from lslib.paper.verdicts.engine import between_models, combine, judge, part
from lslib.paper.verdicts.evidence import interval_text, payload_of
from lslib.paper.verdicts.outcomes import Claim, Missing

# The sharpness measures the claim is judged on: payload key -> name. Epsilon-sharpness is
# computed for Phase 3's model alone, so it has no correlation over models.
MEASURES = {
    "l1": "λ1",
    "adaptive_max_linf": "adaptive worst-case ℓ∞ sharpness",
    "adaptive_max_l2": "adaptive worst-case ℓ2 sharpness",
    "adaptive_avg": "adaptive average-case sharpness",
}
EDGE_SHARE = 0.9  # "at the edge": lambda_1 reaches at least this share of 2 / eta


def family_rows(R: dict, model: str) -> list[dict]:
    """Every model of the family (Phase 3's payload ``family``), at least three."""
    rows = payload_of(R, "phase3", model).get("family")
    if not rows:
        raise Missing(f"{model}: no sharpness and generalization of the family's models")
    if len(rows) < 3:
        raise Missing(f"{model}: {len(rows)} models, a rank correlation needs at least 3")
    return rows


def per_model(rows: list[dict], key: str) -> list[np.ndarray]:
    """Each model's per-seed values of ``key``."""
    out = []
    for r in rows:
        v = inf.values(r.get(key) or [])
        if not len(v) or not np.isfinite(v).all():
            raise Missing(f"{r['model']}: {key} is missing or not finite")
        out.append(v)
    return out


def correlation(R: dict, model: str, key: str, against: str = "gap") -> inf.Interval:
    """Spearman's rho between the models' ``key`` and ``against``, the model as the unit."""
    rows = family_rows(R, model)
    return model_spearman(per_model(rows, key), per_model(rows, against))


def correlations(R: dict, model: str) -> dict:
    """(measure, against) -> the interval of Spearman's rho, for each measure against the
    gap and the test error ({} when the family is missing)."""
    out = {}
    for key in MEASURES:
        for against in ("gap", "test_error"):
            try:
                out[(key, against)] = correlation(R, model, key, against)
            except Missing:
                pass
    return out


def sharp_generalize_worse(model: str, key: str):
    """Sharper models have the larger generalization gap: rho > 0, interval above 0."""

    def test(R, exact):
        i = correlation(R, model, key)
        if not math.isfinite(i.value):
            raise Missing(f"{model}: the rank correlation of {MEASURES[key]} is undefined")
        e = correlation(R, model, key, "test_error")
        n = len(family_rows(R, model))
        text = (
            f"Spearman ρ of {MEASURES[key]} with the generalization gap over {n} models: "
            f"{interval_text(i)} (claimed > 0); with the test error {interval_text(e)}"
        )
        rows = family_rows(R, model)
        est = est_model_spearman(per_model(rows, key), per_model(rows, "gap"))
        part = judge(est, 0.0, math.inf, text, need="more models, not seeds")
        return combine([between_models(part, n)])  # with its p-values, for Holm

    return test


def sgd_at_the_edge(model: str):
    """Plain SGD's lambda_1 reaches its stability threshold 2 / eta during training."""

    def test(R, exact):
        edge = payload_of(R, "phase2", model).get("edge", {}).get("sgd")
        if not edge or not edge.get("lambda1"):
            raise Missing(f"{model}: no λ1 per epoch of plain SGD")
        top, cap = max(edge["lambda1"]), edge["gd_threshold"]
        r = top / cap
        text = (
            f"largest λ1 over epochs (seed {edge['seed']}, fixed training images) {top:.4g} "
            f"= {r:.3g} × 2/η = {cap:.4g} (claimed ≥ {EDGE_SHARE:g} × 2/η, first seed only)"
        )
        p = part(inf.Interval(r, r, r, 1), EDGE_SHARE, math.inf, text)
        # one seed is an observation, not a test: no p-value, so no place in a Holm family
        why = "one seed: needs ≥ 2 seeds for a test"
        return combine([dataclasses.replace(p, untestable=why, evidence=f"{p.evidence} [{why}]")])

    return test


QUOTE = "Sharp minima correlate with poorer generalization"
CLAIMS = [
    Claim(
        f"B.{i + 1}",
        "beyond",
        f"{NAMES[m]}: sharper models ({name}) generalize worse (larger test − train loss).",
        QUOTE,
        "§3.4",
        f"Spearman ρ between the models' {name} and generalization gap (test − train loss), "
        "the model as the unit (Phase 1 widths, Phase 2 optimizers, Phase 3), interval > 0",
        sharp_generalize_worse(m, key),
    )
    for i, (m, (key, name)) in enumerate((m, kv) for m in ("mlp", "cnn") for kv in MEASURES.items())
] + [
    Claim(
        f"B.{2 * len(MEASURES) + 1}",
        "beyond",
        "SimpleCNN: plain SGD's sharp minimum is SGD's instability (λ1 at its threshold 2/η).",
        "This reflects the well-known instability of unnormalized convolutional layers under "
        "pure SGD.",
        "§3.3",
        f"largest λ1 per epoch on fixed training images ≥ {EDGE_SHARE:g} × 2/η "
        "(Cohen et al. 2021), first seed",
        sgd_at_the_edge("cnn"),
    )
]
