"""The book's tables: seed means with 95 % intervals, formatted per quantity.

Each function takes the results (``{(section, model): payload}``) and returns a table
without an index column. Accuracies are percentages with 2 decimals, losses and curvatures
4 significant digits, epochs 3; an interval is ``mean ± half-width`` on one line; a
missing value is "—".
"""

import html
import subprocess

import numpy as np
import pandas as pd

from lslib.paper import stats
from lslib.paper.sections import NAMES, label
from lslib.paths import REPO

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
    return stats.fmt(stats.mean(v), digits, scale).replace(" ± ", f"{NBSP}±{NBSP}")


def pct(v) -> str:
    """An accuracy (a fraction) as a percentage with 2 decimals, ± the interval's half-width."""
    i = stats.mean(v)
    if not np.isfinite(i.value):
        return "—"
    m = f"{100 * i.value:.2f}"
    if i.lo == i.hi:
        return m
    return f"{m} (1 seed)" if not np.isfinite(i.half) else f"{m}{NBSP}±{NBSP}{100 * i.half:.2f}"


def _frame(rows: list) -> pd.DataFrame:
    return pd.DataFrame(rows).style.hide(axis="index") if rows else pd.DataFrame()


def table1(results: dict, styled: bool = True):
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
    return _frame(rows) if styled else pd.DataFrame(rows)


def table_phase2(results: dict, styled: bool = True):
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
    return _frame(rows) if styled else pd.DataFrame(rows)


def table_phase3(results: dict, styled: bool = True):
    rows = []
    for model in NAMES:
        r = results.get(("phase3", model))
        if not r:
            continue
        p = r["pairs"]
        col = lambda k, p=p: [q[k] for q in p]  # noqa: E731
        rows.append(
            {
                "model": label(model, r["width"]),
                "seed pairs": len(p),
                "endpoint test loss": pm(col("endpoint_loss")),
                "barrier": pm(col("barrier")),
                "relative barrier": pm(col("relative_barrier"), 3),
                "error barrier (%)": pm(col("error_barrier"), 3, 100)
                if "error_barrier" in p[0]
                else "—",
                "pairs connected (error barrier < 2 %)": f"{sum(q.get('error_connected', False) for q in p)} of {len(p)}",
                "after alignment": pm(col("aligned_barrier")),
                "Bezier": pm(col("bezier_barrier")),
                "PC1+PC2 variance (%)": pm([sum(e) for e in r["explained"]], 3, 100),
                "ΔL along PC1": pm(r["delta_l"], 3),
                "ΔL, random unit direction": pm(r["control_delta_l"], 3),
            }
        )
    return _frame(rows) if styled else pd.DataFrame(rows)


def table5(results: dict, styled: bool = True):
    rows = []
    for model in NAMES:
        r = results.get(("phase3", model))
        if not r:
            continue
        f = r["flatness"]
        row = {
            "model": label(model, r["width"]),
            "test CE": pm(f["test_loss"]),
            "λ1 (batch avg)": pm(f["lambda1"]),
            "trace": pm(f["trace"], 3),
            "trace, estimator's s.e.": pm(f["trace_se"], 2),
            "1D sharpness": pm(f["sharpness_1d"], 3),
            "Perturb.": pm(f["perturbation"], 3),
            "ε-sharpness (%)": pm(f["eps_sharpness"], 3),
            "PAC-Bayes σ′": pm(f["pac_sigma"], 3),
        }
        rows.append(row)
    return _frame(rows) if styled else pd.DataFrame(rows)


# ---------------------------------------------------------------- side by side with the report


def _side(row: dict, name: str, theirs, ours, digits: int = 4, scale: float = 1.0) -> None:
    """report value, our seed mean ± interval, and the difference of the means."""
    i = stats.mean(ours) if ours is not None else None
    row[f"{name}: report"] = "—" if theirs is None else f"{theirs * scale:.{digits}g}"
    row[f"{name}: ours"] = "—" if i is None else pm(ours, digits, scale)
    ok = theirs is not None and i is not None and np.isfinite(i.value)
    row[f"{name}: Δ"] = f"{(i.value - theirs) * scale:+.{min(digits, 3)}g}" if ok else "—"


def _p1(results, model, width):
    for r in results.get(("phase1", model), {}).get("rows", []):
        if r["width"] == width:
            return r
    return None


def compare_table1(results: dict, ref: dict):
    rows = []
    for t in ref["table1"]:
        o = _p1(results, t["model"], t["width"]) or {}
        row = {"model": label(t["model"], t["width"])}
        _side(row, "epochs", t["epochs"], o.get("epochs"), 3)
        _side(row, "test loss", t["test_loss"], o.get("test_loss"))
        _side(row, "test acc. (%)", t["test_acc"], o.get("test_acc"), 4, 100)
        rows.append(row)
    return _frame(rows)


def compare_eigen(results: dict, ref: dict):
    rows = []
    for t in ref["table2"]:
        o = _p1(results, t["model"], t["width"]) or {}
        row = {"model": label(t["model"], t["width"])}
        for k in ("l1", "l2", "l3"):
            _side(row, f"λ{k[1]}", t[k][0], o.get(k), 4)
        rows.append(row)
    return _frame(rows)


def compare_phase2(results: dict, ref: dict):
    rows = []
    for t in ref["phase2"]:
        res = results.get(("phase2", t["model"]), {})
        o = {r["optimizer"]: r for r in res.get("rows", [])}.get(t["optimizer"], {})
        row = {"model": NAMES[t["model"]], "optimizer": t["optimizer"]}
        _side(row, "test acc. (%)", t.get("test_acc"), o.get("test_acc"), 4, 100)
        _side(row, "λ1", t.get("l1"), o.get("l1"), 4)
        rows.append(row)
    return _frame(rows)


def compare_phase3(results: dict, ref: dict):
    rows = []
    t5 = {t["model"]: t for t in ref["table5"]}
    for t in ref["phase3"]:
        o = results.get(("phase3", t["model"]), {})
        f = o.get("flatness", {})
        pairs = o.get("pairs") or []
        row = {"model": label(t["model"], t["width"])}
        _side(row, "test CE", t["test_loss"], f.get("test_loss"))
        _side(row, "barrier", t["barrier"], [p["barrier"] for p in pairs] if pairs else None)
        _side(row, "ΔL along PC1", t["delta_l"], o.get("delta_l"), 3)
        _side(row, "λ1 (batch avg)", t5[t["model"]]["lambda1"], f.get("lambda1"))
        _side(row, "1D sharpness", t5[t["model"]]["sharpness_1d"], f.get("sharpness_1d"), 3)
        _side(row, "Perturb.", t5[t["model"]]["perturb"], f.get("perturbation"), 3)
        rows.append(row)
    return _frame(rows)


BADGES = {
    "holds": ("✓", "#1a7f37"),
    "does not hold": ("✗", "#cf222e"),
    "inconclusive": ("~", "#9a6700"),
    "not evaluable": ("–", "#57606a"),
}


def badge(outcome: str) -> str:
    """A verdict as a coloured badge with its symbol and word (readable without colour)."""
    symbol, color = BADGES[outcome]
    return (
        f'<span style="background:{color};color:#fff;border-radius:0.6em;padding:0 0.5em;'
        f'white-space:nowrap;font-size:0.9em">{symbol} {outcome}</span>'
    )


def _flag(cid: str, flips: dict | None) -> str:
    """⚑ with a tooltip for a claim whose verdict depends on how a quantity is read."""
    if not flips or cid not in flips:
        return ""
    what = ", ".join(flips[cid])
    return (
        f' <span title="verdict depends on the reading of: {html.escape(what)}" '
        f'aria-label="verdict depends on the reading of {html.escape(what)}">⚑</span>'
    )


def verdict_grid(df: pd.DataFrame):
    """Claims (rows) by readings (columns) with a verdict badge in every cell."""
    from IPython.display import HTML

    if df.empty:
        return HTML("<p>No claim's evidence depends on this choice.</p>")
    shown = df.copy()
    for col in shown.columns[1:]:
        shown[col] = shown[col].map(badge)
    return _frame(shown.to_dict("records"))


def claims_html(rows: list, flips: dict | None = None):
    """Every claim as one line to scan (id, both verdicts, the claim) that opens onto the
    report's words, the rule and the evidence on both sides."""
    from IPython.display import HTML

    e = html.escape
    out = []
    for r in rows:
        out.append(
            f"<details><summary><b>{e(r['id'])}</b>{_flag(r['id'], flips)} {badge(r['verdict'])} "
            f"<small>report:</small> {badge(r['report verdict'])} {e(r['claim'])}</summary>"
            f"<blockquote>“{e(r['quote'])}” ({e(r['where'])})</blockquote>"
            f"<p><b>Rule:</b> {e(r['rule'])}.</p>"
            f"<p><b>Here:</b> {e(r['evidence'])}</p>"
            f"<p><b>On the report's numbers:</b> {e(r['report evidence'])}</p>"
            f"<p><b>Category:</b> {e(r['category'])}.</p></details>"
        )
    return HTML("\n".join(out))


def commit() -> str:
    """The repository's commit (short), '+ changes' when the tree differs, or 'unknown'."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


def made_with(S):
    """The one-line provenance note at the top of an executed section page."""
    from IPython.display import HTML

    model = label(S.model, S.width) if hasattr(S, "width") else NAMES[S.model]
    return HTML(
        f'<p style="font-size:0.9em;opacity:0.8">Made with: profile <b>{S.profile}</b>, '
        f"seeds {', '.join(map(str, S.seeds))}, model {model}, commit {commit()}.</p>"
    )


def categories(rows: list):
    """Claim ids per category (holds in both, contradicted by the report's numbers, ...)."""
    cats = dict.fromkeys(r["category"] for r in rows)
    return _frame(
        [
            {"category": c, "claims": ", ".join(r["id"] for r in rows if r["category"] == c)}
            for c in cats
        ]
    )


def provenance(results: dict):
    """Which profile, seeds and time each section's results come from."""
    return _frame(
        [
            {
                "section": s,
                "model": m,
                "profile": r["meta"]["profile"],
                "seeds": ", ".join(map(str, r["meta"]["seeds"])),
                "made": r["meta"]["created"],
            }
            for (s, m), r in results.items()
        ]
    )


def banner(profile: str, results: dict):
    """A warning box for a page that judges a build other than the paper's (else None)."""
    from IPython.display import HTML

    if profile == "paper":
        return None
    n = sorted({len(r["meta"]["seeds"]) for r in results.values()})
    return HTML(
        '<div class="admonition warning"><p class="admonition-title">Not the paper</p>'
        f"<p>This page judges a <strong>{profile}</strong> build ({' to '.join(map(str, n))} "
        "seeds per model), not the paper: its models are trained on fewer images for fewer "
        "epochs, so its verdicts say whether the pipeline works, not whether the report's "
        "claims hold. <code>make book</code> builds the paper.</p></div>"
    )
