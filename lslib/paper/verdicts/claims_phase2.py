"""The report's Phase 2 claims: their rules, and the claims themselves (see ``claims``)."""

import math

import numpy as np

from lslib.paper.verdicts import design
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.claims_phase1 import smallest_for
from lslib.paper.verdicts.engine import combine, equivalent, less, r_diff, ratio_in, relative
from lslib.paper.verdicts.evidence import interval_text, mean_text, payload_of, seed_values
from lslib.paper.verdicts.outcomes import Claim, Missing


def _p2(R, model) -> dict:
    return {r["optimizer"]: r for r in payload_of(R, "phase2", model).get("rows", [])}


def _opt(R, model, opt) -> dict:
    rows = _p2(R, model)
    if opt not in rows:
        raise Missing(f"phase2 {model} has no {opt} run")
    return rows[opt]


def _auc(row) -> np.ndarray:
    if row.get("train_loss") is None:
        raise Missing("training curves are missing")
    return inf.values([float(np.mean(t)) for t in row["train_loss"]])


def sgd_extreme(model: str, key: str, sgd_higher: bool, what: str):
    """Plain SGD's value of ``key`` is above (or below) both momentum's and Adam's."""

    def test(R, exact, paired=False):
        get = (lambda r, n: _auc(r)) if key == "auc" else (lambda r, n: seed_values(r, key, n))
        s_row = _opt(R, model, "sgd")
        sgd = get(s_row, "sgd")
        parts = []
        for o in ("momentum", "adam"):
            row = _opt(R, model, o)
            v = get(row, o)
            me = smallest_for(key) if key == "test_acc" else relative(design.value("relative"))
            sd = _seeds(row, s_row, paired)
            parts.append(
                less(v, sgd, exact, o, "sgd", what, me, seeds=sd)
                if sgd_higher
                else less(sgd, v, exact, "sgd", o, what, me, seeds=sd and sd[::-1])
            )
        return combine(parts)

    return test


def _seeds(ra: dict, rb: dict, paired: bool):
    """(a's seeds, b's seeds) when the design pairs them and both runs record their seeds."""
    return (ra["seeds"], rb["seeds"]) if paired and ra.get("seeds") and rb.get("seeds") else None


def p2_less(model, key, a, b, what):
    """Phase 2: optimizer ``a``'s mean of ``key`` below optimizer ``b``'s (paired by seed
    where the design pairs the claim), with the design's ``relative`` smallest effect."""

    def test(R, exact, paired=False):
        ra, rb = _opt(R, model, a), _opt(R, model, b)
        va, vb = seed_values(ra, key, a), seed_values(rb, key, b)
        sd = _seeds(ra, rb, paired)
        return combine(
            [less(va, vb, exact, a, b, what, relative(design.value("relative")), seeds=sd)]
        )

    return test


def p2_similar(model, key, a, b, tol, what, scale=1.0):
    """|mean(a) - mean(b)| < tol by two one-sided tests (the 95 % interval inside ±tol)."""

    def test(R, exact, paired=False):
        ra, rb = _opt(R, model, a), _opt(R, model, b)
        va, vb = seed_values(ra, key, a), seed_values(rb, key, b)
        text = (
            f"{what} {a} {mean_text(va, exact, scale)} vs {b} {mean_text(vb, exact, scale)} "
            f"(margin ±{tol:g})"
        )
        if exact:
            d = r_diff(va, vb, exact)
            d = inf.Interval(d.value * scale, d.lo * scale, d.hi * scale, d.n)
            return combine(
                [equivalent(None, -tol, tol, text + f", difference {interval_text(d)}", d)]
            )
        sd = _seeds(ra, rb, paired)
        if sd:
            pa, pb = inf.paired(va * scale, vb * scale, *sd)
            e = inf.est_paired_diff(pa, pb)
            return combine([equivalent(e, -tol, tol, text + ", paired by seed")])
        return combine([equivalent(inf.est_diff(va * scale, vb * scale), -tol, tol, text)])

    return test


def cnn_sgd_order_of_magnitude(R, exact):
    """CNN SGD's lambda1 over MLP SGD's lambda1 within a factor sqrt(10) of a factor 10."""
    c, m = _opt(R, "cnn", "sgd"), _opt(R, "mlp", "sgd")
    return combine(
        [
            ratio_in(
                seed_values(c, "l1", "CNN sgd"),
                seed_values(m, "l1", "MLP sgd"),
                exact,
                10 / math.sqrt(10),
                10 * math.sqrt(10),
                "CNN",
                "MLP",
                "λ1 of plain SGD",
            )
        ]
    )


CLAIMS = [
    Claim(
        "2.1",
        "phase2",
        "MLP: plain SGD lowers the training loss slowest.",
        "SGD exhibits the slowest reduction in training loss",
        "§3.2",
        "mean training loss over the epochs (area under the curve), SGD minus each other optimizer, paired interval within seed > 0",
        sgd_extreme("mlp", "auc", True, "mean training loss"),
    ),
    Claim(
        "2.2",
        "phase2",
        "MLP: plain SGD reaches the lowest final accuracy.",
        "… and reaches the lowest final accuracy (93.04%)",
        "§3.2",
        "SGD minus each other optimizer, paired interval within seed < 0",
        sgd_extreme("mlp", "test_acc", False, "test accuracy"),
    ),
    Claim(
        "2.3",
        "phase2",
        "MLP: momentum and Adam reach similar accuracy (within 0.5 points).",
        "SGD with momentum and Adam achieve much faster convergence and similar final accuracies (97.32% and 97.19%)",
        "§3.2",
        "difference in percentage points within the margin ±0.5 by two one-sided tests (95 % paired interval within seed, 2.5 % each side); 0.5 points is a tenth of the 4-point gap to SGD the report calls large",
        p2_similar("mlp", "test_acc", "momentum", "adam", 0.5, "test accuracy (%)", 100.0),
    ),
    Claim(
        "2.4",
        "phase2",
        "MLP: plain SGD finds the sharpest minimum (largest λ1).",
        "SGD finds the sharpest minima",
        "§3.2",
        "SGD minus each other optimizer, paired interval within seed > 0",
        sgd_extreme("mlp", "l1", True, "λ1"),
    ),
    Claim(
        "2.5",
        "phase2",
        "MLP: momentum finds a flatter minimum than Adam.",
        "Adam finds a basin that is flatter than SGD but slightly sharper than momentum-SGD",
        "§3.2",
        "λ1 momentum minus Adam, paired interval within seed < 0",
        p2_less("mlp", "l1", "momentum", "adam", "λ1"),
    ),
    Claim(
        "2.6",
        "phase2",
        "MLP: plain SGD's random lines are the steepest.",
        "SGD landscapes show noticeably steeper directions in both the random-line plots and the 2D surface",
        "§3.2",
        "mean 1D rise, SGD minus each other optimizer, paired interval within seed > 0",
        sgd_extreme("mlp", "rise", True, "1D rise"),
    ),
    Claim(
        "2.7",
        "phase2",
        "SimpleCNN: plain SGD lowers the training loss slowest.",
        "SGD converges more slowly, finds sharper solutions",
        "§3.4",
        "mean training loss over the epochs, SGD minus each other optimizer, paired interval within seed > 0",
        sgd_extreme("cnn", "auc", True, "mean training loss"),
    ),
    Claim(
        "2.8",
        "phase2",
        "SimpleCNN: plain SGD reaches the lowest final accuracy.",
        "Momentum-based and adaptive optimizers converge faster, find flatter basins, and achieve higher accuracy.",
        "§3.4",
        "SGD minus each other optimizer, paired interval within seed < 0",
        sgd_extreme("cnn", "test_acc", False, "test accuracy"),
    ),
    Claim(
        "2.9",
        "phase2",
        "SimpleCNN: plain SGD finds the sharpest minimum (largest λ1).",
        "SGD … converges to extremely sharp minima … Momentum-SGD, in contrast, dramatically reduces curvature … Adam shows a similar pattern of flattening",
        "§3.3",
        "SGD minus each other optimizer, paired interval within seed > 0",
        sgd_extreme("cnn", "l1", True, "λ1"),
    ),
    Claim(
        "2.10",
        "phase2",
        "SimpleCNN: plain SGD's random lines are the steepest.",
        "SGD … produces loss landscapes with pronounced curvature in random directions",
        "§3.4",
        "mean 1D rise, SGD minus each other optimizer, paired interval within seed > 0",
        sgd_extreme("cnn", "rise", True, "1D rise"),
    ),
    Claim(
        "2.11",
        "phase2",
        "SimpleCNN SGD's λ1 is an order of magnitude above the MLP's.",
        "its dominant Hessian eigenvalue is roughly 118, an order of magnitude larger than the MLP case",
        "§3.3",
        "ratio of mean λ1 (delta-method interval) inside (10/√10, 10·√10)",
        cnn_sgd_order_of_magnitude,
    ),
]
