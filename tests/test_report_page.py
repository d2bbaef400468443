"""The reproduction page's parts: the report's value against our interval (claims.against),
the forest plot's standardized axis, the verdict table and its notes, and the coverage of
the seed-as-unit pair mean (3.1/3.2/3.3/3.5). Expected answers are computed by hand."""

import copy
import math

import matplotlib
import numpy as np
import pytest

from lslib.paper.pages import elements as pages
from lslib.paper.pages import forest
from lslib.paper.verdicts import claims, claims_pairs, positions
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.claims_pairs import pair_estimate
from lslib.paper.verdicts.inference import Interval
from lslib.paper.verdicts.outcomes import FAILS, HOLDS, INCONCLUSIVE, Part, Verdict
from lslib.paths import REPO

matplotlib.use("Agg")


def _ours(value, se, region=(0.0, math.inf), log=False, outcome=INCONCLUSIVE):
    """A part with a normal estimate (dof ∞): 95 % interval value ± 1.96 se."""
    e = inf.Estimate(value, value, se, math.inf, 3)
    h = 1.959963984540054 * se
    i = Interval(value, value - h, value + h, 3)
    if log:
        i = Interval(*(math.exp(v) for v in (value, value - h, value + h)), 3)
    return Part(outcome, "", i, e, log, region=region)


def _theirs(value):
    return Part(HOLDS, "", Interval(value, value, value, 1), None)


def _v(*parts, outcome=INCONCLUSIVE):
    return Verdict(outcome, "", tuple(parts))


def test_against_inside_and_outside_by_ratio_and_standard_errors():
    ours = _v(_ours(1.0, 0.1))
    assert claims.against(ours, _v(_theirs(1.1))) == "inside"
    # 1.5 vs 1.0: ratio 1.5, (1.5 - 1.0) / 0.1 = 5.0 standard errors
    assert claims.against(ours, _v(_theirs(1.5))) == "outside: report 1.5, 1.5x ours, 5.0 SE away"
    # on the log scale: ours 2 (log 2 ± 1.96 x 0.1), report 4: ratio 2, ln 2 / 0.1 = 6.9 SE
    ours = _v(_ours(math.log(2), 0.1, log=True))
    assert claims.against(ours, _v(_theirs(4.0))) == "outside: report 4, 2x ours, 6.9 SE away"
    # the worst part speaks for the claim; a part the report has no value for is skipped
    two = _v(_ours(1.0, 0.1), _ours(1.0, 0.1))
    assert "3.0 SE" in claims.against(two, _v(_theirs(1.1), _theirs(0.7)))
    assert claims.against(ours, _v(Part(HOLDS, ""))) == "—"


def test_standardized_axis_by_hand():
    p = Part(INCONCLUSIVE, "", Interval(1.0, 0.5, 1.5, 3), _ours(1, 1).est, region=(0, math.inf))
    s = positions.standardize(p, _theirs(0.25))
    # "> 0": (1 - 0) / 0.5 = 2, bar (0.5/0.5, 1.5/0.5), report 0.25 / 0.5
    assert (s.x, s.lo, s.hi, s.report) == (2.0, 1.0, 3.0, 0.5)
    below = positions.standardize(
        Part(FAILS, "", p.stat, p.est, region=(-math.inf, 0.5)), _theirs(0.25)
    )
    # "< 0.5": (0.5 - 1) / 0.5 = -1, bar (-2, 0): touching, report (0.5 - 0.25) / 0.5
    assert (below.x, below.lo, below.hi, below.report) == (-1.0, -2.0, 0.0, 0.5)
    both = positions.standardize(Part(HOLDS, "", p.stat, p.est, region=(0, 1.2)))
    # the upper boundary binds: (1.2 - 1) / 0.5 = 0.4, bar (-0.6, 1.4); no report value
    assert both.x == pytest.approx(0.4) and both.lo == pytest.approx(-0.6)
    assert math.isnan(both.report)
    # a ratio on the log scale: ours 2 (± 1.96 x 0.1 in log), claimed > 1
    r = positions.standardize(_ours(math.log(2), 0.1, (0.0, math.inf), log=True), _theirs(4.0))
    h = 1.959963984540054 * 0.1
    assert r.x == pytest.approx(math.log(2) / h) and r.report == pytest.approx(math.log(4) / h)
    assert positions.standardize(Part(HOLDS, "", Interval(1, 1, 1, 1), None)) is None
    one_seed = Part(INCONCLUSIVE, "", Interval(1.0, -math.inf, math.inf, 1), p.est)
    assert positions.standardize(one_seed, _theirs(0.25)) is None  # no interval: not placed


def test_the_claim_is_placed_by_the_part_that_decides_it():
    ok = _ours(1.0, 0.1, outcome=HOLDS)  # x = 1 / 0.196 = 5.1
    bad = _ours(-1.0, 0.1, outcome=FAILS)  # x = -5.1
    wide = _ours(0.0, 10.0, outcome=INCONCLUSIVE)  # bar reaches -1
    pos = positions.claim_position(_v(ok, wide, bad, outcome=FAILS))
    assert pos.hi < 0  # the failing part, not the wide one
    pos = positions.claim_position(_v(ok, wide, outcome=INCONCLUSIVE))
    assert pos.lo == pytest.approx(-1.0)
    fig = forest.forest(
        ["a", "b"],
        [2.0, np.nan],
        [1.0, np.nan],
        [3.0, np.nan],
        [0.5, np.nan],
        [HOLDS, "not evaluable"],
    )
    assert len(fig.axes) == 1


def _row(cid, verdict, adjusted, against, need=None, check=False):
    return {
        "id": cid, "section": "phase1", "claim": f"claim {cid}", "rule": "r", "smallest": "s",
        "check": check, "verdict": verdict, "adjusted": adjusted, "p": 0.01, "p (Holm)": 0.2,
        "seeds needed": need, "report vs ours": against, "position": None,
    }  # fmt: skip


def test_the_page_says_where_ours_is_undecided_but_the_report_is_outside():
    rows = [
        _row("1.4", INCONCLUSIVE, INCONCLUSIVE, "outside: report 3, 2x ours, 4.0 SE away", 5),
        _row("1.5", INCONCLUSIVE, INCONCLUSIVE, "inside"),
        _row("1.6", HOLDS, INCONCLUSIVE, "outside: report 3"),  # Holm made it undecided
        _row("1.7", FAILS, FAILS, "outside: report 3"),
        _row("3.6", INCONCLUSIVE, INCONCLUSIVE, "outside: report 3", check=True),
    ]
    assert [r["id"] for r in pages.discordant(rows)] == ["1.4", "1.6"]
    html = pages.discordant_note(rows).data
    assert "1.4" in html and "1.6" in html and "3.6" not in html and "outside" in html
    # the seeds needed say how to run them: the section notebook's seeds parameter
    assert "seeds: [0, 1, 2, 3, 4]" in pages.seeds_text(rows[0])
    assert "notebooks/phase1.ipynb" in pages.seeds_text(rows[0])
    table = pages.verdict_table(rows).data
    assert list(table["claim"]) == ["1.4", "1.5", "1.6", "1.7"]  # checks apart
    assert list(pages.checks_table(rows).data["check"]) == ["3.6"]


@pytest.mark.parametrize("seed_sd, pair_sd", [(1.0, 0.0), (1.0, 0.5), (0.2, 1.0)])
def test_the_pair_mean_with_the_seed_as_the_unit_covers(seed_sd, pair_sd):
    """3 seeds, 3 pairs sharing them: v_ij = μ + a_i + a_j + e_ij, normal; the jackknife
    interval over seeds must cover μ in at least 93 % of 2,000 draws."""
    pairs = [(0, 1), (0, 2), (1, 2)]
    gen = np.random.default_rng(7)
    a = gen.normal(0, seed_sd, (2000, 3))
    e = gen.normal(0, pair_sd, (2000, 3))
    hits = 0
    for ai, ei in zip(a, e, strict=True):
        v = [2.0 + ai[i] + ai[j] + ei[k] for k, (i, j) in enumerate(pairs)]
        i = inf.interval(pair_estimate(v, pairs))
        hits += i.lo < 2.0 < i.hi
    assert hits / 2000 >= 0.93


def test_comparison_tables_are_one_quantity_per_row():
    """At most 7 short columns (12-19 before): narrower than the text column at 1,400 px."""
    from lslib.paper.pages import tables

    ref = claims.reference()
    for epochs, text, where in (
        ([10.0, 12.0], "11 ± 13", "outside"),
        ([10.0, 14.0], "12 ± 25", "inside"),
    ):
        R = {("phase1", "mlp"): {"rows": [{"width": 32, "epochs": epochs, "l1": [15.0]}]}}
        for f in (tables.compare_table1, tables.compare_eigen, tables.compare_phase2):
            assert f(R, ref).data.shape[1] <= 7
        t = tables.compare_table1(R, ref).data
        row = t[(t["model"] == "MLP-32") & (t["quantity"] == "epochs")].iloc[0]
        # by hand: mean ± t(1 dof) 12.706 x sd / sqrt(2): 11 ± 12.7 misses the report's 24,
        # 12 ± 25.4 holds it
        assert row["ours (95 %)"] == text.replace(" ", "\u00a0")
        assert row["report in our interval"] == where
    assert len(tables.compare_phase3({}, ref).data.columns) <= 7


def _bezier_world(ratios):
    pairs = [
        {"seeds": list(ij), "bezier_barrier": 0.1 * r, "endpoint_loss": 0.1, "error_barrier": 0.01}
        for ij, r in zip(((0, 1), (0, 2), (1, 2)), ratios, strict=True)
    ]
    return {("phase3", m): {"pairs": copy.deepcopy(pairs)} for m in ("mlp", "cnn")}


def test_the_bezier_path_is_low_loss_by_hand():
    """Ratios 0.4, 0.5, 0.6: leave-one-seed-out means 0.6, 0.5, 0.4, jackknife se =
    sqrt(2/3 x 0.02) = 0.1155, t(2) = 4.303: 0.5 ± 0.497, below 1 (holds); ratios 0.4,
    0.6, 0.8: 0.6 ± 0.994 reaches above 1 (inconclusive)."""
    c = {c.id: c for c in claims.CLAIMS}["3.17"]
    assert c.verdict(_bezier_world([0.4, 0.5, 0.6])).outcome == HOLDS
    assert c.verdict(_bezier_world([0.4, 0.6, 0.8])).outcome == INCONCLUSIVE
    assert c.verdict(_bezier_world([1.4, 1.5, 1.6])).outcome == FAILS
    assert c.verdict({}, exact=True).outcome == "not evaluable"  # no Bezier in the report


def test_the_new_claims_quote_the_report_verbatim():
    report = REPO.parent / "shared" / "reference" / "original-report.txt"
    if not report.exists():
        pytest.skip("the report is kept outside the repository")
    text = " ".join(report.read_text().split())
    for c in claims_pairs.CLAIMS:
        assert c.quote in text, c.id


def test_verdict_grids_of_many_readings_are_split_into_narrow_tables():
    """11 readings: three tables (4, 4, 3 readings, in order), each with every claim; one
    claim: a row per reading; five readings or fewer: one table as it is."""
    import pandas as pd

    readings = [f"r{j}" for j in range(11)]
    df = pd.DataFrame([{"claim": f"1.{i} c", **dict.fromkeys(readings, HOLDS)} for i in range(3)])
    html = pages.verdict_grid(df).data
    tables = html.split("<table")[1:]
    assert len(tables) == 3
    heads = [[r for r in readings if f">{r}</th>" in t] for t in tables]
    assert heads == [readings[:4], readings[4:8], readings[8:]]
    assert all(t.count(f">1.{i} c</td>") == 1 for t in tables for i in range(3))
    one = pages.verdict_grid(df.head(1)).data
    assert list(one["reading"]) == readings and "✓ holds" in one["1.0 c"].iloc[0]
    few = pages.verdict_grid(df[["claim", *readings[:5]]]).data
    assert list(few.columns) == ["claim", *readings[:5]] and len(few) == 3


def _phase3_world():
    v = [1.0, 2.0, 3.0]
    pair = dict.fromkeys(
        ("endpoint_loss", "barrier", "relative_barrier", "error_barrier", "aligned_barrier",
         "repair_barrier", "aligned_error_barrier", "repair_error_barrier", "bezier_barrier"),
        0.5,
    )  # fmt: skip
    flat = dict.fromkeys(
        ("test_loss", "lambda1", "trace", "trace_se", "sharpness_1d", "perturbation",
         "eps_sharpness", "pac_sigma", "adaptive_max_linf", "adaptive_max_l2", "adaptive_avg"),
        v,
    )  # fmt: skip
    p = {
        "width": 8,
        "pairs": [pair | {"error_connected": True}] * 3,
        "explained": [[0.5, 0.25]] * 3,
        "delta_l": v,
        "control_delta_l": v,
        "flatness": flat,
    }
    return {("phase3", "mlp"): p, ("phase3", "cnn"): p | {"width": 4}}


def test_phase3_and_table5_are_split_into_tables_of_at_most_7_columns():
    """Every quantity of Phase 3's 15-column table and Table 5's 12-column one is in exactly
    one of the narrower tables, each led by the model: they fit the text column at 1,400 px."""
    from lslib.paper.pages import tables

    R = _phase3_world()
    groups = {
        "phase3": (tables.table_connectivity, tables.table_alignment, tables.table_trajectory),
        "table5": (tables.table5, tables.table5_sharpness),
    }
    sizes = {"phase3": 15 - 1, "table5": 12 - 1}  # the quantities of the former tables
    for name, fs in groups.items():
        frames = [f(R).data for f in fs]
        cols = [c for t in frames for c in t.columns if c != "model"]
        assert len(cols) == len(set(cols)) == sizes[name], cols
        for t in frames:
            assert t.shape[1] <= 7 and list(t["model"]) == ["MLP-8", "SimpleCNN-4"]
            assert "—" not in t.to_numpy()  # every quantity of the payload is shown
