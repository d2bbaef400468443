"""Bad input and broken surroundings are refused early, in one clear line, never a traceback.

Each test reproduces a fault a hostile tester hit (a device string that only failed at
compute time, an MNIST extraction on a full disk leaving 20 MB behind, ...), in temporary
folders, never the repository's.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from lslib import fused
from lslib.config import TrainConfig, default_device, parse_device


@pytest.mark.parametrize("bad", ["cpu:xyz", "gpu", "cuda:-1", "cuda:", "", " cpu:1.5"])
def test_a_device_string_that_does_not_parse_is_refused_at_once(bad, monkeypatch):
    assert parse_device(bad) is None
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device=bad)
    if bad:
        monkeypatch.setenv("LSLIB_DEVICE", bad)
        with pytest.raises(ValueError, match=r"LSLIB_DEVICE=.*allowed: 'cpu', 'cuda' or 'cuda:N'"):
            default_device()


def test_cpu_with_an_index_is_the_cpu_and_makes_the_same_key(monkeypatch):
    monkeypatch.setenv("LSLIB_DEVICE", "cpu:7")
    assert default_device() == "cpu"
    assert TrainConfig(device="cpu:7") == TrainConfig(device="cpu")
    assert parse_device("cuda:1") == "cuda:1" and parse_device("cuda") == "cuda"


EXTRACT = """
    import resource, signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    from lslib import data
    try:
        data.load_mnist()
    except OSError as e:
        print("ERROR", e)
"""


def test_mnist_extraction_on_a_full_disk_names_the_folder_and_leaves_nothing(tmp_path):
    env = os.environ | {"LSLIB_CACHE": str(tmp_path), "LSLIB_DATA": ""}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXTRACT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    assert f"could not extract MNIST's train-images-idx3-ubyte.gz into {raw}" in out.stdout
    assert "LSLIB_CACHE" in out.stdout
    assert not [p.name for p in raw.glob("*.tmp*")], "a temporary file was left behind"


def grid_error(capsys, *argv) -> str:
    """The grid's command line on ``argv``: exit status 2 and one line, no traceback."""
    from lslib.paper.build import grid

    assert grid.main(["book/grid.yml", "--profile", "smoke", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_grid_arguments_out_of_range_are_refused_before_anything_starts(capsys, tmp_path):
    assert "--workers -1: must be >= 0" in grid_error(capsys, "--workers", "-1")
    assert "--workers -1: must be >= 0" in grid_error(capsys, "--plan", "--workers", "-1")
    assert "--seeds 0: must be >= 1" in grid_error(capsys, "--plan", "--seeds", "0")
    assert "--seeds only applies to --plan" in grid_error(capsys, "--seeds", "2")
    missing = str(tmp_path / "ca.pem")
    err = grid_error(capsys, "--scheduler", "tls://127.0.0.1:1", "--tls-ca", missing)
    assert f"--tls-ca {missing}: no such file" in err
    (tmp_path / "ca.pem").write_text("")
    err = grid_error(capsys, "--tls-ca", missing)
    assert "--tls-ca given without a scheduler" in err


def test_grid_refuses_an_unwritable_store_or_results_folder_before_compute(
    capsys, tmp_path, monkeypatch
):
    afile = tmp_path / "a-file"
    afile.write_text("")
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LSLIB_CACHE", str(afile))
    assert "LSLIB_CACHE=" in grid_error(capsys, "--only", "phase1")
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path / "store"))
    monkeypatch.setenv("LSLIB_RESULTS", str(afile))
    assert "LSLIB_RESULTS=" in grid_error(capsys, "--only", "phase1")
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.pt"))


def test_an_unreachable_scheduler_is_one_line_within_its_timeout(capsys, tmp_path, monkeypatch):
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LSLIB_CONNECT_TIMEOUT", "3")
    start = time.monotonic()
    err = grid_error(capsys, "--only", "phase1", "--scheduler", f"tcp://127.0.0.1:{port}")
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 3 s" in err
    assert time.monotonic() - start < 30


def test_a_section_with_an_unwritable_results_folder_stops_before_compute(tmp_path, monkeypatch):
    from lslib.paper.profiles import section

    afile = tmp_path / "a-file"
    afile.write_text("")
    for bad, what in ((afile, "is not a folder"), (afile / "below", "is below a file")):
        monkeypatch.setenv("LSLIB_RESULTS", str(bad))
        with pytest.raises(ValueError, match=f"LSLIB_RESULTS=.*{what}"):
            section("phase1", {"profile": "smoke"})
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "new" / "results"))
    assert section("phase1", {"profile": "smoke"}).widths  # creatable: fine, nothing made
    assert not (tmp_path / "new").exists()


def test_a_bad_lslib_fused_is_refused_by_the_grid_before_compute(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LSLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path / "store"))
    monkeypatch.setenv("LSLIB_FUSED", "yes")
    err = grid_error(capsys, "--only", "phase1")
    assert "LSLIB_FUSED='yes'" in err and "allowed: 0" in err, err
    assert not list((tmp_path / "store").rglob("*.pt"))
    for ok in ("0", "1", "auto", ""):
        monkeypatch.setenv("LSLIB_FUSED", ok)
        assert fused.setting() in ("0", "1", "auto")
