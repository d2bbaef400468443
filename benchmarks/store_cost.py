"""The run store's read and write cost, the pickled format (v2) beside the data-only one (v3).

    python benchmarks/store_cost.py

v2 is reproduced here as it was (``torch.save`` of the entry behind a SHA-256 header, read
back with ``torch.load(weights_only=False)``); v3 is ``lslib.cache``'s. Each is timed on
two entries of the paper's kinds: an epoch checkpoint of an MLP with Adam state (tensors,
int-keyed dicts, tuples) and a plane (numpy arrays and floats), written to and read from a
file, the median of several repeats.
"""

import hashlib
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lslib import cache
from lslib.models import build_model
from lslib.train import _pack, make_optimizer


def v2_encode(entry):
    buf = io.BytesIO()
    torch.save(entry, buf)
    p = buf.getvalue()
    return b"lslib-entry-v2 sha256=" + hashlib.sha256(p).hexdigest().encode() + b"\n" + p


def v2_decode(blob):
    head, _, p = blob.partition(b"\n")
    assert head.endswith(hashlib.sha256(p).hexdigest().encode())
    return torch.load(io.BytesIO(p), map_location="cpu", weights_only=False)


def epoch_entry(width: int) -> dict:
    model = build_model("mlp", width, seed=0)
    opt = make_optimizer("adam", model.parameters(), 1e-3)
    model(torch.randn(8, 1, 28, 28)).sum().backward()
    opt.step()
    hist = [{"epoch": i, "train_loss": 0.1, "val_loss": 0.2} for i in range(20)]
    return _pack(model, opt, torch.Generator().manual_seed(0), hist)


def plane_entry(grid: int) -> dict:
    return {
        "xs": np.linspace(-1, 1, grid),
        "ys": np.linspace(-1, 1, grid),
        "plane": np.random.rand(grid, grid),
        "nonfinite": 0,
    }


def timed(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    meta = {"kind": "x", "config": {"a": 1}, "wall_s": 1.0}
    folder = Path(tempfile.mkdtemp())
    print(f"{'entry':<22}{'format':<8}{'MB':>7}{'write ms':>10}{'read ms':>10}{'meta ms':>10}")
    for name, value, repeats in [
        ("epoch MLP-512 adam", epoch_entry(512), 20),
        ("epoch MLP-2048 adam", epoch_entry(2048), 10),
        ("plane 51x51", plane_entry(51), 50),
    ]:
        entry = {"meta": meta, "value": value}
        for fmt, enc, dec, meta_of in [
            ("v2", v2_encode, v2_decode, lambda b: v2_decode(b)["meta"]),
            ("v3", cache._encode, cache._decode, cache.decode_meta),
        ]:
            path = folder / f"{fmt}.pt"
            w = timed(lambda: path.write_bytes(enc(entry)), repeats)  # noqa: B023
            r = timed(lambda: dec(path.read_bytes()), repeats)  # noqa: B023
            m = timed(lambda: meta_of(path.read_bytes()), repeats)  # noqa: B023
            mb = path.stat().st_size / 1e6
            print(f"{name:<22}{fmt:<8}{mb:>7.2f}{w * 1e3:>10.2f}{r * 1e3:>10.2f}{m * 1e3:>10.2f}")


if __name__ == "__main__":
    main()
