"""The design file and the estimators it asks for: the loader refuses unknown fields and
disagreements with the engine; the paired t equals scipy's ttest_rel; Benjamini–Yekutieli
equals an explicit step-up; a paired claim reads its differences within seed."""

import copy
import dataclasses
import math

import numpy as np
import pytest
import yaml
from scipy import stats as st

from lslib.paper.verdicts import claims, design
from lslib.paper.verdicts import engine as verdicts
from lslib.paper.verdicts import inference as inf
from lslib.paper.verdicts.outcomes import HOLDS, INCONCLUSIVE, NO_DIFF

RAW = yaml.safe_load(design.PATH.read_text())
IDS = [c.id for c in claims.CLAIMS]


def test_the_committed_design_agrees_with_the_engine():
    d = design.load()
    design.check(d, IDS, verdicts.models_needed(d.level))
    assert d.family_of("1.1").name == "primary" and d.family_of("3.6") is None
    assert d.options("2.4") == {"paired": True} and d.options("2.11") == {}


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d.update(familes={}), "'familes'"),
        (lambda d: d["families"]["primary"].update(contol="holm"), "'contol'"),
        (lambda d: d["families"]["phase1"].update(control="bonferroni"), "families.phase1.control"),
        (lambda d: d["smallest"]["1.1"].update(reason="nope"), "smallest.1.1"),
        (lambda d: d["seeds"]["confirmatory"].update(seed=[1]), "'seed'"),
        (lambda d: d.update(level=0.05), "level: 0.05, but"),
    ],
)
def test_unknown_or_bad_fields_are_refused_by_name(edit, field):
    d = copy.deepcopy(RAW)
    edit(d)
    with pytest.raises(design.DesignError, match=field.replace(".", r"\.")):
        design.parse(d)


def test_families_must_cover_every_claim_once_and_agree_on_models():
    d = design.parse(RAW)
    with pytest.raises(design.DesignError, match="needs_models"):
        design.check(d, IDS, 6)
    fams = list(d.families)
    fams[0] = dataclasses.replace(fams[0], claims=fams[0].claims[1:])  # drop 1.1
    with pytest.raises(design.DesignError, match="in no family.*1.1"):
        design.check(dataclasses.replace(d, families=tuple(fams)), IDS, 5)
    fams[0] = dataclasses.replace(fams[0], claims=(*fams[0].claims, "1.4", "1.1"))
    with pytest.raises(design.DesignError, match="1.4 is already in"):
        design.check(dataclasses.replace(d, families=tuple(fams)), IDS, 5)


def test_a_design_that_lists_a_short_correlation_in_a_family_fails_loudly():
    """1.15 (ρ between 3 widths) moved into a family: the engine finds it short of models."""
    d = design.parse(RAW)
    fams = [
        dataclasses.replace(f, claims=(*f.claims, "1.15")) if f.name == "phase1" else f
        for f in d.families
    ]
    d = dataclasses.replace(
        d, families=tuple(fams), untestable=tuple(c for c in d.untestable if c != "1.15")
    )
    world = {("phase1", m): {"rows": _rows(m)} for m in ("mlp", "cnn")}
    with pytest.raises(design.DesignError, match="1.15 short of models"):
        claims.evaluate(world, None, d)


def _rows(model):
    rng = np.random.default_rng(0)
    return [
        {
            "width": w,
            "seeds": [0, 1, 2],
            "status": ["converged"] * 3,
            "epochs": [10.0, 11.0, 12.0],
            "test_loss": list(0.05 + rng.random(3) / 100),
            "test_acc": list(0.97 + rng.random(3) / 100),
            "l1": list(10 + rng.random(3)),
            "rise": list(1 + rng.random(3)),
        }
        for w in ((32, 64, 128) if model == "mlp" else (16, 32, 64))
    ]


def test_the_paired_t_is_scipys_ttest_rel():
    rng = np.random.default_rng(1)
    for n in (2, 3, 5, 10):
        a, b = rng.normal(1, 1, n), rng.normal(0.5, 1, n)
        e = inf.est_paired_diff(a, b)
        ref = st.ttest_rel(a, b, alternative="greater")
        assert inf.p_beyond(e, 0.0, +1) == pytest.approx(ref.pvalue, rel=1e-9)
        ci = st.ttest_rel(a, b).confidence_interval(0.95)
        i = inf.interval(e)
        assert (i.lo, i.hi) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_pairs_are_matched_by_seed_not_by_position():
    a, b = inf.paired([1.0, 2.0, 3.0], [30.0, 10.0], [0, 1, 2], [2, 0])
    assert list(a) == [1.0, 3.0] and list(b) == [10.0, 30.0]


def _by_step_up(p, alpha):
    """Explicit BY: reject the k smallest, k the largest with p_(k) <= k α / (m c_m)."""
    m = len(p)
    c = sum(1 / i for i in range(1, m + 1))
    order = np.argsort(p)
    k = max([j for j in range(1, m + 1) if p[order[j - 1]] <= j * alpha / (m * c)], default=0)
    out = np.zeros(m, bool)
    out[order[:k]] = True
    return out


def test_by_matches_an_explicit_step_up_and_statsmodels_formula():
    rng = np.random.default_rng(2)
    for _ in range(2000):
        m = int(rng.integers(1, 12))
        p = rng.beta(0.3, 1.0, m)
        assert np.array_equal(inf.by(p) <= 0.025, _by_step_up(p, 0.025))
    assert inf.by([0.01, math.nan])[1] != inf.by([0.01, math.nan])[1]  # NaN stays out
    lv = inf.by_levels([0.03, 0.01, 0.02], 0.025)
    c = 1 + 1 / 2 + 1 / 3
    assert lv == pytest.approx([3 * 0.025 / (3 * c), 0.025 / (3 * c), 2 * 0.025 / (3 * c)])


def test_a_paired_optimizer_claim_reads_differences_within_seed():
    """2.5 (momentum's λ1 below Adam's): per-seed noise shared by both optimizers (seed
    effects of sd 10) swamps Welch's interval; within seed the difference -5 ± 0.3 decides."""
    rng = np.random.default_rng(3)
    seeds = [100, 101, 102, 103]
    shared = rng.normal(0, 10, 4)
    rows = [
        {"optimizer": o, "seeds": seeds, "l1": list(40 + shared + d + rng.normal(0, 0.3, 4))}
        for o, d in (("momentum", -5.0), ("adam", 0.0), ("sgd", 9.0))
    ]
    R = {("phase2", "mlp"): {"rows": rows}}
    c = next(c for c in claims.CLAIMS if c.id == "2.5")
    assert c.verdict(R).outcome == HOLDS
    assert dataclasses.replace(c, options={}).verdict(R).outcome == INCONCLUSIVE


def test_the_printed_digits_travel_with_the_reference_not_a_global():
    ref = claims.reference()
    assert ref.printed[("table1", 0, "test_acc")] == pytest.approx(0.00005)  # "0.9720"
    assert not hasattr(verdicts, "PRINTED")
    r = verdicts.rounding(0.972)  # without the reference: its shortest repr, ±0.0005
    assert r.hi == pytest.approx(0.9725)


def test_choose_seeds_writes_disjoint_capped_seeds_into_the_design(tmp_path):
    import importlib.util

    from lslib.paths import REPO as ROOT

    spec = importlib.util.spec_from_file_location("cs", ROOT / "scripts" / "choose_seeds.py")
    cs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cs)
    from lslib.paper.verdicts import planning

    got = planning.seeds_for_sections({"a": [4, 40, None], "b": [2]}, cap=10, first=100)
    assert got == {"a": [100, 101, 102, 103], "b": [100, 101, 102]}
    p = tmp_path / "design.yml"
    p.write_text(design.PATH.read_text())
    cs.write({"phase1": [100, 101, 102, 103]}, p)
    d = design.load(p)
    assert d.seeds["confirmatory"]["sections"] == {"phase1": [100, 101, 102, 103]}
    assert not set(d.seeds["pilot"]["seeds"]) & {100, 101, 102, 103}


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["reasons"]["epoch"].update(value=-1), r"reasons\.epoch\.value"),
        (lambda d: d["reasons"]["acc"].update(value="0.1"), r"reasons\.acc\.value"),
        (lambda d: d["reasons"]["acc"].update(unit=""), r"reasons\.acc\.unit"),
        (lambda d: d["smallest"]["1.1"].update(effect="2 epochs"), r"smallest\.1\.1\.effect"),
        (lambda d: d["smallest"]["2.3"].pop("effect"), r"smallest\.2\.3: missing field 'effect'"),
    ],
)
def test_a_smallest_effect_is_one_number_written_once(edit, field):
    d = copy.deepcopy(RAW)
    edit(d)
    with pytest.raises(design.DesignError, match=field):
        design.parse(d)


def test_the_claims_text_is_made_from_the_designs_numbers():
    d = design.parse(RAW)
    by_id = {c.id: c for c in claims.CLAIMS}
    epoch, acc = RAW["reasons"]["epoch"], RAW["reasons"]["acc"]
    assert by_id["1.1"].smallest == f"{epoch['value']:g} {epoch['unit']}"
    assert by_id["1.4"].smallest == f"{epoch['value']:g} {epoch['unit']} per step"
    assert by_id["2.2"].smallest == f"{acc['value']:g} {acc['unit']}"
    assert d.values["relative"] == RAW["reasons"]["relative"]["value"]


def test_the_engine_decides_by_the_designs_numbers(monkeypatch):
    """The same data, two designs: a difference of 0.5 epochs (95 % interval about
    [-0.65, -0.35], computed here by hand) is "no meaningful difference" when the design's
    epoch is 1, and holds when it is 0.25. The number in the file decides, not one in code."""
    from lslib.paper.verdicts import claims_phase1
    from lslib.paper.verdicts.outcomes import NO_DIFF

    a = np.array([10.0, 10.1, 9.9, 10.05, 9.95])
    b = a + 0.5
    d = a - b.mean()
    se = math.sqrt(a.var(ddof=1) / 5 + b.var(ddof=1) / 5)
    lo, hi = d.mean() - st.t.ppf(0.975, 8) * se, d.mean() + st.t.ppf(0.975, 8) * se
    assert -1 < lo < hi < -0.25  # inside ±1, clear of ±0.25: so the two designs differ
    outcomes = {}
    for value in (1, 0.25):
        raw = copy.deepcopy(RAW)
        raw["reasons"]["epoch"]["value"] = value
        monkeypatch.setattr(design, "current", lambda raw=raw: design.parse(raw))
        outcomes[value] = claims_phase1.lower(a, b, False, "a", "b", "epochs:", "epochs").outcome
    assert outcomes == {1: NO_DIFF, 0.25: HOLDS}


def test_seeds_within_a_budget_give_the_most_claims_power_for_the_seconds():
    """Two sections, a linear cost: by hand, with 10 s to spend, a at 4 seeds (2 claims,
    4 s) and b at 6 (2 claims, 6 s) is the only way to reach 4 claims; with 8 s the best is
    3 claims, and of the ways to 3 the cheapest (a 4, b 3: 7 s)."""
    from lslib.paper.verdicts import planning

    needs = {"a": [4, 4, 20], "b": [3, 6]}
    cost = lambda s, k: float(k)  # noqa: E731
    got, seconds = planning.seeds_within(needs, cost, 10, cap=8, first=100)
    assert (got, seconds) == ({"a": [100, 101, 102, 103], "b": list(range(100, 106))}, 10)
    got, seconds = planning.seeds_within(needs, cost, 8, cap=8, first=100)
    assert ({s: len(v) for s, v in got.items()}, seconds) == ({"a": 4, "b": 3}, 7)
    with pytest.raises(ValueError, match="3 seeds in every section.*6 s.*budget of 5 s"):
        planning.seeds_within(needs, cost, 5, cap=8, first=100)


def test_choose_seeds_reads_a_budget_as_a_clock():
    import importlib.util

    from lslib.paths import REPO as ROOT

    spec = importlib.util.spec_from_file_location("cs", ROOT / "scripts" / "choose_seeds.py")
    cs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cs)
    assert cs.clock_seconds("2:00") == 7200 and cs.clock_seconds("1:30:15") == 5415
    with pytest.raises(SystemExit, match="--budget '2h'"):
        cs.clock_seconds("2h")


def test_the_paper_profile_runs_the_designs_confirmatory_seeds(tmp_path):
    from lslib.paper import design_file
    from lslib.paper.profiles import section

    want = RAW["seeds"]["confirmatory"]["sections"]
    for name in ("phase1", "phase2", "phase3"):
        assert section(name, {"profile": "paper"}).seeds == want[name]
    assert section("phase1", {"profile": "quick"}).seeds == RAW["seeds"]["pilot"]["seeds"]
    bad = copy.deepcopy(RAW)
    bad["seeds"]["confirmatory"]["sections"] = {"phase1": [100, -1]}
    p = tmp_path / "design.yml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match=r"sections\.phase1: expected a list of non-negative"):
        design_file.confirmatory_seeds("phase1", p)
    with pytest.raises(ValueError, match="no seeds for 'phase3'"):
        design_file.confirmatory_seeds("phase3", p)


def test_a_plan_of_other_seeds_takes_phase3s_family_along(tmp_path, monkeypatch):
    """``--plan --seeds 2``: every training run of the paper build is of seeds 0 and 1,
    Phase 3's own family of Phase 1 and 2 runs included (it once kept the design's seeds
    beside the planned ones, counting both)."""
    from lslib.paper import profiles
    from lslib.paper.build import tasks
    from lslib.paper.sections.declared import SECTIONS

    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    with profiles.seeds_as(dict.fromkeys(SECTIONS, [0, 1])):
        S = profiles.section("phase3", {"model": "mlp", "profile": "paper"})
        graph = tasks.graph(tasks.section_tasks("phase3", S))
    seeds = {
        t.label.split(", seed ")[1].split(",")[0] for t in graph.values() if ", seed " in t.label
    }
    assert seeds == {"0", "1"}, seeds
    assert (
        profiles.section("phase3", {"model": "mlp", "profile": "paper"}).seeds
        == (RAW["seeds"]["confirmatory"]["sections"]["phase3"])
    )


def test_a_width_trend_with_no_meaningful_difference_keeps_its_p_through_the_adjustment():
    """1.5 (MLP accuracy rising with width) on widths whose accuracies differ by 1e-6: every
    step's 95 % interval sits inside ± the design's 0.1 points, so the claim is "no meaningful
    difference"; its p (the larger one-sided p of the two-one-sided test per step,
    Bonferroni over the steps) is computed here from scipy's t and must reach Holm, which
    then keeps the decision. The trend's verdict used to drop p_null (NaN, read as 1)."""
    rows = {m: _rows(m) for m in ("mlp", "cnn")}
    rng = np.random.default_rng(3)
    for r in rows["mlp"]:
        r["test_acc"] = list(0.97 + 1e-6 * rng.standard_normal(3))
    world = {("phase1", m): {"rows": rs} for m, rs in rows.items()}
    v = next(c for c in claims.CLAIMS if c.id == "1.5").verdict(world)
    assert v.outcome == NO_DIFF
    smallest = design.value("acc") / 100  # accuracy points, on accuracies kept as fractions
    ps = []
    for i in range(len(rows["mlp"]) - 1):
        x, y = (np.array(rows["mlp"][j]["test_acc"]) for j in (i + 1, i))
        va, vb = x.var(ddof=1) / 3, y.var(ddof=1) / 3
        se, d = math.sqrt(va + vb), x.mean() - y.mean()
        dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
        ps.append(max(st.t.sf((d + smallest) / se, dof), st.t.sf((smallest - d) / se, dof)))
    assert v.p_null == pytest.approx(min(1.0, len(ps) * min(ps)), rel=1e-6, abs=1e-300)
    assert v.p == v.p_null < design.load().level
    adjusted = {r["id"]: r for r in claims.evaluate(world, None, design.load())}
    assert adjusted["1.5"]["adjusted"] == NO_DIFF


def test_a_one_seed_observation_is_listed_as_one_and_more_seeds_would_decide_it():
    """B.9 (SimpleCNN's λ1 against 2/η, measured on one seed) has no test: the design lists
    it among the observations, in no family; its seeds needed say what would make it a test
    (two seeds), not "no number of seeds", which belongs to the correlations. Listed in a
    family instead, the design fails loudly."""
    edge = {"sgd": {"lambda1": [5.0, 30.0, 41.0], "gd_threshold": 40.0, "seed": 0}}
    world = {("phase2", "cnn"): {"edge": edge}}
    row = next(r for r in claims.evaluate(world) if r["id"] == "B.9")
    assert row["design family"] == "—" and row["adjusted"] == claims.UNTESTABLE
    assert row["seeds needed"] == "one seed: needs ≥ 2 seeds for a test"
    assert "p (adjusted)" in row and math.isnan(row["p (adjusted)"])
    corr = next(r for r in claims.evaluate(world) if r["id"] == "1.15")
    assert corr["seeds needed"].startswith("no number of seeds: needs ≥ 5 models")
    d = design.parse(RAW)
    fams = [
        dataclasses.replace(f, claims=(*f.claims, "B.9")) if f.name == "beyond" else f
        for f in d.families
    ]
    moved = dataclasses.replace(d, families=tuple(fams), observations=())
    with pytest.raises(design.DesignError, match="observations: the engine gives B.9 no test"):
        claims.evaluate(world, None, moved)
    bad = copy.deepcopy(RAW)
    bad["observations"]["claims"].append("1.1")
    with pytest.raises(design.DesignError, match="1.1 is already in"):
        design.check(design.parse(bad), IDS, 5)
