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
from lslib.paper.verdicts.outcomes import HOLDS, INCONCLUSIVE

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
