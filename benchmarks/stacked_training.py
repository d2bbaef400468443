"""K seeds of one run: one at a time (``lslib.train.train``) vs side by side (``lslib.stacked``).

Both through the public calls, side by side in one process: ``train`` once per seed against
one ``train_stacked`` call, one epoch of ``--images`` training images at the paper's batch
size (128) with SGD + momentum; the evaluation after the epoch is cut to 128 validation and
128 test images so that the training steps dominate. Alternates the two, keeps each one's
best of ``--repeat`` (shared machines are noisy), prints seconds and the ratio (one at a
time over stacked: above 1, stacking is faster) for each of ``--engines``.

Usage: python benchmarks/stacked_training.py [--images N] [--repeat R] [--ks 3 8]
       [--models mlp-128 cnn-32] [--threads 2] [--optimizer momentum]
       [--engines grouped vmap]
"""

import argparse
import dataclasses
import time

import torch

from lslib.config import OPTIMIZERS, TrainConfig
from lslib.data import load_mnist
from lslib.stacked import ENGINES, train_stacked
from lslib.train import train

try:
    from benchmarks.train_throughput import model_arg
except ImportError:  # run as a script from the repository root
    from train_throughput import model_arg


def main(images: int, repeat: int, ks, models, optimizer: str, engines) -> None:
    load_mnist()  # read once, outside the timings
    print(
        f"one epoch of {images} images, batch 128, {optimizer}, best of {repeat}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name, width in models:
        for k in ks:
            c = TrainConfig(
                model=name,
                width=width,
                optimizer=optimizer,
                epochs=1,
                subset=images,
                eval_subset=128,
                device="cpu",
            )
            seeds = list(range(k))
            runs = {
                "one at a time": lambda c=c, seeds=seeds: [
                    train(dataclasses.replace(c, seed=s)) for s in seeds
                ]
            }
            for e in engines:
                runs[e] = lambda c=c, seeds=seeds, e=e: train_stacked(c, seeds, engine=e)
            best = dict.fromkeys(runs, float("inf"))
            for _ in range(repeat):
                for what, run in runs.items():
                    start = time.perf_counter()
                    run()
                    best[what] = min(best[what], time.perf_counter() - start)
            one = best["one at a time"]
            line = f"{name}-{width} K={k}: one at a time {one:6.2f} s"
            for e in engines:
                line += f" | {e} {best[e]:6.2f} s, ratio {one / best[e]:.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs per path (best is kept)")
    ap.add_argument("--ks", type=int, nargs="+", default=[3, 8], help="seeds side by side")
    ap.add_argument(
        "--models",
        nargs="+",
        type=model_arg,
        default=[("mlp", 128), ("cnn", 32)],
        help="models as mlp-WIDTH or cnn-WIDTH (default: mlp-128 cnn-32)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default="momentum")
    ap.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    main(a.images, a.repeat, a.ks, a.models, a.optimizer, a.engines)
