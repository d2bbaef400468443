"""What did the report measure? Its ambiguous quantities, read every candidate way.

The report gives numbers for quantities it does not define: lines at "distance = 1.5",
a "1D sharpness" of 26.6 (MLP) and 40065 (CNN), a "Perturb. σ (×10⁻⁴)" of 1.78 and 2.54,
and epoch counts "until convergence". The sections compute every candidate reading of each
(``measures.line_readings``, ``sharpness_readings``, ``perturb_readings``, ``_stop_rules``);
this module lays them side by side with the report's values, says which readings reproduce
the report's order of magnitude, and re-runs the claims under each reading, so a verdict
that depends on the reading is marked as such.

A reading *reproduces the report's order of magnitude* when the 95 % interval (over seeds)
of log(ours / report) lies within ±log √10 for each model and for the CNN/MLP ratio; it
*does not* when one interval lies entirely outside; otherwise it is undecided.
"""

import copy
import math

import pandas as pd

from lslib.paper.names import label
from lslib.paper.pages.reading_tables import ratio_text
from lslib.paper.pages.tables import pm, section_rows
from lslib.paper.verdicts import claims, inference
from lslib.paper.verdicts.engine import decide
from lslib.paper.verdicts.outcomes import FAILS, HOLDS, INCONCLUSIVE

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
_WORDS = {
    HOLDS: CONSISTENT,
    FAILS: INCONSISTENT,
    INCONCLUSIVE: UNDECIDED,
}


def variants(R: dict, quantity: str) -> dict:
    """Reading name -> the results with that reading substituted for the adopted one."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is unknown; allowed: {list(QUANTITIES)}")
    out = {}
    if quantity == "distance":
        names = _keys(
            [r.get("rise_readings") for s in ("phase1", "phase2") for _, r in section_rows(R, s)]
        )
        for n in names:
            out[n] = _sub(
                R,
                lambda R2, n=n: [
                    r.__setitem__("rise", r["rise_readings"][n])
                    for s in ("phase1", "phase2")
                    for _, r in section_rows(R2, s)
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
        for n in _keys([r.get("stop_rules") for _, r in section_rows(R, "phase1")]):
            out[n] = _sub(
                R,
                lambda R2, n=n: [
                    r.update(r["stop_rules"][n]) for _, r in section_rows(R2, "phase1")
                ],
            )
    elif quantity == "matched":
        if all("matched" in r for _, r in section_rows(R, "phase2")) and section_rows(R, "phase2"):
            out["final weights (adopted)"] = R
            out["matched training loss"] = _sub(
                R,
                lambda R2: [
                    r.update(l1=r["matched"]["l1"], rise=r["matched"]["rise"])
                    for _, r in section_rows(R2, "phase2")
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


def _near(ours, theirs: float) -> inference.Interval:
    """log(mean(ours) / theirs) with a delta-method t-interval over the seeds (the report's
    number is exact); NaN unless both are positive."""
    m = inference.mean(ours)
    if not (m.value > 0 and theirs > 0):
        return inference.Interval(math.nan, math.nan, math.nan, m.n)
    r = math.log(m.value / theirs)
    if not math.isfinite(m.half):
        return inference.Interval(r, -math.inf, math.inf, m.n)
    h = m.half / m.value  # d log(x) = dx / x
    return inference.Interval(r, r - h, r + h, m.n)


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
        mlp, cnn = (inference.values(p3[m]["flatness"][src][n]) for m in ("mlp", "cnn"))
        parts = [_near(mlp, t5["mlp"]), _near(cnn, t5["cnn"])]
        ratio = inference.log_ratio(cnn, mlp)
        parts.append(
            inference.Interval(
                ratio.value - math.log(t5["cnn"] / t5["mlp"]),
                ratio.lo - math.log(t5["cnn"] / t5["mlp"]),
                ratio.hi - math.log(t5["cnn"] / t5["mlp"]),
                ratio.n,
            )
        )
        words = [_WORDS[decide(i, -lim, lim)] if i.finite else UNDECIDED for i in parts]
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
                f"{label('mlp', p3['mlp']['width'])}": pm(mlp, 3),
                f"{label('cnn', p3['cnn']['width'])}": pm(cnn, 3),
                "CNN / MLP": ratio_text(ratio),
                "report (MLP, CNN, ratio)": f"{t5['mlp']:.3g}, {t5['cnn']:.3g}, "
                f"{t5['cnn'] / t5['mlp']:.3g}",
                "order of magnitude (MLP, CNN, ratio)": ", ".join(words),
                "verdict": overall,
            }
        )
    return pd.DataFrame(rows)


def recommended(table: pd.DataFrame) -> list[str]:
    """The readings of a consistency table that reproduce the report's order of magnitude."""
    if table.empty:
        return []
    return list(table.loc[table["verdict"] == CONSISTENT, "reading"])
