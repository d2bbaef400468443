"""Choose each section's confirmatory seeds from a pilot, and write them into the design.

Reads the pilot's results (a folder of ``<section>-<model>.json``, by default the quick
profile's ``book/_results``) and ``book/design.yml``; judges every claim on the pilot; for
each claim in a family, the seeds per group that give 80 % power at the level it is tested
at in its family (Holm's step or BY's rank, from the pilot's ordering) if the pilot's effect
and spread were true (`engine.need_at`); per section the fewest seeds that give that power
to every claim that some number up to the design's cap decides, numbered from the design's
``first`` (disjoint from the pilot's). With ``--budget H:MM``, the seeds per section that
give the most claims that power within that much predicted compute: the build's plan on
this machine (`plan.make_plan`, cold, one task at a time), per section and number of
seeds (`planning.seeds_within`); the design's own ``budget`` is the default. Writes them between the BEGIN/END marks of the design
file (``--write``), or prints them.

    python scripts/choose_seeds.py [RESULTS_FOLDER] [--budget H:MM] [--write]
"""

import json
import re
import sys
from pathlib import Path

from lslib.paper import gridfile
from lslib.paper.build import grid as grids
from lslib.paper.build import plan
from lslib.paper.verdicts import claims, design, planning
from lslib.paper.verdicts import engine as verdicts
from lslib.paths import BOOK, REPO

MARK = re.compile(r"(# BEGIN written by scripts/choose_seeds.py\n)(.*?)(\s*# END written by)", re.S)


def pilot(folder: Path) -> dict:
    """{(section, model): payload} of every result file in ``folder`` (read as is)."""
    out = {}
    for p in sorted(folder.glob("*.json")):
        d = json.loads(p.read_text())
        out[(d["meta"]["section"], d["meta"]["model"])] = d
    return out


def plan_cost(profile: str = "paper", grid_file: Path = BOOK / "grid.yml", least: int = 3):
    """(cost, pages) for `planning.seeds_within`: cost(section, k) is what k seeds in that
    section add to the whole build's predicted seconds (the plan's, cold, one task after
    another on this machine) over ``least`` seeds, plus an equal share of the build at
    ``least`` seeds everywhere, so that the costs of the sections add up to the build's.
    The seeds are set as the design would set them (the paper profile's), so that Phase 3's
    own family of Phase 1 and 2 runs (`sections.beyond`) follows them. ``pages``: 0 (the
    build's pages are in the costs)."""
    from lslib.paper import profiles

    todo = grids.jobs(gridfile.load(grid_file, REPO), profile, root=REPO)
    conf = claims.DESIGN.seeds["confirmatory"]
    names = sorted(conf["sections"])
    first, memo = conf["first"], {}

    def whole(ks: tuple) -> float:
        if ks not in memo:
            chosen = {s: list(range(first, first + k)) for s, k in zip(names, ks, strict=True)}
            with profiles.seeds_as(chosen):
                memo[ks] = plan.make_plan(todo, profile, 0, cold=True)[4]["wall_s"]
        return memo[ks]

    base = whole((least,) * len(names))

    def cost(section: str, k: int) -> float:
        ks = tuple(k if s == section else least for s in names)
        return whole(ks) - base + base / len(names)

    return cost, 0.0


def choose(R: dict, d: design.Design, budget_s: float | None = None) -> tuple[dict, dict]:
    """({section: seeds}, {section: (claims with 80 % power at them, claims tested)});
    with ``budget_s``, within that many predicted seconds (`planning.seeds_within`)."""
    rows = {r["id"]: r for r in claims.evaluate(R, None, d)}
    conf = d.seeds["confirmatory"]
    needs: dict[str, list] = {}
    for c in claims.CLAIMS:
        r = rows[c.id]
        if "level" not in r or r["check"] or r["design family"] == "beyond":
            continue
        v = c.verdict(R)
        n = verdicts.need_at(v, r["level"]) if v.outcome != "not evaluable" else None
        needs.setdefault(c.section, []).append(n if isinstance(n, int) else None)
    if budget_s is None:
        seeds = planning.seeds_for_sections(needs, conf["cap"], conf["first"])
    else:
        cost, pages = plan_cost()
        seeds, seconds = planning.seeds_within(
            needs, cost, budget_s - pages, conf["cap"], conf["first"]
        )
        print(f"predicted {(seconds + pages) / 60:.0f} min (budget {budget_s / 60:.0f} min)")
    power = {s: (planning.decided_at(ns, len(seeds[s])), len(ns)) for s, ns in needs.items()}
    return seeds, power


def write(seeds: dict, path: Path = design.PATH) -> None:
    text = path.read_text()
    body = "    sections: {" + ", ".join(f"{s}: {v}" for s, v in sorted(seeds.items())) + "}"
    new, k = MARK.subn(lambda m: m.group(1) + body + m.group(3), text)
    if k != 1:
        raise SystemExit(f"{path}: no single BEGIN/END block to write the seeds into")
    path.write_text(new)


def clock_seconds(text: str) -> float:
    """'H:MM' or 'H:MM:SS' in seconds; SystemExit naming the option otherwise."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise SystemExit(f"--budget {text!r}: expected H:MM or H:MM:SS")
    return sum(int(p) * 60 ** (2 - i) for i, p in enumerate(parts + ["0"] * (3 - len(parts))))


def main(argv: list[str]) -> None:
    budget = None
    if "--budget" in argv:
        i = argv.index("--budget")
        if i + 1 >= len(argv):
            raise SystemExit("--budget: expected H:MM")
        budget = clock_seconds(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    elif claims.DESIGN.seeds["confirmatory"].get("budget"):
        budget = clock_seconds(str(claims.DESIGN.seeds["confirmatory"]["budget"]))
    args = [a for a in argv if not a.startswith("--")]
    folder = Path(args[0]) if args else BOOK / "_results"
    seeds, power = choose(pilot(folder), claims.DESIGN, budget)
    for s, v in sorted(seeds.items()):
        k, m = power[s]
        print(f"{s}: {len(v)} seeds {v[0]}..{v[-1]}; {k} of {m} claims at ≥ 80 % power")
    if "--write" in argv:
        write(seeds)
        print(f"written into {design.PATH}")


if __name__ == "__main__":
    main(sys.argv[1:])
