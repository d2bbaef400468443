"""The book's tables: seed means with 95 % intervals, formatted per quantity.

Each function takes the results (``{(section, model): payload}``) and returns a table
without an index column. Accuracies are percentages with 2 decimals, losses and curvatures
4 significant digits, epochs 3; an interval is ``mean ± half-width`` on one line; a
missing value is "—".
"""

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from lslib.paper.names import NAMES, label
from lslib.paper.verdicts import formatting, inference

STATUS = {
    "converged": "converged",
    "max_epochs": "epoch cap",
    "fixed": "fixed epochs",
    "diverged": "diverged",
}


def status(values: list) -> str:
    """'converged ×3' or 'converged ×2, epoch cap ×1'."""
    counts = {}
    for v in values:
        counts[STATUS.get(v, v)] = counts.get(STATUS.get(v, v), 0) + 1
    return ", ".join(f"{k} ×{n}" for k, n in counts.items())


NBSP = "\u00a0"


def pm(v, digits: int = 4, scale: float = 1.0) -> str:
    """Seed mean ± half-width of the 95 % interval, kept on one line."""
    return formatting.fmt(inference.mean(v), digits, scale).replace(" ± ", f"{NBSP}±{NBSP}")


def pct(v) -> str:
    """An accuracy (a fraction) as a percentage with 2 decimals, ± the interval's half-width."""
    i = inference.mean(v)
    if not np.isfinite(i.value):
        return "—"
    m = f"{100 * i.value:.2f}"
    if i.lo == i.hi:
        return m
    return f"{m} (1 seed)" if not np.isfinite(i.half) else f"{m}{NBSP}±{NBSP}{100 * i.half:.2f}"


def section_rows(R, section) -> list[tuple]:
    """(model, row) of every row of a section's results."""
    return [(m, r) for (s, m), p in R.items() if s == section for r in p.get("rows", [])]


def frame(rows: list) -> Styler:
    """Rows (dicts of column -> text) as a table without its index (``.data``: the frame)."""
    return pd.DataFrame(rows).style.hide(axis="index")


def table1(results: dict) -> Styler:
    """The report's Table 1: per Phase 1 width, its parameters, seeds, stopping status,
    epochs, test loss and test accuracy (seed means with intervals)."""
    rows = []
    for model in NAMES:
        for r in results.get(("phase1", model), {}).get("rows", []):
            rows.append(
                {
                    "model": label(model, r["width"]),
                    "parameters": f"{r['params']:,}",
                    "seeds": len(r["seeds"]),
                    "status": status(r["status"]),
                    "epochs": pm(r["epochs"], 3),
                    "test loss": pm(r["test_loss"]),
                    "test accuracy (%)": pct(r["test_acc"]),
                }
            )
    return frame(rows)


def eigen_table(results: dict, section: str = "phase1") -> Styler:
    """Top-3 eigenvalues: seed means with intervals; λ1's spread over batches within a run."""
    rows = []
    for model in NAMES:
        res = results.get((section, model), {})
        for r in res.get("rows", []):
            name = (
                label(model, r["width"])
                if "width" in r
                else f"{label(model, res['width'])}, {r['optimizer']}"
            )
            bstd = [s for s in r["l1_batch_std"] if s is not None]
            rows.append(
                {
                    "model": name,
                    "λ1": pm(r["l1"]),
                    "λ2": pm(r["l2"]),
                    "λ3": pm(r["l3"]),
                    "λ1 batch std (within run)": f"{np.mean(bstd):.3g}" if bstd else "—",
                    "λ1 range over batches": f"[{min(r['l1_min']):.4g}, {max(r['l1_max']):.4g}]",
                }
            )
    return frame(rows)


def table_phase2(results: dict) -> Styler:
    """Phase 2 per optimizer: stopping status, test accuracy and loss, mean training loss,
    λ1 and the 1D rise (seed means with intervals)."""
    rows = []
    for model in NAMES:
        res = results.get(("phase2", model), {})
        for r in res.get("rows", []):
            auc = [float(np.mean(t)) for t in r["train_loss"]]
            rows.append(
                {
                    "model": label(model, res["width"]),
                    "optimizer": r["optimizer"],
                    "status": status(r["status"]),
                    "test accuracy (%)": pct(r["test_acc"]),
                    "test loss": pm(r["test_loss"]),
                    "mean training loss": pm(auc),
                    "λ1": pm(r["l1"]),
                    "1D rise": pm(r["rise"], 3),
                }
            )
    return frame(rows)


def _phase3(results: dict) -> list[tuple[str, dict]]:
    """(model label, Phase 3 payload) of each family with Phase 3 results."""
    out = []
    for model in NAMES:
        r = results.get(("phase3", model))
        if r:
            out.append((label(model, r["width"]), r))
    return out


def _pairs(r: dict, key: str, digits: int = 4, scale: float = 1.0) -> str:
    """A seed-pair quantity over every pair ("—" where the results lack it)."""
    p = r["pairs"]
    return pm([q[key] for q in p], digits, scale) if key in p[0] else "—"


def table_connectivity(results: dict) -> Styler:
    """The straight line between every seed pair: loss barrier and error barrier."""
    rows = []
    for name, r in _phase3(results):
        p = r["pairs"]
        rows.append(
            {
                "model": name,
                "seed pairs": len(p),
                "endpoint test loss": _pairs(r, "endpoint_loss"),
                "barrier": _pairs(r, "barrier"),
                "relative barrier": _pairs(r, "relative_barrier", 3),
                "error barrier (%)": _pairs(r, "error_barrier", 3, 100),
                "pairs connected (error barrier < 2 %)": (
                    f"{sum(q.get('error_connected', False) for q in p)} of {len(p)}"
                ),
            }
        )
    return frame(rows)


def table_alignment(results: dict) -> Styler:
    """The same seed pairs after weight matching, after weight matching and REPAIR, and
    along the trained Bezier curve."""
    rows = [
        {
            "model": name,
            "barrier after alignment": _pairs(r, "aligned_barrier"),
            "barrier after alignment + REPAIR": _pairs(r, "repair_barrier"),
            "error barrier after alignment (%)": _pairs(r, "aligned_error_barrier", 3, 100),
            "error barrier after alignment + REPAIR (%)": _pairs(r, "repair_error_barrier", 3, 100),
            "barrier along the Bezier curve": _pairs(r, "bezier_barrier"),
        }
        for name, r in _phase3(results)
    ]
    return frame(rows)


def table_trajectory(results: dict) -> Styler:
    """The training trajectory's PCA: the variance of its first two components and the
    loss along the first, against random unit directions."""
    rows = [
        {
            "model": name,
            "PC1+PC2 variance (%)": pm([sum(e) for e in r["explained"]], 3, 100),
            "ΔL along PC1": pm(r["delta_l"], 3),
            "ΔL, random unit direction": pm(r["control_delta_l"], 3),
        }
        for name, r in _phase3(results)
    ]
    return frame(rows)


ADAPTIVE = {  # adaptive-sharpness columns (Andriushchenko et al. 2023)
    "adaptive_max_linf": "adaptive sharpness, worst case ℓ∞",
    "adaptive_max_l2": "adaptive sharpness, worst case ℓ2",
    "adaptive_avg": "adaptive sharpness, average case",
}


def table5(results: dict) -> Styler:
    """The report's Table 5 (test CE, λ1, 1D sharpness, Perturb.) with the Hessian's trace."""
    rows = []
    for name, r in _phase3(results):
        f = r["flatness"]
        rows.append(
            {
                "model": name,
                "test CE": pm(f["test_loss"]),
                "λ1 (batch avg)": pm(f["lambda1"]),
                "trace": pm(f["trace"], 3),
                "trace, estimator's s.e.": pm(f["trace_se"], 2),
                "1D sharpness": pm(f["sharpness_1d"], 3),
                "Perturb.": pm(f["perturbation"], 3),
            }
        )
    return frame(rows)


def table5_sharpness(results: dict) -> Styler:
    """Table 5's extension: the sharpness measures of Keskar et al. (ε-sharpness), Jiang
    et al. (PAC-Bayes σ′) and Andriushchenko et al. (adaptive sharpness)."""
    rows = []
    for name, r in _phase3(results):
        f = r["flatness"]
        row = {
            "model": name,
            "ε-sharpness (%)": pm(f["eps_sharpness"], 3),
            "PAC-Bayes σ′": pm(f["pac_sigma"], 3),
        }
        for key, col in ADAPTIVE.items():
            row[col] = pm(f[key], 3) if key in f else "—"
        rows.append(row)
    return frame(rows)


def sharpness_correlations(results: dict, model: str) -> pd.DataFrame:
    """Each sharpness measure's rank correlation with the generalization gap and with the
    test error over the family's models (the model as the unit), with its 95 % interval."""
    from lslib.paper.verdicts.claims_beyond import MEASURES, correlations

    rho = correlations(results, model)
    text = lambda i: "—" if i is None else f"{i.value:.2f} [{i.lo:.2f}, {i.hi:.2f}]"  # noqa: E731
    return pd.DataFrame(
        {
            "measure": name,
            "ρ with test − train loss": text(rho.get((key, "gap"))),
            "ρ with test error": text(rho.get((key, "test_error"))),
        }
        for key, name in MEASURES.items()
    )


# ---------------------------------------------------------------- side by side with the report


def _long(key: dict, name: str, theirs, ours, scale: float = 1.0) -> dict:
    """One quantity per row (not three columns per quantity): the report's value, ours (seed
    mean ± 95 % half-width, rounded to the interval's precision), the difference, and
    whether the report's value lies inside our interval."""
    i = inference.mean(ours) if ours is not None else None
    ok = theirs is not None and i is not None and np.isfinite(i.value)
    if i is None or not np.isfinite(i.value):
        mine = "—"
    elif np.isfinite(i.half) and i.half > 1e-12 * abs(i.value):
        mine = formatting.fmt_pm(i.value * scale, i.half * scale).replace(" ± ", f"{NBSP}±{NBSP}")
    else:
        mine = formatting.fmt(i, 4, scale)
    inside = "—"
    if ok and np.isfinite(i.half):
        inside = "inside" if i.lo <= theirs <= i.hi else "outside"
    return key | {
        "quantity": name,
        "report": "—" if theirs is None else f"{theirs * scale:.4g}",
        "ours (95 %)": mine,
        "Δ (ours − report)": f"{(i.value - theirs) * scale:+.3g}" if ok else "—",
        "report in our interval": inside,
    }


def _p1(results, model, width):
    for r in results.get(("phase1", model), {}).get("rows", []):
        if r["width"] == width:
            return r
    return None


def compare_table1(results: dict, ref: dict) -> Styler:
    """Table 1 next to the report's (``ref``): epochs, test loss and accuracy, one row per
    quantity, with whether the report's value lies in our interval."""
    rows = []
    for t in ref["table1"]:
        o = _p1(results, t["model"], t["width"]) or {}
        key = {"model": label(t["model"], t["width"])}
        rows.append(_long(key, "epochs", t["epochs"], o.get("epochs")))
        rows.append(_long(key, "test loss", t["test_loss"], o.get("test_loss")))
        rows.append(_long(key, "test acc. (%)", t["test_acc"], o.get("test_acc"), 100))
    return frame(rows)


def compare_eigen(results: dict, ref: dict) -> Styler:
    """The report's Table 2 (λ1, λ2, λ3 per Phase 1 width) next to ours, one row per
    eigenvalue."""
    rows = []
    for t in ref["table2"]:
        o = _p1(results, t["model"], t["width"]) or {}
        key = {"model": label(t["model"], t["width"])}
        rows += [_long(key, f"λ{k[1]}", t[k][0], o.get(k)) for k in ("l1", "l2", "l3")]
    return frame(rows)


def compare_phase2(results: dict, ref: dict) -> Styler:
    """Phase 2's test accuracy and λ1 per optimizer next to the report's."""
    rows = []
    for t in ref["phase2"]:
        res = results.get(("phase2", t["model"]), {})
        o = {r["optimizer"]: r for r in res.get("rows", [])}.get(t["optimizer"], {})
        key = {"model": NAMES[t["model"]], "optimizer": t["optimizer"]}
        rows.append(_long(key, "test acc. (%)", t.get("test_acc"), o.get("test_acc"), 100))
        rows.append(_long(key, "λ1", t.get("l1"), o.get("l1")))
    return frame(rows)


def compare_phase3(results: dict, ref: dict) -> Styler:
    """Phase 3 and Table 5 next to the report's: test CE, barrier, ΔL along PC1, λ1, 1D
    sharpness and Perturb. per model."""
    rows = []
    t5 = {t["model"]: t for t in ref["table5"]}
    for t in ref["phase3"]:
        o = results.get(("phase3", t["model"]), {})
        f, f5 = o.get("flatness", {}), t5[t["model"]]
        pairs = o.get("pairs") or []
        key = {"model": label(t["model"], t["width"])}
        for name, theirs, ours in (
            ("test CE", t["test_loss"], f.get("test_loss")),
            ("barrier", t["barrier"], [p["barrier"] for p in pairs] if pairs else None),
            ("ΔL along PC1", t["delta_l"], o.get("delta_l")),
            ("λ1 (batch avg)", f5["lambda1"], f.get("lambda1")),
            ("1D sharpness", f5["sharpness_1d"], f.get("sharpness_1d")),
            ("Perturb.", f5["perturb"], f.get("perturbation")),
        ):
            rows.append(_long(key, name, theirs, ours))
    return frame(rows)
