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

import yaml

from lslib.paper import claims_phase1, claims_phase2, claims_phase3
from lslib.paper.verdicts import category
from lslib.paths import BOOK

CLAIMS = claims_phase1.CLAIMS + claims_phase2.CLAIMS + claims_phase3.CLAIMS
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
