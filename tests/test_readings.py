"""The readings of the report's ambiguous quantities: each reading computed from synthetic
inputs with a known answer, the verdict re-run under each reading, and the parameters that
choose them refused when out of range."""

import math

import numpy as np
import pytest
from test_claims import World

from lslib.paper.pages import readings
from lslib.paper.profiles import section
from lslib.paper.reading_names import perturb_names, sharpness_names
from lslib.paper.sections import measures
from lslib.paper.verdicts import claims, outcomes


def hist(val_losses, train_losses=None, val_accs=None):
    n = len(val_losses)
    train_losses = train_losses or [1.0] * n
    val_accs = val_accs or [0.9] * n
    return [
        {"val_loss": v, "train_loss": t, "val_acc": a}
        for v, t, a in zip(val_losses, train_losses, val_accs, strict=True)
    ]


def test_stop_epoch_plateau_targets_and_censoring():
    h = hist(
        [1.0, 0.5, 0.4, 0.399, 0.398, 0.397],
        [0.9, 0.3, 0.1, 0.04, 0.03, 0.02],
        [0.9, 0.95, 0.97, 0.976, 0.977, 0.978],
    )
    # patience 2, 1 %: the last two (0.399, 0.398) do not beat 0.4 by 1 % -> epoch 5
    assert measures.stop_epoch(h, "converged", ("plateau", 2, 0.01)) == (5, "converged")
    # patience 1: epoch 4 (0.399 vs best 0.4)
    assert measures.stop_epoch(h, "converged", ("plateau", 1, 0.01)) == (4, "converged")
    assert measures.stop_epoch(h, "converged", ("train_loss", 0.05)) == (4, "converged")
    assert measures.stop_epoch(h, "converged", ("val_acc", 0.975)) == (4, "converged")
    # a target never reached while the run lasted: a lower bound
    assert measures.stop_epoch(h, "converged", ("train_loss", 0.001)) == (6, "censored")
    # a stricter plateau: 0.398 and 0.397 still improve on 0.4 by more than 0.01 %
    assert measures.stop_epoch(h, "converged", ("plateau", 2, 0.0001)) == (6, "censored")


def test_error_barrier_follows_frankle():
    e = measures.error_barrier([0.98, 0.6, 0.96])  # errors 0.02, 0.4, 0.04
    assert e["height"] == pytest.approx(0.4 - 0.03)
    assert not e["connected"]
    e = measures.error_barrier([0.98, 0.975, 0.98])
    assert e["height"] == pytest.approx(0.025 - 0.02)
    assert e["connected"]


def test_sigma_at_is_exact_on_a_power_law():
    s = np.logspace(-4, -1, 7)
    assert measures.sigma_at(s, s**2, 1e-4) == pytest.approx(1e-2, rel=1e-9)
    assert measures.sigma_at(s, 3 * s**1.5, 3e-3) == pytest.approx(1e-2, rel=1e-9)
    assert math.isnan(measures.sigma_at(s, s**2, 1.0))  # never reached on the grid


def test_line_readings_are_parts_of_the_lines():
    a = np.linspace(-1.5, 1.5, 31)
    lines = np.stack([a**2, 2 * a]) + 0.5  # two directions, centre loss 0.5
    got = measures.line_readings(
        {"gaussian": {"alphas": a, "lines": lines, "centre": 0.5}}, [1.0, 1.5]
    )
    for span in (1.0, 1.5):
        both = np.abs(a) <= span + 1e-9
        one = both & (a >= -1e-9)
        rise = lines - 0.5
        assert got[f"gaussian, two-sided, {span:g}"] == pytest.approx(rise[:, both].mean())
        assert got[f"gaussian, one-sided, {span:g}"] == pytest.approx(rise[:, one].mean())
    # the linear direction cancels on two sides, not on one
    assert got["gaussian, one-sided, 1.5"] > got["gaussian, two-sided, 1.5"]


def test_near_zero_share():
    slq = {
        "nodes": [np.array([-0.05, 0.0, 0.05, 10.0])],
        "weights": [np.array([0.1, 0.5, 0.1, 0.3])],
    }
    assert measures.near_zero_share(slq, 10.0, 0.01) == pytest.approx(0.7)
    assert measures.near_zero_share(slq, 10.0, 0.001) == pytest.approx(0.5)


def _with_readings(W: World):
    """Phase 1 rises under two readings: one where MLP basins widen, one where they narrow."""
    for r in W.R[("phase1", "mlp")]["rows"]:
        w = r["width"]
        up, down = W.seeds(3.0 - math.log2(w / 32), 0.01), W.seeds(1.0 + math.log2(w / 32), 0.01)
        r["rise"] = up
        r["rise_readings"] = {"a (adopted)": up, "b": down}
    for r in W.R[("phase1", "cnn")]["rows"]:
        r["rise_readings"] = {"a (adopted)": r["rise"], "b": r["rise"]}
    for r in W.R[("phase2", "mlp")]["rows"] + W.R[("phase2", "cnn")]["rows"]:
        r["rise_readings"] = {"a (adopted)": r["rise"], "b": r["rise"]}


def test_verdicts_follow_the_reading_and_flips_are_reported():
    W = World()
    _with_readings(W)
    table, flips = readings.verdicts(W.R, "distance")
    row = table[table["claim"].str.startswith("1.12 ")].iloc[0]
    assert row["adopted"] == outcomes.HOLDS  # the rise falls with width under reading a
    assert row["a (adopted)"] == outcomes.HOLDS
    assert row["b"] == outcomes.FAILS  # and grows under reading b
    assert flips["1.12"] == ["b"]
    assert "1.12" in readings.all_flips(W.R)
    # a claim that does not use the lines is not listed
    assert not table["claim"].str.startswith("1.6 ").any()


def test_substitution_leaves_the_results_untouched():
    W = World()
    _with_readings(W)
    before = [list(r["rise"]) for r in W.R[("phase1", "mlp")]["rows"]]
    readings.variants(W.R, "distance")
    assert [list(r["rise"]) for r in W.R[("phase1", "mlp")]["rows"]] == before
    with pytest.raises(ValueError, match="quantity='span' is unknown"):
        readings.variants(W.R, "span")


def test_consistency_with_the_reports_order_of_magnitude():
    W = World()
    ref = claims.reference()
    t5 = {t["model"]: t["sharpness_1d"] for t in ref["table5"]}
    for m in ("mlp", "cnn"):
        W.R[("phase3", m)]["flatness"]["sharpness_readings"] = {
            "same": W.seeds(t5[m] * 1.2, t5[m] * 0.01),  # within sqrt(10), ratio kept
            "flat ratio": W.seeds(30.0, 0.3),  # MLP close, CNN 1,000x off
            "noisy": W.seeds(t5[m], t5[m] * 2),  # intervals too wide to decide
        }
    table = readings.consistency(W.R, ref, "sharpness").set_index("reading")
    assert table.loc["same", "verdict"] == readings.CONSISTENT
    assert table.loc["flat ratio", "verdict"] == readings.INCONSISTENT
    assert table.loc["noisy", "verdict"] == readings.UNDECIDED
    assert readings.recommended(table.reset_index()) == ["same"]


def test_stopping_rule_substitution_censors_claims():
    W = World()
    for m in ("mlp", "cnn"):
        for r in W.R[("phase1", m)]["rows"]:
            r["stop_rules"] = {"rule": {"epochs": r["epochs"], "status": ["censored"] * W.n}}
    table, _ = readings.verdicts(W.R, "stopping")
    row = table[table["claim"].str.startswith("1.4 ")].iloc[0]
    assert row["rule"] == outcomes.NOT_EVALUABLE


def test_reading_parameters_are_validated():
    S = section("phase3", {"model": "mlp", "profile": "smoke"})
    assert S.line_reading == "loss-landscapes, distance 1.5"
    assert S.sharpness_reading == "rise, loss-landscapes, distance 1.5"
    assert S.sharpness_reading in sharpness_names(S) and S.perturb_reading in perturb_names()
    bad = {
        "line_reading": "cauchy, one-sided, 1.5",
        "eval_sample": "first",
        "pac_criterion": "error",
        "trace_method": "exact",
        "pca_center": 1,
        "sharpness_reading": "rise, cauchy",
        "perturb_reading": "σ",
        "batch_sizes": [0],
        "rel_tol": 1.0,
        "patience": 0,
    }
    for key, value in bad.items():
        with pytest.raises(ValueError, match=f"parameter {key}="):
            section("phase3", {"model": "mlp", "profile": "smoke", key: value})
    with pytest.raises(ValueError, match="compare_eval_size"):
        section("phase3", {"model": "mlp", "profile": "smoke", "compare_eval_size": 5000})
