"""What did the report measure? Its ambiguous quantities, read every candidate way.

The report gives numbers for quantities it does not define: lines at "distance = 1.5",
a "1D sharpness" of 26.6 (MLP) and 40065 (CNN), a "Perturb. σ (×10⁻⁴)" of 1.78 and 2.54,
and epoch counts "until convergence". The sections compute every candidate reading of each
(``sections.line_readings``, ``sharpness_readings``, ``perturb_readings``, ``_stop_rules``);
this module lays them side by side with the report's values, says which readings reproduce
the report's order of magnitude, and re-runs the claims under each reading, so a verdict
that depends on the reading is marked as such.

A reading *reproduces the report's order of magnitude* when the 95 % interval (over seeds)
of log(ours / report) lies within ±log √10 for each model and for the CNN/MLP ratio; it
*does not* when one interval lies entirely outside; otherwise it is undecided.
"""

import copy
import math

import numpy as np
import pandas as pd

from lslib.paper import claims, stats
from lslib.paper.sections import label

QUANTITIES = {
    "distance": "the 1D lines (“distance = 1.5”)",
    "sharpness": "“1D sharpness” (Table 5)",
    "perturb": "“Perturb. σ (×10⁻⁴)” (Table 5)",
    "stopping": "the stopping rule (“until convergence”)",
    "matched": "Phase 2 weights: final or at matched training loss",
    "pca": "trajectory PCA: centred without biases or uncentred with biases",
}
FACTOR = math.sqrt(10)  # "the same order of magnitude": within a factor of sqrt(10)
CONSISTENT, INCONSISTENT, UNDECIDED = "reproduces", "does not reproduce", "undecided"
_WORDS = {claims.HOLDS: CONSISTENT, claims.FAILS: INCONSISTENT, claims.INCONCLUSIVE: UNDECIDED}


def _rows(R, section):
    return [(m, r) for (s, m), p in R.items() if s == section for r in p.get("rows", [])]


def variants(R: dict, quantity: str) -> dict:
    """Reading name -> the results with that reading substituted for the adopted one."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is unknown; allowed: {list(QUANTITIES)}")
    out = {}
    if quantity == "distance":
        names = _keys(
            [r.get("rise_readings") for s in ("phase1", "phase2") for _, r in _rows(R, s)]
        )
        for n in names:
            out[n] = _sub(
                R,
                lambda R2, n=n: [
                    r.__setitem__("rise", r["rise_readings"][n])
                    for s in ("phase1", "phase2")
                    for _, r in _rows(R2, s)
                ],
            )
    elif quantity in ("sharpness", "perturb"):
        src, dst = {
            "sharpness": ("sharpness_readings", "sharpness_1d"),
            "perturb": ("perturb_readings", "perturbation"),
        }[quantity]
        p3 = [p["flatness"] for (s, _), p in R.items() if s == "phase3" and "flatness" in p]
        for n in _keys([f.get(src) for f in p3]):
            out[n] = _sub(
                R,
                lambda R2, n=n: [
                    p["flatness"].__setitem__(dst, p["flatness"][src][n])
                    for (s, _), p in R2.items()
                    if s == "phase3"
                ],
            )
    elif quantity == "stopping":
        for n in _keys([r.get("stop_rules") for _, r in _rows(R, "phase1")]):
            out[n] = _sub(
                R, lambda R2, n=n: [r.update(r["stop_rules"][n]) for _, r in _rows(R2, "phase1")]
            )
    elif quantity == "matched":
        if all("matched" in r for _, r in _rows(R, "phase2")) and _rows(R, "phase2"):
            out["final weights (adopted)"] = R
            out["matched training loss"] = _sub(
                R,
                lambda R2: [
                    r.update(l1=r["matched"]["l1"], rise=r["matched"]["rise"])
                    for _, r in _rows(R2, "phase2")
                ],
            )
    else:
        p3 = [p for (s, _), p in R.items() if s == "phase3"]
        if p3 and all("delta_l_other" in p for p in p3):
            out["centred, no biases (adopted)"] = R
            out["uncentred, with biases"] = _sub(
                R,
                lambda R2: [
                    p.update(delta_l=p["delta_l_other"], explained=p["explained_other"])
                    for (s, _), p in R2.items()
                    if s == "phase3"
                ],
            )
    return out


def _keys(dicts) -> list:
    """The reading names every payload has, in the order of the first."""
    dicts = [d for d in dicts if d is not None]
    if not dicts:
        return []
    return [k for k in dicts[0] if all(k in d for d in dicts)]


def _sub(R: dict, edit) -> dict:
    R2 = copy.deepcopy(R)
    edit(R2)
    return R2


def verdicts(R: dict, quantity: str) -> tuple[pd.DataFrame, dict]:
    """The verdicts, under each reading, of the claims the quantity affects (a claim is
    affected when its evidence changes with the reading), and ``{claim id: reading names
    under which its verdict differs from the adopted one}``."""
    vs = variants(R, quantity)
    base = {c.id: c.verdict(R) for c in claims.CLAIMS}
    under = {n: {c.id: c.verdict(R2) for c in claims.CLAIMS} for n, R2 in vs.items()}
    rows, flips = [], {}
    for c in claims.CLAIMS:
        if all(u[c.id].evidence == base[c.id].evidence for u in under.values()):
            continue
        row = {"claim": f"{c.id} {c.text}", "adopted": base[c.id].outcome}
        row |= {n: u[c.id].outcome for n, u in under.items()}
        changed = [n for n, u in under.items() if u[c.id].outcome != base[c.id].outcome]
        if changed:
            flips[c.id] = changed
        rows.append(row)
    return pd.DataFrame(rows), flips


def all_flips(R: dict) -> dict:
    """``{claim id: [quantity, ...]}``: the claims whose verdict changes with a reading."""
    out = {}
    for q in QUANTITIES:
        for cid in verdicts(R, q)[1]:
            out.setdefault(cid, []).append(q)
    return out


def _near(ours, theirs: float) -> stats.Interval:
    """log(mean(ours) / theirs) with a delta-method t-interval over the seeds (the report's
    number is exact); NaN unless both are positive."""
    m = stats.mean(ours)
    if not (m.value > 0 and theirs > 0):
        return stats.Interval(math.nan, math.nan, math.nan, m.n)
    r = math.log(m.value / theirs)
    if not math.isfinite(m.half):
        return stats.Interval(r, -math.inf, math.inf, m.n)
    h = m.half / m.value  # d log(x) = dx / x
    return stats.Interval(r, r - h, r + h, m.n)


def consistency(R: dict, ref: dict, quantity: str) -> pd.DataFrame:
    """Table 5's ``quantity`` ('sharpness' or 'perturb'): each reading's value per model
    and CNN/MLP ratio next to the report's, and whether it reproduces their order of
    magnitude."""
    src, col = {
        "sharpness": ("sharpness_readings", "sharpness_1d"),
        "perturb": ("perturb_readings", "perturb"),
    }[quantity]
    t5 = {t["model"]: t[col] for t in ref["table5"]}
    p3 = {m: p for (s, m), p in R.items() if s == "phase3"}
    if set(p3) != {"mlp", "cnn"}:
        return pd.DataFrame()
    names = _keys([p["flatness"].get(src) for p in p3.values()])
    rows = []
    lim = math.log(FACTOR)
    for n in names:
        mlp, cnn = (stats.values(p3[m]["flatness"][src][n]) for m in ("mlp", "cnn"))
        parts = [_near(mlp, t5["mlp"]), _near(cnn, t5["cnn"])]
        ratio = stats.log_ratio(cnn, mlp)
        parts.append(
            stats.Interval(
                ratio.value - math.log(t5["cnn"] / t5["mlp"]),
                ratio.lo - math.log(t5["cnn"] / t5["mlp"]),
                ratio.hi - math.log(t5["cnn"] / t5["mlp"]),
                ratio.n,
            )
        )
        words = [_WORDS[claims.decide(i, -lim, lim)] if i.finite else UNDECIDED for i in parts]
        overall = (
            INCONSISTENT
            if INCONSISTENT in words
            else CONSISTENT
            if all(w == CONSISTENT for w in words)
            else UNDECIDED
        )
        rows.append(
            {
                "reading": n,
                f"{label('mlp', p3['mlp']['width'])}": _pm(mlp),
                f"{label('cnn', p3['cnn']['width'])}": _pm(cnn),
                "CNN / MLP": _ratio(ratio),
                "report (MLP, CNN, ratio)": f"{t5['mlp']:.3g}, {t5['cnn']:.3g}, "
                f"{t5['cnn'] / t5['mlp']:.3g}",
                "order of magnitude (MLP, CNN, ratio)": ", ".join(words),
                "verdict": overall,
            }
        )
    return pd.DataFrame(rows)


def _pm(v) -> str:
    return stats.fmt(stats.mean(v), 3).replace(" ± ", "\u00a0±\u00a0")


def _ratio(i: stats.Interval) -> str:
    if not i.finite:
        return "—"
    if math.isfinite(i.lo) and math.isfinite(i.hi):
        return f"{math.exp(i.value):.3g} [{math.exp(i.lo):.3g}, {math.exp(i.hi):.3g}]"
    return f"{math.exp(i.value):.3g}"


def distance_table(R: dict) -> pd.DataFrame:
    """The mean 1D rise of every Phase 1 model under each reading of the lines."""
    rows = {}
    for model, r in _rows(R, "phase1"):
        for n, v in (r.get("rise_readings") or {}).items():
            rows.setdefault(n, {"reading": n})[label(model, r["width"])] = _pm(v)
    return pd.DataFrame(list(rows.values()))


def stopping_table(R: dict, ref: dict) -> pd.DataFrame:
    """Table 1's epoch counts: the report's, and ours under each stopping rule (a mean
    marked ≥ when a rule had not fired on some seed when its run stopped)."""
    theirs = {(t["model"], t["width"]): t["epochs"] for t in ref["table1"]} if ref else None
    out = []
    for model, r in _rows(R, "phase1"):
        row = {"model": label(model, r["width"])}
        if theirs is not None:
            row["report"] = theirs.get((model, r["width"]), "—")
        for n, v in (r.get("stop_rules") or {}).items():
            cens = any(s != "converged" for s in v["status"])
            row[n] = ("≥ " if cens else "") + _pm(v["epochs"])
        out.append(row)
    return pd.DataFrame(out)


def matched_table(R: dict) -> pd.DataFrame:
    """Phase 2 at the final weights and at matched training loss, per optimizer."""
    out = []
    for model, r in _rows(R, "phase2"):
        m = r.get("matched")
        if not m:
            continue
        out.append(
            {
                "model": label(model, R[("phase2", model)]["width"]),
                "optimizer": r["optimizer"],
                "training loss level": f"{m['level']:.4g}",
                "epoch reached": _pm(m["epochs"]),
                "λ1, final": _pm(r["l1"]),
                "λ1, matched": _pm(m["l1"]),
                "1D rise, final": _pm(r["rise"]),
                "1D rise, matched": _pm(m["rise"]),
            }
        )
    return pd.DataFrame(out)


def recommended(table: pd.DataFrame) -> list[str]:
    """The readings of a consistency table that reproduce the report's order of magnitude."""
    if table.empty:
        return []
    return list(table.loc[table["verdict"] == CONSISTENT, "reading"])


def _p3(R):
    return [(m, p) for (s, m), p in R.items() if s == "phase3"]


def barrier_table(R: dict) -> pd.DataFrame:
    """The loss barrier next to Frankle et al.'s error barrier and their connectedness."""
    out = []
    for model, p in _p3(R):
        q = p["pairs"]
        out.append(
            {
                "model": label(model, p["width"]),
                "seed pairs": len(q),
                "loss barrier": _pm([x["barrier"] for x in q]),
                "error barrier (%)": _pm([100 * x["error_barrier"] for x in q]),
                "connected (< 2 %)": f"{sum(x['error_connected'] for x in q)} of {len(q)}",
                "error barrier after alignment (%)": _pm(
                    [100 * x["aligned_error_barrier"] for x in q]
                ),
                "connected after alignment": f"{sum(x['aligned_error_connected'] for x in q)} of {len(q)}",
            }
        )
    return pd.DataFrame(out)


def flatness_definitions(R: dict) -> pd.DataFrame:
    """PAC-Bayes sigma' by both criteria; epsilon-sharpness against the number of ascent
    steps and by L-BFGS-B."""
    out = []
    for model, p in _p3(R):
        f = p["flatness"]
        row = {
            "model": label(model, p["width"]),
            "σ′, accuracy (adopted)": _pm(f["pac_sigma"]),
            "σ′, loss": _pm(f["pac_sigma_loss"]),
        }
        for i, s in enumerate(f["eps_steps"]):
            row[f"ε-sharpness, {s} steps"] = _pm([v[i] for v in f["eps_by_steps"]])
        row["ε-sharpness, L-BFGS-B"] = _pm(f["eps_lbfgsb"])
        out.append(row)
    return pd.DataFrame(out)


def pca_table(R: dict) -> pd.DataFrame:
    out = []
    for model, p in _p3(R):
        out.append(
            {
                "model": label(model, p["width"]),
                "PC1+PC2 variance, centred (%)": _pm([100 * sum(e) for e in p["explained"]]),
                "ΔL along PC1, centred": _pm(p["delta_l"]),
                "PC1+PC2 share, uncentred (%)": _pm([100 * sum(e) for e in p["explained_other"]]),
                "ΔL along PC1, uncentred": _pm(p["delta_l_other"]),
            }
        )
    return pd.DataFrame(out)


def eval_size_table(R: dict) -> pd.DataFrame:
    """The first seed's adopted 1D rise on the landscape sample and on a larger one (mean
    and 95 % interval over the directions), their paired difference, and how far its
    plane moves."""
    out = []
    for model, p in _p3(R):
        e = p["eval_size"]
        d = [b - a for a, b in zip(e["rise_small"], e["rise_large"], strict=True)]
        out.append(
            {
                "model": label(model, p["width"]),
                f"rise, {e['small']:,} images": _pm(e["rise_small"]),
                f"rise, {e['large']:,} images": _pm(e["rise_large"]),
                "difference": _pm(d),
                "plane: largest |difference|": f"{e['plane_max_diff']:.3g}",
                "plane: mean difference": f"{e['plane_mean_diff']:.3g}",
            }
        )
    return pd.DataFrame(out)


def lambda_batch_table(R: dict) -> pd.DataFrame:
    out = []
    for model, p in _p3(R):
        lb = p["lambda_batch"]
        row = {"model": label(model, p["width"]), "seed": lb["seed"]}
        for b, v in zip(lb["sizes"], lb["values"], strict=True):
            sd = f"\u00a0±\u00a0{np.std(v, ddof=1):.3g}" if len(v) > 1 else ""
            row[f"batch {b:,} ({len(v)} batches)"] = f"{np.mean(v):.4g}{sd}"
        row[f"{lb['full_images']:,} images"] = f"{lb['full']:.4g}"
        out.append(row)
    return pd.DataFrame(out)
