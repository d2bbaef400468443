"""CPU time beside wall time: contended entries are flagged, and the plan takes their CPU time."""

import sys
from pathlib import Path

import pytest

from lslib import cache
from lslib.paper.build import store_times

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
import build_times  # noqa: E402


def meta(kind="lines", wall=10.0, cpu=None, threads=2, seed=0):
    m = {"kind": kind, "config": {"size": 1, "n_dirs": 1, "line_steps": 1, "seed": seed}}
    m |= {"wall_s": wall, "threads": threads}
    return m if cpu is None else m | {"cpu_s": cpu}


def test_busy_is_cpu_per_thread_over_wall_and_unknown_without_cpu():
    assert store_times.busy(meta(wall=2.0, cpu=3.0)) == pytest.approx(0.75)  # 3 / (2 x 2)
    assert store_times.busy(meta(wall=2.0)) is None
    assert store_times.busy(meta(wall=2.0, cpu=3.0, threads=None)) is None


def test_a_contended_entry_is_taken_at_its_cpu_time_and_others_keep_theirs():
    # alone: busy 0.9 and 0.7 (median 0.8); contended: 4 s CPU on 2 threads over 10 s (0.2)
    metas = [meta(wall=10.0, cpu=18.0), meta(wall=10.0, cpu=14.0), meta(wall=10.0, cpu=4.0)]
    usual = store_times.busy_share(metas)
    assert usual == {"lines": pytest.approx(0.8)}
    assert store_times.alone_s(metas[2], usual) == pytest.approx(2.5)  # 4 / 2 / 0.8, not 10
    assert store_times.alone_s(metas[0], usual) == 10.0  # alone: its wall time
    assert store_times.alone_s(meta(wall=7.0), usual) == 7.0  # no CPU time: its wall time
    # contended, but no uncontended entry of its kind to go by: its wall time
    assert store_times.alone_s(meta(kind="plane", wall=7.0, cpu=2.0), usual) == 7.0
    gpu = meta(wall=7.0, cpu=2.0) | {"device_type": "cuda"}  # waits for the GPU by design
    assert store_times.busy(gpu) is None and store_times.alone_s(gpu, usual) == 7.0


def test_the_plan_reads_cpu_time_from_the_store(tmp_path):
    (tmp_path / "lines").mkdir()
    metas = [meta(wall=10.0, cpu=18.0, seed=0), meta(wall=10.0, cpu=14.0, seed=1)]
    metas.append(meta(wall=10.0, cpu=4.0, seed=2))
    for i, m in enumerate(metas):
        (tmp_path / "lines" / f"{i}.pt").write_bytes(cache._encode({"meta": m, "value": None}))
    records = store_times.Records.read(tmp_path, fallback=False)
    assert records.seconds("lines", metas[2]["config"]) == (pytest.approx(2.5), "recorded")
    assert records.seconds("lines", metas[0]["config"]) == (10.0, "recorded")
    assert records.threads == 2


def test_build_times_counts_contended_and_unknown_entries_per_row():
    found = [
        ("phase1", "lines", "mlp", [0], meta(wall=10.0, cpu=18.0)),
        ("phase1", "lines", "mlp", [1], meta(wall=10.0, cpu=4.0)),
        ("phase1", "lines", "mlp", [2], meta(wall=5.0)),
        ("training", "epoch", "cnn", [0], meta(kind="epoch", wall=3.0, cpu=6.0)),
    ]
    rows = build_times.table(found)
    assert list(rows) == [("phase1", "mlp", "lines"), ("training", "cnn", "epoch")]
    lines = rows[("phase1", "mlp", "lines")]
    assert lines == {"seed0": 10.0, "wall": 25.0, "cpu": 11.0, "contended": 1, "unknown": 1}
    assert rows[("training", "cnn", "epoch")] == dict(
        seed0=3.0, wall=3.0, cpu=3.0, contended=0, unknown=0
    )


def test_every_kind_in_the_store_is_counted_against_the_code_that_computed_it(
    tmp_path, monkeypatch
):
    """No list of kinds by hand: an entry records the modules its code fingerprint covers,
    so a kind no one listed (a new analysis) is found in the store and counted while its
    code is today's, and left out once that code changes."""
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    run = {
        "model": "mlp",
        "width": 8,
        "optimizer": "sgd",
        "seed": 0,
        "subset": None,
        "epochs": None,
    }
    config = {"run": run, "size": 1}
    cache.cached("brand_new_kind", config, lambda: {"x": 1.0}, code="lslib.paper.sections.measures")
    (path,) = (tmp_path / "brand_new_kind").glob("*.pt")
    meta = cache.decode_meta(path.read_bytes())
    assert meta["modules"] == ["lslib.paper.sections.measures"] and store_times.is_current(meta)
    (found,) = build_times.entries("paper")
    assert found[1] == "brand_new_kind" and found[2] == "mlp" and found[3] == [0]
    rows = build_times.table([found])
    assert list(rows) == [(found[0], "mlp", "brand_new_kind")]
    assert not store_times.is_current(meta | {"code": "0" * 16})  # other code: left out
    assert not store_times.is_current(
        meta | {"modules": ["os"]}
    )  # only lslib's own are fingerprinted
    assert not store_times.is_current(
        {k: v for k, v in meta.items() if k != "modules"}
    )  # older entry
