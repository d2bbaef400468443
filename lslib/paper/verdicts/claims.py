"""The original report's claims, each tested by one rule on the regenerated results and on
the report's own numbers, with a four-valued verdict (the engine: ``verdicts``).

A verdict is **holds** when every interval the claim needs lies strictly inside its
region, **does not hold** when one lies strictly outside, **inconclusive** otherwise
(touching a boundary included), and **not evaluable** when a result is missing, not finite,
or censored in a way its bounds do not decide. Each verdict has a one-sided p-value; Holm's
step-down over the report's claims (family-wise level 2.5 % one-sided, the side of a 95 %
interval) gives the adjusted verdict, from which the page's counts come: a raw decision
whose adjusted p is not below 0.025 becomes inconclusive. The report's numbers are judged by
the same rules as the intervals of their rounding, so the page can tell "the report
contradicts itself" from "the reproduction differs", and each claim says whether the
report's own value of its statistic lies inside our 95 % interval. The checks of this
reproduction (its controls and its setup) are judged but neither counted nor adjusted.
"""

import dataclasses
import math
from decimal import Decimal

import yaml

from lslib.paper.verdicts import (
    claims_beyond,
    claims_pairs,
    claims_phase1,
    claims_phase2,
    claims_phase3,
    claims_shape,
    evidence,
    outcomes,
    positions,
)
from lslib.paper.verdicts import engine as verdicts
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.outcomes import (
    ALPHA,
    BEYOND,
    DECIDED,
    INCONCLUSIVE,
    REPORT,
    UNTESTABLE,
    category,
)
from lslib.paths import BOOK

# the checks of this reproduction: its own controls (PC1 against random directions) and its
# setup (parameter counts); judged and shown apart, not among the report's claims
CHECKS = {"3.6", "3.7", "3.10", "3.11"}
# the smallest effect that matters, per claim (the seeds needed are for effects beyond it)
SMALLEST = {
    "1.1": "1 epoch",
    "1.4": "1 epoch per step",
    "1.7": "1 epoch per step",
    "1.2": "0.1 accuracy points",
    "1.5": "0.1 accuracy points per step",
    "1.8": "0.1 accuracy points per step",
    "2.2": "0.1 accuracy points",
    "2.8": "0.1 accuracy points",
    "3.12": "0.1 accuracy points",
    "3.13": "0.1 accuracy points",
    "2.3": "the margin ±0.5 points",
    "1.13": "the margin 1.5x",
    "3.16": "the margin 2x",
    "3.1": "the 2 % error threshold",
    "3.2": "the 2 % error threshold",
}
_NO_POWER = {"1.14", "1.15", "1.16", "1.17", "1.18"}  # between models: more models, not seeds


def _smallest(cid: str) -> str:
    if cid in CHECKS:
        return "—"
    if cid in _NO_POWER:
        return "none declared (a between-model correlation: more models decide it, not seeds)"
    return SMALLEST.get(cid, "10 % of the compared value")


_ALL = (
    claims_phase1.CLAIMS
    + claims_phase2.CLAIMS
    + claims_phase3.CLAIMS
    + claims_pairs.CLAIMS
    + claims_shape.CLAIMS
    + claims_beyond.CLAIMS
)
CLAIMS = [
    dataclasses.replace(c, check=c.id in CHECKS, smallest=_smallest(c.id))
    if c.smallest == "any non-zero effect"
    else dataclasses.replace(c, check=c.id in CHECKS)
    for c in _ALL
]
CLAIMS_ORDER = {c.id: i for i, c in enumerate(CLAIMS)}


# ---------------------------------------------------------------- the report's own numbers


_NUMBER_TAGS = ("tag:yaml.org,2002:float", "tag:yaml.org,2002:int")


def _halves(node, path=()):
    """(path, half a unit of the last printed digit) of every number under a YAML node."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _halves(v, (*path, k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _halves(v, (*path, i))
    elif node.tag in _NUMBER_TAGS:
        try:
            d = Decimal(node.value.replace("_", ""))
        except ArithmeticError:
            return
        yield path, float(Decimal(1).scaleb(min(d.as_tuple().exponent, 0)) / 2)


class Reference(dict):
    """The report's numbers (book/reference.yml) and ``printed``: half a unit of the last
    printed digit of each, keyed by its path in the file ("0.9720" is ±0.00005, which the
    float 0.972 alone cannot say)."""

    def __init__(self, data: dict, printed: dict):
        super().__init__(data)
        self.printed = printed


@dataclasses.dataclass(frozen=True)
class Printed:
    """The report's printing as a claim's ``exact`` (truthy): the half unit per value,
    read from a ``Reference``'s paths; a value printed twice with different digits gets
    the wider half (the interval that contains both readings)."""

    by_value: dict

    def __bool__(self) -> bool:
        return True

    def half(self, v: float) -> float | None:
        return self.by_value.get(float(v))

    @classmethod
    def of(cls, ref: Reference) -> "Printed":
        out: dict[float, float] = {}
        for path, h in getattr(ref, "printed", {}).items():
            v = ref
            for k in path:
                v = v[k]
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[float(v)] = max(h, out.get(float(v), 0.0))
        return cls(out)


def reference(path=None) -> Reference:
    """The report's numbers with how each was printed (``Reference``)."""
    text = (path or BOOK / "reference.yml").read_text()
    return Reference(yaml.safe_load(text), dict(_halves(yaml.compose(text))))


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
            # one pair; the derived relative barrier and largest loss are formed in the
            # claims from the printed barrier and loss, by interval arithmetic
            "pairs": [{"seeds": [0, 1], "barrier": t["barrier"], "endpoint_loss": t["test_loss"]}],
            "endpoint_loss": [t["test_loss"]],
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


def against(ours: outcomes.Verdict, theirs: outcomes.Verdict) -> str:
    """Does the report's value of each statistic the claim compares lie inside our 95 %
    interval? "inside", or how far outside (ratio and our standard errors), worst part; "—"
    where our interval is unbounded (one seed): every value would be "inside" it. The 95 %
    interval is formed from the estimate, whatever interval a part shows."""
    worst, text = -1.0, "—"
    for a, b in zip(ours.parts, theirs.parts, strict=False):
        if a.stat is None or b.stat is None or a.est is None or math.isinf(a.est.se):
            continue
        i, r = verdicts._shown(inf.interval(a.est), a.log), b.stat.value
        if not (math.isfinite(i.value) and math.isfinite(r) and not math.isnan(i.lo)):
            continue
        if i.lo <= r <= i.hi:
            worst, text = max(worst, 0.0), "inside" if worst <= 0 else text
            continue
        c = math.log(r) if a.log and r > 0 else r
        se = a.est.se
        z = (
            abs(c - a.est.center) / se
            if se and math.isfinite(se) and a.est.link == "identity"
            else math.nan
        )
        ratio = r / i.value if i.value and r / i.value > 0 else math.nan
        size = z if math.isfinite(z) else math.inf
        if size > worst:
            worst = size
            text = "outside: report " + evidence.fmt(r)
            text += f", {ratio:.3g}x ours" if math.isfinite(ratio) else ""
            text += (
                f", {z:.1f} SE away" if z < 1000 else f", {z:.2g} SE away" if z < math.inf else ""
            )
    return text


def family(c: outcomes.Claim) -> str:
    """The Holm family a claim belongs to: the report's claims, or this reproduction's
    claims beyond the report (a family of their own, not counted among the report's)."""
    return BEYOND if c.section == "beyond" else REPORT


def adjust(rows: list[dict]) -> None:
    """Holm within each family (the checks apart, and claims this design cannot decide left
    out: they would only raise every other claim's bar): adds "p (Holm)", the step "level"
    each claim is tested at, the adjusted verdict (a raw decision whose adjusted p is not
    below ``ALPHA`` becomes inconclusive; an untestable claim reads ``UNTESTABLE``) and,
    where the report was judged, the category of the adjusted verdict."""
    for fam in dict.fromkeys(r.get("family", REPORT) for r in rows):
        idx = [
            k
            for k, r in enumerate(rows)
            if not r["check"] and r.get("family", REPORT) == fam and not r.get("untestable")
        ]
        ps = [rows[k]["p"] for k in idx]
        for k, a, lv in zip(idx, inf.holm(ps), inf.holm_levels(ps, ALPHA), strict=True):
            r = rows[k]
            r["p (Holm)"], r["level"] = float(a), float(lv)
            decided = r["verdict"] in DECIDED
            r["adjusted"] = r["verdict"] if not decided or a < ALPHA else INCONCLUSIVE
    for r in rows:
        if r.get("untestable") and not r["check"]:
            r["adjusted"] = UNTESTABLE
        r.setdefault("adjusted", r["verdict"])
        r.setdefault("p (Holm)", math.nan)
        if "report verdict" in r:  # beside the headline counts: the adjusted verdict
            r["category"] = category(r["adjusted"], r["report verdict"])


def evaluate(results: dict, ref: dict | None = None) -> list[dict]:
    """Every claim's verdict on our results and on the report's own numbers, with its
    p-value, the Holm-adjusted verdict, the seeds needed and the report's value against
    our interval."""
    theirs = report_results(ref) if ref is not None else None
    printed = Printed.of(ref) if ref is not None else True
    rows, found = [], []
    for c in CLAIMS:
        ours = c.verdict(results)
        rep = c.verdict(theirs, exact=printed) if theirs is not None else None
        row = {
            "id": c.id,
            "section": c.section,
            "claim": c.text,
            "quote": c.quote,
            "where": c.where,
            "rule": c.rule,
            "smallest": c.smallest,
            "check": c.check,
            "family": family(c),
            "untestable": ours.untestable,
            "verdict": ours.outcome,
            "evidence": ours.evidence,
            "p": ours.p,
            "seeds needed": ours.need,
            "position": positions.claim_position(ours, rep),
        }
        if rep is not None:
            row["report verdict"], row["report evidence"] = rep.outcome, rep.evidence
            row["report vs ours"] = against(ours, rep)
        rows.append(row)
        found.append(ours)
    adjust(rows)
    for row, ours in zip(rows, found, strict=True):  # the seeds needed at the claim's level
        if row["adjusted"] == INCONCLUSIVE and "level" in row:
            row["seeds needed"] = verdicts.need_at(ours, row["level"])
        elif row["adjusted"] == UNTESTABLE:
            row["seeds needed"] = f"no number of seeds: {ours.untestable}"
    return rows
