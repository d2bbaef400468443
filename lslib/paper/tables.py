"""The book's tables: seed means with 95 % intervals, formatted per quantity.

Each function takes the results (``{(section, model): payload}``) and returns a DataFrame
without an index column. Accuracies are percentages, losses and curvatures 4 significant
digits, epochs 3; a missing value is "—".
"""

import numpy as np
import pandas as pd

from lslib.paper import stats
from lslib.paper.sections import NAMES, label

STATUS = {"converged": "converged", "max_epochs": "epoch cap", "fixed": "fixed epochs",
          "diverged": "diverged"}  # fmt: skip


def status(values: list) -> str:
    """'converged ×3' or 'converged ×2, epoch cap ×1'."""
    counts = {}
    for v in values:
        counts[STATUS.get(v, v)] = counts.get(STATUS.get(v, v), 0) + 1
    return ", ".join(f"{k} ×{n}" for k, n in counts.items())


def pm(v, digits: int = 4, scale: float = 1.0) -> str:
    return stats.fmt(stats.mean(v), digits, scale)


def _frame(rows: list) -> pd.DataFrame:
    return pd.DataFrame(rows).style.hide(axis="index") if rows else pd.DataFrame()


def table1(results: dict, styled: bool = True):
    rows = []
    for model in NAMES:
        for r in results.get(("phase1", model), {}).get("rows", []):
            rows.append({"model": label(model, r["width"]), "parameters": f"{r['params']:,}",
                         "seeds": len(r["seeds"]), "status": status(r["status"]),
                         "epochs": pm(r["epochs"], 3), "test loss": pm(r["test_loss"]),
                         "test accuracy (%)": pm(r["test_acc"], 4, 100)})  # fmt: skip
    return _frame(rows) if styled else pd.DataFrame(rows)


def eigen_table(results: dict, section: str = "phase1", styled: bool = True):
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
            rows.append({"model": name, "λ1": pm(r["l1"]), "λ2": pm(r["l2"]), "λ3": pm(r["l3"]),
                         "λ1 batch std (within run)": f"{np.mean(bstd):.3g}" if bstd else "—",
                         "λ1 range over batches": f"[{min(r['l1_min']):.4g}, {max(r['l1_max']):.4g}]"})  # fmt: skip
    return _frame(rows) if styled else pd.DataFrame(rows)


def table_phase2(results: dict, styled: bool = True):
    rows = []
    for model in NAMES:
        res = results.get(("phase2", model), {})
        for r in res.get("rows", []):
            auc = [float(np.mean(t)) for t in r["train_loss"]]
            rows.append({"model": label(model, res["width"]), "optimizer": r["optimizer"],
                         "status": status(r["status"]),
                         "test accuracy (%)": pm(r["test_acc"], 4, 100),
                         "test loss": pm(r["test_loss"]), "mean training loss": pm(auc),
                         "λ1": pm(r["l1"]), "1D rise": pm(r["rise"], 3)})  # fmt: skip
    return _frame(rows) if styled else pd.DataFrame(rows)


def table_phase3(results: dict, styled: bool = True):
    rows = []
    for model in NAMES:
        r = results.get(("phase3", model))
        if not r:
            continue
        p = r["pairs"]
        col = lambda k, p=p: [q[k] for q in p]  # noqa: E731
        rows.append({"model": label(model, r["width"]), "seed pairs": len(p),
                     "endpoint test loss": pm(col("endpoint_loss")), "barrier": pm(col("barrier")),
                     "relative barrier": pm(col("relative_barrier"), 3),
                     "after alignment": pm(col("aligned_barrier")),
                     "Bezier": pm(col("bezier_barrier")),
                     "PC1+PC2 variance (%)": pm([sum(e) for e in r["explained"]], 3, 100),
                     "ΔL along PC1": pm(r["delta_l"], 3),
                     "ΔL, random unit direction": pm(r["control_delta_l"], 3)})  # fmt: skip
    return _frame(rows) if styled else pd.DataFrame(rows)


def table5(results: dict, styled: bool = True):
    rows = []
    for model in NAMES:
        r = results.get(("phase3", model))
        if not r:
            continue
        f = r["flatness"]
        row = {"model": label(model, r["width"]), "test CE": pm(f["test_loss"]),
               "λ1 (batch avg)": pm(f["lambda1"]), "trace": pm(f["trace"], 3),
               "1D sharpness": pm(f["sharpness_1d"], 3)}  # fmt: skip
        for i, s in enumerate(f["perturb_sigmas"]):
            row[f"ΔL at σ={s:g}"] = pm([p[i] for p in f["perturbation"]], 2)
        row["ε-sharpness (%)"] = pm(f["eps_sharpness"], 3)
        row["PAC-Bayes σ′"] = pm(f["pac_sigma"], 3)
        rows.append(row)
    return _frame(rows) if styled else pd.DataFrame(rows)
