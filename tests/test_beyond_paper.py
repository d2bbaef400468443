"""REPAIR, adaptive sharpness and the edge of stability in the paper (lslib/paper/sections/beyond.py,
analyses_beyond.py, claims_beyond.py): declared in the sections, so the task graph, the plan
and the payload see them; and the claims' logic against hand-computed expectations."""

import io
import math

import numpy as np
import pytest

from lslib.paper.build import executors, progress
from lslib.paper.build import plan as P
from lslib.paper.build import tasks as T
from lslib.paper.profiles import section
from lslib.paper.sections import analyses_beyond as B
from lslib.paper.sections import beyond, phase2
from lslib.paper.sections import declared as sections
from lslib.paper.verdicts import claims, claims_beyond
from lslib.paper.verdicts.outcomes import FAILS, HOLDS, INCONCLUSIVE, NOT_EVALUABLE
from lslib.paths import REPO

SMALL = {"model": "mlp", "profile": "smoke"}


def run_here(graph: dict) -> None:
    bar = progress.Progress({k: 1.0 for k in graph}, 1.0, stream=io.StringIO())
    executors.InProcess(graph).wait(list(graph), bar)


# ---------------------------------------------------------------- declarations


@pytest.mark.parametrize("name", ["phase1", "phase2", "phase3"])
def test_every_trained_model_of_a_section_has_its_adaptive_sharpness(name):
    S = section(name, dict(SMALL))
    w = sections.SECTIONS[name].work(S)
    own = [c for c in w.runs if c.model == "mlp"]
    assert all(("adaptive", c) in w.calls for c in own)
    tasks = T.section_tasks(name, S)
    mine = [t for t in tasks if t.fn is B.adaptive]
    assert len(mine) == len(w.runs)
    assert all(t.label.startswith("adaptive sharpness of MLP-") for t in mine)
    assert all(set(t.deps) <= {x.key for x in tasks if x.fn is T.train} for t in mine)


def test_phase2_declares_the_edge_of_stability_for_each_optimizers_first_seed():
    S = section("phase2", dict(SMALL, seeds=[0, 1]))
    tasks = T.section_tasks("phase2", S)
    edge = [t for t in tasks if t.fn is B.edge]
    assert sorted(t.args[0].run.optimizer for t in edge) == sorted(S.optimizers)
    assert {t.args[0].run.seed for t in edge} == {0}
    assert all(t.label.startswith("λ1 after every epoch of MLP-") for t in edge)


def test_phase3_declares_every_model_of_its_family_once():
    S = section("phase3", dict(SMALL))
    w = sections.declared(S)
    models = beyond.family_models(S)
    S1, S2 = beyond.family_sections(S)
    assert len(models) == len(S1.widths) + len(S2.optimizers) + 1
    for _, runs, Sx in models:
        for c in runs:
            assert c in w.runs and ("adaptive", c) in w.calls
            assert (("hessian", c) in w.calls) == (Sx is not S)
    graph = T.graph(T.section_tasks("phase3", S))
    plan = P.items(graph)  # every new task is planned, with an estimate
    new = [t for t in graph.values() if t.fn in (B.adaptive, B.edge)]
    assert new and all(plan[t.key].seconds > 0 for t in new)


# ---------------------------------------------------------------- payloads


def test_phase2_payload_carries_adaptive_sharpness_and_the_edge(tmp_path, monkeypatch):
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    S = section("phase2", dict(SMALL, optimizers=["sgd", "adam"]))
    run_here(T.graph(T.section_tasks("phase2", S)))
    payload, _ = phase2.payload(S)
    for r in payload["rows"]:
        for k in ("adaptive_max_linf", "adaptive_max_l2", "adaptive_avg", "gap", "test_error"):
            assert len(r[k]) == len(S.seeds) and np.isfinite(r[k]).all(), k
        assert r["gap"][0] == pytest.approx(r["test_loss"][0] - r["final_train_loss"][0], 1e-3)
    e = payload["edge"]
    assert e["sgd"]["threshold"] == pytest.approx(200.0)  # 2 / 0.01
    assert e["sgd"]["momentum_threshold"] == pytest.approx(380.0)  # (2 + 1.8) / 0.01
    assert e["adam"]["threshold"] == pytest.approx(38 / 1e-3)
    assert e["sgd"]["preconditioned"] is None and len(e["adam"]["preconditioned"]) == S.epochs
    assert len(e["sgd"]["lambda1"]) == S.epochs and min(e["sgd"]["lambda1"]) > 0


def test_repair_numbers_read_the_test_path():
    alphas = np.linspace(0, 1, 5)
    acc = np.array([0.99, 0.98, 0.95, 0.98, 0.97])
    conn = {"test_repair_acc": acc, "test_repair_barrier": {"height": 0.25}}
    out = beyond.repair_numbers(conn)
    assert out["repair_barrier"] == 0.25
    assert out["repair_error_barrier"] == pytest.approx(0.05 - 0.02)  # 5 % - mean(1 %, 3 %)
    assert out["repair_error_connected"] is False  # 3 % is above Frankle et al.'s 2 %
    assert len(alphas) == len(acc)


# ---------------------------------------------------------------- the claims


def world(sharp: list, gap: list, noise: float = 1e-6) -> dict:
    """Phase 3's family of len(sharp) models, 3 seeds each, every measure = ``sharp``."""
    rows = []
    for i, (s, g) in enumerate(zip(sharp, gap, strict=True)):
        jitter = noise * np.array([-1.0, 0.0, 1.0])
        row = {"model": f"m{i}", "gap": list(g + jitter), "test_error": list(g + jitter)}
        for k in claims_beyond.MEASURES:
            row[k] = list(s + jitter)
        rows.append(row)
    return {("phase3", "mlp"): {"family": rows}, ("phase3", "cnn"): {"family": rows}}


def test_sharper_models_generalizing_worse_holds_fails_or_is_inconclusive():
    claim = {c.id: c for c in claims.CLAIMS}["B.2"]  # MLP, adaptive l-inf
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert claim.verdict(world(x, x)).outcome == HOLDS  # rho = 1
    assert claim.verdict(world(x, x[::-1])).outcome == FAILS  # rho = -1
    # ranks of the gap 2 1 4 3 6 5: rho = 1 - 6 * 6 / (6 * 35) = 0.8286, and with six
    # models Fisher's z interval at 1.25 % a side (`between`: half the side's 2.5 %, the
    # other half the reliabilities'), 0.8286 - 2.2414 * sqrt((1 + rho^2 / 2) / 3), below 0
    R = world(x, [2.0, 1.0, 4.0, 3.0, 6.0, 5.0])
    i = claims_beyond.correlation(R, "mlp", "adaptive_max_linf")
    assert i.value == pytest.approx(1 - 36 / 210)
    z, se = math.atanh(1 - 36 / 210), math.sqrt((1 + (1 - 36 / 210) ** 2 / 2) / 3)
    assert i.lo == pytest.approx(math.tanh(z - 2.241403 * se), abs=1e-3)
    assert claim.verdict(R).outcome == INCONCLUSIVE
    assert claim.verdict({}).outcome == NOT_EVALUABLE
    assert claim.verdict(world(x[:2], x[:2])).outcome == NOT_EVALUABLE  # two models
    assert claim.verdict(world(x, x), exact=True).outcome == HOLDS


def test_every_beyond_claim_quotes_the_report():
    report = REPO.parent / "shared" / "reference" / "original-report.txt"  # where it is kept
    text = " ".join(report.read_text().split()) if report.exists() else None
    mine = claims_beyond.CLAIMS
    assert len(mine) == 2 * len(claims_beyond.MEASURES) + 1
    assert {c.id for c in mine} <= {c.id for c in claims.CLAIMS}
    for c in mine:
        assert c.quote and c.rule and c.where.startswith("§")
        if text is not None:
            assert c.quote in text, c.id


def edge_world(top: float) -> dict:
    sgd = {"seed": 0, "lambda1": [top / 2, top], "gd_threshold": 200.0}
    return {("phase2", "cnn"): {"edge": {"sgd": sgd}}}


def test_sgd_at_the_edge_of_stability():
    claim = {c.id: c for c in claims.CLAIMS}[f"B.{2 * len(claims_beyond.MEASURES) + 1}"]
    assert claim.verdict(edge_world(190.0)).outcome == HOLDS  # 0.95 x 2/eta
    assert claim.verdict(edge_world(118.0)).outcome == FAILS  # the report's lambda_1: 0.59
    assert claim.verdict({("phase2", "cnn"): {}}).outcome == NOT_EVALUABLE
    assert "0.59 × 2/η" in claim.verdict(edge_world(118.0)).evidence
