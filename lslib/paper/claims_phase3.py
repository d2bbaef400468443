"""The report's Phase 3 claims: their rules, and the claims themselves (see ``claims``)."""

import math

import numpy as np

from lslib.paper import stats
from lslib.paper.sections import label
from lslib.paper.verdicts import (
    CHANCE_LOSS,
    Claim,
    Missing,
    combine,
    interval_text,
    less,
    part,
    payload_of,
    ratio_in,
    seed_values,
)


def _p3(R, model) -> dict:
    return payload_of(R, "phase3", model)


def _pairs(R, model, key) -> np.ndarray:
    p = _p3(R, model).get("pairs") or []
    if not p:
        raise Missing(f"phase3 {model} has no seed pairs")
    return seed_values({key: [q.get(key) for q in p]}, key, f"{model} pairs")


def p3_vals(R, model, key) -> np.ndarray:
    r = _p3(R, model)
    if key in r.get("flatness", {}):
        return seed_values(r["flatness"], key, f"{model} flatness")
    return seed_values(r, key, f"phase3 {model}")


def below(model, get, limit, what):
    def test(R, exact):
        v = get(R, model)
        m = stats.mean(v, exact)
        return combine(
            [
                part(
                    m,
                    -math.inf,
                    limit,
                    f"{what}, mean over {len(v)} seed pairs: {interval_text(m)} "
                    f"(claimed < {limit:.4g})",
                )
            ]
        )

    return test


def above(model, get, limit, what, scale=1.0):
    def test(R, exact):
        v = get(R, model) * scale
        m = stats.mean(v, exact)
        return combine(
            [part(m, limit, math.inf, f"{what}: {interval_text(m)} (claimed > {limit:g})")]
        )

    return test


def cnn_mlp(get, cnn_lower: bool, what: str):
    def test(R, exact):
        c, m = get(R, "cnn"), get(R, "mlp")
        return combine(
            [
                less(c, m, exact, "CNN", "MLP", what)
                if cnn_lower
                else less(m, c, exact, "MLP", "CNN", what)
            ]
        )

    return test


def mlp_over_cnn_at_least(get, factor: float, what: str):
    def test(R, exact):
        return combine(
            [ratio_in(get(R, "mlp"), get(R, "cnn"), exact, factor, math.inf, "MLP", "CNN", what)]
        )

    return test


def pc1_flatter_than_random(model):
    def test(R, exact):
        r = _p3(R, model)
        pc1 = seed_values(r, "delta_l", f"{model} ΔL along PC1")
        ctl = seed_values(r, "control_delta_l", f"{model} ΔL along random unit directions")
        return combine([less(pc1, ctl, exact, "PC1", "random unit directions", "ΔL over [-1, 1]:")])

    return test


def pc1_parabola(model, r2_min=0.99, vertex_max=0.1):
    def test(R, exact):
        r = _p3(R, model)
        r2 = stats.mean(seed_values(r, "pc1_r2", f"{model} parabola fit"), exact)
        vx = stats.mean(np.abs(seed_values(r, "pc1_vertex", f"{model} parabola vertex")), exact)
        return combine(
            [
                part(
                    r2,
                    r2_min,
                    math.inf,
                    f"R² of a parabola through the PC1 profile {interval_text(r2)} "
                    f"(claimed > {r2_min:g})",
                ),
                part(
                    vx,
                    -math.inf,
                    vertex_max,
                    f"|vertex| {interval_text(vx)} (claimed < {vertex_max:g}, a centred parabola)",
                ),
            ]
        )

    return test


def params_near(model, width, target, rel, what):
    def test(R, exact):
        r = _p3(R, model)
        if r.get("params") is None:
            raise Missing(f"{what}: parameter count missing")
        n = float(r["params"])
        i = stats.Interval(n, n, n, 1)
        return combine(
            [
                part(
                    i,
                    target * (1 - rel),
                    target * (1 + rel),
                    f"{label(model, width)} has {n:,.0f} parameters "
                    f"(claimed {target:,.0f} ± {100 * rel:g} %)",
                )
            ]
        )

    return test


def params_ratio(lo, hi):
    def test(R, exact):
        pc, pm = _p3(R, "cnn").get("params"), _p3(R, "mlp").get("params")
        if pc is None or pm is None:
            raise Missing("parameter counts missing")
        r = pc / pm
        return combine(
            [
                part(
                    stats.Interval(r, r, r, 1),
                    lo,
                    hi,
                    f"CNN/MLP parameters {pc:,.0f}/{pm:,.0f} = {r:.3g} "
                    f"(claimed in ({lo:g}, {hi:g}))",
                )
            ]
        )

    return test


def perturbation_comparable(R, exact):
    """The adopted reading of Table 5's "Perturb. σ" is within 2x between the two models."""
    out = {}
    for model in ("mlp", "cnn"):
        f = _p3(R, model).get("flatness", {})
        out[model] = seed_values(f, "perturbation", f"{model} perturbation")
    return combine(
        [
            ratio_in(
                out["cnn"],
                out["mlp"],
                exact,
                0.5,
                2.0,
                "CNN",
                "MLP",
                "perturbation flatness (the adopted reading of “Perturb. σ”),",
            )
        ]
    )


def _pair_key(key):
    return lambda R, model: _pairs(R, model, key)


def _p3_key(key):
    return lambda R, model: p3_vals(R, model, key)


CLAIMS = [
    Claim(
        "3.1",
        "phase3",
        "MLP: no high-loss wall between seeds (path below chance-level loss).",
        "Crucially, no high-loss walls appear in either case.",
        "§4.1",
        "largest test loss on the straight path, mean over seed pairs, interval below ln 10 (a uniform guess)",
        below("mlp", _pair_key("max_loss"), CHANCE_LOSS, "largest loss on the path"),
    ),
    Claim(
        "3.2",
        "phase3",
        "SimpleCNN: no high-loss wall between seeds (path below chance-level loss).",
        "Crucially, no high-loss walls appear in either case.",
        "§4.1",
        "largest test loss on the straight path, mean over seed pairs, interval below ln 10",
        below("cnn", _pair_key("max_loss"), CHANCE_LOSS, "largest loss on the path"),
    ),
    Claim(
        "3.3",
        "phase3",
        "The CNN's barrier is higher in absolute terms than the MLP's.",
        "SimpleCNN (width = 32): The barrier is higher in absolute terms (≈ 0.75)",
        "§4.1",
        "barrier over seed pairs, CNN minus MLP, Welch interval > 0",
        cnn_mlp(_pair_key("barrier"), False, "barrier"),
    ),
    Claim(
        "3.4",
        "phase3",
        "The CNN's endpoint loss is more than 2.5x lower than the MLP's.",
        "the baseline loss at the endpoints is more than 2.5× lower (0.026 vs. 0.065)",
        "§4.1",
        "ratio of mean endpoint test losses, MLP over CNN (delta-method interval) > 2.5",
        mlp_over_cnn_at_least(_pair_key("endpoint_loss"), 2.5, "endpoint loss"),
    ),
    Claim(
        "3.5",
        "phase3",
        "The CNN's barrier relative to its endpoint loss is lower than the MLP's.",
        "yielding a lower relative barrier and a smoother effective landscape",
        "§4.1",
        "relative barrier over seed pairs, CNN minus MLP, Welch interval < 0",
        cnn_mlp(_pair_key("relative_barrier"), True, "relative barrier"),
    ),
    Claim(
        "3.6",
        "phase3",
        "MLP: the loss along PC1 is flatter than along a random direction of the same norm.",
        "The loss forms a nearly perfect symmetric parabola with total variation ΔL ≈ 0.0012",
        "§4.2",
        "ΔL over [−1, 1] along PC1 minus along random unit directions, per seed, Welch interval < 0",
        pc1_flatter_than_random("mlp"),
    ),
    Claim(
        "3.7",
        "phase3",
        "SimpleCNN: the loss along PC1 is flatter than along a random direction of the same norm.",
        "The valley is even flatter (ΔL ≈ 0.0018)",
        "§4.2",
        "ΔL along PC1 minus along random unit directions, Welch interval < 0",
        pc1_flatter_than_random("cnn"),
    ),
    Claim(
        "3.8",
        "phase3",
        "MLP: the PC1 profile is a nearly perfect, centred parabola.",
        "The loss forms a nearly perfect symmetric parabola",
        "§4.2",
        "R² of a least-squares parabola > 0.99 and |vertex| < 0.1, seed means with t-intervals",
        pc1_parabola("mlp"),
    ),
    Claim(
        "3.9",
        "phase3",
        "The CNN is flatter than the MLP along PC1.",
        "SimpleCNN: The valley is even flatter (ΔL ≈ 0.0018)",
        "§4.2",
        "ΔL along PC1, CNN minus MLP, Welch interval < 0",
        cnn_mlp(_p3_key("delta_l"), True, "ΔL along PC1"),
    ),
    Claim(
        "3.10",
        "phase3",
        "MLP-128 has about 100k parameters.",
        "A two-layer MLP with hidden width 128 (∼ 100k parameters)",
        "§4",
        "parameter count within ±10 % of 100,000",
        params_near("mlp", 128, 100_000, 0.1, "MLP"),
    ),
    Claim(
        "3.11",
        "phase3",
        "SimpleCNN-32 has nearly 3x the MLP's parameters.",
        "despite having nearly 3× more parameters",
        "§4.2",
        "CNN/MLP parameter ratio in (2.5, 3.5)",
        params_ratio(2.5, 3.5),
    ),
    Claim(
        "3.12",
        "phase3",
        "MLP: the Phase 3 model exceeds 99 % test accuracy.",
        "Both reach near state-of-the-art test cross-entropy … and exceed 99% accuracy.",
        "§4",
        "test accuracy (%), seed mean with t-interval > 99",
        above("mlp", _p3_key("test_acc"), 99.0, "test accuracy (%)", 100.0),
    ),
    Claim(
        "3.13",
        "phase3",
        "SimpleCNN: the Phase 3 model exceeds 99 % test accuracy.",
        "Both reach near state-of-the-art test cross-entropy … and exceed 99% accuracy.",
        "§4",
        "test accuracy (%), seed mean with t-interval > 99",
        above("cnn", _p3_key("test_acc"), 99.0, "test accuracy (%)", 100.0),
    ),
    Claim(
        "3.14",
        "phase3",
        "The CNN has a higher λ1 (20-batch average) than the MLP.",
        "Despite the CNN exhibiting a higher dominant Hessian eigenvalue",
        "§4.3",
        "λ1, CNN minus MLP, Welch interval > 0",
        cnn_mlp(_p3_key("lambda1"), False, "λ1"),
    ),
    Claim(
        "3.15",
        "phase3",
        "The CNN has a higher 1D sharpness than the MLP.",
        "… and a higher 1D sharpness (a consequence of filter-scale differences)",
        "§4.3",
        "1D sharpness, CNN minus MLP, Welch interval > 0",
        cnn_mlp(_p3_key("sharpness_1d"), False, "1D sharpness"),
    ),
    Claim(
        "3.16",
        "phase3",
        "The two models' perturbation flatness is comparable (within 2x).",
        "its perturbation-based flatness remains comparable",
        "§4.3",
        "ratio of mean ΔL at σ = 10⁻³ (delta-method interval) inside (1/2, 2)",
        perturbation_comparable,
    ),
]
