"""The small faults a hostile tester found: a shared temporary name, a calibration lock
without a limit, environment variables misread or unnamed, a full disk without a path,
kernel folders left by a killed grid, and two ad hoc runs overwriting each other.
"""

import errno
import fcntl
import json
import os
import subprocess
import threading

import pytest

from lslib import cache, fused
from lslib.paper import results
from lslib.paper.build import allocator, grid, notebooks, store_times
from lslib.paper.profiles import section
from lslib.paths import REPO, env_seconds


def test_notebook_times_from_two_writers_at_once_never_collide():
    errors = []

    def writer(name):
        try:
            for i in range(200):
                store_times.record_notebook(name, "smoke", float(i))
        except Exception as e:  # noqa: BLE001 (any failure is the finding)
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    times = json.loads((cache.cache_dir() / store_times.TIMES).read_text())
    assert times["a smoke"] == 199.0 or times["b smoke"] == 199.0
    assert not list(cache.cache_dir().glob("*.tmp"))


def test_a_stuck_calibration_lock_is_named_and_times_out(tmp_path, monkeypatch):
    path = str(tmp_path / "calibration.json.lock")
    holder = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a stuck process holds it
    monkeypatch.setattr(fused, "NOTICE_S", 0.1)
    monkeypatch.setenv("LSLIB_LOCK_TIMEOUT", "0.5")
    try:
        with (
            pytest.warns(UserWarning, match=f"waiting for the kernel's calibration.*{path}"),
            pytest.raises(TimeoutError, match=f"{path}.*LSLIB_LOCK_TIMEOUT"),
            fused._locked(path),
        ):
            pass
    finally:
        os.close(holder)
    with fused._locked(path):  # released: taken at once
        pass


@pytest.mark.parametrize("name", ["LSLIB_LOCK_TIMEOUT", "LSLIB_CONNECT_TIMEOUT"])
@pytest.mark.parametrize("bad", ["abc", "-1", "nan", "0"])
def test_a_bad_timeout_names_its_variable_before_anything_runs(name, bad, monkeypatch, tmp_path):
    monkeypatch.setenv(name, bad)
    with pytest.raises(ValueError, match=f"^{name}='{bad}' is not understood; allowed"):
        env_seconds(name, 1.0)
    for var in ("LSLIB_RESULTS", "LSLIB_FUSED"):
        monkeypatch.setenv(var, os.environ.get(var, str(tmp_path / "x")))
    ran = []
    monkeypatch.setattr(grid, "jobs", lambda *a, **k: ran.append(1))
    with pytest.raises(ValueError, match=name):
        grid.run("book/grid.yml", "smoke", root=REPO)
    assert ran == []  # refused at the start, before the grid's jobs are even listed
    if name == "LSLIB_LOCK_TIMEOUT":
        with pytest.raises(ValueError, match=name):
            cache.cached("store", {"case": "timeout"}, lambda: 1, "lslib.config")


def test_a_results_write_on_a_full_disk_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    S = section("phase1", {"profile": "smoke"})

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.os, "replace", full)
    with pytest.raises(OSError, match=r"could not write the results .*phase1-mlp.json") as e:
        results.save(S, {"rows": []})
    assert e.value.errno == errno.ENOSPC
    assert not list((tmp_path / "results").glob("*"))  # no temporary left


@pytest.mark.parametrize("off", ["0", "false", "off", "no", "FALSE", " Off "])
def test_tunables_can_be_turned_off_in_words(off):
    assert allocator.tunables_on({"LSLIB_TUNABLES": off}) is False
    assert allocator.wanted({"LSLIB_TUNABLES": off}) is False


def test_tunables_on_by_default_and_an_unknown_value_refused():
    for on in ("1", "true", "on", "yes"):
        assert allocator.tunables_on({"LSLIB_TUNABLES": on}) is True
    assert allocator.tunables_on({}) is True
    with pytest.raises(ValueError, match="LSLIB_TUNABLES='maybe' .*allowed"):
        allocator.wanted({"LSLIB_TUNABLES": "maybe"})


def test_kernel_folders_of_a_killed_grid_are_removed_at_the_next_start(tmp_path, monkeypatch):
    import tempfile

    child = subprocess.Popen(["true"])
    child.wait()  # its pid is now dead: a killed grid's
    dead = tmp_path / f"lslib-kernels-{child.pid}-abcd"
    live = tmp_path / f"lslib-kernels-{os.getppid()}-efgh"  # a running one's
    for d in (dead, live):
        d.mkdir()
        (d / "k1.json").write_text("{}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(notebooks, "_KERNELS", {})
    mine = notebooks._kernel_folder()
    assert not dead.exists() and live.exists()
    assert mine.parent == tmp_path and mine.name.startswith(f"lslib-kernels-{os.getpid()}-")
    notebooks.drop_kernel_folder()
    assert not mine.exists()


def test_two_ad_hoc_runs_in_one_folder_do_not_overwrite_each_other(tmp_path, monkeypatch):
    monkeypatch.delenv("LSLIB_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    first = section("phase1", {"profile": "smoke", "widths": [6, 10]})
    path = results.save(first, {"rows": [1]})
    assert results.save(first, {"rows": [2]}) == path  # the same run again: replaced
    second = section("phase1", {"profile": "smoke", "widths": [6, 12]})
    with pytest.raises(FileExistsError, match=r"phase1-mlp.json holds .*widths = \[6, 10\]"):
        results.save(second, {"rows": [3]})
    assert json.loads(path.read_text())["rows"] == [2]
