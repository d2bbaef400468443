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


def check_data(x, y, model: nn.Module | None = None, labels: bool = True) -> None:
    """Raise a ValueError, before any compute, if (x, y) is not an evaluation set.

    x: a floating-point tensor (n, ...) of finite values; y: n class labels, an integer
    tensor (n,) within [0, classes) when the model's output size is known (an
    ``nn.Sequential`` ending in a Linear layer). ``labels=False`` (a loss other than
    cross-entropy) only checks that y has n rows.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"x must be a floating-point tensor, got {got}; convert images with "
            "x.float() and normalize them (lslib.data: (x / 255 - 0.1307) / 0.3081)"
        )
    if not isinstance(y, torch.Tensor) or y.dim() < 1:
        raise ValueError(f"y must be a tensor of n labels, got {type(y).__name__}")
    if len(x) < 1 or len(y) != len(x):
        raise ValueError(f"evaluation set is empty or mismatched: {len(x)} inputs, {len(y)} labels")
    # A finite sum means every input is finite (NaN and inf propagate); only a sum that
    # overflowed or met a bad value needs the element-wise check (30x slower on MNIST).
    if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf values; allowed: finite inputs")
    if not labels:
        return
    if y.dtype in (torch.bool, torch.uint8) or y.is_floating_point() or y.is_complex():
        raise ValueError(
            f"y has dtype {y.dtype}; allowed: integer class labels (torch.long), shape (n,)"
        )
    if y.dim() != 1:
        raise ValueError(f"y has shape {tuple(y.shape)}; allowed: integer class labels, shape (n,)")
    classes = _classes(model)
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or (classes is not None and hi >= classes):
        allowed = f"[0, {classes})" if classes is not None else ">= 0"
        raise ValueError(f"y has labels in [{lo}, {hi}]; allowed: {allowed} (the model's classes)")


def _classes(model: nn.Module | None) -> int | None:
    """The output size of an nn.Sequential whose last layer with weights is a Linear, or None."""
    if not isinstance(model, nn.Sequential):
        return None
    for m in reversed(model):
        if any(True for _ in m.parameters()):
            return m.out_features if isinstance(m, nn.Linear) else None
    return None


def check_params(p: Params, what: str = "model") -> None:
    """Raise a ValueError if there are no parameters (a direction or Hessian needs some)."""
    if not p or sum(v.numel() for v in p.values()) == 0:
        raise ValueError(f"the {what} has no parameters; allowed: a model with parameters")


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


# Images a convolutional model's inference forward takes at once on the CPU: its feature
# maps then stay in the caches. A SimpleCNN's logits for 2,048 images measured 2-3x faster
# in slices of 128 (SimpleCNN-32: 0.35 -> 0.14 s; -64: 0.79 -> 0.36 s). The logits are those
# of one call to float32 rounding; bit for bit where the machine's matrix kernels do not
# depend on how many rows share a call (an AVX2 AMD EPYC: yes; an AVX-512 Xeon: a Linear
# layer's last bit can move). The slices are fixed, so results stay deterministic per machine
# and thread count (tests check both).
INFER_IMAGES = 128


def infer(model: nn.Module, p: Params, x: torch.Tensor) -> torch.Tensor:
    """``forward`` without a graph, sooner: for convolutional models on the CPU in slices of
    ``INFER_IMAGES`` images, and an ``nn.Sequential``'s 2x2 max-pools (with the ReLU after
    them) as strided maxima, bit for bit those of ``max_pool2d``; other models in one call."""
    if x.device.type != "cpu" or not _has_conv(model):
        return functional_call(model, p, (x,))
    layers = _layers(model, p)

    def call(xb):
        return functional_call(model, p, (xb,)) if layers is None else _run_layers(layers, xb)

    with torch.no_grad():
        if len(x) <= INFER_IMAGES:
            return call(x)
        return torch.cat([call(x[i : i + INFER_IMAGES]) for i in range(0, len(x), INFER_IMAGES)])


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


def _layers(model: nn.Module, p: Params):
    """An ``nn.Sequential``'s layers as (module, its weights from ``p``, op), where op is
    "pool" for a 2x2 max-pool (stride 2, no padding) and "pool_relu" for one followed by a
    ReLU; None for any other model (it then runs through ``functional_call``)."""
    if not isinstance(model, nn.Sequential) or model.forward.__func__ is not nn.Sequential.forward:
        return None
    mods, out, i = list(model.named_children()), [], 0
    while i < len(mods):
        name, m = mods[i]
        if _is_pool2(m):
            fused = i + 1 < len(mods) and type(mods[i + 1][1]) is nn.ReLU
            out.append((m, None, "pool_relu" if fused else "pool"))
            i += 2 if fused else 1
            continue
        sub = {k[len(name) + 1 :]: v for k, v in p.items() if k.startswith(name + ".")}
        out.append((m, sub, "call"))
        i += 1
    return out


def _is_pool2(m: nn.Module) -> bool:
    return (
        type(m) is nn.MaxPool2d
        and m.kernel_size in (2, (2, 2))
        and m.stride in (2, (2, 2))
        and m.padding in (0, (0, 0))
        and m.dilation in (1, (1, 1))
        and not m.ceil_mode
        and not m.return_indices
    )


def _run_layers(layers, x: torch.Tensor) -> torch.Tensor:
    for m, sub, op in layers:
        if op == "call":
            x = functional_call(m, sub, (x,)) if sub else m(x)
            continue
        # max_pool2d's 2x2 window as the maximum of its four strided corners: the same
        # values bit for bit (the maximum of the same four numbers, NaN kept), ~2-3x faster
        # on the CPU; a following ReLU in place on the pooled quarter of the values.
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        x = torch.maximum(
            torch.maximum(x[..., 0:h:2, 0:w:2], x[..., 0:h:2, 1:w:2]),
            torch.maximum(x[..., 1:h:2, 0:w:2], x[..., 1:h:2, 1:w:2]),
        )
        if op == "pool_relu":
            x = x.clamp_min_(0)
    return x


@torch.no_grad()
def evaluate(model: nn.Module, p: Params, x, y, batch_size: int = 2048, loss_fn=F.cross_entropy):
    """Mean loss and accuracy of the model at weights ``p`` on (x, y)."""
    if len(y) == 0:
        raise ValueError("the evaluation set is empty")
    total, correct = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(y), batch_size):
            out = infer(model, p, x[i : i + batch_size])
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
