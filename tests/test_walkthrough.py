"""The README's "Adding an analysis", followed as its reader would: a new kind of store
entry with a number, a figure and a claim, in the three places the walkthrough names (the
analysis next to the others, one declaration in the section's module, the claim in the
section's claims) plus one notebook cell. Each place is patched here the way the edit would
change it, nothing else: the task graph, the plan ("no estimate yet" until a build records
the kind's time), the payload, the figure and the claim's verdict all follow."""

import dataclasses
import io
import math

import matplotlib
import numpy as np

matplotlib.use("Agg")

from lslib import cache, plots  # noqa: E402
from lslib.paper.build import executors, progress  # noqa: E402
from lslib.paper.build import plan as P  # noqa: E402
from lslib.paper.build import tasks as T  # noqa: E402
from lslib.paper.profiles import section  # noqa: E402
from lslib.paper.sections import analyses, phase1  # noqa: E402
from lslib.paper.sections.calls import landscape_config  # noqa: E402
from lslib.paper.verdicts import (
    claims,  # noqa: E402
    inference,  # noqa: E402
)
from lslib.paper.verdicts.engine import combine, judge  # noqa: E402
from lslib.paper.verdicts.evidence import payload_of  # noqa: E402
from lslib.paper.verdicts.outcomes import Claim  # noqa: E402

SMALL = {"model": "mlp", "profile": "smoke", "widths": [16], "seeds": [0, 1]}


# 1. The analysis, as it would stand in lslib/paper/sections/analyses.py: a function of one
#    frozen config, cached under a kind no store has seen.
def toy_rise(cfg) -> dict:
    """The mean rise of one direction's 1D line above the centre."""

    def compute() -> dict:
        ln = analyses.lines(cfg)
        return {"rise": float(np.nanmean(np.asarray(ln["lines"]) - ln["centre"]))}

    return cache.cached("toy_rise", cfg, compute, code="lslib.paper.sections.analyses")


# 2. One declaration in lslib/paper/sections/phase1.py's ``declare``, per run.
def with_toy(declare):
    def declare_with_toy(S):
        d = declare(S)
        for k in d.widths:
            for c in k.runs:
                cfg = dataclasses.replace(landscape_config(S, c.run), n_dirs=1)
                d.work.add(
                    "toy rise",
                    toy_rise,
                    cfg,
                    what="toy rise",
                    of=c.run,
                    into="toy_rise",
                    read=lambda v: v["rise"],
                )
        return d

    return declare_with_toy


# 3. The claim, as it would stand in lslib/paper/verdicts/claims_phase1.py's CLAIMS.
def toy_claim() -> Claim:
    def test(R, exact):
        v = payload_of(R, "phase1", "mlp")["toy_rise"]
        return combine([judge(inference.est_mean(v, exact), 0.0, math.inf, "toy rise > 0")])

    return Claim("T.1", "toy", "The toy rise is positive.", "—", "—", "mean over seeds > 0", test)


def test_a_new_kind_with_a_number_a_figure_and_a_claim(monkeypatch, tmp_path):
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(phase1, "declare", with_toy(phase1.declare))
    monkeypatch.setattr(claims, "CLAIMS", [*claims.CLAIMS, toy_claim()])
    S = section("phase1", SMALL)

    graph = T.graph(T.section_tasks("phase1", S))  # the grid sees the new tasks
    mine = [t for t in graph.values() if t.fn is toy_rise]
    assert [t.label for t in mine] == ["toy rise of MLP-16, seed 0", "toy rise of MLP-16, seed 1"]
    assert all(set(t.deps) <= {x.key for x in graph.values() if x.fn is T.train} for t in mine)

    plan = P.items(graph)  # a kind no store or reference has timed: said, not guessed
    assert {plan[t.key].basis for t in mine} == {"no estimate yet"}
    assert all(plan[t.key].seconds == 0 and not plan[t.key].cached for t in mine)
    assert P.unestimated(plan).startswith("2 tasks have no estimate yet (toy rise:")

    bar = progress.Progress({k: 1.0 for k in graph}, 1.0, stream=io.StringIO())
    executors.InProcess(graph).wait(list(graph), bar)
    assert all(P.items(graph)[t.key].cached for t in mine)

    payload, _ = phase1.payload(S)  # the number, in the payload through ``into``
    expected = [toy_rise(t.args[0])["rise"] for t in mine]
    assert payload["toy_rise"] == expected and all(np.isfinite(expected))

    # 4. The notebook cell: a figure of the new numbers.
    fig = plots.paths(np.arange(len(expected)), {"toy rise": np.asarray(expected)})
    assert fig.axes and fig.axes[0].lines

    rows = {r["id"]: r for r in claims.evaluate({("phase1", "mlp"): payload})}
    toy = rows["T.1"]
    want = inference.est_mean(expected)
    assert toy["verdict"] in ("holds", "inconclusive", "no meaningful difference")
    assert math.isclose(toy["p"], inference.region_p(want, 0.0, math.inf).inside, rel_tol=1e-12)
