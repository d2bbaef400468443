"""Training: optimizers by name, the stopping rule, per-epoch history, trajectory snapshots.

``train_or_load(config)`` is the entry point: it returns the same ``TrainResult``
whether it trained or read the run store.
"""

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from lslib import cache
from lslib.config import OPTIMIZERS, TrainConfig
from lslib.data import batches, load_mnist
from lslib.models import build_model
from lslib.params import evaluate, params_of


@dataclass(frozen=True)
class TrainResult:
    """A finished run. ``state`` holds the final weights (on the CPU).

    status: 'fixed' (ran the set epochs), 'converged' (stopping rule met),
    'max_epochs' (cap reached first) or 'diverged' (non-finite training loss).
    """

    config: TrainConfig
    state: dict
    history: list
    status: str

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}

    def model(self, device: str = "cpu") -> nn.Module:
        """A fresh model holding the final weights."""
        m = build_model(self.config.model, self.config.width, seed=0)
        m.load_state_dict(self.state)
        return m.to(device)

    def snapshots(self) -> torch.Tensor:
        """The flat weights at initialization and after every epoch: (epochs + 1, n_params),
        from the stored checkpoints (a run trained with ``train`` has none)."""
        rows = [checkpoint(self.config, e)["state"] for e in range(self.epochs + 1)]
        return torch.stack([torch.cat([v.reshape(-1) for v in s.values()]) for s in rows])


def fast_layout(model: nn.Module, device) -> torch.memory_format:
    """channels-last for convolutions on the CPU (measured ~1.7x faster for SimpleCNN there)."""
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return torch.channels_last if has_conv and str(device) == "cpu" else torch.contiguous_format


def as_layout(t: torch.Tensor, layout: torch.memory_format) -> torch.Tensor:
    """``t`` with canonical strides for ``layout`` (4-D tensors only).

    ``Tensor.contiguous(memory_format=channels_last)`` returns a 1-channel tensor as it is
    (it already counts as channels-last), and oneDNN then picks the slow layout for the
    whole network; an explicit copy gives the strides it recognizes.
    """
    if t.dim() != 4 or layout == torch.contiguous_format:
        return t
    return torch.empty_like(t, memory_format=layout).copy_(t)


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    raise ValueError(f"optimizer={name!r} is unknown; allowed: {OPTIMIZERS}")


def converged(val_losses: list[float], patience: int, rel_tol: float) -> bool:
    """The stopping rule: the last ``patience`` epochs did not improve the best earlier
    validation loss by a relative ``rel_tol`` (improve means loss < best * (1 - rel_tol))."""
    if len(val_losses) <= patience:
        return False
    best = min(val_losses[:-patience])
    return min(val_losses[-patience:]) >= best * (1 - rel_tol)


CHECK_EVERY = 50  # steps between divergence checks on a GPU


def train_epoch(model, opt, split, batch_size: int, gen: torch.Generator, on_step=None) -> float:
    """One pass over ``split`` in a seeded random order; returns the mean training loss
    (non-finite as soon as a batch diverges, which ends the epoch)."""
    device = split.x.device
    layout = fast_layout(model, device)
    # The sum stays on the device (float64, the same sums as Python floats): reading it
    # after every step would make the CPU wait for a GPU each time, so a GPU is checked
    # for divergence every CHECK_EVERY steps, the CPU every step.
    every = 1 if device.type == "cpu" else CHECK_EVERY
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=device)
    for step, idx in enumerate(batches(len(split), batch_size, gen), 1):
        idx = idx.to(device)
        x, y = split.x[idx].contiguous(memory_format=layout), split.y[idx]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach().double() * len(y)
        if on_step:
            on_step()
        if step % every == 0 and not math.isfinite(total.item()):
            return math.inf
    total = total.item()
    return total / len(split) if math.isfinite(total) else math.inf


# Fields that say when to stop, not how to train: runs that differ only in these follow one
# trajectory, so a shorter run is a prefix of a longer one and their epochs are shared.
STOP_FIELDS = ("epochs", "max_epochs", "patience", "rel_tol")


def path_of(config: TrainConfig) -> dict:
    """The fields that determine the trajectory (every field but the stopping ones)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in STOP_FIELDS}


def train_or_load(config: TrainConfig, progress: bool | None = None) -> TrainResult:
    """The run for ``config``: its epochs come from the run store or are trained now.

    Every epoch is stored as a checkpoint of its trajectory (weights, optimizer and sampler
    state, history), keyed by the config without its stopping fields, so a run of 5 epochs
    is the first 5 epochs of a run of 15, and a run that stops by the rule reuses the
    epochs of any other run on its trajectory. Resuming from a checkpoint is bit-identical
    to training straight through (tests check it).
    """
    c = config
    n_max = c.epochs or c.max_epochs
    bar = tqdm(
        range(1, n_max + 1),
        desc=f"train {c.model}-{c.width} {c.optimizer} seed {c.seed}",
        disable=None if progress is None else not progress,
        leave=False,
    )
    status, ck = ("fixed" if c.epochs else "max_epochs"), None
    for epoch in bar:
        ck = checkpoint(c, epoch)
        history = ck["history"]
        bar.set_postfix(val_loss=f"{history[-1].get('val_loss', math.nan):.4f}")
        if why := stopped(c, history):
            status = why
            break
    return TrainResult(c, ck["state"], ck["history"], status)


def stopped(c: TrainConfig, history: list[dict]) -> str | None:
    """'diverged' or 'converged' when a run with this history stops now, else None."""
    if not math.isfinite(history[-1]["train_loss"]):
        return "diverged"
    if c.epochs is None and converged([h["val_loss"] for h in history], c.patience, c.rel_tol):
        return "converged"
    return None


def checkpoint(config: TrainConfig, epoch: int) -> dict:
    """The trajectory's state after ``epoch`` epochs (0: the initialization), stored.

    A dict with ``state`` (model weights, CPU), ``optim`` (optimizer state), ``rng`` (the
    sampler's generator state) and ``history`` (one row per epoch so far).
    """
    c = config

    def compute():
        if epoch == 0:
            model = build_model(c.model, c.width, seed=c.seed)
            opt = make_optimizer(c.optimizer, model.parameters(), c.learning_rate, c.momentum)
            gen = torch.Generator().manual_seed(c.seed)
            return _pack(model, opt, gen, [])
        prev = checkpoint(c, epoch - 1)
        if prev["history"] and not math.isfinite(prev["history"][-1]["train_loss"]):
            raise ValueError(f"epoch {epoch} of a run that diverged at epoch {epoch - 1}")
        return _advance(c, prev)

    key = {"run": path_of(c), "epoch": epoch}
    if epoch > 1 and getattr(cache._probe, "on", None) is None:
        with cache.probing():  # stored: served as it is
            try:
                return cache.cached("epoch", key, compute)
            except cache.Missing:
                pass
        # A trajectory is bit-exact per thread count: it goes on at the count it started
        # with (recorded with its first epoch), whatever this process uses.
        with _threads(started_with(c)):
            return cache.cached("epoch", key, compute)
    return cache.cached("epoch", key, compute)


def started_with(c: TrainConfig) -> int | None:
    """The torch threads the first epoch of ``c``'s trajectory was trained with (None: not
    stored)."""
    meta = cache.meta("epoch", {"run": path_of(c), "epoch": 1}, __name__)
    return meta.get("threads") if meta else None


@contextlib.contextmanager
def _threads(n: int | None):
    """Inside the block, torch uses ``n`` threads (None: as it is)."""
    before = torch.get_num_threads()
    if isinstance(n, int) and n > 0 and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _pack(model, opt, gen, history) -> dict:
    state = {
        k: v.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
        for k, v in model.state_dict().items()
    }
    optim = opt.state_dict()
    optim["state"] = {
        k: {n: t.detach().cpu().clone() if torch.is_tensor(t) else t for n, t in s.items()}
        for k, s in optim["state"].items()
    }
    return {"state": state, "optim": optim, "rng": gen.get_state(), "history": history}


def _advance(c: TrainConfig, prev: dict) -> dict:
    """One more epoch from a checkpoint: train, evaluate, and pack the next checkpoint."""
    dev = c.device
    data = load_mnist(c.subset, c.eval_subset, device=dev)
    model = build_model(c.model, c.width, seed=0).to(dev)
    model = model.to(memory_format=fast_layout(model, dev))
    model.load_state_dict(prev["state"])
    opt = make_optimizer(c.optimizer, model.parameters(), c.learning_rate, c.momentum)
    opt.load_state_dict(prev["optim"])
    gen = torch.Generator()
    gen.set_state(prev["rng"])
    start = time.perf_counter()
    total = train_epoch(model, opt, data.train, c.batch_size, gen)
    row = {"epoch": len(prev["history"]) + 1, "train_loss": total}
    if math.isfinite(total):
        p = params_of(model)
        row["val_loss"], row["val_acc"] = evaluate(model, p, data.val.x, data.val.y)
        row["test_loss"], row["test_acc"] = evaluate(model, p, data.test.x, data.test.y)
    row["wall_s"] = time.perf_counter() - start
    return _pack(model, opt, gen, prev["history"] + [row])


def train(config: TrainConfig) -> TrainResult:
    """Train one model from scratch, in memory (no run store): the reference that
    ``train_or_load`` must reproduce bit for bit on the CPU."""
    c = config
    model = build_model(c.model, c.width, seed=c.seed)
    opt = make_optimizer(c.optimizer, model.parameters(), c.learning_rate, c.momentum)
    ck = _pack(model, opt, torch.Generator().manual_seed(c.seed), [])
    status = "fixed" if c.epochs else "max_epochs"
    for _ in range(c.epochs or c.max_epochs):
        ck = _advance(c, ck)
        if why := stopped(c, ck["history"]):
            status = why
            break
    return TrainResult(c, ck["state"], ck["history"], status)
