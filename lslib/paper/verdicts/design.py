"""The confirmatory design as data: ``book/design.yml``, read and checked.

The design is fixed before the confirmatory results: the families of claims and each one's
error control (Holm or Benjamini–Yekutieli, at one one-sided level), the checks that sit in
no family, the claims no data of this design can decide (a correlation between too few
models), the observations (a claim decided on one run: no spread, so no test), the
comparisons paired by seed, where seed variance is pooled, the smallest effect of interest
per claim with its reason (a reason with a number: ``value``, what the engine uses), and
the seeds (a pilot, and the confirmatory seeds ``scripts/choose_seeds.py``
writes). ``load`` refuses an unknown field, naming it, and
``check`` refuses a design that disagrees with the claims or with the engine's own count of
the models a correlation needs.
"""

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path

from lslib.paper import design_file

CONTROLS = ("holm", "by")
PATH = design_file.PATH


class DesignError(ValueError):
    """book/design.yml is malformed or disagrees with the claims or the engine."""


@dataclass(frozen=True)
class Family:
    """A family of claims with its error control (``holm`` or ``by``) and reasons."""

    name: str
    control: str
    claims: tuple[str, ...]
    why: str
    control_why: str


@dataclass(frozen=True)
class Smallest:
    """A claim's smallest effect of interest, as text, with its reason (``reason``: its name
    in the design's ``reasons``)."""

    effect: str
    why: str
    reason: str = ""


@dataclass(frozen=True)
class Design:
    """The design file, read (see the module docstring)."""

    level: float
    families: tuple[Family, ...]
    checks: tuple[str, ...]
    untestable: tuple[str, ...]
    needs_models: int
    untestable_why: str
    paired: tuple[str, ...]
    paired_why: str
    pooled: tuple[str, ...]
    pooled_why: str
    smallest: dict
    default_smallest: Smallest
    seeds: dict
    checks_why: str = ""
    values: dict = dataclasses.field(default_factory=dict)  # reason -> its number
    observations: tuple[str, ...] = ()  # decided on one run: no spread, no test, no family
    observations_why: str = ""

    def family_of(self, cid: str) -> Family | None:
        """The family a claim is tested in; None for a check, an untestable claim or an
        observation."""
        return next((f for f in self.families if cid in f.claims), None)

    def smallest_of(self, cid: str) -> Smallest:
        return self.smallest.get(cid, self.default_smallest)

    def options(self, cid: str) -> dict:
        """The keyword options a claim's test takes from the design (pairing by seed)."""
        return {"paired": True} if cid in self.paired else {}


_TOP = {"level", "families", "checks", "untestable", "observations", "paired", "pooled"}
_TOP |= {"reasons", "smallest", "default_smallest", "seeds"}


def _fields(d, allowed: set, where: str, required: set | None = None) -> dict:
    if not isinstance(d, dict):
        raise DesignError(f"{where}: expected a mapping, got {type(d).__name__}")
    extra = sorted(set(d) - allowed)
    if extra:
        raise DesignError(
            f"{where}: unknown field {extra[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    missing = sorted((required if required is not None else allowed) - set(d))
    if missing:
        raise DesignError(f"{where}: missing field {missing[0]!r}")
    return d


def _ids(v, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise DesignError(f"{where}: expected a list of claim ids (strings)")
    return tuple(v)


def _reason(name: str, r) -> tuple[str, float | None, str]:
    """(why, value, unit) of one reason: a text, or a mapping with a positive ``value``."""
    where = f"reasons.{name}"
    if isinstance(r, str):
        return r, None, ""
    _fields(r, {"why", "value", "unit"}, where)
    v = r["value"]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise DesignError(f"{where}.value: {v!r} is not a positive finite number")
    if not isinstance(r["unit"], str) or not r["unit"]:
        raise DesignError(f"{where}.unit: expected the unit's name (text)")
    return r["why"], float(v), r["unit"]


def shown(value: float, unit: str) -> str:
    """A value with its unit; a unit that begins with % shows the value (a share) in %."""
    return f"{100 * value:g} {unit}" if unit.startswith("%") else f"{value:g} {unit}"


def _smallest(d, reasons: dict, where: str) -> Smallest:
    """A claim's entry: a reason with a value makes the text ("1 epoch", ``per``: "per
    step"), so the number is written once; a reason without one needs ``effect`` text."""
    _fields(d, {"effect", "reason", "per"}, where, required={"reason"})
    if d["reason"] not in reasons:
        raise DesignError(f"{where}: unknown reason {d['reason']!r} (see 'reasons')")
    why, value, unit = reasons[d["reason"]]
    if value is None and "effect" not in d:
        raise DesignError(f"{where}: missing field 'effect' (its reason has no value)")
    if value is not None and "effect" in d:
        raise DesignError(
            f"{where}.effect: its reason {d['reason']!r} has a value; the text is made from it"
        )
    text = str(d["effect"]) if value is None else shown(value, unit)
    text += f" per {d['per']}" if "per" in d else ""
    return Smallest(text, why, d["reason"])


def parse(d: dict) -> Design:
    """A design from the parsed YAML; DesignError naming the first bad field."""
    _fields(d, _TOP, "design")
    fams = []
    for name, f in _fields(d["families"], set(d["families"]), "families").items():
        where = f"families.{name}"
        _fields(f, {"why", "control", "control_why", "claims"}, where)
        if f["control"] not in CONTROLS:
            raise DesignError(f"{where}.control: {f['control']!r} is not one of {CONTROLS}")
        fams.append(
            Family(name, f["control"], _ids(f["claims"], where), f["why"], f["control_why"])
        )
    ch = _fields(d["checks"], {"claims", "why"}, "checks")
    un = _fields(d["untestable"], {"why", "needs_models", "claims"}, "untestable")
    ob = _fields(d["observations"], {"why", "claims"}, "observations")
    pa = _fields(d["paired"], {"why", "claims"}, "paired")
    po = _fields(d["pooled"], {"why", "claims"}, "pooled")
    reasons = {
        k: _reason(k, r) for k, r in _fields(d["reasons"], set(d["reasons"]), "reasons").items()
    }
    smallest = {k: _smallest(v, reasons, f"smallest.{k}") for k, v in d["smallest"].items()}
    seeds = _fields(d["seeds"], {"pilot", "confirmatory"}, "seeds")
    _fields(seeds["pilot"], {"profile", "seeds", "why"}, "seeds.pilot")
    conf = {"chosen_by", "rule", "power", "cap", "first", "sections", "budget"}
    _fields(seeds["confirmatory"], conf, "seeds.confirmatory", conf - {"budget"})
    level = float(d["level"])
    if not 0 < level < 0.5:
        raise DesignError(f"level: {level} is not a one-sided level in (0, 0.5)")
    from lslib.paper.verdicts.outcomes import ALPHA

    if not math.isclose(level, ALPHA):
        raise DesignError(
            f"level: {level}, but the engine's raw decisions and intervals are at {ALPHA} "
            "one-sided (outcomes.ALPHA, the side of a 95 % interval); only that level is allowed"
        )
    return Design(
        level,
        tuple(fams),
        _ids(ch["claims"], "checks.claims"),
        _ids(un["claims"], "untestable.claims"),
        int(un["needs_models"]),
        un["why"],
        _ids(pa["claims"], "paired.claims"),
        pa["why"],
        _ids(po["claims"], "pooled.claims"),
        po["why"],
        smallest,
        _smallest(d["default_smallest"], reasons, "default_smallest"),
        seeds,
        ch["why"],
        {k: v for k, (_, v, _) in reasons.items() if v is not None},
        _ids(ob["claims"], "observations.claims"),
        ob["why"],
    )


def load(path: Path | None = None) -> Design:
    """``book/design.yml`` (or ``path``), parsed and validated."""
    return parse(design_file.read(path or PATH))


@functools.cache
def current() -> Design:
    """The committed design, read once per process: what the engine judges by."""
    return load()


def value(reason: str) -> float:
    """The number of a reason in the design in use (``current``): a smallest effect of
    interest the engine decides with, e.g. ``value("epoch")`` 1.0."""
    values = current().values
    if reason not in values:
        raise DesignError(f"reasons.{reason}: no value in the design (it has {sorted(values)})")
    return values[reason]


def check(design: Design, ids, models_needed: int) -> None:
    """Refuse a design that disagrees with the claims or the engine.

    Every claim id is in exactly one of the families, the checks, the untestable list and
    the observations;
    no listed id is unknown; the models a correlation needs equal the engine's count.
    """
    ids = list(ids)
    seen: dict[str, str] = {}
    groups = [(f"families.{f.name}", f.claims) for f in design.families]
    groups += [("checks", design.checks), ("untestable", design.untestable)]
    groups += [("observations", design.observations)]
    for where, cs in groups:
        for c in cs:
            if c not in ids:
                raise DesignError(f"{where}: {c} is not a claim of the engine")
            if c in seen:
                raise DesignError(f"{where}: {c} is already in {seen[c]}")
            seen[c] = where
    left = [c for c in ids if c not in seen]
    if left:
        raise DesignError(
            f"claims in no family, check, untestable list or observation: {', '.join(left)}"
        )
    if design.needs_models != models_needed:
        raise DesignError(
            f"untestable.needs_models: the design says {design.needs_models}, the engine "
            f"computes {models_needed} (a correlation needs 1/k! below the level)"
        )
    for where, cs in (("paired", design.paired), ("pooled", design.pooled)):
        bad = [c for c in cs if c not in ids]
        if bad:
            raise DesignError(f"{where}: {bad[0]} is not a claim of the engine")


def glue_values(d: Design) -> dict:
    """The numbers and lists the reproduction page quotes about the design (no number
    typed in the page: each comes from the design file)."""
    fam = {f.name: f for f in d.families}
    conf = d.seeds["confirmatory"]
    sections = conf["sections"]
    name = {"holm": "Holm", "by": "Benjamini–Yekutieli"}
    return {
        "d_level": f"{100 * d.level:g} %",
        "d_primary": ", ".join(fam["primary"].claims),
        "d_n_primary": len(fam["primary"].claims),
        "d_primary_control": f"{name[fam['primary'].control]}'s "
        + ("step-down" if fam["primary"].control == "holm" else "step-up"),
        "d_secondary": "; ".join(
            f"{f.name} ({len(f.claims)}, {name[f.control]})"
            for f in d.families
            if f.name not in ("primary", "beyond")
        ),
        "d_untestable": ", ".join(d.untestable),
        "d_observations": ", ".join(d.observations) or "none",
        "d_needs_models": d.needs_models,
        "d_paired": ", ".join(d.paired),
        "d_pooled": ", ".join(d.pooled) or "none",
        "d_pilot": f"{d.seeds['pilot']['profile']} profile, seeds "
        + ", ".join(map(str, d.seeds["pilot"]["seeds"])),
        "d_seeds": "; ".join(f"{s}: {len(v)} ({v[0]}–{v[-1]})" for s, v in sections.items()),
        "d_power": f"{100 * conf['power']:g} %",
        "d_cap": conf["cap"],
        "d_budget": f"within {conf['budget']} (h:mm) of compute as the build's plan predicts it"
        if conf.get("budget")
        else "with no compute budget",
    }


def families_table(d: Design) -> list[dict]:
    """One row per family: its claims, control and the reasons (the page's table)."""
    name = {"holm": "Holm", "by": "Benjamini–Yekutieli"}
    return [
        {
            "family": f.name,
            "claims": ", ".join(f.claims),
            "error control": f"{name[f.control]} at {100 * d.level:g} % one-sided",
            "why this family": f.why,
            "why this control": f.control_why,
        }
        for f in d.families
    ]


def seeds_used(d: Design, R: dict) -> str:
    """Whether the results judged ran the design's confirmatory seeds, per section, in words
    (the page says so rather than implying it): ``R`` maps (section, model) to results
    whose ``meta`` records the seeds."""
    want = d.seeds["confirmatory"]["sections"]
    ran: dict[str, set] = {}
    for (section, _), r in R.items():
        ran.setdefault(section, set()).update(r["meta"]["seeds"])
    same = [s for s in sorted(ran) if sorted(ran[s]) == sorted(want.get(s, []))]
    if len(same) == len(ran):
        return "this build ran them"
    runs = "; ".join(f"{s}: {', '.join(map(str, sorted(v)))}" for s, v in sorted(ran.items()))
    return (
        f"this build did not run them (its seeds: {runs}): its verdicts are not the "
        "confirmatory ones, which need a build with the design's seeds"
    )
