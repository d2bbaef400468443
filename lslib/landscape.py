"""The evaluation engine: loss and accuracy at theta0 + sum_j c_j d_j for many points.

Lines, planes, interpolation paths, Bezier curves and PCA directions are all affine
combinations of a few fixed vectors, so one engine serves them all. Every point is
built directly from theta0 and the directions (no in-place stepping, so no drift), the
model is evaluated in eval mode through ``functional_call`` (``lslib.params.infer``:
it is never modified or deep-copied), and non-finite losses are kept as NaN and counted.

Speed: when the model is an MLP-like ``nn.Sequential`` (parameter-free modules, a first
Linear layer with a large fan-in, then Linear layers and elementwise activations), the
first layer's pre-activation is linear in its weights, so it is computed once for theta0
and once per direction and combined per point (exact up to float rounding); the rest runs
for a group of points at once with batched matrix products in a features-major layout.
When that rest is one ReLU and a Linear with 10 outputs (float32, CPU), the optional
compiled kernel in ``lslib.fused`` forms, rectifies and contracts the activations in
registers instead of three passes over memory, where it measures faster on the machine
(``lslib.fused.faster``); the kernel also does the cross-entropy's max, target and shift
in registers. For MLP-128 on a 21 x 21 plane of 1,000 images this is ~20x faster than one
forward pass per point (~10x without the kernel; an AVX-512 Xeon, 2 threads). Other
models (SimpleCNN: its first conv has a fan-in of 9, so precomputing it would cost more
memory traffic than it saves) get one functional forward per point, in channels-last
layout on the CPU, which measures at the cost of plain forward passes.
"""

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from lslib import directions as D
from lslib import fused
from lslib.models import build_model
from lslib.params import Params, check_data, check_like, eval_mode, infer, params_of
from lslib.train import as_layout, fast_layout

# Use the precomputed first layer when its fan-in exceeds this many multiply-adds per
# direction and output element (the cost of combining the precomputed outputs).
FAN_IN_PER_DIRECTION = 16
# Points whose first-layer activations are processed at once: small enough to stay in cache.
GROUP_FLOATS = 2**21
# Logits (points x classes x images) gathered before the loss is taken over all of them at once.
LOGIT_FLOATS = 2**23
LOG2E = 1.4426950408889634  # log2(e)


@dataclass(frozen=True)
class Evaluation:
    """Loss and accuracy at P points; ``coords`` (P, k) are the coefficients on the directions."""

    coords: np.ndarray
    loss: np.ndarray
    acc: np.ndarray

    @property
    def nonfinite(self) -> int:
        """How many points had a non-finite loss (stored as NaN)."""
        return int(np.isnan(self.loss).sum())


@dataclass(frozen=True)
class Plane:
    """Loss on a grid: ``loss[j, i]`` is at (xs[i], ys[j]), i.e. shape (ny, nx) as matplotlib expects."""

    xs: np.ndarray
    ys: np.ndarray
    loss: np.ndarray
    acc: np.ndarray

    @property
    def nonfinite(self) -> int:
        return int(np.isnan(self.loss).sum())


# Modules that act elementwise (in eval mode), so they commute with any memory layout.
ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.Identity,
    nn.Dropout,
)


def _split_first_layer(model: nn.Module, k: int):
    """(prefix, layer, tail, layer_name) if the first-layer shortcut applies, else None.

    It applies to an nn.Sequential whose first parametric layer is a Linear or Conv2d with
    fan-in >= FAN_IN_PER_DIRECTION * k, preceded only by parameter-free modules and
    followed by a Flatten-free stack of Linear layers and elementwise activations (an MLP).
    """
    if not isinstance(model, nn.Sequential):
        return None
    for i, m in enumerate(model):
        if any(True for _ in m.parameters()):
            if not isinstance(m, nn.Linear) or m.weight.shape[1] < FAN_IN_PER_DIRECTION * max(k, 1):
                return None
            tail = model[i + 1 :]
            if not all(isinstance(t, (nn.Linear, *ELEMENTWISE)) for t in tail):
                return None
            return model[:i], m, tail, list(model._modules)[i]
    return None


def _check_points(model, origin, dirs, coords, x, y, loss_fn=F.cross_entropy):
    check_data(x, y, model, labels=loss_fn is F.cross_entropy)
    for i, d in enumerate(dirs):
        check_like(d, model, f"direction {i}")
    check_like(origin, model, "origin")
    coords = np.asarray(coords, dtype=np.float64).reshape(len(coords), -1)
    if coords.shape[1] != len(dirs):
        raise ValueError(f"coords have {coords.shape[1]} columns for {len(dirs)} directions")
    return coords


@torch.inference_mode()
def evaluate_points(
    model: nn.Module,
    dirs: list[Params],
    coords,
    x: torch.Tensor,
    y: torch.Tensor,
    origin: Params | None = None,
    chunk: int = 1000,
    progress: bool | None = None,
    loss_fn=F.cross_entropy,
) -> Evaluation:
    """Loss and accuracy at origin + sum_j coords[p, j] * dirs[j] for every row p.

    Args:
        model: the architecture (and, if ``origin`` is None, the weights theta0).
        dirs: k directions shaped like the model's parameters.
        coords: (P, k) coefficients.
        x, y: the evaluation set.
        chunk: images evaluated at once (bounds memory).
    Returns:
        Evaluation with loss (P,) and acc (P,); non-finite losses are NaN.
    """
    origin = params_of(model) if origin is None else origin
    coords = _check_points(model, origin, dirs, coords, x, y, loss_fn)
    dev = x.device
    layout = fast_layout(model, dev)
    to = lambda t: as_layout(t, layout)
    origin = {k: to(v.to(dev)) for k, v in origin.items()}
    dirs = [{k: to(v.to(dev)) for k, v in d.items()} for d in dirs]
    split = _split_first_layer(model, len(dirs))
    loss_sum = np.zeros(len(coords))
    correct = np.zeros(len(coords))
    bar = tqdm(
        total=len(coords) * -(-len(y) // chunk),
        desc="landscape",
        disable=None if progress is None else not progress,
    )
    with eval_mode(model):
        for s in range(0, len(y), chunk):
            xb, yb = to(x[s : s + chunk]), y[s : s + chunk]
            for i, part, hit in _losses(model, split, origin, dirs, coords, xb, yb, loss_fn):
                loss_sum[i : i + len(part)] += part.double().cpu().numpy()
                correct[i : i + len(part)] += hit
                bar.update(len(part))
    bar.close()
    loss = loss_sum / len(y)
    loss[~np.isfinite(loss)] = np.nan
    return Evaluation(coords, loss, correct / len(y))


def _losses(model, split, origin, dirs, coords, xb, yb, loss_fn, fuse=None):
    """Yield (first point's index, summed losses (G,), correct counts (G,)) over all points."""
    ce = yb if loss_fn is F.cross_entropy else None
    for i, out, dim in _logits(model, split, origin, dirs, coords, xb, fuse, ce):
        yield i, *_loss_and_hits(out, dim, yb, loss_fn)


def _loss_and_hits(out, dim, y, loss_fn):
    """Summed loss (G,) and correct counts (G,) per point; logits' class axis is ``dim``.

    Cross-entropy is computed as logsumexp - target logit along ``dim`` (several times
    faster than F.cross_entropy on a strided layout); a point counts as correct when the
    target's logit is the maximum. Other losses get (G * n, classes) and their own
    reduction; accuracy is NaN unless the output has a class axis. ``out`` may also be the
    fused kernel's (shifted, top, target): the same steps, done in the kernel.
    """
    fused_ce = isinstance(out, tuple)  # lslib.fused.relu_contract_ce: class dim 1
    if fused_ce:
        shifted, top, target = out
    elif out.dim() != 3:  # regression-style output: (G, n)
        flat = loss_fn(out.flatten(0, 1), y.repeat(len(out)), reduction="none")
        return flat.view(len(out), -1).sum(1), np.full(len(out), np.nan)
    else:
        top = out.amax(dim, keepdim=True)
        shape = (len(out), 1, -1) if dim == 1 else (len(out), -1, 1)
        target = out.gather(dim, y.view((1, 1, -1) if dim == 1 else (1, -1, 1)).expand(shape))
    hits = (target >= top).flatten(1).sum(1).cpu().numpy()
    if not fused_ce and loss_fn is not F.cross_entropy:
        logits = out.transpose(1, 2) if dim == 1 else out
        flat = loss_fn(logits.flatten(0, 1), y.repeat(len(out)), reduction="none")
        return flat.view(len(out), -1).sum(1), hits
    if not fused_ce:  # ``out`` is overwritten: the engine hands over fresh logits.
        # exp(t) as exp2(t log2 e): ATen's vectorized exp2 measures ~4x faster than its exp.
        shifted = out.sub_(top).mul_(LOG2E)
    lse = shifted.exp2_().sum(dim, keepdim=True).log_().add_(top)
    return (lse - target).flatten(1).sum(1), hits


def _point(origin, dirs, c, keys):
    out = {}
    for k in keys:
        t = origin[k].clone()
        for cj, d in zip(c, dirs, strict=True):
            if cj != 0:
                t.add_(d[k], alpha=float(cj))
        out[k] = t
    return out


def _logits(model, split, origin, dirs, coords, xb, fuse=None, ce=None):
    """Yield (first point's index, logits, class dim) for the batch ``xb``, over all points.

    Logits are (G, n, classes) (class dim 2) or features-major (G, classes, n) (class dim 1).
    ``fuse``: use ``lslib.fused`` where it applies (True), never (False), or where it is
    measured faster on this machine (None). ``ce``: the batch's labels, where the loss is
    cross-entropy; the fused kernel then yields its (shifted, top, target) instead of logits
    (see ``_loss_and_hits``).
    """
    if split is None:  # generic path: one functional forward per point
        for i, c in enumerate(coords):
            yield i, infer(model, _point(origin, dirs, c, origin.keys()), xb)[None], 2
        return
    prefix, layer, tail, name = split
    h = prefix(xb)
    n, k, width = h.shape[0], len(dirs), layer.out_features
    # Features-major layout (features, n): the batched products below are then (out, in) @
    # (in, n), which oneDNN/MKL run ~4x faster than (n, in) @ (in, out) for few outputs.
    # The first layer for theta0 and all directions is one product ((k+1)*width, in) @ (in, n).
    w0, wd, b0, bd, _ = _stack(origin, dirs, layer, f"{name}.")
    z = torch.mm(torch.cat([w0, wd]).view((k + 1) * width, -1), h.T)
    if b0 is not None:
        z.add_(torch.cat([b0, bd]).view(-1, 1))
    z = z.view(k + 1, -1)  # row 0: theta0's pre-activations; row j: direction j's
    basis = [(m, _stack(origin, dirs, m, f"{i}.")) for i, m in tail.named_children()]
    group = max(1, min(len(coords), int(GROUP_FLOATS // z.shape[1])))
    classes = _out_features(tail, width)
    block = group * max(1, int(LOGIT_FLOATS // (group * n * classes)))
    use_fused = _fusable(basis, classes, z) and (fused.faster(_calibrate) if fuse is None else fuse)
    # One reused buffer for a group's first-layer activations: fresh multi-MB allocations
    # cost page faults that measure as much as the arithmetic.
    buf = None if use_fused else z.new_empty(group, z.shape[1])
    for s in range(0, len(coords), block):
        c = torch.as_tensor(coords[s : s + block], dtype=z.dtype, device=z.device)
        # The tail's per-point weights and biases, for the whole block in one product each.
        layers = [(m, None if b is None else _at(b, c)) for m, b in basis]
        ones_c = torch.cat([torch.ones_like(c[:, :1]), c], 1)  # (P, 1 + k): [1, c]
        if use_fused:  # ReLU then Linear: one fused pass (lslib.fused)
            w, bias = layers[1][1]
            zk = z.view(k + 1, width, n)
            if ce is None:
                yield s, fused.relu_contract(zk, ones_c, w, bias), 1
            else:
                yield s, fused.relu_contract_ce(zk, ones_c, w, bias, ce, LOG2E), 1
            continue
        logits = z.new_empty(len(c), classes, n)
        for g in range(0, len(c), group):
            sl = slice(g, g + group)
            # [1, c] @ [z0; z_1..z_k] = z0 + sum_j c_j z_j, written once (no broadcast copy).
            a = torch.mm(ones_c[sl], z, out=buf[: len(ones_c[sl])]).view(-1, width, n)
            for i, (m, wb) in enumerate(layers):
                last = i == len(layers) - 1
                if wb is None:
                    a = a.relu_() if isinstance(m, nn.ReLU) else m(a)  # elementwise
                    if last:
                        logits[sl] = a
                elif last:  # straight into the block's logits; the bias is added below
                    torch.bmm(wb[0][sl], a, out=logits[sl])
                else:
                    w, bias = wb[0][sl], wb[1]
                    a = torch.bmm(w, a) if bias is None else torch.baddbmm(bias[sl], w, a)
            if not layers:
                logits[sl] = a
        if layers and layers[-1][1] is not None and layers[-1][1][1] is not None:
            logits += layers[-1][1][1]  # one broadcast add beats a bias copy per group
        yield s, logits, 1


def _fusable(basis, classes, z) -> bool:
    """Whether the tail is ReLU then one Linear that lslib.fused handles (float32 on the CPU)."""
    return (
        len(basis) == 2
        and type(basis[0][0]) is nn.ReLU
        and basis[1][1] is not None
        and classes == fused.CLASSES
        and z.device.type == "cpu"
        and z.dtype == torch.float32
        and fused.available()
    )


def _calibrate(repeat: int = 3):
    """(kernel seconds, PyTorch seconds) for the losses of a 21 x 21 plane of an MLP-128
    (784 inputs, 10 classes) on 1,008 random images: the best of ``repeat`` + 1 runs."""
    g = torch.Generator().manual_seed(0)
    model = build_model("mlp", 128, seed=0)  # seeded apart: the global RNG is not touched
    origin = params_of(model)
    dirs = [{k: torch.randn(v.shape, generator=g) / 10 for k, v in origin.items()} for _ in "xy"]
    coords = np.stack(np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21)), -1)
    coords = coords.reshape(-1, 2)
    xb = torch.rand(1008, 784, generator=g)
    yb = torch.randint(10, (1008,), generator=g)
    split = _split_first_layer(model, 2)
    times = []
    for fuse in (True, False):
        best = math.inf
        with torch.inference_mode():
            for _ in range(repeat + 1):
                start = time.perf_counter()
                for _ in _losses(model, split, origin, dirs, coords, xb, yb, F.cross_entropy, fuse):
                    pass
                best = min(best, time.perf_counter() - start)
        times.append(best)
    return tuple(times)


def _at(stacked, c):
    """A Linear's weights (P, out, in) and biases (P, out, 1) at the points c (P, k)."""
    w0, wd, b0, bd, shape = stacked
    w = torch.addmm(w0, c, wd).view(len(c), *shape)
    return w, None if b0 is None else torch.addmm(b0, c, bd).unsqueeze(2)


def _out_features(tail, width):
    """The width of the tail's output (the number of classes for a classifier)."""
    linears = [m for m in tail if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else width


def _stack(origin, dirs, module, prefix):
    """For a Linear: flattened weight/bias at the origin and stacked over directions."""
    if not isinstance(module, nn.Linear):
        return None
    w0 = origin[prefix + "weight"].reshape(1, -1)
    wd = torch.stack([d[prefix + "weight"].reshape(-1) for d in dirs])
    if module.bias is None:
        return w0, wd, None, None, module.weight.shape
    b0 = origin[prefix + "bias"].reshape(1, -1)
    bd = torch.stack([d[prefix + "bias"] for d in dirs])
    return w0, wd, b0, bd, module.weight.shape


def _grid_axis(steps: int, span, name: str) -> np.ndarray:
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"{name} steps={steps!r} is invalid; allowed: int >= 2")
    lo, hi = (-span, span) if np.isscalar(span) else span
    if not hi > lo:
        raise ValueError(f"{name} range ({lo}, {hi}) is empty or negative; need low < high")
    return np.linspace(lo, hi, steps)


SIDES = ("both", "one")


def line(
    model, direction: Params, x, y, steps: int = 25, span=1.0, sided: str = "both", **kw
) -> Evaluation:
    """Loss along theta0 + a * direction for ``steps`` values of a.

    ``sided="both"``: a on linspace(-span, span) (or span=(lo, hi)); ``sided="one"``: a on
    linspace(0, span), a line that starts at theta0 (a = 0 exactly) and runs one way only.
    """
    if sided not in SIDES:
        raise ValueError(f"sided={sided!r} is unknown; allowed: {SIDES}")
    if sided == "one":
        if not np.isscalar(span):
            raise ValueError(f"span={span!r} is invalid with sided='one'; allowed: a number > 0")
        span = (0.0, span)
    alphas = _grid_axis(steps, span, "line")
    return evaluate_points(model, [direction], alphas[:, None], x, y, **kw)


def plane(
    model, d1: Params, d2: Params, x, y, nx: int = 21, ny: int = 21, xspan=1.0, yspan=1.0, **kw
) -> Plane:
    """Loss on theta0 + a d1 + b d2 over an nx-by-ny grid; ``loss[j, i]`` is at (xs[i], ys[j])."""
    xs, ys = _grid_axis(nx, xspan, "x"), _grid_axis(ny, yspan, "y")
    a, b = np.meshgrid(xs, ys)  # (ny, nx), a varies along axis 1
    ev = evaluate_points(model, [d1, d2], np.stack([a.ravel(), b.ravel()], 1), x, y, **kw)
    return Plane(xs, ys, ev.loss.reshape(ny, nx), ev.acc.reshape(ny, nx))


# The loss-landscapes package (3.0.6), reproduced. Its ``random_line`` and ``random_plane``
# (loss_landscapes/main.py) draw U[0, 1) directions with the global torch RNG, normalize
# them in place, rescale each to one step of norm ||theta|| / distance / steps, and move
# the model in place step by step (in its current train/eval mode; with the default
# deepcopy_model=False the caller's model is left at the last point, with requires_grad
# switched off). Here every point is built from theta0 directly, in eval mode, and the
# model is untouched; for models without dropout or BatchNorm the losses are the same.
LL_NORMS = ("filter", "layer", "model", None)


def _norm(p: Params) -> float:
    """The package's ``model_norm``: per-tensor sums of squares added in Python floats."""
    return math.sqrt(sum(float(v.pow(2).sum()) for v in p.values()))


def _ll_normalize(d: Params, ref: Params, normalization) -> Params:
    """The package's ``filter_normalize_`` / ``layer_normalize_`` / ``model_normalize_``.

    filter: each row of a weight (a Linear row, a Conv output channel) gets the norm of the
    same row of ``ref``, and each bias entry gets |ref_i| (the package rescales a 1-D
    tensor as a whole, then entry by entry); layer: each tensor gets its tensor's norm;
    model: the package multiplies tensor k by ||ref|| / ||d|| with ||d|| recomputed after
    tensors 1..k-1 were rescaled, so tensors are not all scaled alike (kept as it is).
    """
    if normalization == "filter":
        return D.normalize(d, ref, "filter", "filter")
    if normalization == "layer":
        return D.normalize(d, ref, "layer", "filter")
    out = {k: v.clone() for k, v in d.items()}
    if normalization == "model":
        for k in out:
            out[k] = out[k] * (_norm(ref) / _norm(out))
    return out


def _ll_steps(p: Params, seed: int, normalization, distance, steps: int, n: int):
    """The package's ``n`` directions (normalized) and their one-step scales."""
    if normalization not in LL_NORMS:
        raise ValueError(f"normalization={normalization!r} is unknown; allowed: {LL_NORMS}")
    if not distance > 0 or not np.isfinite(distance):
        raise ValueError(f"distance={distance!r} is invalid; allowed: finite > 0")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps={steps!r} is invalid; allowed: int >= 1")
    # rand_u_like: one torch.rand per tensor, in the first tensor's dtype, on the CPU.
    g = torch.Generator().manual_seed(seed)
    dtype = next(iter(p.values())).dtype
    draw = lambda: {k: torch.rand(v.shape, generator=g, dtype=dtype).to(v) for k, v in p.items()}
    raw = [draw()]
    if n == 2:  # orthogonal_to: a second draw minus its projection on the first
        u1, u2 = raw[0], draw()
        c = sum(float((u2[k] * u1[k]).sum()) for k in p) / _norm(u1) ** 2
        raw.append({k: u2[k] - c * u1[k] for k in p})
    dirs = [_ll_normalize(d, p, normalization) for d in raw]
    return dirs, [_norm(p) / distance / steps / _norm(d) for d in dirs]


def loss_landscapes_line(
    model, x, y, distance: float, steps: int, seed: int, normalization="filter", **kw
) -> Evaluation:
    """``loss_landscapes.random_line(model, Loss(cross_entropy, x, y), distance, steps,
    normalization)`` after ``torch.manual_seed(seed)``, by this engine.

    The package evaluates theta0 + i * s * d for i = 1..steps (it steps before evaluating, so
    theta0 itself is not on the line), with d its normalized U[0, 1) direction and s set so
    that one step has norm ||theta0|| / distance / steps: the line ends at distance
    ||theta0|| / ``distance`` from theta0, inversely to what the argument's name says. With
    filter normalization ||d|| = ||theta0|| (biases included), so a_i = i / (distance * steps).

    Returns:
        Evaluation whose coords (steps, 1) are the coefficients a_i on the normalized d
        (comparable to the ``a`` of ``line`` with a filter-normalized direction).
    """
    check_data(x, y, model)
    p = params_of(model)
    (d,), (s,) = _ll_steps(p, seed, normalization, distance, steps, 1)
    alphas = s * np.arange(1, steps + 1)
    return evaluate_points(model, [d], alphas[:, None], x, y, origin=p, **kw)


def loss_landscapes_plane(
    model,
    x,
    y,
    distance: float,
    steps: int,
    seed: int,
    normalization="filter",
    staggered: bool = True,
    **kw,
) -> Plane:
    """``loss_landscapes.random_plane(model, Loss(cross_entropy, x, y), distance, steps,
    normalization)`` after ``torch.manual_seed(seed)``, by this engine.

    Directions: d1 is a U[0, 1) draw, d2 a second draw minus its projection on d1 (before
    normalization, so the normalized pair is not orthogonal); each is normalized and scaled
    to one step of norm ||theta0|| / distance / steps, and the grid starts at theta0 -
    steps/2 (step1 + step2), so it spans [-1/2, 1/2 - 1/steps] / ``distance`` in units of
    ||theta0|| along each axis (for filter normalization, a in [-1, 1 - 2/steps] / (2 distance)).

    The package's snake-order walk adds d2 before evaluating in even columns (i = 0, 2, ...)
    and subtracts it before evaluating in odd ones, so its even columns lie one step
    further along d2 than its odd columns: the matrix it returns is not on one grid.
    ``staggered=True`` evaluates exactly those points and labels them with the odd columns'
    grid (as a plot of the package's matrix does); ``staggered=False`` evaluates the
    regular grid ``xs`` x ``ys``.

    Returns:
        Plane with ``loss[j, i]`` = the package's ``result[i, j]`` (i along d1, j along d2);
        ``xs``, ``ys`` are the coefficients on the normalized d1, d2.
    """
    check_data(x, y, model)
    p = params_of(model)
    (d1, d2), (s1, s2) = _ll_steps(p, seed, normalization, distance, steps, 2)
    grid = np.arange(steps) - steps / 2
    a, b = np.meshgrid(grid, grid)  # (j, i): a varies along axis 1
    if staggered:
        b = b + (np.arange(steps) % 2 == 0)[None, :]
    coords = np.stack([s1 * a.ravel(), s2 * b.ravel()], 1)
    ev = evaluate_points(model, [d1, d2], coords, x, y, origin=p, **kw)
    shape = (steps, steps)
    return Plane(s1 * grid, s2 * grid, ev.loss.reshape(shape), ev.acc.reshape(shape))
