"""Results files, tables, and the check of the original report's claims.

Each section notebook saves its numbers with ``save`` (JSON under ``book/_results``, or
``LSLIB_RESULTS``); the summary and reproduction pages read them back with ``load_all``.
Reference numbers come from ``book/reference.yml``.
"""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
NAMES = {"mlp": "MLP", "cnn": "SimpleCNN"}


def results_dir() -> Path:
    return Path(os.environ.get("LSLIB_RESULTS") or REPO / "book" / "_results")


def _plain(o):
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_plain(v) for v in o]
    if isinstance(o, np.ndarray):
        return _plain(o.tolist())
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def save(section: str, model: str, profile: str, payload: dict) -> Path:
    """Write one section's numbers for one model (atomically)."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{section}-{model}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(_plain({"profile": profile, **payload}), indent=1))
    os.replace(tmp, path)
    return path


def load_all() -> dict:
    """{(section, model): payload} for every results file present."""
    out = {}
    for path in sorted(results_dir().glob("*.json")):
        section, model = path.stem.split("-", 1)
        out[(section, model)] = json.loads(path.read_text())
    return out


def reference() -> dict:
    return yaml.safe_load((REPO / "book" / "reference.yml").read_text())


def pm(mean, std=None, digits: int = 4) -> str:
    """'mean ± std' (or just the mean when std is None or there is one sample)."""
    if mean is None:
        return "n/a"
    if std is None:
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {std:.2g}"


def mean_std(values) -> tuple[float, float | None]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None)


def label(model: str, width) -> str:
    return f"{NAMES[model]}-{width}"


# ---------------------------------------------------------------- regenerated tables


def table1(results: dict) -> pd.DataFrame:
    rows = []
    for model in ("mlp", "cnn"):
        for r in results.get(("phase1", model), {}).get("rows", []):
            rows.append({"model": label(model, r["width"]), "parameters": r["params"],
                         "epochs": pm(*mean_std(r["epochs"]), 3),
                         "test loss": pm(*mean_std(r["test_loss"])),
                         "test accuracy": pm(*mean_std(r["test_acc"]))})  # fmt: skip
    return pd.DataFrame(rows)


def eigen_table(results: dict, section: str = "phase1", key: str = "width") -> pd.DataFrame:
    """Top-3 eigenvalues, mean ± std over batches (and seeds), with the range of lambda_1."""
    rows = []
    for model in ("mlp", "cnn"):
        for r in results.get((section, model), {}).get("rows", []):
            v = np.asarray(r["eigenvalues"])  # (batches, k)
            name = label(model, r["width"]) if key == "width" else f"{NAMES[model]} {r[key]}"
            row = {"model": name}
            for i in range(v.shape[1]):
                row[f"λ{i + 1}"] = pm(*mean_std(v[:, i]), 4)
            row["λ1 range"] = f"[{v[:, 0].min():.4g}, {v[:, 0].max():.4g}]"
            rows.append(row)
    return pd.DataFrame(rows)


def table_phase2(results: dict) -> pd.DataFrame:
    rows = []
    for model in ("mlp", "cnn"):
        res = results.get(("phase2", model), {})
        for r in res.get("rows", []):
            rows.append({"model": label(model, res["width"]), "optimizer": r["optimizer"],
                         "final test accuracy": pm(*mean_std(r["test_acc"])),
                         "final test loss": pm(*mean_std(r["test_loss"])),
                         "λ1": pm(*mean_std(np.asarray(r["eigenvalues"])[:, 0])),
                         "1D rise": pm(r["rise"], None)})  # fmt: skip
    return pd.DataFrame(rows)


def table5(results: dict) -> pd.DataFrame:
    rows = []
    for model in ("mlp", "cnn"):
        r = results.get(("phase3", model))
        if not r:
            continue
        f = r["flatness"]
        rows.append({"model": label(model, r["width"]), "test CE": pm(f["test_loss"]),
                     "λ1 (batch avg)": pm(*mean_std(f["lambda1"])),
                     "trace": pm(f["trace"], f["trace_se"]),
                     "1D sharpness": pm(f["sharpness_1d"]["mean"], f["sharpness_1d"]["std"]),
                     "perturbation ΔL": "; ".join(f"σ={s:g}: {m:.3g}" for s, m in
                                                  zip(f["perturbation"]["sigmas"],
                                                      f["perturbation"]["mean"], strict=True)),
                     "ε-sharpness (%)": pm(f["eps_sharpness"]),
                     "PAC-Bayes σ'": pm(f["pac_sigma"])})  # fmt: skip
    return pd.DataFrame(rows)


def table_phase3(results: dict) -> pd.DataFrame:
    rows = []
    for model in ("mlp", "cnn"):
        r = results.get(("phase3", model))
        if not r:
            continue
        rows.append({"model": label(model, r["width"]), "epochs": r["epochs"],
                     "endpoint test loss": pm(r["endpoint_loss"]),
                     "barrier (test)": pm(r["barrier"]), "relative barrier": pm(r["relative_barrier"]),
                     "barrier after alignment": pm(r["aligned_barrier"]),
                     "Bezier barrier": pm(r["bezier_barrier"]),
                     "PC1+PC2 variance": f"{100 * sum(r['explained']):.1f}%",
                     "ΔL along PC1": pm(r["delta_l"])})  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- side by side with the report


def _ours_by_width(results, section, model):
    return {r["width"]: r for r in results.get((section, model), {}).get("rows", [])}


def _diff(ours, theirs):
    return None if ours is None or theirs is None else ours - theirs


def _cmp(row: dict, name: str, theirs, ours, digits=4) -> None:
    row[f"{name} (report)"] = theirs
    row[f"{name} (ours)"] = None if ours is None else round(float(ours), digits)
    d = _diff(ours, theirs)
    row[f"{name} Δ"] = None if d is None else round(float(d), digits)


def compare_table1(results: dict, ref: dict) -> pd.DataFrame:
    rows = []
    for t in ref["table1"]:
        o = _ours_by_width(results, "phase1", t["model"]).get(t["width"])
        row = {"model": label(t["model"], t["width"])}
        _cmp(row, "epochs", t["epochs"], mean_std(o["epochs"])[0] if o else None, 2)
        _cmp(row, "test loss", t["test_loss"], mean_std(o["test_loss"])[0] if o else None)
        _cmp(row, "test acc", t["test_acc"], mean_std(o["test_acc"])[0] if o else None)
        rows.append(row)
    return pd.DataFrame(rows)


def compare_eigen(results: dict, ref: dict) -> pd.DataFrame:
    rows = []
    ranges = {(t["model"], t["width"]): t for t in ref["tables3_4"]}
    for t in ref["table2"]:
        o = _ours_by_width(results, "phase1", t["model"]).get(t["width"])
        v = np.asarray(o["eigenvalues"]) if o else None
        row = {"model": label(t["model"], t["width"])}
        for i, key in enumerate(("l1", "l2", "l3")):
            _cmp(
                row,
                f"λ{i + 1} mean",
                t[key][0],
                float(v[:, i].mean()) if v is not None else None,
                3,
            )
        rg = ranges[(t["model"], t["width"])]
        _cmp(row, "λ1 min", rg["l1_min"], float(v[:, 0].min()) if v is not None else None, 3)
        _cmp(row, "λ1 max", rg["l1_max"], float(v[:, 0].max()) if v is not None else None, 3)
        rows.append(row)
    return pd.DataFrame(rows)


def compare_phase2(results: dict, ref: dict) -> pd.DataFrame:
    rows = []
    for t in ref["phase2"]:
        res = results.get(("phase2", t["model"]), {})
        o = {r["optimizer"]: r for r in res.get("rows", [])}.get(t["optimizer"])
        v = np.asarray(o["eigenvalues"]) if o else None
        row = {"model": NAMES[t["model"]], "optimizer": t["optimizer"]}
        _cmp(row, "test acc", t.get("test_acc"), mean_std(o["test_acc"])[0] if o else None)
        _cmp(row, "λ1", t.get("l1"), float(v[:, 0].mean()) if v is not None else None, 3)
        rows.append(row)
    return pd.DataFrame(rows)


# Table 5's "Perturb. σ" column is read as the mean loss increase under a relative
# Gaussian perturbation of this scale (the report does not define it).
PERTURB_SIGMA = 1e-3


def perturb_at(flat: dict, sigma: float = PERTURB_SIGMA):
    p = flat["perturbation"]
    for s, m in zip(p["sigmas"], p["mean"], strict=True):
        if np.isclose(s, sigma):
            return m
    return None


def compare_phase3(results: dict, ref: dict) -> pd.DataFrame:
    rows = []
    t5 = {t["model"]: t for t in ref["table5"]}
    for t in ref["phase3"]:
        o = results.get(("phase3", t["model"]))
        f = o["flatness"] if o else None
        row = {"model": label(t["model"], t["width"])}
        _cmp(row, "test CE", t["test_loss"], f["test_loss"] if f else None)
        _cmp(row, "barrier", t["barrier"], o["barrier"] if o else None)
        _cmp(row, "ΔL along PC1", t["delta_l"], o["delta_l"] if o else None, 5)
        _cmp(
            row,
            "λ1 (batch avg)",
            t5[t["model"]]["lambda1"],
            mean_std(f["lambda1"])[0] if f else None,
            3,
        )
        _cmp(
            row,
            "1D sharpness",
            t5[t["model"]]["sharpness_1d"],
            f["sharpness_1d"]["mean"] if f else None,
            3,
        )
        _cmp(row, "perturbation", t5[t["model"]]["perturb"], perturb_at(f) if f else None, 6)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the report's claims


def _get(results, section, model):
    r = results.get((section, model))
    if not r:
        raise LookupError(f"{section} results for {model} are missing")
    return r


def _widths(results, model, key):
    rows = sorted(_get(results, "phase1", model)["rows"], key=lambda r: r["width"])
    return [r["width"] for r in rows], [float(np.mean(r[key])) for r in rows]


def _l1(rows):
    return [float(np.asarray(r["eigenvalues"])[:, 0].mean()) for r in rows]


def _monotone(values, decreasing=True) -> bool:
    d = np.diff(values)
    return bool((d < 0).all() if decreasing else (d > 0).all())


def _fmt(names, values, digits=4):
    return ", ".join(f"{n}: {v:.{digits}g}" for n, v in zip(names, values, strict=True))


def _claim_width_trend(model, key, decreasing, what):
    def check(results):
        w, v = _widths(results, model, key)
        return _monotone(v, decreasing), f"{what} by width: " + _fmt(
            [label(model, i) for i in w], v
        )

    return check


def _claim_width_l1(model):
    def check(results):
        rows = sorted(_get(results, "phase1", model)["rows"], key=lambda r: r["width"])
        v = _l1(rows)
        return _monotone(v), "mean λ1: " + _fmt([label(model, r["width"]) for r in rows], v)

    return check


def _cnn_vs_mlp(key, cnn_better_if_lower, what):
    def check(results):
        wm, vm = _widths(results, "mlp", key)
        wc, vc = _widths(results, "cnn", key)
        ok = max(vc) < min(vm) if cnn_better_if_lower else min(vc) > max(vm)
        ev = f"{what}: " + _fmt(
            [label("mlp", i) for i in wm] + [label("cnn", i) for i in wc], vm + vc
        )
        return ok, ev

    return check


def _cnn_sharper_than_wide_mlp(results):
    mlp = max(_get(results, "phase1", "mlp")["rows"], key=lambda r: r["width"])
    cnn = _get(results, "phase1", "cnn")["rows"]
    vc = _l1(cnn)
    ok = min(vc) > _l1([mlp])[0]
    return ok, f"λ1 of {label('mlp', mlp['width'])}: {_l1([mlp])[0]:.4g}; CNNs: " + _fmt(
        [label("cnn", r["width"]) for r in cnn], vc)  # fmt: skip


def _cnn_flatter_1d(results):
    mlp = max(_get(results, "phase1", "mlp")["rows"], key=lambda r: r["width"])
    cnn = _get(results, "phase1", "cnn")["rows"]
    ok = all(r["rise"] < mlp["rise"] for r in cnn)
    return ok, f"mean 1D loss rise of {label('mlp', mlp['width'])}: {mlp['rise']:.4g}; CNNs: " + _fmt(
        [label("cnn", r["width"]) for r in cnn], [r["rise"] for r in cnn])  # fmt: skip


def _flatness_predicts_epochs(results):
    rows = [(m, r) for m in ("mlp", "cnn") for r in _get(results, "phase1", m)["rows"]]
    rise = np.array([r["rise"] for _, r in rows])
    ep = np.array([np.mean(r["epochs"]) for _, r in rows])
    # Spearman's rho as the Pearson correlation of ranks (NaN when either is constant)
    r1, r2 = pd.Series(rise).rank(), pd.Series(ep).rank()
    rho = (
        float(np.corrcoef(r1, r2)[0, 1]) if r1.nunique() > 1 and r2.nunique() > 1 else float("nan")
    )
    names = [label(m, r["width"]) for m, r in rows]
    return bool(rho > 0.5), (f"Spearman ρ(1D rise, epochs) = {rho:.2f} over {len(rows)} models; "
                             + _fmt(names, ep, 3) + " epochs")  # fmt: skip


def _phase2(results, model):
    return {r["optimizer"]: r for r in _get(results, "phase2", model)["rows"]}


def _sgd_lowest_acc(model):
    def check(results):
        rows = _phase2(results, model)
        acc = {k: float(np.mean(r["test_acc"])) for k, r in rows.items()}
        return min(acc, key=acc.get) == "sgd", "final test accuracy: " + _fmt(
            list(acc), list(acc.values())
        )

    return check


def _l1_order(model):
    def check(results):
        rows = _phase2(results, model)
        l1 = {k: float(np.asarray(r["eigenvalues"])[:, 0].mean()) for k, r in rows.items()}
        ok = l1["momentum"] < l1["adam"] < l1["sgd"]
        return ok, "mean λ1: " + _fmt(list(l1), list(l1.values()))

    return check


def _faster_convergence(model):
    def check(results):
        rows = _phase2(results, model)
        first = {k: r["history"][0]["train_loss"] for k, r in rows.items()}
        ok = first["sgd"] > max(first["momentum"], first["adam"])
        return ok, "training loss after epoch 1: " + _fmt(list(first), list(first.values()))

    return check


def _relative_barrier(results):
    m, c = _get(results, "phase3", "mlp"), _get(results, "phase3", "cnn")
    ok = c["barrier"] > m["barrier"] and c["relative_barrier"] < m["relative_barrier"]
    return ok, (f"barrier MLP {m['barrier']:.4g} (relative {m['relative_barrier']:.3g}), "
                f"CNN {c['barrier']:.4g} (relative {c['relative_barrier']:.3g})")  # fmt: skip


def _low_barrier(model):
    def check(results):
        r = _get(results, "phase3", model)
        return r["relative_barrier"] < 1.0, (
            f"barrier {r['barrier']:.4g} over mean endpoint loss {r['endpoint_loss']:.4g} "
            f"(relative {r['relative_barrier']:.3g}); after alignment {r['aligned_barrier']:.4g}"
        )

    return check


def _cnn_flatter_pc1(results):
    m, c = _get(results, "phase3", "mlp"), _get(results, "phase3", "cnn")
    return c["delta_l"] < m[
        "delta_l"
    ], f"ΔL along PC1: MLP {m['delta_l']:.4g}, CNN {c['delta_l']:.4g}"


def _pc1_flat(model):
    def check(results):
        r = _get(results, "phase3", model)
        return r[
            "delta_l"
        ] < 0.01, f"ΔL along PC1 over [-1, 1]: {r['delta_l']:.4g} (threshold 0.01)"

    return check


def _cnn_higher(key, what):
    def check(results):
        m, c = (
            _get(results, "phase3", "mlp")["flatness"],
            _get(results, "phase3", "cnn")["flatness"],
        )
        get = (lambda f: float(np.mean(f[key]))) if key == "lambda1" else (lambda f: f[key]["mean"])
        return get(c) > get(m), f"{what}: MLP {get(m):.4g}, CNN {get(c):.4g}"

    return check


def _perturb_comparable(results):
    m = perturb_at(_get(results, "phase3", "mlp")["flatness"])
    c = perturb_at(_get(results, "phase3", "cnn")["flatness"])
    ratio = c / m if m else float("inf")
    return (
        0.5 <= ratio <= 2.0,
        f"mean ΔL at σ={PERTURB_SIGMA:g}: MLP {m:.3g}, CNN {c:.3g} (ratio {ratio:.2f})",
    )


def _above_99(results):
    acc = {m: float(_get(results, "phase3", m)["test_acc"]) for m in ("mlp", "cnn")}
    return all(a > 0.99 for a in acc.values()), "test accuracy: " + _fmt(
        list(acc), list(acc.values())
    )


CLAIMS = [
    ("1", "phase1", "CNNs converge in fewer epochs than MLPs.", _cnn_vs_mlp("epochs", True, "epochs")),
    ("2", "phase1", "CNNs reach higher test accuracy than MLPs.", _cnn_vs_mlp("test_acc", False, "test accuracy")),
    ("3", "phase1", "Wider MLPs converge in fewer epochs.", _claim_width_trend("mlp", "epochs", True, "epochs")),
    ("4", "phase1", "Wider CNNs converge in fewer epochs.", _claim_width_trend("cnn", "epochs", True, "epochs")),
    ("5", "phase1", "Wider MLPs reach higher test accuracy.", _claim_width_trend("mlp", "test_acc", False, "test accuracy")),
    ("6", "phase1", "Wider CNNs reach higher test accuracy.", _claim_width_trend("cnn", "test_acc", False, "test accuracy")),
    ("7", "phase1", "Wider MLPs reach lower λ1 (flatter minima).", _claim_width_l1("mlp")),
    ("8", "phase1", "Wider CNNs reach lower λ1.", _claim_width_l1("cnn")),
    ("9", "phase1", "Every CNN has a larger λ1 than the widest MLP.", _cnn_sharper_than_wide_mlp),
    ("10", "phase1", "CNN landscapes are flatter than the widest MLP's along random directions.", _cnn_flatter_1d),
    ("11", "phase1", "Flatter 1D landscapes go with fewer epochs to converge.", _flatness_predicts_epochs),
    ("12", "phase2", "MLP: plain SGD reaches the lowest final accuracy.", _sgd_lowest_acc("mlp")),
    ("13", "phase2", "SimpleCNN: plain SGD reaches the lowest final accuracy.", _sgd_lowest_acc("cnn")),
    ("14", "phase2", "MLP: λ1 orders momentum < Adam < SGD.", _l1_order("mlp")),
    ("15", "phase2", "SimpleCNN: λ1 orders momentum < Adam < SGD.", _l1_order("cnn")),
    ("16", "phase2", "MLP: momentum and Adam lower the training loss faster than SGD.", _faster_convergence("mlp")),
    ("17", "phase2", "SimpleCNN: momentum and Adam lower the training loss faster than SGD.", _faster_convergence("cnn")),
    ("18", "phase3", "MLP: two seeds are linearly connected without a high wall (relative barrier < 1).", _low_barrier("mlp")),
    ("19", "phase3", "SimpleCNN: two seeds are linearly connected without a high wall (relative barrier < 1).", _low_barrier("cnn")),
    ("20", "phase3", "The CNN's barrier is higher in absolute terms but lower relative to its endpoint loss.", _relative_barrier),
    ("21", "phase3", "MLP: the loss is nearly flat along PC1 of the trajectory (ΔL < 0.01).", _pc1_flat("mlp")),
    ("22", "phase3", "SimpleCNN: the loss is nearly flat along PC1 (ΔL < 0.01).", _pc1_flat("cnn")),
    ("23", "phase3", "The CNN is flatter than the MLP along PC1.", _cnn_flatter_pc1),
    ("24", "phase3", "The CNN has a higher λ1 than the MLP (20-batch average).", _cnn_higher("lambda1", "mean λ1")),
    ("25", "phase3", "The CNN has a higher 1D sharpness than the MLP.", _cnn_higher("sharpness_1d", "1D sharpness")),
    ("26", "phase3", "Perturbation flatness of the two models is comparable (within 2x).", _perturb_comparable),
    ("27", "phase3", "Both Phase 3 models exceed 99% test accuracy.", _above_99),
]  # fmt: skip


def check_claims(results: dict) -> pd.DataFrame:
    """Every claim with its verdict (holds / does not hold / not evaluated) and the numbers."""
    rows = []
    for cid, section, text, fn in CLAIMS:
        try:
            ok, evidence = fn(results)
            verdict = "holds" if ok else "does not hold"
        except LookupError as e:
            verdict, evidence = "not evaluated", str(e)
        rows.append(
            {"#": cid, "section": section, "claim": text, "verdict": verdict, "evidence": evidence}
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- section payloads


def rise(land: dict) -> float:
    """Mean loss increase over the 1D lines relative to the centre: a 'global flatness' score
    (lower is flatter) that summarizes the 1D figure in one number."""
    return float(np.nanmean(land["lines"] - land["centre"]))


def phase1_row(width: int, params: int, fits: list, land: dict, hess: list) -> dict:
    return {
        "width": width, "params": params, "status": [f["status"] for f in fits],
        "epochs": [f["epochs"] for f in fits], "test_loss": [f["test_loss"] for f in fits],
        "test_acc": [f["test_acc"] for f in fits],
        "eigenvalues": np.concatenate([h["values"] for h in hess]),
        "residual_max": float(max(np.max(h["residuals"]) for h in hess)), "rise": rise(land),
    }  # fmt: skip


def phase2_row(optimizer: str, fits: list, land: dict, hess: list) -> dict:
    return {
        "optimizer": optimizer, "status": [f["status"] for f in fits],
        "test_loss": [f["test_loss"] for f in fits], "test_acc": [f["test_acc"] for f in fits],
        "history": fits[0]["history"], "eigenvalues": np.concatenate([h["values"] for h in hess]),
        "rise": rise(land),
    }  # fmt: skip


def phase3_payload(width: int, fit: dict, conn: dict, traj: dict, flat: dict) -> dict:
    b = conn["test_plain_barrier"]
    return {
        "width": width, "epochs": fit["epochs"], "test_acc": fit["test_acc"],
        "endpoint_loss": (b["loss_a"] + b["loss_b"]) / 2, "barrier": b["height"],
        "relative_barrier": b["relative"], "aligned_barrier": conn["test_aligned_barrier"]["height"],
        "bezier_barrier": conn["test_bezier_barrier"]["height"], "explained": traj["explained"],
        "delta_l": traj["delta_l"], "range_l": traj["range_l"], "flatness": flat,
    }  # fmt: skip
