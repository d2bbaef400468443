"""One training epoch of MLP-128 and SimpleCNN-32: lslib's pipeline vs the standard one.

The standard pipeline is pytorch/examples' mnist: torchvision.datasets.MNIST with
ToTensor + Normalize, DataLoader(batch_size=128, shuffle=True). Same model, same
optimizer (SGD lr 0.01, momentum 0.9), same number of images (50,000), same process.
Prints samples/s for each and the ratio per model.

Usage: python benchmarks/train_throughput.py [--images N]
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


def main(n_images: int, repeat: int) -> None:
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    ds = Subset(datasets.MNIST(str(_root()), train=True, transform=tf), range(n_images))
    loader = DataLoader(ds, batch_size=128, shuffle=True)
    split = load_mnist(subset=n_images).train
    print(
        f"one epoch of {n_images} images (best of {repeat}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    for name, width in (("mlp", 128), ("cnn", 32)):
        rates = {"standard": 0.0, "lslib": 0.0}
        for _ in range(
            repeat
        ):  # alternate the two, keep each one's best (shared machines are noisy)
            for pipeline in rates:
                model = build_model(name, width, seed=0)
                opt = make_optimizer("momentum", model.parameters(), 0.01)
                start = time.perf_counter()
                if pipeline == "standard":
                    standard_epoch(model, opt, loader)
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
    a = ap.parse_args()
    main(a.images, a.repeat)
