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
    design,
    evidence,
    outcomes,
    positions,
)
from lslib.paper.verdicts import engine as verdicts
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.outcomes import (
    BEYOND,
    DECIDED,
    INCONCLUSIVE,
    NOT_EVALUABLE,
    REPORT,
    UNTESTABLE,
    category,
)
from lslib.paths import BOOK

DESIGN = design.current()  # book/design.yml: families, checks, pairing, smallest effects
_ALL = (
    claims_phase1.CLAIMS
    + claims_phase2.CLAIMS
    + claims_phase3.CLAIMS
    + claims_pairs.CLAIMS
    + claims_shape.CLAIMS
    + claims_beyond.CLAIMS
)
design.check(DESIGN, [c.id for c in _ALL], verdicts.models_needed(DESIGN.level))
CHECKS = set(DESIGN.checks)


def with_design(c: outcomes.Claim, d: design.Design) -> outcomes.Claim:
    """A claim as the design states it: check or not, its smallest effect (where the claim
    declares none of its own) and its test's options (paired by seed)."""
    own = c.smallest if c.smallest != "any non-zero effect" else None
    smallest = d.smallest[c.id].effect if c.id in d.smallest else own
    smallest = smallest or d.default_smallest.effect
    return dataclasses.replace(
        c, check=c.id in d.checks, smallest=smallest, options=d.options(c.id)
    )


CLAIMS = [with_design(c, DESIGN) for c in _ALL]
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
    """The set a claim is counted in: the report's claims, or this reproduction's claims
    beyond the report (counted apart; their design family is ``beyond``)."""
    return BEYOND if c.section == "beyond" else REPORT


def _levels(control: str, ps, alpha: float):
    if control == "by":
        return inf.by(ps), inf.by_levels(ps, alpha)
    return inf.holm(ps), inf.holm_levels(ps, alpha)


def adjust(rows: list[dict], d: design.Design | None = None) -> None:
    """Each design family's error control (``d``, default ``DESIGN``; the checks apart, and
    claims this design cannot decide left out: they would only raise every other claim's
    bar): adds "p (adjusted)" (also as "p (Holm)"), the "level" each claim is tested at (Holm's
    step, or BY's rank), the adjusted verdict (a raw decision whose adjusted p is not below
    the level becomes inconclusive; an untestable claim reads ``UNTESTABLE``) and, where the
    report was judged, the category of the adjusted verdict. Rows without a "design family"
    are grouped by "family" under Holm."""
    d = d or DESIGN
    controls = {f.name: f.control for f in d.families}
    fam_of = lambda r: r.get("design family") or r.get("family", REPORT)  # noqa: E731
    for fam in dict.fromkeys(fam_of(r) for r in rows):
        idx = [
            k
            for k, r in enumerate(rows)
            if not r["check"] and fam_of(r) == fam and not r.get("untestable") and fam != "—"
        ]
        ps = [rows[k]["p"] for k in idx]
        adj, lvls = _levels(controls.get(fam, "holm"), ps, d.level)
        for k, a, lv in zip(idx, adj, lvls, strict=True):
            r = rows[k]
            r["p (adjusted)"] = r["p (Holm)"] = float(a)
            r["level"], r["control"] = float(lv), controls.get(fam, "holm")
            decided = r["verdict"] in DECIDED
            r["adjusted"] = r["verdict"] if not decided or a < d.level else INCONCLUSIVE
    for r in rows:
        if r.get("untestable") and not r["check"]:
            r["adjusted"] = UNTESTABLE
        r.setdefault("adjusted", r["verdict"])
        r.setdefault("p (Holm)", math.nan)
        r.setdefault("p (adjusted)", math.nan)
        if "report verdict" in r:  # beside the headline counts: the adjusted verdict
            r["category"] = category(r["adjusted"], r["report verdict"])


def _untestable(c: outcomes.Claim, v: outcomes.Verdict, d: design.Design) -> str:
    """Why the design cannot decide ``c`` (its list), checked against the engine: a claim
    the engine finds short of models must be on the list, and one on the list must not be
    testable on these results (fails loudly: the design file and the engine disagree)."""
    listed = c.id in d.untestable
    seen = c.id in d.observations
    short = "models" in v.untestable
    if short and not listed:
        raise design.DesignError(
            f"untestable: the engine finds {c.id} short of models ({v.untestable}) but "
            "book/design.yml does not list it there"
        )
    if v.untestable and not short and not seen:
        raise design.DesignError(
            f"observations: the engine gives {c.id} no test ({v.untestable}) but "
            "book/design.yml does not list it among the observations"
        )
    for where, there in (("untestable", listed), ("observations", seen)):
        if there and not v.untestable and v.outcome not in (NOT_EVALUABLE,):
            raise design.DesignError(
                f"{where}: book/design.yml lists {c.id}, but the engine tests it on these "
                f"results ({v.outcome}); move it into a family"
            )
    if listed:
        return v.untestable or f"needs ≥ {d.needs_models} models"
    return v.untestable


def evaluate(results: dict, ref: dict | None = None, d: design.Design | None = None) -> list[dict]:
    """Every claim's verdict on our results and on the report's own numbers, with its
    p-value, the verdict adjusted within its design family (``d``, default ``DESIGN``), the
    seeds needed at its level and the report's value against our interval."""
    d = d or DESIGN
    theirs = report_results(ref) if ref is not None else None
    printed = Printed.of(ref) if ref is not None else True
    rows, found = [], []
    for c in CLAIMS if d is DESIGN else [with_design(c, d) for c in _ALL]:
        ours = c.verdict(results)
        fam = d.family_of(c.id)
        rep = c.verdict(theirs, exact=printed) if theirs is not None else None
        row = {
            "id": c.id,
            "section": c.section,
            "claim": c.text,
            "quote": c.quote,
            "where": c.where,
            "rule": c.rule,
            "smallest": c.smallest,
            "smallest why": d.smallest_of(c.id).why if not c.check else "",
            "check": c.check,
            "family": family(c),
            "design family": fam.name if fam else "—",
            "paired": c.id in d.paired,
            "untestable": _untestable(c, ours, d) if not c.check else "",
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
    adjust(rows, d)
    for row, ours in zip(rows, found, strict=True):  # the seeds needed at the claim's level
        if row["adjusted"] == INCONCLUSIVE and "level" in row:
            row["seeds needed"] = verdicts.need_at(ours, row["level"])
        elif row["adjusted"] == UNTESTABLE:  # more seeds decide an observation, not a correlation
            why = row["untestable"]
            row["seeds needed"] = f"no number of seeds: {why}" if row["id"] in d.untestable else why
    return rows
