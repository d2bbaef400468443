"""Numbers read off the analyses' values: the readings of the lines, stopping epochs,
parabola fits, error barriers, sigma*, the readings of Table 5's flatness columns.

Plain arithmetic on arrays and dicts (no store, no training): ``sections`` applies it to
what the store holds, and the tests to inputs with a known answer.
"""

import math

import numpy as np

from lslib.paper.reading_names import PERTURB_READ, SIGMA_LEVEL, reading
from lslib.train import converged

# Stopping rules whose epoch counts Table 1 also shows (besides the section's own plateau
# rule), read off each run's per-epoch history: a rule that fires after the run stopped is
# censored ("at least").
STOP_RULES = {
    "plateau, patience 4": ("plateau", 4, 0.01),
    "plateau, rel_tol 0.001": ("plateau", 2, 0.001),
    "training loss ≤ 0.05": ("train_loss", 0.05),
    "validation accuracy ≥ 97.5 %": ("val_acc", 0.975),
}
FRANKLE_THRESHOLD = 0.02  # Frankle et al. 2020: "linearly connected" if the error barrier < 2 %


def select(alphas, sided: str, span: float) -> np.ndarray:
    """Which points of a line a reading reads: [-span, span], or [0, span] one-sided."""
    a = np.asarray(alphas)
    lo = -span if sided == "both" else 0.0
    return (a >= lo - 1e-9) & (a <= span + 1e-9)


def line_readings(lines_by_dist: dict, spans) -> dict:
    """Mean rise L(alpha) - L(0) over each reading's part of the lines (lower is flatter)."""
    out = {}
    for dist, ln in lines_by_dist.items():
        rise = np.asarray(ln["lines"]) - ln["centre"]
        for span in spans:
            for sided in ("one", "both"):
                sel = select(ln["alphas"], sided, span)
                out[reading(dist, sided, span)] = float(np.nanmean(rise[:, sel]))
    return out


def rise(ln: dict) -> float:
    """The mean rise of lines over every direction and point."""
    return float(np.nanmean(np.asarray(ln["lines"]) - ln["centre"]))


def stop_epoch(history: list, status: str, rule: tuple) -> tuple[int, str]:
    """The epoch at which ``rule`` stops a run with this history, and 'converged' or
    'censored' (the rule had not fired when the run stopped)."""
    for e in range(1, len(history) + 1):
        h = history[:e]
        if rule[0] == "plateau":
            hit = converged([r["val_loss"] for r in h], rule[1], rule[2])
        elif rule[0] == "train_loss":
            hit = h[-1]["train_loss"] <= rule[1]
        else:
            hit = h[-1].get("val_acc", 0.0) >= rule[1]
        if hit:
            return e, "converged"
    return len(history), "censored"


def parabola(alphas, loss) -> dict:
    """Least-squares parabola through the loss along a line: R^2 and the vertex position."""
    a, L = np.asarray(alphas, float), np.asarray(loss, float)
    c2, c1, c0 = np.polyfit(a, L, 2)
    resid = L - (c2 * a**2 + c1 * a + c0)
    tot = float(((L - L.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / tot if tot > 0 else float("nan")
    vertex = -c1 / (2 * c2) if c2 > 0 else float("nan")
    return {"r2": r2, "vertex": float(vertex), "curvature": float(2 * c2)}


def error_barrier(acc) -> dict:
    """Frankle et al. 2020: the largest test error along the path minus the mean error of
    its endpoints; the path is linearly connected when it is below ``FRANKLE_THRESHOLD``."""
    err = 1 - np.asarray(acc, dtype=float)
    height = float(err.max() - (err[0] + err[-1]) / 2)
    return {"height": height, "connected": bool(height < FRANKLE_THRESHOLD)}


def sigma_at(sigmas, mean, level: float) -> float:
    """The sigma at which a rising curve of mean loss increase first reaches ``level``
    (log-log interpolation between grid points; nan if it never does)."""
    s, m = np.asarray(sigmas, float), np.asarray(mean, float)
    for i in range(1, len(s)):
        if m[i] >= level and s[i - 1] > 0:
            lo = max(m[i - 1], 1e-300)
            if lo >= level:
                return float(s[i - 1])
            t = (math.log(level) - math.log(lo)) / (math.log(m[i]) - math.log(lo))
            return float(math.exp(math.log(s[i - 1]) + t * (math.log(s[i]) - math.log(s[i - 1]))))
    return math.nan


def perturb_readings(f: dict) -> dict:
    """Every reading of Table 5's "Perturb. sigma" column from one run's flatness entry."""
    out = {}
    for kind, key in (("relative", "perturbation"), ("absolute", "perturbation_abs")):
        cur = f[key]
        for s in PERTURB_READ:
            hit = [i for i, v in enumerate(cur["sigmas"]) if math.isclose(v, s)]
            if hit:
                out[f"ΔL at {kind} σ of {s:g}"] = float(cur["mean"][hit[0]])
        out[f"σ at ΔL = {SIGMA_LEVEL:g}, {kind}"] = sigma_at(
            cur["sigmas"], cur["mean"], SIGMA_LEVEL
        )
    for crit, v in f["pac_sigmas"].items():
        out[f"PAC-Bayes σ′, {crit}"] = float(v)
    return out


def sharpness_readings(f: dict, rises: dict) -> dict:
    """Every reading of Table 5's "1D sharpness": the curvature at the minimum along each
    direction law, and the mean rise of each reading of the lines (``rises``)."""
    out = {f"curvature, {d}": float(np.mean(v)) for d, v in f["curvature"].items()}
    return out | {f"rise, {k}": v for k, v in rises.items()}


def near_zero_share(slq: dict, lambda1: float, frac: float = 0.01) -> float:
    """The share of the SLQ spectral weight within |lambda| <= frac * lambda1."""
    w = sum(
        float(np.sum(np.asarray(wt)[np.abs(np.asarray(t)) <= frac * abs(lambda1)]))
        for t, wt in zip(slq["nodes"], slq["weights"], strict=True)
    )
    return w / len(slq["nodes"])


def oscillation(ln: dict) -> float:
    """How far 1D loss curves are from monotone on each side of the minimum: the total
    variation of each side over its range, mean over sides and directions (1 = monotone).

    The report calls MLP-32's curves "highly oscillatory" and MLP-128's "almost monotonic"
    (§2.2). A side of a line L(alpha), the points from alpha = 0 (the trained minimum)
    outwards, is monotone exactly when its total variation sum_k |L(a_k+1) - L(a_k)| equals
    its range max L - min L; every dip of depth h on the way adds 2h. The ratio is scale-free,
    so a sharp and a flat basin compare. The range, not the net rise |L(end) - L(0)|, is the
    denominator so that a side which climbs and falls back to L(0) stays finite. A constant
    side counts as monotone; a side with a missing value or fewer than two points is skipped.

    Args:
        ln: ``alphas`` (points,) and ``lines`` (n_dirs, points), as ``sections.adopted_lines``.
    Returns:
        The mean of TV/range over every direction and side (≥ 1); nan if no side is usable.
    """
    a, lines = np.asarray(ln["alphas"], float), np.atleast_2d(np.asarray(ln["lines"], float))
    sides = [a <= 1e-9, a >= -1e-9]
    ratios = []
    for curve in lines:
        for side in sides:
            c = curve[side]
            if len(c) < 2 or not np.isfinite(c).all():
                continue
            span = float(c.max() - c.min())
            ratios.append(float(np.abs(np.diff(c)).sum()) / span if span > 0 else 1.0)
    return float(np.mean(ratios)) if ratios else math.nan
