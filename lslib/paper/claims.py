"""The original report's claims, each tested by one rule on the regenerated results and on
the report's own numbers, with a four-valued verdict.

Every claim reduces to statistics with a 95 % interval over seeds (``stats``) and a
region the claim asserts (for example "difference < 0", "ratio within [1/2, 2]"). The
verdict is the same rule for every claim:

- **holds**: every interval lies inside its region;
- **does not hold**: some interval lies entirely outside its region;
- **inconclusive**: neither (the effect the claim needs is not resolved by the seeds);
- **not evaluable**: a result is missing or non-finite, or an epoch count is censored (a
  run stopped by the epoch cap has no converged epoch count).

A compound claim is split into parts; it holds when every part holds, does not hold when
any part does not, and is otherwise not evaluable or inconclusive. The report's own numbers
are evaluated by the same rules as exact values (the report gives no seed intervals), so the
page can tell "the report contradicts itself" from "the reproduction differs".
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import yaml

from lslib.models import build_model, n_params
from lslib.paper import stats
from lslib.paper.sections import label
from lslib.paths import BOOK

HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUABLE = (
    "holds",
    "does not hold",
    "inconclusive",
    "not evaluable",
)
OUTCOMES = (HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUABLE)
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over 10 classes


class Missing(LookupError):
    """The evidence a claim needs is missing, non-finite or censored."""


@dataclass(frozen=True)
class Verdict:
    outcome: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    """One claim: our statement, the report's words it tests, the rule, and the test."""

    id: str
    section: str
    text: str
    quote: str
    where: str
    rule: str
    test: Callable[[dict, bool], Verdict]

    def verdict(self, results: dict, exact: bool = False) -> Verdict:
        try:
            return self.test(results, exact)
        except Missing as e:
            return Verdict(NOT_EVALUABLE, str(e))


# ---------------------------------------------------------------- reading results


def _payload(R: dict, section: str, model: str) -> dict:
    r = R.get((section, model))
    if not r:
        raise Missing(f"{section} results for {model} are missing")
    return r


def _vals(row: dict, key: str, what: str) -> np.ndarray:
    """Per-seed values of ``key``; an epoch count of a run that did not converge is censored."""
    if row.get(key) is None:
        raise Missing(f"{what}: {key} is missing")
    v = stats.values(row[key])
    if not len(v) or not np.isfinite(v).all():
        raise Missing(f"{what}: {key} is not finite ({row[key]})")
    if key == "epochs":
        bad = [s for s in row.get("status", []) if s != "converged"]
        if bad:
            raise Missing(
                f"{what}: epochs censored (runs stopped as {', '.join(sorted(set(bad)))})"
            )
    return v


def _widths(R, model) -> list[dict]:
    rows = sorted(_payload(R, "phase1", model).get("rows", []), key=lambda r: r["width"])
    if len(rows) < 2:
        raise Missing(f"phase1 {model} needs at least two widths")
    return rows


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def _interval(i: stats.Interval) -> str:
    if i.lo == i.hi:
        return _fmt(i.value)
    return f"{_fmt(i.value)} [{_fmt(i.lo)}, {_fmt(i.hi)}]"


def _mean(v, exact, scale=1.0) -> str:
    return stats.fmt(stats.mean(v, exact), 4, scale)


# ---------------------------------------------------------------- the verdict rule


def decide(i: stats.Interval, lo: float = -math.inf, hi: float = math.inf) -> str:
    """The rule: interval inside (lo, hi) -> holds; entirely outside -> does not hold."""
    if not math.isfinite(i.value):
        return NOT_EVALUABLE
    if lo < i.lo and i.hi < hi:
        return HOLDS
    if i.hi <= lo or i.lo >= hi:
        return FAILS
    return INCONCLUSIVE


def combine(parts: list[tuple[str, str]]) -> Verdict:
    """Parts (outcome, evidence) -> one verdict: any failure fails; all must hold to hold."""
    outcomes = [o for o, _ in parts]
    for o in (FAILS, NOT_EVALUABLE, INCONCLUSIVE):
        if o in outcomes:
            break
    else:
        o = HOLDS
    return Verdict(o, "; ".join(e for _, e in parts))


def _part(i: stats.Interval, lo: float, hi: float, text: str) -> tuple[str, str]:
    o = decide(i, lo, hi)
    return o, f"{text} → {o}"


def less(a, b, exact, name_a, name_b, what) -> tuple[str, str]:
    """mean(a) < mean(b): Welch's interval of the difference below 0."""
    d = stats.diff(a, b, exact)
    return _part(
        d,
        -math.inf,
        0.0,
        f"{what} {name_a} {_mean(a, exact)} vs {name_b} "
        f"{_mean(b, exact)}, difference {_interval(d)}",
    )


def ratio_in(a, b, exact, lo, hi, name_a, name_b, what) -> tuple[str, str]:
    """mean(a) / mean(b) within (lo, hi), on the log scale."""
    r = stats.log_ratio(a, b, exact)
    if not math.isfinite(r.value):
        raise Missing(
            f"{what.rstrip(':, ')}: the ratio {name_a}/{name_b} needs positive means "
            f"({_mean(a, exact)}, {_mean(b, exact)})"
        )
    e = stats.Interval(math.exp(r.value), math.exp(r.lo), math.exp(r.hi), r.n)
    return _part(
        r,
        math.log(lo),
        math.log(hi),
        f"{what} {name_a}/{name_b} = {_interval(e)} (claimed in ({lo:g}, {hi:g}))",
    )


# ---------------------------------------------------------------- claim builders


def _comparable_pairs(R) -> list[tuple[dict, dict]]:
    """Each CNN width with the MLP width of the nearest parameter count (log scale)."""
    mlps, cnns = _widths(R, "mlp"), _widths(R, "cnn")
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
            vc, vm = _vals(c, key, nc), _vals(m, key, nm)
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
        rows = _widths(R, model)
        groups = [_vals(r, key, label(model, r["width"])) for r in rows]
        s = stats.slope([math.log2(r["width"]) for r in rows], groups, exact)
        means = ", ".join(
            f"{label(model, r['width'])} {_mean(g, exact)}"
            for r, g in zip(rows, groups, strict=True)
        )
        lo, hi = (0.0, math.inf) if sign > 0 else (-math.inf, 0.0)
        return combine(
            [_part(s, lo, hi, f"{what}: {means}; slope per doubling of width {_interval(s)}")]
        )

    return test


def every_cnn_vs_widest_mlp(key: str, cnn_lower: bool, what: str):
    def test(R, exact):
        m = _widths(R, "mlp")[-1]
        nm = label("mlp", m["width"])
        vm = _vals(m, key, nm)
        parts = []
        for c in _widths(R, "cnn"):
            nc = label("cnn", c["width"])
            vc = _vals(c, key, nc)
            parts.append(
                less(vc, vm, exact, nc, nm, what)
                if cnn_lower
                else less(vm, vc, exact, nm, nc, what)
            )
        return combine(parts)

    return test


def cnn_rises_alike(factor: float):
    def test(R, exact):
        rows = _widths(R, "cnn")
        parts = []
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = rows[i], rows[j]
                na, nb = label("cnn", a["width"]), label("cnn", b["width"])
                parts.append(
                    ratio_in(
                        _vals(a, "rise", na),
                        _vals(b, "rise", nb),
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
            for r in _widths(R, model):
                n = label(model, r["width"])
                x, y = _vals(r, keys[0], n), _vals(r, keys[1], n)
                xs += list(x)
                ys += list(y)
        rho = stats.spearman(xs, ys, exact)
        if not math.isfinite(rho.value):
            raise Missing(
                f"Spearman ρ({keys[0]}, {keys[1]}) is undefined over {len(xs)} runs "
                f"(fewer than 3, or a constant quantity)"
            )
        text = f"Spearman ρ({keys[0]}, {keys[1]}) over {len(xs)} runs of {'/'.join(models)} = {_interval(rho)}"
        return combine([_part(rho, lo, hi, text + f" (claimed in ({lo:g}, {hi:g}))")])

    return test


def less_predictive_for_cnn(R, exact):
    """rho(lambda1, accuracy) is weaker (closer to 0, from below) for CNNs than for MLPs."""
    out = {}
    for model in ("mlp", "cnn"):
        xs, ys = [], []
        for r in _widths(R, model):
            n = label(model, r["width"])
            xs += list(_vals(r, "l1", n))
            ys += list(_vals(r, "test_acc", n))
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
        f"ρ(λ1, accuracy): MLP {_interval(rm)} over {nm} runs, CNN {_interval(rc)} over {nc} "
        f"runs; CNN minus MLP (Fisher z) {_interval(d)}"
    )
    return combine([_part(d, 0.0, math.inf, text)])


def ranks_agree(R, exact):
    """Ordering the six models by mean 1D rise orders them by mean epochs (all six)."""
    names, rise, epochs = [], [], []
    for model in ("mlp", "cnn"):
        for r in _widths(R, model):
            n = label(model, r["width"])
            names.append(n)
            rise.append(_vals(r, "rise", n))
            epochs.append(_vals(r, "epochs", n))
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


def _p2(R, model) -> dict:
    return {r["optimizer"]: r for r in _payload(R, "phase2", model).get("rows", [])}


def _opt(R, model, opt) -> dict:
    rows = _p2(R, model)
    if opt not in rows:
        raise Missing(f"phase2 {model} has no {opt} run")
    return rows[opt]


def _auc(row) -> np.ndarray:
    if row.get("train_loss") is None:
        raise Missing("training curves are missing")
    return stats.values([float(np.mean(t)) for t in row["train_loss"]])


def sgd_extreme(model: str, key: str, sgd_higher: bool, what: str):
    """Plain SGD's value of ``key`` is above (or below) both momentum's and Adam's."""

    def test(R, exact):
        get = (lambda r, n: _auc(r)) if key == "auc" else (lambda r, n: _vals(r, key, n))
        sgd = get(_opt(R, model, "sgd"), "sgd")
        parts = []
        for o in ("momentum", "adam"):
            v = get(_opt(R, model, o), o)
            parts.append(
                less(v, sgd, exact, o, "sgd", what)
                if sgd_higher
                else less(sgd, v, exact, "sgd", o, what)
            )
        return combine(parts)

    return test


def p2_less(model, key, a, b, what):
    def test(R, exact):
        return combine(
            [
                less(
                    _vals(_opt(R, model, a), key, a),
                    _vals(_opt(R, model, b), key, b),
                    exact,
                    a,
                    b,
                    what,
                )
            ]
        )

    return test


def p2_similar(model, key, a, b, tol, what, scale=1.0):
    """|mean(a) - mean(b)| < tol: the difference's interval inside (-tol, tol)."""

    def test(R, exact):
        va, vb = _vals(_opt(R, model, a), key, a), _vals(_opt(R, model, b), key, b)
        d = stats.diff(va * scale, vb * scale, exact)
        return combine(
            [
                _part(
                    d,
                    -tol,
                    tol,
                    f"{what} {a} {_mean(va, exact, scale)} vs {b} "
                    f"{_mean(vb, exact, scale)}, difference {_interval(d)} "
                    f"(claimed within ±{tol:g})",
                )
            ]
        )

    return test


def cnn_sgd_order_of_magnitude(R, exact):
    """CNN SGD's lambda1 over MLP SGD's lambda1 within a factor sqrt(10) of 10x."""
    c, m = _opt(R, "cnn", "sgd"), _opt(R, "mlp", "sgd")
    return combine(
        [
            ratio_in(
                _vals(c, "l1", "CNN sgd"),
                _vals(m, "l1", "MLP sgd"),
                exact,
                10 / math.sqrt(10),
                10 * math.sqrt(10),
                "CNN",
                "MLP",
                "λ1 of plain SGD",
            )
        ]
    )


def _p3(R, model) -> dict:
    return _payload(R, "phase3", model)


def _pairs(R, model, key) -> np.ndarray:
    p = _p3(R, model).get("pairs") or []
    if not p:
        raise Missing(f"phase3 {model} has no seed pairs")
    return _vals({key: [q.get(key) for q in p]}, key, f"{model} pairs")


def p3_vals(R, model, key) -> np.ndarray:
    r = _p3(R, model)
    if key in r.get("flatness", {}):
        return _vals(r["flatness"], key, f"{model} flatness")
    return _vals(r, key, f"phase3 {model}")


def below(model, get, limit, what):
    def test(R, exact):
        v = get(R, model)
        m = stats.mean(v, exact)
        return combine(
            [
                _part(
                    m,
                    -math.inf,
                    limit,
                    f"{what}, mean over {len(v)} seed pairs: {_interval(m)} "
                    f"(claimed < {limit:.4g})",
                )
            ]
        )

    return test


def above(model, get, limit, what, scale=1.0):
    def test(R, exact):
        v = get(R, model) * scale
        m = stats.mean(v, exact)
        return combine([_part(m, limit, math.inf, f"{what}: {_interval(m)} (claimed > {limit:g})")])

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
        pc1 = _vals(r, "delta_l", f"{model} ΔL along PC1")
        ctl = _vals(r, "control_delta_l", f"{model} ΔL along random unit directions")
        return combine([less(pc1, ctl, exact, "PC1", "random unit directions", "ΔL over [-1, 1]:")])

    return test


def pc1_parabola(model, r2_min=0.99, vertex_max=0.1):
    def test(R, exact):
        r = _p3(R, model)
        r2 = stats.mean(_vals(r, "pc1_r2", f"{model} parabola fit"), exact)
        vx = stats.mean(np.abs(_vals(r, "pc1_vertex", f"{model} parabola vertex")), exact)
        return combine(
            [
                _part(
                    r2,
                    r2_min,
                    math.inf,
                    f"R² of a parabola through the PC1 profile {_interval(r2)} "
                    f"(claimed > {r2_min:g})",
                ),
                _part(
                    vx,
                    -math.inf,
                    vertex_max,
                    f"|vertex| {_interval(vx)} (claimed < {vertex_max:g}, a centred parabola)",
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
                _part(
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
                _part(
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
        out[model] = _vals(f, "perturbation", f"{model} perturbation")
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


def _claim(cid, section, text, quote, where, rule, test) -> Claim:
    return Claim(cid, section, text, quote, where, rule, test)


_CMP = "each CNN against the MLP of nearest parameter count; Welch 95 % interval of the difference"
_TREND = "least-squares slope on log2(width) over every seed's run; its 95 % t-interval"
CLAIMS = [
    _claim(
        "1.1",
        "phase1",
        "CNNs converge in fewer epochs than MLPs of comparable capacity.",
        "CNNs converge dramatically faster and to substantially better minima than MLPs of comparable capacity.",
        "§2.1",
        _CMP + " < 0 (epochs)",
        cnn_vs_comparable_mlp("epochs", True, "epochs"),
    ),
    _claim(
        "1.2",
        "phase1",
        "CNNs reach higher test accuracy than MLPs of comparable capacity.",
        "… to substantially better minima than MLPs of comparable capacity.",
        "§2.1",
        _CMP + " > 0 (accuracy)",
        cnn_vs_comparable_mlp("test_acc", False, "test accuracy"),
    ),
    _claim(
        "1.3",
        "phase1",
        "CNNs reach lower test loss than MLPs of comparable capacity.",
        "… to substantially better minima than MLPs of comparable capacity.",
        "§2.1",
        _CMP + " < 0 (test loss)",
        cnn_vs_comparable_mlp("test_loss", True, "test loss"),
    ),
    _claim(
        "1.4",
        "phase1",
        "Wider MLPs converge in fewer epochs.",
        "Wider MLPs converge faster, reach higher accuracy, and exhibit substantially lower dominant Hessian eigenvalues",
        "Table 3",
        _TREND + " < 0",
        width_trend("mlp", "epochs", -1, "epochs"),
    ),
    _claim(
        "1.5",
        "phase1",
        "Wider MLPs reach higher test accuracy.",
        "Wider MLPs converge faster, reach higher accuracy …",
        "Table 3",
        _TREND + " > 0",
        width_trend("mlp", "test_acc", 1, "test accuracy"),
    ),
    _claim(
        "1.6",
        "phase1",
        "Wider MLPs reach lower λ1.",
        "… and exhibit substantially lower dominant Hessian eigenvalues",
        "Table 3",
        _TREND + " < 0",
        width_trend("mlp", "l1", -1, "λ1"),
    ),
    _claim(
        "1.7",
        "phase1",
        "Wider CNNs converge in fewer epochs.",
        "Wider networks reach slightly higher accuracy with fewer epochs and show dramatically lower dominant Hessian eigenvalues",
        "Table 4",
        _TREND + " < 0",
        width_trend("cnn", "epochs", -1, "epochs"),
    ),
    _claim(
        "1.8",
        "phase1",
        "Wider CNNs reach higher test accuracy.",
        "Wider networks reach slightly higher accuracy …",
        "Table 4",
        _TREND + " > 0",
        width_trend("cnn", "test_acc", 1, "test accuracy"),
    ),
    _claim(
        "1.9",
        "phase1",
        "Wider CNNs reach lower λ1.",
        "… and show dramatically lower dominant Hessian eigenvalues",
        "Table 4",
        _TREND + " < 0",
        width_trend("cnn", "l1", -1, "λ1"),
    ),
    _claim(
        "1.10",
        "phase1",
        "Every CNN has a larger λ1 than the widest MLP.",
        "CNNs exhibit significantly higher local sharpness (larger λ_1) than wide MLPs.",
        "§2.3",
        "each CNN against the widest MLP; Welch interval of the difference > 0",
        every_cnn_vs_widest_mlp("l1", False, "λ1"),
    ),
    _claim(
        "1.11",
        "phase1",
        "Every CNN is flatter along random directions than the widest MLP.",
        "the corresponding CNN landscapes (widths 16/32/64) are qualitatively even flatter and more convex-like than the best MLP (width 128)",
        "§2.2",
        "mean 1D rise of each CNN against the widest MLP; Welch interval of the difference < 0",
        every_cnn_vs_widest_mlp("rise", True, "1D rise"),
    ),
    _claim(
        "1.12",
        "phase1",
        "MLP basins widen with width (the 1D rise falls).",
        "As width increases, the curvature of the basin decreases and the minima become wider and smoother",
        "Figure 1",
        _TREND + " < 0 (1D rise)",
        width_trend("mlp", "rise", -1, "1D rise"),
    ),
    _claim(
        "1.13",
        "phase1",
        "CNN basins are nearly identical across widths (1D rise within 1.5x).",
        "All six CNN visualizations exhibit nearly identical wide, smooth, low-curvature basins",
        "§2.2",
        "every pair of CNN widths: ratio of mean 1D rises (delta-method interval) inside (1/1.5, 1.5)",
        cnn_rises_alike(1.5),
    ),
    _claim(
        "1.14",
        "phase1",
        "Flatter 1D landscapes go strongly with fewer epochs.",
        "Global flatness (low variation in 1D random directions and wide 2D basins) correlates strongly with fast convergence",
        "§2.4",
        "Spearman ρ(1D rise, epochs) over every run of both families, Fisher-z 95 % interval inside (0.5, 1)",
        correlation(("rise", "epochs"), 0.5, 1.0),
    ),
    _claim(
        "1.15",
        "phase1",
        "Flatter 1D landscapes go strongly with higher test accuracy.",
        "Global flatness … correlates strongly with fast convergence and high test accuracy",
        "§2.4",
        "Spearman ρ(1D rise, test accuracy) over every run, Fisher-z interval inside (−1, −0.5)",
        correlation(("rise", "test_acc"), -1.0, -0.5),
    ),
    _claim(
        "1.16",
        "phase1",
        "The flatness ranking predicts the epoch ranking of all six models.",
        "A simple visual inspection of the 2D contour plot correctly predicts relative training speed across all six models.",
        "§2.4",
        "ordering by mean 1D rise equals ordering by mean epochs (ρ = 1) in ≥ 97.5 % of seed resamples; ≤ 2.5 %: does not hold",
        ranks_agree,
    ),
    _claim(
        "1.17",
        "phase1",
        "λ1 goes with lower MLP accuracy.",
        "Local sharpness (top Hessian eigenvalues) correlates negatively with MLP performance",
        "§2.4",
        "Spearman ρ(λ1, test accuracy) over every MLP run, Fisher-z interval < 0",
        correlation(("l1", "test_acc"), -1.0, 0.0, models=("mlp",)),
    ),
    _claim(
        "1.18",
        "phase1",
        "λ1 predicts CNN accuracy less than MLP accuracy.",
        "… but is less predictive for CNNs",
        "§2.4",
        "ρ(λ1, accuracy) of CNNs minus that of MLPs (Fisher z, 95 % interval) > 0",
        less_predictive_for_cnn,
    ),
    _claim(
        "2.1",
        "phase2",
        "MLP: plain SGD lowers the training loss slowest.",
        "SGD exhibits the slowest reduction in training loss",
        "§3.2",
        "mean training loss over the epochs (area under the curve), SGD minus each other optimizer, Welch interval > 0",
        sgd_extreme("mlp", "auc", True, "mean training loss"),
    ),
    _claim(
        "2.2",
        "phase2",
        "MLP: plain SGD reaches the lowest final accuracy.",
        "… and reaches the lowest final accuracy (93.04%)",
        "§3.2",
        "SGD minus each other optimizer, Welch interval < 0",
        sgd_extreme("mlp", "test_acc", False, "test accuracy"),
    ),
    _claim(
        "2.3",
        "phase2",
        "MLP: momentum and Adam reach similar accuracy (within 0.5 points).",
        "SGD with momentum and Adam achieve much faster convergence and similar final accuracies (97.32% and 97.19%)",
        "§3.2",
        "difference in percentage points, Welch interval inside (−0.5, 0.5)",
        p2_similar("mlp", "test_acc", "momentum", "adam", 0.5, "test accuracy (%)", 100.0),
    ),
    _claim(
        "2.4",
        "phase2",
        "MLP: plain SGD finds the sharpest minimum (largest λ1).",
        "SGD finds the sharpest minima",
        "§3.2",
        "SGD minus each other optimizer, Welch interval > 0",
        sgd_extreme("mlp", "l1", True, "λ1"),
    ),
    _claim(
        "2.5",
        "phase2",
        "MLP: momentum finds a flatter minimum than Adam.",
        "Adam finds a basin that is flatter than SGD but slightly sharper than momentum-SGD",
        "§3.2",
        "λ1 momentum minus Adam, Welch interval < 0",
        p2_less("mlp", "l1", "momentum", "adam", "λ1"),
    ),
    _claim(
        "2.6",
        "phase2",
        "MLP: plain SGD's random lines are the steepest.",
        "SGD landscapes show noticeably steeper directions in both the random-line plots and the 2D surface",
        "§3.2",
        "mean 1D rise, SGD minus each other optimizer, Welch interval > 0",
        sgd_extreme("mlp", "rise", True, "1D rise"),
    ),
    _claim(
        "2.7",
        "phase2",
        "SimpleCNN: plain SGD lowers the training loss slowest.",
        "SGD converges more slowly, finds sharper solutions",
        "§3.4",
        "mean training loss over the epochs, SGD minus each other optimizer, Welch interval > 0",
        sgd_extreme("cnn", "auc", True, "mean training loss"),
    ),
    _claim(
        "2.8",
        "phase2",
        "SimpleCNN: plain SGD reaches the lowest final accuracy.",
        "Momentum-based and adaptive optimizers converge faster, find flatter basins, and achieve higher accuracy.",
        "§3.4",
        "SGD minus each other optimizer, Welch interval < 0",
        sgd_extreme("cnn", "test_acc", False, "test accuracy"),
    ),
    _claim(
        "2.9",
        "phase2",
        "SimpleCNN: plain SGD finds the sharpest minimum (largest λ1).",
        "SGD … converges to extremely sharp minima … Momentum-SGD, in contrast, dramatically reduces curvature … Adam shows a similar pattern of flattening",
        "§3.3",
        "SGD minus each other optimizer, Welch interval > 0",
        sgd_extreme("cnn", "l1", True, "λ1"),
    ),
    _claim(
        "2.10",
        "phase2",
        "SimpleCNN: plain SGD's random lines are the steepest.",
        "SGD … produces loss landscapes with pronounced curvature in random directions",
        "§3.4",
        "mean 1D rise, SGD minus each other optimizer, Welch interval > 0",
        sgd_extreme("cnn", "rise", True, "1D rise"),
    ),
    _claim(
        "2.11",
        "phase2",
        "SimpleCNN SGD's λ1 is an order of magnitude above the MLP's.",
        "its dominant Hessian eigenvalue is roughly 118, an order of magnitude larger than the MLP case",
        "§3.3",
        "ratio of mean λ1 (delta-method interval) inside (10/√10, 10·√10)",
        cnn_sgd_order_of_magnitude,
    ),
    _claim(
        "3.1",
        "phase3",
        "MLP: no high-loss wall between seeds (path below chance-level loss).",
        "Crucially, no high-loss walls appear in either case.",
        "§4.1",
        "largest test loss on the straight path, mean over seed pairs, interval below ln 10 (a uniform guess)",
        below("mlp", _pair_key("max_loss"), CHANCE_LOSS, "largest loss on the path"),
    ),
    _claim(
        "3.2",
        "phase3",
        "SimpleCNN: no high-loss wall between seeds (path below chance-level loss).",
        "Crucially, no high-loss walls appear in either case.",
        "§4.1",
        "largest test loss on the straight path, mean over seed pairs, interval below ln 10",
        below("cnn", _pair_key("max_loss"), CHANCE_LOSS, "largest loss on the path"),
    ),
    _claim(
        "3.3",
        "phase3",
        "The CNN's barrier is higher in absolute terms than the MLP's.",
        "SimpleCNN (width = 32): The barrier is higher in absolute terms (≈ 0.75)",
        "§4.1",
        "barrier over seed pairs, CNN minus MLP, Welch interval > 0",
        cnn_mlp(_pair_key("barrier"), False, "barrier"),
    ),
    _claim(
        "3.4",
        "phase3",
        "The CNN's endpoint loss is more than 2.5x lower than the MLP's.",
        "the baseline loss at the endpoints is more than 2.5× lower (0.026 vs. 0.065)",
        "§4.1",
        "ratio of mean endpoint test losses, MLP over CNN (delta-method interval) > 2.5",
        mlp_over_cnn_at_least(_pair_key("endpoint_loss"), 2.5, "endpoint loss"),
    ),
    _claim(
        "3.5",
        "phase3",
        "The CNN's barrier relative to its endpoint loss is lower than the MLP's.",
        "yielding a lower relative barrier and a smoother effective landscape",
        "§4.1",
        "relative barrier over seed pairs, CNN minus MLP, Welch interval < 0",
        cnn_mlp(_pair_key("relative_barrier"), True, "relative barrier"),
    ),
    _claim(
        "3.6",
        "phase3",
        "MLP: the loss along PC1 is flatter than along a random direction of the same norm.",
        "The loss forms a nearly perfect symmetric parabola with total variation ΔL ≈ 0.0012",
        "§4.2",
        "ΔL over [−1, 1] along PC1 minus along random unit directions, per seed, Welch interval < 0",
        pc1_flatter_than_random("mlp"),
    ),
    _claim(
        "3.7",
        "phase3",
        "SimpleCNN: the loss along PC1 is flatter than along a random direction of the same norm.",
        "The valley is even flatter (ΔL ≈ 0.0018)",
        "§4.2",
        "ΔL along PC1 minus along random unit directions, Welch interval < 0",
        pc1_flatter_than_random("cnn"),
    ),
    _claim(
        "3.8",
        "phase3",
        "MLP: the PC1 profile is a nearly perfect, centred parabola.",
        "The loss forms a nearly perfect symmetric parabola",
        "§4.2",
        "R² of a least-squares parabola > 0.99 and |vertex| < 0.1, seed means with t-intervals",
        pc1_parabola("mlp"),
    ),
    _claim(
        "3.9",
        "phase3",
        "The CNN is flatter than the MLP along PC1.",
        "SimpleCNN: The valley is even flatter (ΔL ≈ 0.0018)",
        "§4.2",
        "ΔL along PC1, CNN minus MLP, Welch interval < 0",
        cnn_mlp(_p3_key("delta_l"), True, "ΔL along PC1"),
    ),
    _claim(
        "3.10",
        "phase3",
        "MLP-128 has about 100k parameters.",
        "A two-layer MLP with hidden width 128 (∼ 100k parameters)",
        "§4",
        "parameter count within ±10 % of 100,000",
        params_near("mlp", 128, 100_000, 0.1, "MLP"),
    ),
    _claim(
        "3.11",
        "phase3",
        "SimpleCNN-32 has nearly 3x the MLP's parameters.",
        "despite having nearly 3× more parameters",
        "§4.2",
        "CNN/MLP parameter ratio in (2.5, 3.5)",
        params_ratio(2.5, 3.5),
    ),
    _claim(
        "3.12",
        "phase3",
        "MLP: the Phase 3 model exceeds 99 % test accuracy.",
        "Both reach near state-of-the-art test cross-entropy … and exceed 99% accuracy.",
        "§4",
        "test accuracy (%), seed mean with t-interval > 99",
        above("mlp", _p3_key("test_acc"), 99.0, "test accuracy (%)", 100.0),
    ),
    _claim(
        "3.13",
        "phase3",
        "SimpleCNN: the Phase 3 model exceeds 99 % test accuracy.",
        "Both reach near state-of-the-art test cross-entropy … and exceed 99% accuracy.",
        "§4",
        "test accuracy (%), seed mean with t-interval > 99",
        above("cnn", _p3_key("test_acc"), 99.0, "test accuracy (%)", 100.0),
    ),
    _claim(
        "3.14",
        "phase3",
        "The CNN has a higher λ1 (20-batch average) than the MLP.",
        "Despite the CNN exhibiting a higher dominant Hessian eigenvalue",
        "§4.3",
        "λ1, CNN minus MLP, Welch interval > 0",
        cnn_mlp(_p3_key("lambda1"), False, "λ1"),
    ),
    _claim(
        "3.15",
        "phase3",
        "The CNN has a higher 1D sharpness than the MLP.",
        "… and a higher 1D sharpness (a consequence of filter-scale differences)",
        "§4.3",
        "1D sharpness, CNN minus MLP, Welch interval > 0",
        cnn_mlp(_p3_key("sharpness_1d"), False, "1D sharpness"),
    ),
    _claim(
        "3.16",
        "phase3",
        "The two models' perturbation flatness is comparable (within 2x).",
        "its perturbation-based flatness remains comparable",
        "§4.3",
        "ratio of mean ΔL at σ = 10⁻³ (delta-method interval) inside (1/2, 2)",
        perturbation_comparable,
    ),
]
CLAIMS_ORDER = {c.id: i for i, c in enumerate(CLAIMS)}


# ---------------------------------------------------------------- the report's own numbers


def reference(path=None) -> dict:
    return yaml.safe_load((path or BOOK / "reference.yml").read_text())


def report_results(ref: dict) -> dict:
    """The report's numbers in the shape of our results (one exact value per quantity;
    what the report does not give is None, so its claims come out 'not evaluable')."""
    l1 = {(t["model"], t["width"]): t for t in ref["table2"]}
    rows = {"mlp": [], "cnn": []}
    for t in ref["table1"]:
        e = l1.get((t["model"], t["width"]), {})
        rows[t["model"]].append(
            {
                "width": t["width"],
                "seeds": [None],
                "status": ["converged"],
                "epochs": [t["epochs"]],
                "test_loss": [t["test_loss"]],
                "test_acc": [t["test_acc"]],
                "l1": [e["l1"][0]] if e else None,
                "rise": None,
            }
        )
    R = {("phase1", m): {"rows": r} for m, r in rows.items()}
    for model in ("mlp", "cnn"):
        R[("phase2", model)] = {
            "rows": [
                {
                    "optimizer": t["optimizer"],
                    "test_acc": [t["test_acc"]] if t.get("test_acc") else None,
                    "l1": [t["l1"]] if t.get("l1") else None,
                    "rise": None,
                    "train_loss": None,
                }
                for t in ref["phase2"]
                if t["model"] == model
            ]
        }
    t5 = {t["model"]: t for t in ref["table5"]}
    t1 = {(t["model"], t["width"]): t for t in ref["table1"]}
    for t in ref["phase3"]:
        m, f = t["model"], t5[t["model"]]
        R[("phase3", m)] = {
            "width": t["width"],
            "params": ref["parameters"].get(m),
            "test_acc": [t1[(m, t["width"])]["test_acc"]],
            "pairs": [
                {
                    "barrier": t["barrier"],
                    "endpoint_loss": t["test_loss"],
                    "relative_barrier": t["barrier"] / t["test_loss"],
                    "max_loss": t["barrier"] + t["test_loss"],
                }
            ],
            "delta_l": [t["delta_l"]],
            "control_delta_l": None,
            "pc1_r2": None,
            "pc1_vertex": None,
            # Table 5's "Perturb. σ" column as it stands (book/readings: what it measured)
            "flatness": {
                "lambda1": [f["lambda1"]],
                "sharpness_1d": [f["sharpness_1d"]],
                "perturbation": [f["perturb"]],
            },
        }
    return R


def evaluate(results: dict, ref: dict | None = None) -> list[dict]:
    """Every claim's verdict on our results and on the report's own numbers."""
    theirs = report_results(ref) if ref is not None else None
    rows = []
    for c in CLAIMS:
        ours = c.verdict(results)
        row = {
            "id": c.id,
            "section": c.section,
            "claim": c.text,
            "quote": c.quote,
            "where": c.where,
            "rule": c.rule,
            "verdict": ours.outcome,
            "evidence": ours.evidence,
        }
        if theirs is not None:
            rep = c.verdict(theirs, exact=True)
            row["report verdict"], row["report evidence"] = rep.outcome, rep.evidence
            row["category"] = category(ours.outcome, rep.outcome)
        rows.append(row)
    return rows


def category(ours: str, report: str) -> str:
    """Where a claim stands, given our verdict and the verdict on the report's numbers."""
    if report == FAILS:
        return "contradicted by the report's own numbers"
    if report == NOT_EVALUABLE:
        return "not testable from the report's numbers"
    if ours == HOLDS:
        return "holds in both"
    if ours == FAILS:
        return "holds in the report, not here"
    return "holds in the report, undecided here"


CATEGORIES = {
    "holds in both": "c_both",
    "holds in the report, not here": "c_repro",
    "holds in the report, undecided here": "c_undecided",
    "contradicted by the report's own numbers": "c_self",
    "not testable from the report's numbers": "c_untestable",
}
_COUNT_NAMES = {HOLDS: "n_hold", FAILS: "n_fail", INCONCLUSIVE: "n_inc", NOT_EVALUABLE: "n_ne"}


def counts(rows: list[dict]) -> dict:
    """The numbers the reproduction page's prose quotes: claims per verdict and category."""
    out = {"n_claims": len(rows)}
    out |= {name: sum(r["verdict"] == v for r in rows) for v, name in _COUNT_NAMES.items()}
    out |= {name: sum(r.get("category") == c for r in rows) for c, name in CATEGORIES.items()}
    return out
