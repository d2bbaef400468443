"""A shared store as another user would attack it: files planted to run code in whoever
reads the store next, forged entries with recomputed digests, and lock files replaced by
symlinks. Nothing planted may run, and no file of another user may change.
"""

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from lslib import cache
from lslib.paper.build.store_times import Records

MODULES = "lslib.config"


class Payload:
    """Unpickling this writes ``path``: the trace of code run from the store's data."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('ran')",))


def pickled_entry(meta: dict, value, magic: bytes = b"lslib-entry-v2 sha256=") -> bytes:
    """An entry in the old pickled format, its digest recomputed as a forger would."""
    buf = io.BytesIO()
    torch.save({"meta": meta, "value": value}, buf)
    payload = buf.getvalue()
    return magic + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def want(kind, cfg):
    return {
        "kind": kind,
        "config": cache.canonical(cfg),
        "code": cache.fingerprint(MODULES),
        "data": cache.data_identity(),
    }


def entry_path(kind, cfg):
    return cache.cache_dir() / kind / f"{cache.key_of(kind, cfg, cache.fingerprint(MODULES))}.pt"


def test_planted_unkeyed_pickle_runs_nothing_in_the_plan_or_the_timing_script(
    tmp_path, monkeypatch
):
    marker = tmp_path / "ran"
    store = tmp_path / "store"
    (store / "epoch").mkdir(parents=True)
    meta = {"kind": "epoch", "config": {}, "wall_s": 1.0, "evil": Payload(marker)}
    (store / "epoch" / "planted.pt").write_bytes(pickled_entry(meta, 1))
    (store / "epoch" / "raw.pt").write_bytes(pickled_entry(meta, 1)[60:])  # no header at all
    with pytest.warns(UserWarning, match="1 entries of .* old pickled format.*never loaded"):
        records = Records.read(store, fallback=False)
    assert records.exact == {} and not marker.exists()
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "scripts"))
    import build_times

    monkeypatch.setenv("LSLIB_CACHE", str(store))
    assert list(build_times.entries("paper")) == [] and not marker.exists()


def test_forged_keyed_entry_with_recomputed_digest_runs_nothing_and_is_recomputed(tmp_path):
    marker = tmp_path / "ran"
    cfg = {"case": "forged"}
    path = entry_path("store", cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickled_entry(want("store", cfg), {"w": Payload(marker)}))
    with pytest.warns(UserWarning, match=r"corrupt.*old pickled format.*never loads"):
        value = cache.cached("store", cfg, lambda: {"w": 2}, MODULES)
    assert value == {"w": 2} and not marker.exists()
    assert cache.meta("store", cfg, MODULES)["config"] == {"case": "forged"}
    # The same payload under the new header (digest recomputed) is not pickle to us either.
    path.write_bytes(pickled_entry(want("store", cfg), {"w": Payload(marker)}, cache.MAGIC))
    with pytest.warns(UserWarning, match="corrupt"):
        assert cache.cached("store", cfg, lambda: {"w": 3}, MODULES) == {"w": 3}
    assert not marker.exists()


def test_forged_entry_with_bytes_outside_itself_is_corrupt_not_a_crash():
    cfg = {"case": "outside"}
    cache.cached("store", cfg, lambda: {"w": torch.ones(4)}, MODULES)
    path = entry_path("store", cfg)
    _, meta, value, data = path.read_bytes().split(b"\n", 3)
    v = json.loads(value)
    v["w"]["n"] = 10**9  # claims more bytes than the file holds
    body = meta + b"\n" + json.dumps(v).encode() + b"\n" + data
    path.write_bytes(cache.MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    with pytest.warns(UserWarning, match="outside the entry"):
        assert cache.cached("store", cfg, lambda: {"w": 5}, MODULES) == {"w": 5}


def test_values_round_trip_exactly_through_an_entry():
    x = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4)
    value = {
        "tensor": torch.randn(3, 5, dtype=torch.float64),
        "bf16": torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
        "channels_last": x.contiguous(memory_format=torch.channels_last),
        "empty": torch.empty(0, 3),
        "grad": torch.ones(2, requires_grad=True),
        "rng": torch.Generator().manual_seed(3).get_state(),
        "array": np.linspace(0, 1, 7),
        "ints": np.arange(5, dtype=np.int32),
        "bools": np.array([True, False]),
        "scalar": np.float32(0.1),
        "nan": float("nan"),
        "inf": -float("inf"),
        "tuple": (0.9, 0.999),
        "int_keys": {0: {"step": torch.tensor(3.0)}, 1: {}},
        "list": [1, "a", None, True, [2.5]],
        "tagged": {"__lslib__": "tensor"},  # a key that looks like ours stays data
    }
    got = cache._decode(cache._encode({"meta": {"m": 1}, "value": value}))["value"]
    assert got.keys() == value.keys()
    for k in ("tensor", "bf16", "channels_last", "empty", "grad", "rng"):
        a, b = value[k], got[k]
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.detach(), b.detach())
        assert a.stride() == b.stride() and a.requires_grad == b.requires_grad, k
    for k in ("array", "ints", "bools"):
        assert got[k].dtype == value[k].dtype and np.array_equal(got[k], value[k])
        assert got[k].flags.writeable
    assert type(got["scalar"]) is np.float32 and got["scalar"] == value["scalar"]
    assert np.isnan(got["nan"]) and got["inf"] == -float("inf")
    assert got["tuple"] == (0.9, 0.999) and isinstance(got["tuple"], tuple)
    assert torch.equal(got["int_keys"][0]["step"], torch.tensor(3.0)) and got["int_keys"][1] == {}
    assert got["list"] == value["list"] and got["tagged"] == value["tagged"]


@pytest.mark.parametrize("value", [Payload("x"), np.array([object()]), {1, 2}])
def test_a_value_that_is_not_plain_data_is_refused_when_written(value):
    with pytest.raises(TypeError, match="cannot store"):
        cache._encode({"meta": {}, "value": {"v": value}})


def test_meta_is_read_without_decoding_the_value():
    blob = cache._encode({"meta": {"wall_s": 2.0}, "value": torch.zeros(3)})
    assert cache.decode_meta(blob) == {"wall_s": 2.0}
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])  # in the value's bytes: the digest says so
    with pytest.raises(ValueError, match="sha256"):
        cache.decode_meta(flipped)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.decode_meta(blob)["wall_s"] == 2.0


def lock_path(kind, cfg):
    return entry_path(kind, cfg).with_suffix(".lock")


def test_lock_file_replaced_by_a_symlink_leaves_the_victim_unchanged(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("another user's file\n")
    cfg = {"case": "lock symlink"}
    lock = lock_path("store", cfg)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.symlink_to(victim)
    with pytest.raises(OSError, match=f"{lock}.*symbolic link.*refusing"):
        cache.cached("store", cfg, lambda: 1, MODULES)
    assert victim.read_text() == "another user's file\n"
    lock.unlink()
    assert cache.cached("store", cfg, lambda: 1, MODULES) == 1


def test_two_lock_names_for_one_file_are_refused_not_waited_for(tmp_path):
    a, b = {"case": "alias a"}, {"case": "alias b"}
    shared = tmp_path / "one.lock"
    shared.write_text("")
    lock_path("store", a).parent.mkdir(parents=True, exist_ok=True)
    lock_path("store", a).symlink_to(shared)
    os.link(shared, lock_path("store", b))  # a hard link: no symlink to refuse

    def nested():  # a's computation needs b's entry: it would wait on its own lock
        return cache.cached("store", b, lambda: 2, MODULES)

    with pytest.raises(OSError, match="symbolic link"):
        cache.cached("store", a, nested, MODULES, lock_timeout=600)
    lock_path("store", a).unlink()
    with pytest.raises(OSError, match=f"{lock_path('store', b)} is a file with other names"):
        cache.cached("store", a, nested, MODULES, lock_timeout=600)
    assert shared.read_text() == ""


def test_temporary_planted_as_a_symlink_leaves_the_victim_unchanged(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("another user's file\n")
    cfg = {"case": "tmp symlink"}
    tmp = entry_path("store", cfg).with_suffix(f".tmp{os.getpid()}")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.symlink_to(victim)
    assert cache.cached("store", cfg, lambda: 3, MODULES) == 3
    assert victim.read_text() == "another user's file\n" and not tmp.exists()
