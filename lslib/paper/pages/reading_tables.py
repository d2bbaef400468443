"""The readings page's tables: how the report's numbers depend on the way they are read.

Each function takes the results (``{(section, model): payload}``) and returns a DataFrame
without an index column, formatted like the book's other tables (``tables.pm``): the
distances of the 1D lines, the stopping rule, the matched comparisons, the barriers, the
PAC-Bayes sigma, the steps of epsilon-sharpness, the PCA, the evaluation size and lambda_1
against the batch size.
"""

import math

import numpy as np
import pandas as pd

from lslib.paper.names import label
from lslib.paper.pages.tables import pm, section_rows
from lslib.paper.verdicts import inference


def pm3(v) -> str:
    """``pm`` to 3 significant digits (the readings page's)."""
    return pm(v, 3)


def ratio_text(i: inference.Interval) -> str:
    """A ratio from the interval of its log: "1.23 [1.05, 1.44]" ("—" when not finite)."""
    if not i.finite:
        return "—"
    if math.isfinite(i.lo) and math.isfinite(i.hi):
        return f"{math.exp(i.value):.3g} [{math.exp(i.lo):.3g}, {math.exp(i.hi):.3g}]"
    return f"{math.exp(i.value):.3g}"


def distance_table(R: dict) -> pd.DataFrame:
    """The mean 1D rise of every Phase 1 model under each reading of the lines."""
    rows = {}
    for model, r in section_rows(R, "phase1"):
        for n, v in (r.get("rise_readings") or {}).items():
            rows.setdefault(n, {"reading": n})[label(model, r["width"])] = pm3(v)
    return pd.DataFrame(list(rows.values()))


def stopping_table(R: dict, ref: dict) -> pd.DataFrame:
    """Table 1's epoch counts: the report's, and ours under each stopping rule (a mean
    marked ≥ when a rule had not fired on some seed when its run stopped)."""
    theirs = {(t["model"], t["width"]): t["epochs"] for t in ref["table1"]} if ref else None
    out = []
    for model, r in section_rows(R, "phase1"):
        row = {"model": label(model, r["width"])}
        if theirs is not None:
            row["report"] = theirs.get((model, r["width"]), "—")
        for n, v in (r.get("stop_rules") or {}).items():
            cens = any(s != "converged" for s in v["status"])
            row[n] = ("≥ " if cens else "") + pm3(v["epochs"])
        out.append(row)
    return pd.DataFrame(out)


def matched_table(R: dict) -> pd.DataFrame:
    """Phase 2 at the final weights and at matched training loss, per optimizer."""
    out = []
    for model, r in section_rows(R, "phase2"):
        m = r.get("matched")
        if not m:
            continue
        out.append(
            {
                "model": label(model, R[("phase2", model)]["width"]),
                "optimizer": r["optimizer"],
                "training loss level": f"{m['level']:.4g}",
                "epoch reached": pm3(m["epochs"]),
                "λ1, final": pm3(r["l1"]),
                "λ1, matched": pm3(m["l1"]),
                "1D rise, final": pm3(r["rise"]),
                "1D rise, matched": pm3(m["rise"]),
            }
        )
    return pd.DataFrame(out)


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
                "loss barrier": pm3([x["barrier"] for x in q]),
                "error barrier (%)": pm3([100 * x["error_barrier"] for x in q]),
                "connected (< 2 %)": f"{sum(x['error_connected'] for x in q)} of {len(q)}",
                "error barrier after alignment (%)": pm3(
                    [100 * x["aligned_error_barrier"] for x in q]
                ),
                "connected after alignment": f"{sum(x['aligned_error_connected'] for x in q)} of {len(q)}",
            }
        )
    return pd.DataFrame(out)


def pac_sigma_table(R: dict) -> pd.DataFrame:
    """PAC-Bayes sigma' by both criteria: a drop in accuracy (adopted) or a rise in loss."""
    out = []
    for model, p in _p3(R):
        f = p["flatness"]
        out.append(
            {
                "model": label(model, p["width"]),
                "σ′, accuracy (adopted)": pm3(f["pac_sigma"]),
                "σ′, loss": pm3(f["pac_sigma_loss"]),
            }
        )
    return pd.DataFrame(out)


def eps_steps_table(R: dict) -> pd.DataFrame:
    """Epsilon-sharpness against the number of ascent steps and by L-BFGS-B."""
    out = []
    for model, p in _p3(R):
        f = p["flatness"]
        row = {"model": label(model, p["width"])}
        for i, s in enumerate(f["eps_steps"]):
            row[f"ε-sharpness, {s} step{'' if s == 1 else 's'}"] = pm3(
                [v[i] for v in f["eps_by_steps"]]
            )
        row["ε-sharpness, L-BFGS-B"] = pm3(f["eps_lbfgsb"])
        out.append(row)
    return pd.DataFrame(out)


def pca_table(R: dict) -> pd.DataFrame:
    """The PCA of the path with and without centring: the variance of PC1+PC2 and ΔL along PC1."""
    out = []
    for model, p in _p3(R):
        out.append(
            {
                "model": label(model, p["width"]),
                "PC1+PC2 variance, centred (%)": pm3([100 * sum(e) for e in p["explained"]]),
                "ΔL along PC1, centred": pm3(p["delta_l"]),
                "PC1+PC2 share, uncentred (%)": pm3([100 * sum(e) for e in p["explained_other"]]),
                "ΔL along PC1, uncentred": pm3(p["delta_l_other"]),
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
                f"rise, {e['small']:,} images": pm3(e["rise_small"]),
                f"rise, {e['large']:,} images": pm3(e["rise_large"]),
                "difference": pm3(d),
                "plane: largest |difference|": f"{e['plane_max_diff']:.3g}",
                "plane: mean difference": f"{e['plane_mean_diff']:.3g}",
            }
        )
    return pd.DataFrame(out)


def lambda_batch_table(R: dict) -> pd.DataFrame:
    """lambda_1 on test batches of each size (mean ± sd over batches) and on many images."""
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
