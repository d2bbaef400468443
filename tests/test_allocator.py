"""The build's glibc tunables: merged with the caller's, applied by restarting, and effective."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from lslib.paper.build import allocator as A

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _glibc() -> tuple:
    name, version = platform.libc_ver()
    return (name, tuple(int(x) for x in version.split(".")[:2])) if version else (name, ())


def test_tunables_are_added_and_the_callers_own_win():
    env = A.with_tunables({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2"})
    parts = env["GLIBC_TUNABLES"].split(":")
    assert parts[:2] == ["glibc.malloc.hugetlb=0", "glibc.malloc.arena_max=2"]
    assert "glibc.malloc.mmap_threshold=33554432" in parts
    assert not any(p == "glibc.malloc.hugetlb=1" for p in parts)
    assert A.with_tunables({})["GLIBC_TUNABLES"].count("glibc.malloc.") == len(A.TUNABLES)


@pytest.mark.skipif(
    sys.platform != "linux" or _glibc()[0] != "glibc", reason="glibc tunables: Linux with glibc"
)
def test_restart_happens_once_and_can_be_turned_off():
    set_env = A.with_tunables({})
    assert not A.wanted(set_env)  # already there: no second restart
    assert not A.wanted({"LSLIB_TUNABLES": "0"})
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "LSLIB_TUNABLES")}
    out = subprocess.run(
        [sys.executable, "-m", "lslib.paper.build.allocator"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "GLIBC_TUNABLES=" + set_env["GLIBC_TUNABLES"] in out.splitlines()


@pytest.mark.skipif(
    not THP.exists() or "[madvise]" not in THP.read_text() or _glibc() < ("glibc", (2, 35)),
    reason="needs transparent huge pages on request (madvise) and glibc >= 2.35 (hugetlb)",
)
def test_the_tunables_cut_page_faults_of_a_large_tensor():
    def faults(**extra):
        env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"} | extra
        out = subprocess.run(
            [sys.executable, "-m", "lslib.paper.build.allocator"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(out.rsplit(":", 1)[1])

    plain, tuned = faults(LSLIB_TUNABLES="0"), faults()
    assert plain >= 256 * 256 * 0.9  # one fault per 4 KiB page of 256 MiB
    assert tuned < plain / 10
