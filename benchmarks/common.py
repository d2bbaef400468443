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


def timed(fn, repeat: int = 1, warmup: bool = False):
    """(result of the last call, best wall time in seconds over ``repeat`` calls).

    With ``warmup``, one untimed call first (one-time costs: allocator, library set-up).
    """
    if warmup:
        fn()
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best
