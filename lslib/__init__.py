"""lslib: loss-landscape geometry of neural networks, in PyTorch."""

from lslib import codeid

codeid.install()  # first: every lslib module's source is recorded as it is loaded

from lslib.config import TrainConfig  # noqa: E402
from lslib.data import load_mnist  # noqa: E402
from lslib.models import MLP, SimpleCNN, build_model, n_params  # noqa: E402
from lslib.train import TrainResult, train_or_load  # noqa: E402
from lslib.version import __version__ as __version__  # noqa: E402

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
