"""A 21x21 filter-normalized loss plane on 1,000 training images: lslib vs loss-landscapes.

Side by side in one run, for MLP-128 and SimpleCNN-32:
  - lslib: directions + ``lslib.landscape.plane`` (eval mode, exact points, caller's model
    untouched), on MLP-128 timed both ways: with the compiled ``lslib.fused`` kernel
    (built before timing) and with lslib's PyTorch path, and the engine's measured choice
    between the two on this machine;
  - loss-landscapes 3.0.6: ``random_plane(model, Loss(...), steps=21, normalization='filter',
    deepcopy_model=True)``;
  - the floor: 441 plain forward passes of the same model on the same images, under
    inference mode, in the faster of the two memory layouts, with no weight updates.
Every method runs once untimed (warm-up), then the best of ``--repeat`` runs is kept
(a method whose first run takes 5 s or more is timed once: see ``common.timed``).
Prints the wall times and the ratios.

Usage: python benchmarks/surface_vs_peers.py [--models MLP-128 SimpleCNN-32] [--repeat 3]
"""

import argparse
import time

import loss_landscapes
import torch
import torch.nn.functional as F
from common import data, timed, trained
from loss_landscapes.metrics import Loss

from lslib import directions as D
from lslib import fused
from lslib import landscape as L
from lslib.params import params_of

STEPS, N = 21, 1000


def floor(model, x, repeat):
    times = []
    for layout in (torch.contiguous_format, torch.channels_last):
        m = model.to(memory_format=layout)
        xl = torch.empty_like(x, memory_format=layout).copy_(x)

        @torch.inference_mode()
        def run(m=m, xl=xl):
            for _ in range(STEPS * STEPS):
                m(xl)

        times.append(timed(run, repeat, warmup=True)[1])
    model.to(memory_format=torch.contiguous_format)
    return min(times)


def main(names, repeat):
    d = data()
    x, y = d.train.x[:N], d.train.y[:N]
    start = time.perf_counter()
    ok = fused.available()  # built once per machine (cached by PyTorch), so not timed below
    built = time.perf_counter() - start
    if ok:
        start = time.perf_counter()
        use = fused.faster(L._calibrate)  # measured once per machine and thread count
        state = f"built; the engine's choice here: {'kernel' if use else 'PyTorch path'}"
        state += f" (calibration {time.perf_counter() - start:.1f} s, {fused.calibration_path()})"
    else:
        state = "unavailable: PyTorch path"
    print(f"lslib.fused kernel {state} (build or load: {built:.1f} s)")
    print(
        f"{STEPS}x{STEPS} plane, {N} images, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name in names:
        bench(name, x, y, repeat)


def bench(name, x, y, repeat):
    model = trained(name).eval()

    def ours():
        p = params_of(model)
        d1, d2 = D.random_plane(p, seed=0)
        return L.plane(model, d1, d2, x, y, nx=STEPS, ny=STEPS, progress=False)

    metric = Loss(F.cross_entropy, x, y)
    peer = lambda: loss_landscapes.random_plane(
        model, metric, distance=1, steps=STEPS, normalization="filter", deepcopy_model=True
    )
    _, t_peer = timed(peer, repeat, warmup=True)
    t_floor = floor(model, x, repeat)
    ways = [("", None)]
    if fused.available() and L._split_first_layer(model, 2) is not None:
        ways = [(" (kernel)", True), (" (PyTorch path)", False)]
    for label, use in ways:
        if use is None:
            _, t_ours = timed(ours, repeat, warmup=True)
        else:
            with fused.choice(use):
                _, t_ours = timed(ours, repeat, warmup=True)
        print(
            f"{name}{label}: lslib {t_ours:7.3f} s | loss-landscapes {t_peer:7.3f} s"
            f" | floor {t_floor:7.3f} s | loss-landscapes/lslib {t_peer / t_ours:6.2f}x"
            f" | lslib/floor {t_ours / t_floor:5.2f}x"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["MLP-128", "SimpleCNN-32"])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per method (best kept)")
    args = ap.parse_args()
    main(args.models, args.repeat)
