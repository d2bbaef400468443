"""The plan's calibration of the reference build's rates to this machine (build.calibrate):
measured with a fake clock or a fake measurement, so nothing here depends on the machine."""

import dataclasses
import functools
import json
import math
from pathlib import Path

import pytest
import torch

from lslib.paper.build import calibrate, grid, store_times
from lslib.paper.build import plan as P
from lslib.paper.build import tasks as T
from lslib.paper.profiles import section

ROOT = Path(__file__).parent.parent
REF = store_times.reference()


def fake_measure(mlp=0.5, cnn=2.0, busy=0.95, calls=None):
    """A measurement that took ``mlp`` and ``cnn`` seconds, counting its calls."""

    def measure(threads):
        if calls is not None:
            calls.append(threads)
        spread = {"mlp": [0.9, 1.25], "cnn": [0.96, 1.04]}
        return {"mlp": mlp, "cnn": cnn, "spread": spread, "busy": busy, "took_s": 1.5}

    return measure


def expected(mlp=0.5, cnn=2.0, threads=2):
    return {
        f: s / calibrate.reference_seconds(REF, f, threads) for f, s in (("mlp", mlp), ("cnn", cnn))
    }


@pytest.fixture
def quiet(monkeypatch):
    """A machine with 2 cores and nothing else running."""
    monkeypatch.setattr(calibrate, "cores", lambda: 2)
    monkeypatch.setattr(calibrate, "loadavg", lambda: 0.0)
    monkeypatch.setattr(calibrate, "machine_key", lambda threads: f"not the reference|{threads}")


def test_the_reference_builds_own_kind_of_machine_is_not_calibrated(tmp_path, monkeypatch):
    """Its rates are this machine's, averaged over a build: a measurement would only add noise."""
    monkeypatch.setattr(calibrate, "cores", lambda: 2)
    monkeypatch.setattr(calibrate, "loadavg", lambda: 0.0)
    ref = {"threads": 2, "rates": {"epoch mlp": 1e-10, "epoch cnn": 4e-11}}
    own = {"mlp": 0.3, "cnn": 1.2, "steps": calibrate.workload_steps(), "threads": 2}
    monkeypatch.setattr(
        calibrate, "reference", lambda: ref | {"calibration": own | {"machine": "k"}}
    )
    calls = []
    monkeypatch.setattr(calibrate, "machine_key", lambda threads: "k")
    same = calibrate.calibrated(tmp_path, fake_measure(calls=calls))
    assert same.factors == {} and same.line == calibrate.SAME and calls == []
    assert not (tmp_path / calibrate.FILE).exists()
    monkeypatch.setattr(calibrate, "machine_key", lambda threads: "another")
    other = calibrate.calibrated(tmp_path, fake_measure(calls=calls))
    assert other.factors == pytest.approx({"mlp": 0.5 / 0.3, "cnn": 2.0 / 1.2}) and calls == [2]


def test_the_reference_seconds_come_from_its_epoch_rate_or_its_own_measurement():
    ref = {"threads": 2, "rates": {"epoch mlp": 1e-10, "epoch cnn": 4e-11}}
    work = calibrate.work_of("cnn")
    assert work == store_times.flops("cnn", 32) * 20 * 128
    assert calibrate.reference_seconds(ref, "cnn", 2) == pytest.approx(4e-11 * work)
    # one thread here: twice the seconds, as schedule.share counts threads
    assert calibrate.reference_seconds(ref, "cnn", 1) == pytest.approx(8e-11 * work)
    own = {"mlp": 0.3, "cnn": 1.2, "steps": calibrate.workload_steps(), "threads": 2}
    assert calibrate.reference_seconds(ref | {"calibration": own}, "cnn", 2) == 1.2
    # its own measurement of other workloads is not comparable: the rate again
    other = ref | {"calibration": own | {"steps": {"mlp": 1, "cnn": 1}}}
    assert calibrate.reference_seconds(other, "cnn", 2) == pytest.approx(4e-11 * work)
    assert calibrate.reference_seconds({}, "cnn", 2) is None


def test_the_calibration_is_kept_and_read_back_and_a_bad_file_is_measured_again(tmp_path, quiet):
    calls = []
    measure = fake_measure(calls=calls)
    first = calibrate.calibrated(tmp_path, measure)
    assert first.factors == pytest.approx(expected()) and calls == [2]
    assert "MLP ×" in first.line and "CNN ×" in first.line
    assert "(runs -10 %…+25 %)" in first.line and "(runs -4 %…+4 %)" in first.line
    again = calibrate.calibrated(tmp_path, measure)
    assert again.factors == first.factors and calls == [2]  # read back, not measured
    assert "kept in" in again.line and "(runs -10 %…+25 %)" in again.line
    path = tmp_path / calibrate.FILE
    for bad in ("{torn", "[]", json.dumps({k: {"mlp": -1} for k in json.loads(path.read_text())})):
        path.write_text(bad)
        assert calibrate.calibrated(tmp_path, measure).factors == first.factors
    assert len(calls) == 4  # each bad file measured again, and the file is good again
    assert calibrate.valid(next(iter(json.loads(path.read_text()).values())))
    # another machine, thread count or torch version is another key
    assert calibrate.machine_key(1) != calibrate.machine_key(2)


def test_a_busy_machine_is_not_calibrated_and_nothing_is_kept(tmp_path, quiet, monkeypatch):
    calls = []
    busy = calibrate.calibrated(tmp_path, fake_measure(busy=0.3, calls=calls))
    assert busy.factors == {} and "not calibrated" in busy.line and calls == [2]
    assert not (tmp_path / calibrate.FILE).exists()
    monkeypatch.setattr(calibrate, "loadavg", lambda: 1.5)  # another process has a core
    loaded = calibrate.calibrated(tmp_path, fake_measure(calls=calls))
    assert loaded.factors == {} and "1.5 of" in loaded.line and calls == [2]


def test_the_median_run_after_a_warm_up_counts_and_a_contended_one_stops_it():
    ticks = iter([0, 5, 5, 7, 7, 10])  # clock readings around each timed run: 5, 2, 3 s
    runs = []
    clock = lambda: (float(next(ticks)),) * 2  # noqa: E731
    assert calibrate.typical(lambda: runs.append(1), 3, clock) == (3.0, 3.0, 2.0, 5.0)
    assert len(runs) == 4  # the warm-up, then three timed
    ticks = iter([0, 4, 4, 5, 5, 7, 7, 13])  # 4, 1, 2, 6 s: the median of an even count
    assert calibrate.typical(lambda: None, 4, clock) == (3.0, 3.0, 1.0, 6.0)

    t = {"wall": 0.0, "cpu": 0.0}
    clock = lambda: (t["wall"], t["cpu"])  # noqa: E731
    made = []

    def maker(mlp_cpu):
        def make(family):
            made.append(family)
            wall, cpu = (1.0, mlp_cpu) if family == "mlp" else (4.0, 7.6)
            return lambda: t.update(wall=t["wall"] + wall, cpu=t["cpu"] + cpu)

        return make

    threads = torch.get_num_threads()
    alone = calibrate.measure(2, maker(1.8), clock)  # CPU time per thread: 0.9, 0.95 of wall
    assert (alone["mlp"], alone["cnn"], alone["busy"]) == (1.0, 4.0, pytest.approx(0.9))
    assert alone["spread"] == {"mlp": [1.0, 1.0], "cnn": [1.0, 1.0]}  # every run alike
    runs = 1 + calibrate.REPEATS
    assert alone["took_s"] == runs * 1.0 + runs * 4.0 and made == ["mlp", "cnn"]
    made.clear()
    waited = calibrate.measure(2, maker(0.8), clock)  # the MLP's threads waited
    assert waited["busy"] == pytest.approx(0.4) and made == ["mlp"]  # the CNN is not measured
    assert torch.get_num_threads() == threads


def test_the_factor_scales_the_reference_estimates_and_nothing_recorded():
    ref = {tuple(k.split(" ")): v for k, v in REF["rates"].items()}
    # the store's own record of MLP epochs: those are this machine's already
    size = section("phase1", {"model": "mlp", "profile": "smoke"}).subset
    records = store_times.Records(
        {}, {}, {("epoch", "mlp"): [1e-10]}, {}, ref, sized={("epoch", "mlp", size): [1e-10]}
    )
    S = section("phase1", {"model": "mlp", "profile": "smoke"})
    graph = T.graph(T.section_tasks("phase1", S))
    plain = P.items(graph, cold=True, records=records)
    scale = {"mlp": 1.7, "cnn": 3.0}
    scaled = P.items(graph, cold=True, records=dataclasses.replace(records, scale=scale))
    kinds = {it.basis for it in plain.values()}
    assert store_times.REFERENCE_BASIS in kinds and "scaled" in kinds
    for key, it in plain.items():
        factor = 1.7 if it.basis == store_times.REFERENCE_BASIS else 1.0
        assert scaled[key].seconds == pytest.approx(it.seconds * factor), it.task.label
        assert scaled[key].basis == it.basis


def test_the_plan_calibrates_a_fresh_store_unless_turned_off(tmp_path, quiet, monkeypatch):
    import yaml

    grid_file = yaml.safe_load((ROOT / "book" / "grid.yml").read_text())
    todo = grid.jobs(grid_file, "smoke", ["phase1"], ROOT)
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path / "store"))  # empty: the reference's
    calls = []
    monkeypatch.setattr(
        calibrate,
        "calibrated",
        functools.partial(calibrate.calibrated, tmp_path, measure=fake_measure(calls=calls)),
    )

    def plan(on):
        *_, pred, _, _, cal = P.make_plan(todo, "smoke", 0, cold=True, threads=2, calibrated=on)
        return pred["wall_s"], cal

    off, none = plan(False)
    on, cal = plan(True)
    assert none is None and cal.factors == pytest.approx(expected()) and calls == [2]
    assert on > off and math.isfinite(on)
    monkeypatch.setenv("LSLIB_CALIBRATE", "0")
    assert plan(None) == (off, None) and calls == [2]
    monkeypatch.setenv("LSLIB_CALIBRATE", "on")
    assert plan(None)[0] == on and calls == [2]  # kept in the store's folder
    monkeypatch.setenv("LSLIB_CALIBRATE", "maybe")
    with pytest.raises(ValueError, match="LSLIB_CALIBRATE"):
        calibrate.setting()


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_the_miniature_epoch_runs_and_leaves_the_global_rng_alone(family, monkeypatch):
    monkeypatch.setattr(calibrate, "WORKLOADS", {"mlp": (8, 3), "cnn": (4, 3)})  # tiny
    state = torch.random.get_rng_state()
    calibrate.mini_epoch(family)()
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_rate_of_the_same_sizes_comes_before_one_of_another_profile():
    """A quick build's store plans a paper build: the reference's rate at paper sizes,
    calibrated to this machine, before this machine's at quick sizes (not calibrated: the
    store's own, as before); a quick task keeps the store's own rate."""

    def lines(subset):
        run = {"model": "cnn", "width": 32, "subset": subset, "optimizer": "sgd", "seed": 0}
        return {"run": run, "n_dirs": 2, "line_steps": 3, "size": 10}

    work = store_times.work("lines", lines(None))
    quick = {("lines", "cnn"): [5e-11], ("lines", None): [5e-11]}
    records = store_times.Records(
        {}, {}, quick, {}, {("lines", "cnn"): 1e-11}, sized={("lines", "cnn", 5000): [5e-11]}
    )
    calibrated = dataclasses.replace(records, scale={"cnn": 2.0})
    assert calibrated.seconds("lines", lines(None)) == (
        pytest.approx(2e-11 * work),
        store_times.REFERENCE_BASIS,
    )
    assert records.seconds("lines", lines(None)) == (
        pytest.approx(5e-11 * work),
        "scaled" + store_times.OTHER_SIZES,
    )
    assert calibrated.seconds("lines", lines(5000)) == (
        pytest.approx(5e-11 * store_times.work("lines", lines(5000))),
        "scaled",
    )


def test_the_cores_in_use_are_read_now_not_from_the_last_minutes_average(monkeypatch):
    """Between two readings of /proc/stat 50 of 100 jiffies were busy: half the cores are
    in use now, whatever the 1-minute load says (it lags a process that just ended)."""
    import os

    readings = iter([(1000, 9000), (1050, 9100)])
    monkeypatch.setattr(calibrate, "_cpu_times", lambda: next(readings))
    monkeypatch.setattr(os, "getloadavg", lambda: (7.0, 7.0, 7.0))
    assert calibrate.loadavg(window=0) == pytest.approx(0.5 * os.cpu_count())
    monkeypatch.setattr(calibrate, "_cpu_times", lambda: None)  # no /proc/stat
    assert calibrate.loadavg(window=0) == 7.0
    monkeypatch.undo()
    got = calibrate._cpu_times()  # this machine's own
    assert got is None or 0 <= got[0] <= got[1]
