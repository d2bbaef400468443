"""Parameters as dicts of tensors, flat-vector algebra, and functional evaluation.

Nothing here writes to a model: weights are passed to ``torch.func.functional_call``.
Models are evaluated in eval mode (restored afterwards): BatchNorm, if present, uses
its running statistics, which are held fixed and never perturbed; Dropout is off.
"""

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

Params = dict[str, torch.Tensor]


def params_of(model: nn.Module) -> Params:
    """A detached copy of the model's parameters."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def flatten(p: Params) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in p.values()])


def unflatten(vec: torch.Tensor, like: Params) -> Params:
    out, i = {}, 0
    for k, v in like.items():
        out[k] = vec[i : i + v.numel()].view_as(v)
        i += v.numel()
    if i != vec.numel():
        raise ValueError(f"vector has {vec.numel()} entries, parameters have {i}")
    return out


def combine(origin: Params, dirs: list[Params], coeffs) -> Params:
    """origin + sum_j coeffs[j] * dirs[j], as fresh tensors (the origin is never touched)."""
    out = {}
    for k, v in origin.items():
        t = v.clone()
        for c, d in zip(coeffs, dirs, strict=True):
            if c != 0:
                t.add_(d[k], alpha=float(c))
        out[k] = t
    return out


def check_like(p: Params, model: nn.Module, what: str = "direction") -> None:
    """Raise if ``p`` does not have the model's parameter names and shapes."""
    ref = dict(model.named_parameters())
    if set(p) != set(ref):
        raise ValueError(f"{what} has parameters {sorted(p)}, the model has {sorted(ref)}")
    for k, v in ref.items():
        if tuple(p[k].shape) != tuple(v.shape):
            raise ValueError(f"{what}[{k!r}] has shape {tuple(p[k].shape)}, model {tuple(v.shape)}")


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Eval mode inside the block; the caller's train/eval flags are restored after."""
    flags = [m.training for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, f in zip(model.modules(), flags, strict=True):
            m.training = f


def forward(model: nn.Module, p: Params, x: torch.Tensor) -> torch.Tensor:
    return functional_call(model, p, (x,))


@torch.no_grad()
def evaluate(model: nn.Module, p: Params, x, y, batch_size: int = 2048, loss_fn=F.cross_entropy):
    """Mean loss and accuracy of the model at weights ``p`` on (x, y)."""
    if len(y) == 0:
        raise ValueError("the evaluation set is empty")
    total, correct = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(y), batch_size):
            out = forward(model, p, x[i : i + batch_size])
            yb = y[i : i + batch_size]
            total += float(loss_fn(out, yb, reduction="sum"))
            correct += int((out.argmax(1) == yb).sum())
    return total / len(y), correct / len(y)


def mean_loss(model: nn.Module, p: Params, x, y, batch_size: int = 2048, loss_fn=F.cross_entropy):
    """Differentiable mean loss over (x, y), summed in batches."""
    total = 0.0
    for i in range(0, len(y), batch_size):
        out = forward(model, p, x[i : i + batch_size])
        total = total + loss_fn(out, y[i : i + batch_size], reduction="sum")
    return total / len(y)
