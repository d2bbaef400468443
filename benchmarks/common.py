"""Shared set-up for the benchmarks: trained models from the run store, the data."""

import time

from lslib.config import TrainConfig
from lslib.data import load_mnist
from lslib.train import train_or_load

# Short trainings: enough for realistic curvature; the run store keeps them.
MODELS = {
    "MLP-128": TrainConfig(model="mlp", width=128, optimizer="momentum", epochs=2, device="cpu"),
    "SimpleCNN-32": TrainConfig(
        model="cnn", width=32, optimizer="momentum", epochs=1, device="cpu"
    ),
}


def trained(name: str):
    return train_or_load(MODELS[name]).model()


def data():
    return load_mnist()


def timed(fn, repeat: int = 1, warmup: bool = False, long_s: float = 5.0):
    """(result of the last call, best wall time in seconds over ``repeat`` timed calls).

    With ``warmup``, the first call is an untimed warm-up (one-time costs: allocator,
    library set-up). A first call that takes ``long_s`` seconds or more is timed and
    returned alone: for runs that long, one-time costs are negligible and repeats costly.
    """
    start = time.perf_counter()
    out = fn()
    first = time.perf_counter() - start
    if first >= long_s:
        return out, first
    times = [] if warmup else [first]
    while len(times) < repeat:
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)
