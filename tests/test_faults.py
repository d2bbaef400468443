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
