"""The report's Phase 1 claims: their rules, and the claims themselves (see ``claims``).

The rules of the correlation claims (ρ between models, the ranks) are in
``claims_correlations``.
"""

import dataclasses
import itertools
import math

from lslib.models import build_model, n_params
from lslib.paper.names import label
from lslib.paper.verdicts import claim_tests, design
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.claims_correlations import (
    correlation,
    less_predictive_for_cnn,
    ranks_agree,
)
from lslib.paper.verdicts.engine import (
    combine,
    equivalent,
    less,
    r_log_ratio,
    relative,
)
from lslib.paper.verdicts.evidence import epoch_values, interval_text, seed_values, width_rows
from lslib.paper.verdicts.outcomes import (
    Claim,
    Missing,
    Part,
)

CAPACITY = 2.0  # "comparable capacity": parameter counts within a factor of 2


def _params(row: dict, model: str) -> int:
    return row.get("params") or n_params(build_model(model, row["width"]))


def comparable_pairs(R) -> list[tuple[dict, dict]]:
    """Each CNN width with the MLP width of the nearest parameter count (log scale), kept
    only when the two are within a factor ``CAPACITY``."""
    mlps, cnns = width_rows(R, "mlp"), width_rows(R, "cnn")
    out = []
    for c in cnns:
        pc = _params(c, "cnn")
        m = min(mlps, key=lambda r: abs(math.log(_params(r, "mlp") / pc)))
        if abs(math.log(_params(m, "mlp") / pc)) < math.log(CAPACITY):
            out.append((c, m))
    if not out:
        raise Missing(f"no CNN has an MLP within a factor {CAPACITY:g} of its parameters")
    return out


def _values(row: dict, key: str, what: str) -> tuple:
    """Per-seed values and whether they are lower bounds (censored epoch counts)."""
    if key == "epochs":
        return epoch_values(row, what)
    return seed_values(row, key, what), False


def smallest_for(key: str):
    """A quantity's smallest effect that matters, from the design's numbers (`design.value`):
    epochs its ``epoch``, accuracy (a fraction here) its ``acc`` points, the test loss, λ1
    and the 1D rise a share ``relative`` of the compared mean; any other 0."""
    if key == "epochs":
        return design.value("epoch")
    if key == "test_acc":
        return design.value("acc") / 100
    if key in ("test_loss", "l1", "rise"):
        return relative(design.value("relative"))
    return 0.0


def lower(a, b, exact, na, nb, what, key, a_bound=False, b_bound=False) -> Part:
    """mean(a) < mean(b) with the key's smallest effect, censored values read as bounds."""
    return less(a, b, exact, na, nb, what, smallest_for(key), (a_bound, b_bound))


def cnn_vs_comparable_mlp(key: str, cnn_lower: bool, what: str):
    """Each SimpleCNN against the MLP of comparable parameter count (`comparable_pairs`):
    the CNN's mean of ``key`` below the MLP's (``cnn_lower``) or above it, with the key's
    smallest effect and censored epochs read as bounds."""

    def test(R, exact):
        parts = []
        for c, m in comparable_pairs(R):
            nc, nm = label("cnn", c["width"]), label("mlp", m["width"])
            (vc, bc), (vm, bm) = _values(c, key, nc), _values(m, key, nm)
            text = f"{what} ({_params(c, 'cnn'):,} vs {_params(m, 'mlp'):,} parameters)"
            parts.append(
                lower(vc, vm, exact, nc, nm, text, key, bc, bm)
                if cnn_lower
                else lower(vm, vc, exact, nm, nc, text, key, bm, bc)
            )
        return combine(parts)

    return test


def width_trend(model: str, key: str, sign: int, what: str):
    """Monotone in width: `claim_tests.monotone` (every adjacent step's Welch interval on the
    claimed side, intersection-union; the least-squares slope on log2(width) shown, not
    judged). Each step is also a part (``lower``) for its evidence, its seeds needed and
    censored epochs read as bounds, which can leave a step not evaluable."""

    def test(R, exact):
        rows = width_rows(R, model)
        vals = [_values(r, key, label(model, r["width"])) for r in rows]
        groups = [v for v, _ in vals]
        parts = []
        for (r0, (a, ba)), (r1, (b, bb)) in itertools.pairwise(zip(rows, vals, strict=True)):
            n0, n1 = label(model, r0["width"]), label(model, r1["width"])
            parts.append(
                lower(b, a, exact, n1, n0, f"{what} step", key, bb, ba)
                if sign < 0
                else lower(a, b, exact, n0, n1, f"{what} step", key, ba, bb)
            )
        t = claim_tests.monotone([math.log2(r["width"]) for r in rows], groups, sign, exact)
        v = combine(parts)
        censored = any(bound for _, bound in vals)
        p_in, p_out = (v.p_in, v.p_out) if exact or censored else (t.p_inside, t.p_outside)
        note = f"overall trend (not judged): slope per doubling of width {interval_text(t.slope)}"
        return dataclasses.replace(v, evidence=f"{v.evidence}; {note}", p_in=p_in, p_out=p_out)

    return test


def every_cnn_vs_widest_mlp(key: str, cnn_lower: bool, what: str):
    """Every SimpleCNN width against the widest MLP: the CNN's mean of ``key`` below the
    MLP's (``cnn_lower``) or above it, one part per CNN."""

    def test(R, exact):
        m = width_rows(R, "mlp")[-1]
        nm = label("mlp", m["width"])
        vm = seed_values(m, key, nm)
        parts = []
        for c in width_rows(R, "cnn"):
            nc = label("cnn", c["width"])
            vc = seed_values(c, key, nc)
            parts.append(
                lower(vc, vm, exact, nc, nm, what, key)
                if cnn_lower
                else lower(vm, vc, exact, nm, nc, what, key)
            )
        return combine(parts)

    return test


def cnn_rises_alike(factor: float):
    """Every pair of CNN widths: the ratio of mean 1D rises within (1/factor, factor), by
    two one-sided tests (95 % interval, 2.5 % each side)."""

    def test(R, exact):
        rows = width_rows(R, "cnn")
        parts = []
        for a, b in itertools.combinations(rows, 2):
            na, nb = label("cnn", a["width"]), label("cnn", b["width"])
            va, vb = seed_values(a, "rise", na), seed_values(b, "rise", nb)
            r = r_log_ratio(va, vb, exact) if exact else None
            e = None if exact else inf.est_log_ratio(va, vb)
            value = r.value if exact else e.value
            if not math.isfinite(value):
                raise Missing(f"1D rise: the ratio {na}/{nb} needs positive means")
            text = (
                f"1D rise {na}/{nb} = {math.exp(value):.3g} (margin ({1 / factor:.3g}, {factor:g}))"
            )
            lim = math.log(factor)
            parts.append(equivalent(e, -lim, lim, text, exact_interval=r, log=True))
        return combine(parts)

    return test


_CMP = (
    "each CNN against the MLP of nearest parameter count, where the two are within a factor 2 "
    "(comparable capacity; SimpleCNN-32 and -64 have no such MLP); Welch 95 % interval of the difference"
)
_TREND = (
    "every step to the next width in the claimed direction (each step's Welch 95 % interval "
    "on that side; censored epochs as lower bounds); the slope on log2(width) shown beside"
)
_RHO = "Spearman ρ between the models of each family (model means: the model is the unit, the seeds' spread added in Fisher z), 95 % interval"
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
        "every pair of CNN widths: ratio of mean 1D rises inside the margin (1/1.5, 1.5) by two one-sided tests (95 % delta-method interval, 2.5 % each side); 1.5x is the least 'nearly identical' can mean against the 2x-10x differences the report calls large",
        cnn_rises_alike(1.5),
    ),
    Claim(
        "1.14",
        "phase1",
        "Flatter 1D landscapes go strongly with fewer epochs.",
        "Global flatness (low variation in 1D random directions and wide 2D basins) correlates strongly with fast convergence",
        "§2.4",
        _RHO + " inside (0.5, 1) in each family",
        correlation(("rise", "epochs"), 0.5, 1.0),
    ),
    Claim(
        "1.15",
        "phase1",
        "Flatter 1D landscapes go strongly with higher test accuracy.",
        "Global flatness … correlates strongly with fast convergence and high test accuracy",
        "§2.4",
        _RHO + " inside (−1, −0.5) in each family",
        correlation(("rise", "test_acc"), -1.0, -0.5),
    ),
    Claim(
        "1.16",
        "phase1",
        "The flatness ranking predicts the epoch ranking of all six models.",
        "A simple visual inspection of the 2D contour plot correctly predicts relative training speed across all six models.",
        "§2.4",
        "within each family, in the order of the mean 1D rises every adjacent step rises in both rise and epochs (one-sided Welch tests at 2.5 %, intersection-union); does not hold when some pair of models is ordered oppositely by the two, both significantly (Bonferroni over pairs); both families must hold",
        ranks_agree,
    ),
    Claim(
        "1.17",
        "phase1",
        "λ1 goes with lower MLP accuracy.",
        "Local sharpness (top Hessian eigenvalues) correlates negatively with MLP performance",
        "§2.4",
        _RHO + " < 0 (MLPs)",
        correlation(("l1", "test_acc"), -1.0, 0.0, models=("mlp",)),
    ),
    Claim(
        "1.18",
        "phase1",
        "λ1 predicts CNN accuracy less than MLP accuracy.",
        "… but is less predictive for CNNs",
        "§2.4",
        "the strength |ρ(λ1, accuracy)| between models (model means): the CNN family's upper "
        "bound of |ρ| below the MLP family's lower bound (between-model bounds at α/3 a side: "
        "Fisher z with the Bonett–Wright variance, and the seeds' reliability bound)",
        less_predictive_for_cnn,
    ),
]
