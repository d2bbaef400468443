"""The run store and the data it keys on: integrity, identity, failed writes, locks, builds.

Each test corrupts or interrupts something the way it happens on real machines (a flipped
byte, a copied file, a full disk, a crashed or paused writer) and checks that the store
notices, says so and recomputes or refuses, instead of serving a wrong result.
"""

import errno
import os
import shutil
import subprocess
import threading
import time

import pytest
import torch

from lslib import cache, data, fused

MODULES = "lslib.config"


def entry_path(kind, config):
    return cache.cache_dir() / kind / f"{cache.key_of(kind, config, cache.fingerprint(MODULES))}.pt"


def counting(value):
    """A compute function that counts its calls."""
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_flipped_byte_in_a_stored_tensor_is_detected_moved_aside_and_recomputed():
    cfg = {"case": "flip"}
    good = {"w": torch.arange(20_000, dtype=torch.float32)}
    cache.cached("store", cfg, lambda: good, MODULES)
    path = entry_path("store", cfg)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x10  # inside the tensor's bytes (80 kB of a ~81 kB file)
    path.write_bytes(bytes(blob))
    compute, calls = counting(good)
    before = (cache.stats.corrupt, cache.stats.computed)
    with pytest.warns(UserWarning, match="corrupt.*sha256"):
        value = cache.cached("store", cfg, compute, MODULES)
    assert torch.equal(value["w"], good["w"]) and calls == [1]
    assert (cache.stats.corrupt, cache.stats.computed) == (before[0] + 1, before[1] + 1)
    assert path.with_suffix(".corrupt").read_bytes() == bytes(blob)  # kept for inspection
    assert torch.equal(cache.cached("store", cfg, compute, MODULES)["w"], good["w"])
    assert calls == [1]  # the rewritten entry is served


def test_entry_copied_under_another_key_is_not_served():
    a, b = {"case": "swap", "seed": 1}, {"case": "swap", "seed": 0}
    cache.cached("store", a, lambda: {"seed": 1}, MODULES)
    shutil.copy(entry_path("store", a), entry_path("store", b))
    compute, calls = counting({"seed": 0})
    with pytest.warns(UserWarning, match="another config"):
        assert cache.cached("store", b, compute, MODULES) == {"seed": 0}
    assert calls == [1]
    assert cache.cached("store", a, compute, MODULES) == {"seed": 1} and calls == [1]


def test_data_identity_is_in_every_key():
    cfg = {"case": "data"}
    code = cache.fingerprint(MODULES)
    assert cache.key_of("k", cfg, code) == cache.key_of("k", cfg, code, data.identity())
    assert cache.key_of("k", cfg, code, "a") != cache.key_of("k", cfg, code, "b")
    cache.cached("store", cfg, lambda: 1, MODULES)
    assert cache.meta("store", cfg, MODULES)["data"] == data.identity()


def test_altered_extracted_copy_is_re_extracted_never_used(tmp_path, monkeypatch):
    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path))
    raw = data._root() / "MNIST" / "raw"
    assert raw == tmp_path / "mnist" / "MNIST" / "raw"
    ident = data.identity()
    path = raw / "t10k-labels-idx1-ubyte"
    good = path.read_bytes()
    with open(path, "r+b") as f:  # one test label changed
        f.seek(5000)
        f.write(bytes([(good[5000] + 1) % 10]))
    with pytest.warns(UserWarning, match="t10k-labels-idx1-ubyte.*corrupt.*re-extracting"):
        data._root()
    assert path.read_bytes() == good and data.identity() == ident


def _data_copy(tmp_path):
    """An LSLIB_DATA root: links to the extracted files (the conftest cache holds them)."""
    src = data._root() / "MNIST" / "raw"
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.RAW_SHA256:
        (raw / name).symlink_to(src / name)
    return raw


def test_truncated_lslib_data_copy_is_a_clear_error(tmp_path, monkeypatch):
    raw = _data_copy(tmp_path)
    name = "train-images-idx3-ubyte"
    half = (raw / name).read_bytes()[:20_000_000]
    (raw / name).unlink()
    (raw / name).write_bytes(half)
    monkeypatch.setenv("LSLIB_DATA", str(tmp_path))
    with pytest.raises(OSError, match=f"{name}.*LSLIB_DATA.*truncated.*sha256.*expected.*unset"):
        data._tensors(train=True)  # not torchvision's "shape '[60000, 28, 28]' is invalid"


def test_empty_lslib_data_names_the_variable_path_and_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("LSLIB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as e:
        data._tensors(train=False)  # not torchvision's "You can use download=True"
    msg = str(e.value)
    assert f"LSLIB_DATA={tmp_path}" in msg and "<root>/MNIST/raw/" in msg
    assert all(name in msg for name in data.RAW_SHA256) and "unset LSLIB_DATA" in msg


def test_full_disk_is_a_clear_error_and_leaves_no_temporary(monkeypatch):
    cfg = {"case": "full"}

    def full_disk(path, blob):
        path.write_bytes(blob[:100])  # a partial temporary, as a real full disk leaves
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache, "_write_file", full_disk)
    with pytest.raises(OSError, match="could not write the cache entry.*LSLIB_CACHE") as e:
        cache.cached("store", cfg, lambda: {"w": torch.ones(10)}, MODULES)
    assert e.value.errno == errno.ENOSPC
    folder = cache.cache_dir() / "store"
    assert not list(folder.glob("*.tmp*")) and not entry_path("store", cfg).exists()
    monkeypatch.undo()
    monkeypatch.setenv("LSLIB_CACHE", str(cache.cache_dir()))
    assert torch.equal(
        cache.cached("store", cfg, lambda: {"w": torch.ones(10)}, MODULES)["w"], torch.ones(10)
    )


def test_temporaries_of_crashed_writers_are_removed_on_the_next_write():
    folder = cache.cache_dir() / "store"
    folder.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen(["true"])
    child.wait()  # its pid is now dead
    dead = folder / f"aaaa.tmp{child.pid}"
    old = folder / f"bbbb.tmp{os.getpid()}1"  # unreadable pid, an hour old
    live = folder / f"cccc.tmp{os.getpid()}"  # a write in progress in this process
    for p in (dead, old, live):
        p.write_bytes(b"x" * 1000)
    os.utime(dead, (time.time() - 120,) * 2)
    os.utime(old, (time.time() - 3600,) * 2)
    before = cache.stats.stale_tmp
    cache.cached("store", {"case": "tmp"}, lambda: 1, MODULES)
    assert not dead.exists() and not old.exists() and live.exists()
    assert cache.stats.stale_tmp == before + 2


def test_lock_waiter_names_the_holder_and_times_out(monkeypatch):
    cfg = {"case": "lock"}
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return 7

    holder = threading.Thread(target=cache.cached, args=("store", cfg, slow, MODULES))
    holder.start()
    try:
        assert started.wait(10)
        monkeypatch.setattr(cache, "NOTICE_S", 0.2)
        t0 = time.monotonic()
        with (
            pytest.warns(
                UserWarning,
                match=rf"waiting for store entry \w+: computed by pid "
                rf"{os.getpid()} on .* since",
            ),
            pytest.raises(TimeoutError, match=f"pid {os.getpid()}.*LSLIB_LOCK_TIMEOUT"),
        ):
            cache.cached("store", cfg, lambda: 0, MODULES, lock_timeout=0.8)
        assert 0.8 <= time.monotonic() - t0 < 3
        monkeypatch.setenv("LSLIB_LOCK_TIMEOUT", "0.3")
        with pytest.raises(TimeoutError), pytest.warns(UserWarning, match="waiting"):
            cache.cached("store", cfg, lambda: 0, MODULES)
    finally:
        release.set()
        holder.join()
    assert cache.cached("store", cfg, lambda: 0, MODULES) == 7  # the holder's result


def test_metadata_records_thread_count_and_device_type():
    threads = torch.get_num_threads()
    try:
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            cfg = {"case": "meta", "threads": n, "device": "cpu"}
            cache.cached("store", cfg, lambda: 1, MODULES)
            m = cache.meta("store", cfg, MODULES)
            assert m["threads"] == n and m["device_type"] == "cpu" and m["device"] == "cpu"
    finally:
        torch.set_num_threads(threads)


def test_fused_extension_name_depends_on_interpreter_cpu_and_flags():
    base = dict(prefix="/venv/a", executable="/venv/a/bin/python", cpu="model x; flags: avx2")
    name = fused.extension_name(**base)
    assert name == fused.extension_name(**base) and name.isidentifier()
    for change in (
        dict(prefix="/venv/b", executable="/venv/b/bin/python"),
        dict(cpu="model y; flags: avx512f"),
        dict(cflags=("-O3",)),
        dict(torch_version="0.0"),
        dict(source=fused._SOURCE + "\n"),
    ):
        assert fused.extension_name(**(base | change)) != name, change
    assert fused.cpu_identity()  # never empty: /proc/cpuinfo or the machine type
