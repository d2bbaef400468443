"""One training epoch of MLP-128, SimpleCNN-32 and SimpleCNN-64: lslib's pipeline vs the standard one.

The standard pipeline is pytorch/examples' mnist: torchvision.datasets.MNIST with
ToTensor + Normalize, DataLoader(batch_size=128, shuffle=True), and the SimpleCNN written
in the usual conv, ReLU, pool order (lslib pools first: the same function bit for bit, see
``lslib.models.SimpleCNN``). Same weights, same optimizer (SGD lr 0.01, momentum 0.9), same
number of images (50,000), same process (so the same allocator settings: the grid's glibc
tunables, ``lslib.paper.build.allocator``, are not part of this comparison). Prints samples/s for
each and the ratio per model.

Usage: python benchmarks/train_throughput.py [--images N] [--models mlp-128 cnn-32 cnn-64]
"""

import argparse
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from lslib.data import MEAN, STD, _root, load_mnist
from lslib.models import build_model
from lslib.train import fast_layout, make_optimizer, train_epoch


def standard_epoch(model, opt, loader):
    model.train()
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def usual_order(model):
    """The SimpleCNN as usually written (conv, ReLU, pool); an MLP unchanged."""
    if isinstance(model[1], torch.nn.MaxPool2d):
        model = torch.nn.Sequential(*[model[i] for i in (0, 2, 1, 3, 5, 4, *range(6, len(model)))])
    return model


def model_arg(text: str) -> tuple[str, int]:
    """'cnn-64' -> ('cnn', 64); anything else is refused, naming the allowed form."""
    name, _, width = text.partition("-")
    if name not in ("mlp", "cnn") or not width.isdigit() or int(width) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed mlp-WIDTH or cnn-WIDTH, WIDTH >= 1")
    return name, int(width)


def main(n_images: int, repeat: int, models) -> None:
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    ds = Subset(datasets.MNIST(str(_root()), train=True, transform=tf), range(n_images))
    loader = DataLoader(ds, batch_size=128, shuffle=True)
    split = load_mnist(subset=n_images).train
    print(
        f"one epoch of {n_images} images (best of {repeat}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    for name, width in models:
        rates = {"standard": 0.0, "lslib": 0.0}
        for _ in range(
            repeat
        ):  # alternate the two, keep each one's best (shared machines are noisy)
            for pipeline in rates:
                model = build_model(name, width, seed=0)
                opt = make_optimizer("momentum", model.parameters(), 0.01)
                start = time.perf_counter()
                if pipeline == "standard":
                    standard_epoch(usual_order(model), opt, loader)
                else:  # exactly what lslib.train.train does
                    model = model.to(memory_format=fast_layout(model, "cpu"))
                    train_epoch(model, opt, split, 128, torch.Generator().manual_seed(0))
                rates[pipeline] = max(rates[pipeline], n_images / (time.perf_counter() - start))
        print(
            f"{name}-{width}: standard {rates['standard']:9.0f} samples/s | "
            f"lslib {rates['lslib']:9.0f} samples/s | ratio {rates['lslib'] / rates['standard']:.2f}x"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=2, help="epochs per pipeline (best is kept)")
    ap.add_argument(
        "--models",
        nargs="+",
        type=model_arg,
        default=[("mlp", 128), ("cnn", 32), ("cnn", 64)],
        help="models as mlp-WIDTH or cnn-WIDTH (default: mlp-128 cnn-32 cnn-64)",
    )
    a = ap.parse_args()
    main(a.images, a.repeat, a.models)
