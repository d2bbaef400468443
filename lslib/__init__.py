"""lslib: loss-landscape geometry of neural networks, in PyTorch."""

__version__ = "0.1.0"

from lslib.config import TrainConfig
from lslib.data import load_mnist
from lslib.models import MLP, SimpleCNN, build_model, n_params
from lslib.train import TrainResult, train_or_load

__all__ = [
    "MLP",
    "SimpleCNN",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_mnist",
    "n_params",
    "train_or_load",
]
