"""Several seeds of one training run side by side, as one stacked model.

``train_stacked(config, seeds)`` trains ``len(seeds)`` members at once and returns the
``TrainResult`` that ``lslib.train.train`` gives for each seed, to float32 rounding: each
member is built as ``train`` builds it (so its initial weights are bitwise those of its
seed), draws its own batches from its own generator as ``train_epoch`` does (so its data
order is bitwise the same), and is updated by the same ``torch.optim`` optimizer, which
runs over the stacked tensors: SGD, momentum and Adam (no weight decay, no amsgrad) are
element-wise, so one optimizer over the stack is each member's optimizer (Adam's step count
is shared, and equal, because every member steps together).

The members' parameters are stacked (``torch.func.stack_module_state``) and the forward and
backward passes run once for the whole stack (``stacked_forward``): every convolution as one
grouped convolution (``groups`` = members) on (batch, members * channels, H, W) in the
layout ``fast_layout`` picks, every Linear layer as one batched product. These may add a
member's terms in another order than the member's own call, hence float32 rounding rather
than bits. ``engine='vmap'`` runs ``torch.func.vmap`` over ``functional_call`` instead: the
same arithmetic for an MLP, but its convolution rule loses the channels-last layout and is
slower still for SimpleCNN.

Where it pays (benchmarks/stacked_training.py, benchmarks/README.md): on a 2-core CPU, an
MLP, whose steps are short enough that per-call overhead counts; not SimpleCNN, whose time
is in convolutions, and oneDNN's grouped convolution backward is slower than the members'
own convolutions one after another.
"""

import dataclasses
import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from lslib.config import OPTIMIZERS, TrainConfig
from lslib.data import batches, load_mnist
from lslib.models import build_model
from lslib.params import evaluate
from lslib.train import CHECK_EVERY, TrainResult, as_layout, fast_layout, make_optimizer, stopped

ENGINES = ("grouped", "vmap")
LAYERS = (nn.Conv2d, nn.MaxPool2d, nn.ReLU, nn.Flatten, nn.Linear)  # what stacked_forward runs


def stacked_forward(model: nn.Sequential, params: dict, x: torch.Tensor, layout) -> torch.Tensor:
    """Every member's logits at once: (members, batch, classes).

    Args:
        model: an ``nn.Sequential`` of ``LAYERS`` (lslib's MLP and SimpleCNN); its own
            weights are not used.
        params: {name: (members, *shape)}, the stacked weights of ``model``.
        x: (members, batch, ...) inputs, each member's own.
        layout: the memory format of the convolutions' inputs (``fast_layout``).
    """
    k, b = x.shape[:2]
    h = x
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Conv2d):
            if h.dim() == 5:  # (k, b, c, H, W) -> (b, k * c, H, W): member-major channels
                h = as_layout(h.transpose(0, 1).reshape(b, -1, *h.shape[3:]), layout)
            w = params[f"{i}.weight"]
            w = as_layout(w.reshape(-1, *w.shape[2:]), layout)
            bias = params[f"{i}.bias"].reshape(-1)
            h = F.conv2d(h, w, bias, layer.stride, layer.padding, layer.dilation, groups=k)
        elif isinstance(layer, nn.Flatten):
            h = h.reshape(b, k, -1).transpose(0, 1) if h.dim() == 4 else h.flatten(2)
        elif isinstance(layer, nn.Linear):
            w, bias = params[f"{i}.weight"], params[f"{i}.bias"]
            h = torch.baddbmm(bias.unsqueeze(1), h, w.transpose(1, 2))
        else:  # max-pool, ReLU: per channel, so the whole stack at once
            h = layer(h)
    return h


def check_model(model: nn.Module) -> None:
    """A ValueError unless ``stacked_forward`` runs ``model``."""
    ok = isinstance(model, nn.Sequential) and all(
        isinstance(m, LAYERS)
        and (not isinstance(m, nn.Conv2d) or (m.groups == 1 and m.bias is not None))
        and (not isinstance(m, nn.Linear) or m.bias is not None)
        and (not isinstance(m, nn.Flatten) or (m.start_dim, m.end_dim) == (1, -1))
        for m in model
    )
    if not ok:
        allowed = ", ".join(t.__name__ for t in LAYERS)
        raise ValueError(f"stacked_forward runs an nn.Sequential of {allowed} only")


def check_seeds(config: TrainConfig, seeds) -> list[int]:
    """``seeds`` as a list of distinct ints, or a ValueError before any compute."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={config.optimizer!r} is unknown; allowed: {OPTIMIZERS}")
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence):
        raise ValueError(f"seeds must be a list of ints, got {type(seeds).__name__}")
    bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool)]
    if bad:
        raise ValueError(f"seeds must be ints; got {bad}")
    if not seeds:
        raise ValueError("seeds is empty; allowed: one or more distinct ints")
    dup = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if dup:
        raise ValueError(f"seeds {dup} repeat; allowed: distinct ints (a repeat is the same run)")
    return list(seeds)


def stacked_init(config: TrainConfig, seeds: Sequence[int]) -> dict[str, torch.Tensor]:
    """Each seed's initial weights, built as ``lslib.train.train`` builds them, stacked:
    {name: (len(seeds), *shape)} leaf tensors on ``config.device``, requiring gradients."""
    seeds = check_seeds(config, seeds)
    members = [build_model(config.model, config.width, seed=s) for s in seeds]
    stacked = stack_module_state(members)[0]
    return {k: v.detach().to(config.device).requires_grad_() for k, v in stacked.items()}


def train_stacked(
    config: TrainConfig, seeds: Sequence[int], engine: str = "grouped"
) -> list[TrainResult]:
    """Train ``config`` for each seed in ``seeds`` side by side; one ``TrainResult`` per seed.

    Args:
        config: the run; its ``seed`` is ignored (each member's is ``seeds[i]``).
        seeds: distinct ints.
        engine: 'grouped' (``stacked_forward``) or 'vmap' (``torch.func.vmap``).

    Returns:
        ``[TrainResult(replace(config, seed=s), ...) for s in seeds]``: final weights (CPU),
        history and status as ``lslib.train.train`` gives them, to float32 rounding. Each
        history row has the same fields; its ``wall_s`` is the stacked epoch's time (every
        member's training and evaluation together).

    With ``config.epochs=None`` each member stops by ``lslib.train.stopped`` (the
    ``converged`` rule, or divergence) on its own: it leaves the stack at the end of that
    epoch with its weights as they are. What that costs: the stack narrows, so the later
    epochs batch fewer members (less of the speed-up) and the whole call lasts as long as
    its slowest member. A member that diverges mid-epoch keeps its weights from the step at
    which ``train_epoch`` would have stopped, but is still computed (its results unused)
    until the end of that epoch.
    """
    seeds = check_seeds(config, seeds)
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is unknown; allowed: {ENGINES}")
    c, dev = config, config.device
    base = build_model(c.model, c.width, seed=0).to(dev)
    check_model(base)
    layout = fast_layout(base, dev)
    base = base.to(memory_format=layout)
    data = load_mnist(c.subset, c.eval_subset, device=dev)
    params = stacked_init(c, seeds)
    opt = make_optimizer(c.optimizer, params.values(), c.learning_rate, c.momentum)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    live = list(range(len(seeds)))  # the members (indices into seeds) still in the stack
    histories = [[] for _ in seeds]
    states, status = [None] * len(seeds), ["fixed" if c.epochs else "max_epochs"] * len(seeds)

    def step_all(p, x, y):  # each member's mean loss on its own batch: (members,)
        if engine == "vmap":
            return vmap(lambda q, a, b: F.cross_entropy(functional_call(base, q, (a,)), b))(p, x, y)
        out = stacked_forward(base, p, x, layout)
        return torch.stack([F.cross_entropy(o, t) for o, t in zip(out, y, strict=True)])

    for epoch in range(1, (c.epochs or c.max_epochs) + 1):
        start = time.perf_counter()
        totals, held = _epoch(
            step_all, params, opt, data.train, c.batch_size, [gens[i] for i in live]
        )
        for j, i in enumerate(live):
            row = {"epoch": epoch, "train_loss": totals[j]}
            if math.isfinite(totals[j]):
                p = {k: as_layout(v[j].detach(), layout) for k, v in params.items()}
                row["val_loss"], row["val_acc"] = evaluate(base, p, data.val.x, data.val.y)
                row["test_loss"], row["test_acc"] = evaluate(base, p, data.test.x, data.test.y)
            histories[i].append(row)
        wall = time.perf_counter() - start
        keep = []
        for j, i in enumerate(live):
            histories[i][-1]["wall_s"] = wall
            why = stopped(dataclasses.replace(c, seed=seeds[i]), histories[i])
            if why or epoch == (c.epochs or c.max_epochs):
                states[i] = held.get(j) or _state_of(params, j)
                status[i] = why or status[i]
            else:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(live):
            params, opt = _narrow(params, opt, keep, c)
            live = [live[j] for j in keep]
    return [
        TrainResult(dataclasses.replace(c, seed=s), states[i], histories[i], status[i])
        for i, s in enumerate(seeds)
    ]


def _epoch(step_all, params, opt, split, batch_size: int, gens) -> tuple[list[float], dict]:
    """One pass over ``split`` for every member, each in its own seeded order, as
    ``lslib.train.train_epoch`` makes it: (mean training loss per member, non-finite for one
    that diverged; {member: its weights at the step its divergence was seen})."""
    device = split.x.device
    every = 1 if device.type == "cpu" else CHECK_EVERY
    orders = [batches(len(split), batch_size, g) for g in gens]
    totals = torch.zeros(len(gens), dtype=torch.float64, device=device)
    held = {}
    for step, idx in enumerate(zip(*orders, strict=True), 1):
        idx = torch.stack(idx).to(device)  # (members, batch)
        x, y = split.x[idx], split.y[idx]
        losses = step_all(params, x, y)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # members are independent: each gets its own loss's gradient
        opt.step()
        totals += losses.detach().double() * y.shape[1]
        if step % every == 0 and not torch.isfinite(totals).all():
            for j in torch.nonzero(~torch.isfinite(totals)).flatten().tolist():
                if j not in held:  # train_epoch ends this member's epoch here
                    held[j] = _state_of(params, j)
            if len(held) == len(gens):
                break
    means = [t / len(split) if math.isfinite(t) else math.inf for t in totals.tolist()]
    return [math.inf if j in held else m for j, m in enumerate(means)], held


def _state_of(params: dict, j: int) -> dict:
    """Member ``j``'s weights as ``train`` stores them: contiguous CPU copies."""
    return {
        k: v[j].detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
        for k, v in params.items()
    }


def _narrow(params: dict, opt, keep: list[int], c: TrainConfig):
    """The stack and its optimizer state with only the members ``keep``."""
    rows = torch.tensor(keep, device=next(iter(params.values())).device)
    new = {k: v.detach()[rows].clone().requires_grad_() for k, v in params.items()}
    new_opt = make_optimizer(c.optimizer, new.values(), c.learning_rate, c.momentum)
    for old, p in zip(params.values(), new.values(), strict=True):
        new_opt.state[p] = {
            n: (t[rows] if t.dim() > 0 else t).clone() if torch.is_tensor(t) else t
            for n, t in opt.state[old].items()
        }
    return new, new_opt
