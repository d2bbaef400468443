"""The report's Phase 1 claims: their rules, and the claims themselves (see ``claims``)."""

import math

import numpy as np

from lslib.models import build_model, n_params
from lslib.paper import stats
from lslib.paper.sections import label
from lslib.paper.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Claim,
    Missing,
    Verdict,
    combine,
    interval_text,
    less,
    mean_text,
    part,
    ratio_in,
    seed_values,
    width_rows,
)


def _comparable_pairs(R) -> list[tuple[dict, dict]]:
    """Each CNN width with the MLP width of the nearest parameter count (log scale)."""
    mlps, cnns = width_rows(R, "mlp"), width_rows(R, "cnn")
    count = lambda m, w: n_params(build_model(m, w))  # noqa: E731
    out = []
    for c in cnns:
        pc = count("cnn", c["width"])
        m = min(mlps, key=lambda r: abs(math.log(count("mlp", r["width"]) / pc)))
        out.append((c, m))
    return out


def cnn_vs_comparable_mlp(key: str, cnn_lower: bool, what: str):
    def test(R, exact):
        parts = []
        for c, m in _comparable_pairs(R):
            nc, nm = label("cnn", c["width"]), label("mlp", m["width"])
            vc, vm = seed_values(c, key, nc), seed_values(m, key, nm)
            parts.append(
                less(vc, vm, exact, nc, nm, what)
                if cnn_lower
                else less(vm, vc, exact, nm, nc, what)
            )
        return combine(parts)

    return test


def width_trend(model: str, key: str, sign: int, what: str):
    """The least-squares slope of ``key`` on log2(width), over every seed, has ``sign``."""

    def test(R, exact):
        rows = width_rows(R, model)
        groups = [seed_values(r, key, label(model, r["width"])) for r in rows]
        s = stats.slope([math.log2(r["width"]) for r in rows], groups, exact)
        means = ", ".join(
            f"{label(model, r['width'])} {mean_text(g, exact)}"
            for r, g in zip(rows, groups, strict=True)
        )
        lo, hi = (0.0, math.inf) if sign > 0 else (-math.inf, 0.0)
        return combine(
            [part(s, lo, hi, f"{what}: {means}; slope per doubling of width {interval_text(s)}")]
        )

    return test


def every_cnn_vs_widest_mlp(key: str, cnn_lower: bool, what: str):
    def test(R, exact):
        m = width_rows(R, "mlp")[-1]
        nm = label("mlp", m["width"])
        vm = seed_values(m, key, nm)
        parts = []
        for c in width_rows(R, "cnn"):
            nc = label("cnn", c["width"])
            vc = seed_values(c, key, nc)
            parts.append(
                less(vc, vm, exact, nc, nm, what)
                if cnn_lower
                else less(vm, vc, exact, nm, nc, what)
            )
        return combine(parts)

    return test


def cnn_rises_alike(factor: float):
    def test(R, exact):
        rows = width_rows(R, "cnn")
        parts = []
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = rows[i], rows[j]
                na, nb = label("cnn", a["width"]), label("cnn", b["width"])
                parts.append(
                    ratio_in(
                        seed_values(a, "rise", na),
                        seed_values(b, "rise", nb),
                        exact,
                        1 / factor,
                        factor,
                        na,
                        nb,
                        "1D rise",
                    )
                )
        return combine(parts)

    return test


def correlation(keys: tuple[str, str], lo: float, hi: float, models=("mlp", "cnn")):
    """Spearman's rho between two per-run quantities over every run of the models."""

    def test(R, exact):
        xs, ys = [], []
        for model in models:
            for r in width_rows(R, model):
                n = label(model, r["width"])
                x, y = seed_values(r, keys[0], n), seed_values(r, keys[1], n)
                xs += list(x)
                ys += list(y)
        rho = stats.spearman(xs, ys, exact)
        if not math.isfinite(rho.value):
            raise Missing(
                f"Spearman ρ({keys[0]}, {keys[1]}) is undefined over {len(xs)} runs "
                f"(fewer than 3, or a constant quantity)"
            )
        text = f"Spearman ρ({keys[0]}, {keys[1]}) over {len(xs)} runs of {'/'.join(models)} = {interval_text(rho)}"
        return combine([part(rho, lo, hi, text + f" (claimed in ({lo:g}, {hi:g}))")])

    return test


def less_predictive_for_cnn(R, exact):
    """rho(lambda1, accuracy) is weaker (closer to 0, from below) for CNNs than for MLPs."""
    out = {}
    for model in ("mlp", "cnn"):
        xs, ys = [], []
        for r in width_rows(R, model):
            n = label(model, r["width"])
            xs += list(seed_values(r, "l1", n))
            ys += list(seed_values(r, "test_acc", n))
        out[model] = (stats.spearman(xs, ys, exact), len(xs))
    (rm, nm), (rc, nc) = out["mlp"], out["cnn"]
    if not (math.isfinite(rm.value) and math.isfinite(rc.value)):
        raise Missing("ρ(λ1, accuracy) is undefined for one family")
    if exact:
        d = stats.Interval(rc.value - rm.value, rc.value - rm.value, rc.value - rm.value, nm + nc)
    elif nm < 4 or nc < 4:
        d = stats.Interval(rc.value - rm.value, -math.inf, math.inf, nm + nc)
    else:  # Fisher z difference, then back to a difference of correlations' sign
        zc, zm = (
            math.atanh(min(max(rc.value, -0.999), 0.999)),
            math.atanh(min(max(rm.value, -0.999), 0.999)),
        )
        se = math.sqrt((1 + rc.value**2 / 2) / (nc - 3) + (1 + rm.value**2 / 2) / (nm - 3))
        h = 1.959964 * se
        d = stats.Interval(zc - zm, zc - zm - h, zc - zm + h, nm + nc)
    text = (
        f"ρ(λ1, accuracy): MLP {interval_text(rm)} over {nm} runs, CNN {interval_text(rc)} over {nc} "
        f"runs; CNN minus MLP (Fisher z) {interval_text(d)}"
    )
    return combine([part(d, 0.0, math.inf, text)])


def ranks_agree(R, exact):
    """Ordering the six models by mean 1D rise orders them by mean epochs (all six)."""
    names, rise, epochs = [], [], []
    for model in ("mlp", "cnn"):
        for r in width_rows(R, model):
            n = label(model, r["width"])
            names.append(n)
            rise.append(seed_values(r, "rise", n))
            epochs.append(seed_values(r, "epochs", n))
    point = stats.spearman([v.mean() for v in rise], [v.mean() for v in epochs], True).value
    if not math.isfinite(point):
        raise Missing("the ranking is undefined (a constant quantity)")
    if exact:
        share = 1.0 if point == 1 else 0.0
    else:  # seed bootstrap: resample each model's seeds, recompute the ranking
        gen = np.random.default_rng(0)
        hits = 0
        for _ in range(2000):
            a = [gen.choice(v, len(v)).mean() for v in rise]
            b = [gen.choice(v, len(v)).mean() for v in epochs]
            hits += stats.spearman(a, b, True).value == 1
        share = hits / 2000
    o = HOLDS if share >= 0.975 else FAILS if share <= 0.025 else INCONCLUSIVE
    order = ", ".join(n for _, n in sorted(zip([v.mean() for v in rise], names, strict=True)))
    return Verdict(
        o,
        f"flattest to roughest by mean 1D rise: {order}; Spearman ρ with mean epochs "
        f"{point:.3g}; share of seed resamples with the same order of all six "
        f"{share:.3f} → {o}",
    )


_CMP = "each CNN against the MLP of nearest parameter count; Welch 95 % interval of the difference"
_TREND = "least-squares slope on log2(width) over every seed's run; its 95 % t-interval"
CLAIMS = [
    Claim(
        "1.1",
        "phase1",
        "CNNs converge in fewer epochs than MLPs of comparable capacity.",
        "CNNs converge dramatically faster and to substantially better minima than MLPs of comparable capacity.",
        "§2.1",
        _CMP + " < 0 (epochs)",
        cnn_vs_comparable_mlp("epochs", True, "epochs"),
    ),
    Claim(
        "1.2",
        "phase1",
        "CNNs reach higher test accuracy than MLPs of comparable capacity.",
        "… to substantially better minima than MLPs of comparable capacity.",
        "§2.1",
        _CMP + " > 0 (accuracy)",
        cnn_vs_comparable_mlp("test_acc", False, "test accuracy"),
    ),
    Claim(
        "1.3",
        "phase1",
        "CNNs reach lower test loss than MLPs of comparable capacity.",
        "… to substantially better minima than MLPs of comparable capacity.",
        "§2.1",
        _CMP + " < 0 (test loss)",
        cnn_vs_comparable_mlp("test_loss", True, "test loss"),
    ),
    Claim(
        "1.4",
        "phase1",
        "Wider MLPs converge in fewer epochs.",
        "Wider MLPs converge faster, reach higher accuracy, and exhibit substantially lower dominant Hessian eigenvalues",
        "Table 3",
        _TREND + " < 0",
        width_trend("mlp", "epochs", -1, "epochs"),
    ),
    Claim(
        "1.5",
        "phase1",
        "Wider MLPs reach higher test accuracy.",
        "Wider MLPs converge faster, reach higher accuracy …",
        "Table 3",
        _TREND + " > 0",
        width_trend("mlp", "test_acc", 1, "test accuracy"),
    ),
    Claim(
        "1.6",
        "phase1",
        "Wider MLPs reach lower λ1.",
        "… and exhibit substantially lower dominant Hessian eigenvalues",
        "Table 3",
        _TREND + " < 0",
        width_trend("mlp", "l1", -1, "λ1"),
    ),
    Claim(
        "1.7",
        "phase1",
        "Wider CNNs converge in fewer epochs.",
        "Wider networks reach slightly higher accuracy with fewer epochs and show dramatically lower dominant Hessian eigenvalues",
        "Table 4",
        _TREND + " < 0",
        width_trend("cnn", "epochs", -1, "epochs"),
    ),
    Claim(
        "1.8",
        "phase1",
        "Wider CNNs reach higher test accuracy.",
        "Wider networks reach slightly higher accuracy …",
        "Table 4",
        _TREND + " > 0",
        width_trend("cnn", "test_acc", 1, "test accuracy"),
    ),
    Claim(
        "1.9",
        "phase1",
        "Wider CNNs reach lower λ1.",
        "… and show dramatically lower dominant Hessian eigenvalues",
        "Table 4",
        _TREND + " < 0",
        width_trend("cnn", "l1", -1, "λ1"),
    ),
    Claim(
        "1.10",
        "phase1",
        "Every CNN has a larger λ1 than the widest MLP.",
        "CNNs exhibit significantly higher local sharpness (larger λ_1) than wide MLPs.",
        "§2.3",
        "each CNN against the widest MLP; Welch interval of the difference > 0",
        every_cnn_vs_widest_mlp("l1", False, "λ1"),
    ),
    Claim(
        "1.11",
        "phase1",
        "Every CNN is flatter along random directions than the widest MLP.",
        "the corresponding CNN landscapes (widths 16/32/64) are qualitatively even flatter and more convex-like than the best MLP (width 128)",
        "§2.2",
        "mean 1D rise of each CNN against the widest MLP; Welch interval of the difference < 0",
        every_cnn_vs_widest_mlp("rise", True, "1D rise"),
    ),
    Claim(
        "1.12",
        "phase1",
        "MLP basins widen with width (the 1D rise falls).",
        "As width increases, the curvature of the basin decreases and the minima become wider and smoother",
        "Figure 1",
        _TREND + " < 0 (1D rise)",
        width_trend("mlp", "rise", -1, "1D rise"),
    ),
    Claim(
        "1.13",
        "phase1",
        "CNN basins are nearly identical across widths (1D rise within 1.5x).",
        "All six CNN visualizations exhibit nearly identical wide, smooth, low-curvature basins",
        "§2.2",
        "every pair of CNN widths: ratio of mean 1D rises (delta-method interval) inside (1/1.5, 1.5)",
        cnn_rises_alike(1.5),
    ),
    Claim(
        "1.14",
        "phase1",
        "Flatter 1D landscapes go strongly with fewer epochs.",
        "Global flatness (low variation in 1D random directions and wide 2D basins) correlates strongly with fast convergence",
        "§2.4",
        "Spearman ρ(1D rise, epochs) over every run of both families, Fisher-z 95 % interval inside (0.5, 1)",
        correlation(("rise", "epochs"), 0.5, 1.0),
    ),
    Claim(
        "1.15",
        "phase1",
        "Flatter 1D landscapes go strongly with higher test accuracy.",
        "Global flatness … correlates strongly with fast convergence and high test accuracy",
        "§2.4",
        "Spearman ρ(1D rise, test accuracy) over every run, Fisher-z interval inside (−1, −0.5)",
        correlation(("rise", "test_acc"), -1.0, -0.5),
    ),
    Claim(
        "1.16",
        "phase1",
        "The flatness ranking predicts the epoch ranking of all six models.",
        "A simple visual inspection of the 2D contour plot correctly predicts relative training speed across all six models.",
        "§2.4",
        "ordering by mean 1D rise equals ordering by mean epochs (ρ = 1) in ≥ 97.5 % of seed resamples; ≤ 2.5 %: does not hold",
        ranks_agree,
    ),
    Claim(
        "1.17",
        "phase1",
        "λ1 goes with lower MLP accuracy.",
        "Local sharpness (top Hessian eigenvalues) correlates negatively with MLP performance",
        "§2.4",
        "Spearman ρ(λ1, test accuracy) over every MLP run, Fisher-z interval < 0",
        correlation(("l1", "test_acc"), -1.0, 0.0, models=("mlp",)),
    ),
    Claim(
        "1.18",
        "phase1",
        "λ1 predicts CNN accuracy less than MLP accuracy.",
        "… but is less predictive for CNNs",
        "§2.4",
        "ρ(λ1, accuracy) of CNNs minus that of MLPs (Fisher z, 95 % interval) > 0",
        less_predictive_for_cnn,
    ),
]
