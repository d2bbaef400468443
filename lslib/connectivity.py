"""Mode connectivity: linear interpolation, barriers, permutation alignment, Bezier curves.

- Barrier (Frankle et al. 2020): max over a in [0, 1] of L(theta(a)) - ((1-a) L_A + a L_B)
  with theta(a) = (1-a) theta_A + a theta_B; the relative barrier divides it by the mean
  endpoint loss, so models with different endpoint losses can be compared.
- Weight matching (Ainsworth et al. 2023, "Git Re-Basin", Algorithm 1): permute the hidden
  units / channels of B to maximize sum_l <W_l^A, P_l W_l^B P_{l-1}^T>, one layer at a time
  with ``scipy.optimize.linear_sum_assignment``, until no permutation changes. The result
  computes exactly the same function as B.
- Quadratic Bezier curve (Garipov et al. 2018): phi(t) = (1-t)^2 A + 2t(1-t) M + t^2 B with
  the middle M trained on the expected loss over t ~ U(0, 1) (one t per mini-batch).
- REPAIR (Jordan et al. 2023): the interpolated network's hidden units rescaled to the
  interpolated endpoint statistics of their pre-activations, folded into weights and biases.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.func import functional_call

from lslib.landscape import Evaluation, evaluate_points
from lslib.params import Params, check_data, check_params, eval_mode, evaluate, forward

# ---------------------------------------------------------------- interpolation, barrier


def check_same_architecture(a: Params, b: Params) -> None:
    if list(a) != list(b) or any(a[k].shape != b[k].shape for k in a):
        shapes = lambda p: {k: tuple(v.shape) for k, v in p.items()}
        raise ValueError(
            f"endpoints have different architectures or widths: {shapes(a)} vs {shapes(b)}"
        )


def interpolate(model: nn.Module, a: Params, b: Params, x, y, alphas=None, **kw) -> Evaluation:
    """Loss and accuracy at (1-a) theta_A + a theta_B for each a (default 25 points in [0, 1])."""
    check_same_architecture(a, b)
    check_data(x, y, model, labels=kw.get("loss_fn", F.cross_entropy) is F.cross_entropy)
    alphas = np.linspace(0, 1, 25) if alphas is None else np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or len(alphas) < 1:
        raise ValueError(f"alphas must be a non-empty 1-D sequence, got shape {alphas.shape}")
    delta = {k: b[k] - a[k] for k in a}
    return evaluate_points(model, [delta], alphas[:, None], x, y, origin=a, **kw)


def barrier(alphas, losses) -> dict:
    """Barrier height, relative barrier and where it peaks, over the points with a in [0, 1].

    The endpoints' losses are the values at a = 0 and a = 1, which must be among ``alphas``.
    """
    alphas, losses = np.asarray(alphas, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    i0, i1 = np.flatnonzero(np.isclose(alphas, 0)), np.flatnonzero(np.isclose(alphas, 1))
    if not len(i0) or not len(i1):
        raise ValueError("alphas must include 0 and 1 (the endpoints)")
    la, lb = losses[i0[0]], losses[i1[0]]
    inside = (alphas >= 0) & (alphas <= 1)
    gap = losses[inside] - ((1 - alphas[inside]) * la + alphas[inside] * lb)
    j = int(np.nanargmax(gap))
    height = float(max(gap[j], 0.0))
    return {
        "height": height,
        "relative": height / ((la + lb) / 2),
        "alpha": float(alphas[inside][j]),
        "loss_a": float(la),
        "loss_b": float(lb),
    }


# ---------------------------------------------------------------- permutation alignment


@dataclass(frozen=True)
class Layer:
    """A parametric layer of a Sequential: its parameter prefix and how its input axis
    relates to the previous layer's output units (``spatial`` > 1 after a Flatten of
    channels: each unit owns a block of ``spatial`` consecutive inputs)."""

    prefix: str
    spatial: int


def perm_spec(model: nn.Module) -> list[Layer]:
    """The chain of Linear/Conv2d layers of a Sequential whose hidden units can be permuted."""
    if not isinstance(model, nn.Sequential):
        raise ValueError("permutation alignment needs an nn.Sequential of Linear/Conv2d layers")
    allowed = (
        nn.Linear,
        nn.Conv2d,
        nn.ReLU,
        nn.MaxPool2d,
        nn.AvgPool2d,
        nn.Flatten,
        nn.Identity,
        nn.Tanh,
        nn.GELU,
        nn.LeakyReLU,
    )
    layers, prev_out = [], None
    for name, m in model.named_children():
        if not isinstance(m, allowed):
            raise ValueError(
                f"layer {name!r} ({type(m).__name__}) is not supported by weight matching"
            )
        if isinstance(m, nn.Linear | nn.Conv2d):
            n_in = m.weight.shape[1]
            spatial = n_in // prev_out if (isinstance(m, nn.Linear) and prev_out) else 1
            layers.append(Layer(f"{name}.", spatial))
            prev_out = m.weight.shape[0]
    return layers


def _w(p: Params, layer: Layer) -> torch.Tensor:
    return p[layer.prefix + "weight"]


def _in_view(w: torch.Tensor, spatial: int) -> torch.Tensor:
    """Weight as (in_units, out, rest): the axis a previous layer's permutation acts on."""
    out = w.shape[0]
    w = w.reshape(out, -1, spatial, *w.shape[2:]) if spatial > 1 else w
    return w.transpose(0, 1).reshape(w.shape[1], -1)


def permute(p: Params, model: nn.Module, perms: list[torch.Tensor]) -> Params:
    """Apply hidden-unit permutations (one per hidden layer) to weights ``p``; same function."""
    spec = perm_spec(model)
    out = dict(p)
    for i, layer in enumerate(spec):
        w = out[layer.prefix + "weight"]
        if i < len(spec) - 1:  # output units
            w = w[perms[i]]
            if layer.prefix + "bias" in out:
                out[layer.prefix + "bias"] = out[layer.prefix + "bias"][perms[i]]
        if i > 0:  # input units, in blocks of `spatial` after a Flatten
            s = layer.spatial
            if s > 1:
                w = w.reshape(w.shape[0], -1, s)[:, perms[i - 1]].reshape(w.shape[0], -1)
            else:
                w = w[:, perms[i - 1]]
        out[layer.prefix + "weight"] = w.contiguous()
    return out


def weight_matching(model: nn.Module, a: Params, b: Params, max_iter: int = 100, seed: int = 0):
    """Permutations of B's hidden units that best match A (Git Re-Basin weight matching).

    Returns (permutations, B permuted). The permuted B computes exactly the same function as B.
    """
    check_same_architecture(a, b)
    check_params(a)
    spec = perm_spec(model)
    sizes = [_w(a, layer).shape[0] for layer in spec[:-1]]
    perms = [torch.arange(n) for n in sizes]
    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        changed = False
        for i in rng.permutation(len(sizes)):
            cost = _cost(a, b, spec, perms, i)
            _, col = linear_sum_assignment(cost.double().cpu().numpy(), maximize=True)
            new = torch.as_tensor(col)
            if not torch.equal(new, perms[i]):
                old_score = cost[torch.arange(sizes[i]), perms[i]].sum()
                if cost[torch.arange(sizes[i]), new].sum() > old_score + 1e-12:
                    perms[i], changed = new, True
        if not changed:
            break
    return perms, permute(b, model, perms)


def _cost(a, b, spec, perms, i) -> torch.Tensor:
    """C[r, c] = similarity of A's unit r and B's unit c, with B's other layers permuted."""
    la, nxt = spec[i], spec[i + 1]
    wb = _w(b, la)
    if i > 0:  # B's inputs to this layer follow the previous permutation
        s = la.spatial
        wb = (
            wb.reshape(wb.shape[0], -1, s)[:, perms[i - 1]].reshape(wb.shape)
            if s > 1
            else wb[:, perms[i - 1]]
        )
    cost = _w(a, la).reshape(len(wb), -1) @ wb.reshape(len(wb), -1).T
    if la.prefix + "bias" in a:
        cost = cost + a[la.prefix + "bias"][:, None] * b[la.prefix + "bias"][None, :]
    wn = _w(b, nxt)
    if i + 1 < len(spec) - 1:  # B's outputs of the next layer follow its permutation
        wn = wn[perms[i + 1]]
    cost = cost + _in_view(_w(a, nxt), nxt.spatial) @ _in_view(wn, nxt.spatial).T
    return cost


# ---------------------------------------------------------------- Bezier curve


def bezier_coeffs(ts) -> np.ndarray:
    """Coefficients of phi(t) = A + 2t(1-t)(M - A) + t^2 (B - A) on the directions (M-A, B-A)."""
    ts = np.asarray(ts, dtype=np.float64)
    return np.stack([2 * ts * (1 - ts), ts**2], 1)


def train_bezier(
    model: nn.Module,
    a: Params,
    b: Params,
    x,
    y,
    epochs: int = 2,
    lr: float = 0.01,
    momentum: float = 0.9,
    batch_size: int = 128,
    seed: int = 0,
) -> Params:
    """Train the middle point M of a quadratic Bezier curve from A to B (starts at (A+B)/2)."""
    check_same_architecture(a, b)
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; allowed: int >= 1")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} is invalid; allowed: finite > 0")
    check_data(x, y, model)
    check_params(a)
    mid = {k: ((a[k] + b[k]) / 2).clone().requires_grad_() for k in a}
    opt = torch.optim.SGD(mid.values(), lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        for _ in range(epochs):
            for idx in torch.randperm(len(y), generator=gen).split(batch_size):
                t = float(torch.rand((), generator=gen))
                p = {k: (1 - t) ** 2 * a[k] + 2 * t * (1 - t) * mid[k] + t**2 * b[k] for k in a}
                idx = idx.to(x.device)
                loss = F.cross_entropy(forward(model, p, x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return {k: v.detach() for k, v in mid.items()}


def curve(model: nn.Module, a: Params, mid: Params, b: Params, x, y, ts=None, **kw) -> Evaluation:
    """Loss and accuracy along the Bezier curve at ``ts`` (default 25 points in [0, 1])."""
    ts = np.linspace(0, 1, 25) if ts is None else np.asarray(ts, dtype=np.float64)
    dirs = [{k: mid[k] - a[k] for k in a}, {k: b[k] - a[k] for k in a}]
    ev = evaluate_points(model, dirs, bezier_coeffs(ts), x, y, origin=a, **kw)
    return Evaluation(ts[:, None], ev.loss, ev.acc)


# ---------------------------------------------------------------- REPAIR

NORM_LAYERS = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
)


def repair_layers(model: nn.Module) -> list[str]:
    """Names of the hidden Linear/Conv2d layers REPAIR corrects: all but the last one."""
    if not isinstance(model, nn.Sequential):
        raise ValueError("REPAIR needs an nn.Sequential of Linear/Conv2d layers and activations")
    for name, m in model.named_modules():
        if isinstance(m, NORM_LAYERS):
            raise ValueError(
                f"REPAIR needs a network without normalization layers; layer {name!r} is "
                f"{type(m).__name__} (for such networks reset its running statistics on the "
                "interpolated weights instead, Jordan et al.'s RESET)"
            )
    perm_spec(model)  # the same module whitelist as weight matching
    names = [n for n, m in model.named_children() if isinstance(m, nn.Linear | nn.Conv2d)]
    for n in names[:-1]:
        if model._modules[n].bias is None:
            raise ValueError(f"REPAIR folds a shift into the bias; layer {n!r} has none")
    return names[:-1]


def _stats(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-unit (axis 1) count, mean and centred sum of squares of one batch, in float64."""
    z = z.double().transpose(0, 1).reshape(z.shape[1], -1)
    mean = z.mean(1)
    return mean, ((z - mean[:, None]) ** 2).sum(1), z.shape[1]


def preactivation_stats(model: nn.Module, p: Params, x, batch_size: int = 1024) -> dict:
    """Per-unit mean and standard deviation of every hidden layer's pre-activation on ``x``.

    Args:
        model: an nn.Sequential without normalization layers (see ``repair_layers``).
        p: its weights.
        x: the images (n, ...); a Conv2d unit is a channel, pooled over images and positions.
        batch_size: images per forward pass (batches are merged exactly, Chan et al.).
    Returns:
        {layer name: (mean, std)}, float64 tensors (units,); std is the population one.
    """
    names = repair_layers(model)
    acc = {n: None for n in names}
    with torch.no_grad(), eval_mode(model):
        for xb in x.split(batch_size):
            for name, z in _run(model, p, xb, stop=names[-1]):
                if name in acc:
                    acc[name] = _merge(acc[name], _stats(z))
    return {n: (m, (s / c).sqrt()) for n, (m, s, c) in acc.items()}


def _run(model, p, x, stop):
    """Yield (name, output) of each child of the Sequential at weights ``p``, up to ``stop``."""
    for name, m in model.named_children():
        own = {k[len(name) + 1 :]: v for k, v in p.items() if k.startswith(name + ".")}
        x = functional_call(m, own, (x,)) if own else m(x)
        yield name, x
        if name == stop:
            return


def _merge(a, b):
    """Chan et al.'s pairwise merge of (mean, centred sum of squares, count)."""
    if a is None:
        return b
    (ma, sa, na), (mb, sb, nb) = a, b
    n, d = na + nb, mb - ma
    return ma + d * nb / n, sa + sb + d**2 * na * nb / n, n


def repair(
    model: nn.Module, a: Params, b: Params, alpha: float, x, batch_size: int = 1024
) -> Params:
    """The interpolated weights (1-alpha) A + alpha B with every hidden unit REPAIRed.

    REPAIR (Jordan et al., ICLR 2023, "REPAIR: REnormalizing Permuted Activations for
    Interpolation Repair"): each hidden Linear/Conv2d unit's pre-activation (a channel for a
    convolution) is rescaled so that its mean and standard deviation on ``x`` become
    mu_alpha = (1-alpha) mu_A + alpha mu_B and sigma_alpha = (1-alpha) sigma_A + alpha
    sigma_B, the endpoints' statistics on the same images. The affine correction z ->
    s z + t, s = sigma_alpha / sigma, t = mu_alpha - s mu, is folded into the layer's weights
    (W s) and bias (b s + t); no layer is added. Layers are corrected in order, each one's
    statistics measured with the earlier ones already corrected, so every hidden layer hits
    its target exactly on ``x`` (the paper measures through inserted normalization layers in
    training mode, whose batch statistics also feed corrected activations downstream). The output layer is not corrected. A unit that is constant on
    ``x`` (sigma = 0) is only shifted. At alpha = 0 and 1 the result is the endpoint itself,
    bit for bit. A and B should already be aligned (``weight_matching``).

    Args:
        model: the architecture, an nn.Sequential without normalization layers; its own
            weights are not used and nothing of it is changed.
        a, b: the endpoint weights.
        alpha: the interpolation coefficient (any real; [0, 1] is the segment).
        x: the images the statistics are measured on (training images).
        batch_size: images per forward pass.
    Returns:
        The repaired weights, fresh tensors shaped like ``a``.
    """
    check_same_architecture(a, b)
    check_params(a)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or len(x) < 2:
        raise ValueError("x must be a floating-point tensor of at least 2 images")
    ends = (
        preactivation_stats(model, a, x, batch_size),
        preactivation_stats(model, b, x, batch_size),
    )
    return _repair(model, a, b, alpha, x, batch_size, *ends)


def _repair(model, a, b, alpha, x, batch_size, stats_a, stats_b) -> Params:
    """``repair`` with the endpoints' statistics given."""
    if not isinstance(alpha, int | float | np.floating) or not np.isfinite(alpha):
        raise ValueError(f"alpha={alpha!r} is invalid; allowed: a finite number")
    alpha = float(alpha)
    p = {k: (1 - alpha) * a[k] + alpha * b[k] for k in a}
    for name in stats_a:
        (mu_a, sd_a), (mu_b, sd_b) = stats_a[name], stats_b[name]
        mu_t, sd_t = (1 - alpha) * mu_a + alpha * mu_b, (1 - alpha) * sd_a + alpha * sd_b
        mu, sd = _layer_stats(model, p, x, name, batch_size)
        s = torch.where(sd > 0, sd_t / sd.clamp_min(torch.finfo(sd.dtype).tiny), 1.0)
        t = mu_t - s * mu
        w, bias = p[name + ".weight"], p[name + ".bias"]
        shape = (-1,) + (1,) * (w.dim() - 1)
        p[name + ".weight"] = w * s.to(w.dtype).view(shape)
        p[name + ".bias"] = bias * s.to(bias.dtype) + t.to(bias.dtype)
    return p


def _layer_stats(model, p, x, name, batch_size):
    """Mean and std of one layer's pre-activation on ``x`` at weights ``p``."""
    acc = None
    with torch.no_grad(), eval_mode(model):
        for xb in x.split(batch_size):
            *_, (_, z) = _run(model, p, xb, stop=name)
            acc = _merge(acc, _stats(z))
    m, s, c = acc
    return m, (s / c).sqrt()


def interpolate_repaired(
    model: nn.Module, a: Params, b: Params, x, y, alphas=None, stats_x=None, batch_size=1024
) -> Evaluation:
    """Loss and accuracy of the REPAIRed interpolation at each alpha (default 25 in [0, 1]).

    Args:
        model, a, b: as in ``repair``.
        x, y: the evaluation set.
        alphas: the interpolation coefficients; include 0 and 1 for ``barrier``.
        stats_x: the images REPAIR measures statistics on (default ``x``).
        batch_size: images per forward pass.
    Returns:
        An Evaluation like ``interpolate``'s: coords (P, 1) = alphas, loss (P,), acc (P,);
        ``barrier(ev.coords[:, 0], ev.loss)`` and ``barrier(..., 1 - ev.acc)`` give the
        loss and error barriers.
    """
    check_same_architecture(a, b)
    check_data(x, y, model)
    alphas = np.linspace(0, 1, 25) if alphas is None else np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or len(alphas) < 1:
        raise ValueError(f"alphas must be a non-empty 1-D sequence, got shape {alphas.shape}")
    stats_x = x if stats_x is None else stats_x
    if not isinstance(stats_x, torch.Tensor) or not stats_x.is_floating_point() or len(stats_x) < 2:
        raise ValueError("stats_x must be a floating-point tensor of at least 2 images")
    ends = [preactivation_stats(model, p, stats_x, batch_size) for p in (a, b)]
    loss, acc = np.zeros(len(alphas)), np.zeros(len(alphas))
    for i, t in enumerate(alphas):
        p = _repair(model, a, b, float(t), stats_x, batch_size, *ends)
        loss[i], acc[i] = evaluate(model, p, x, y, batch_size=batch_size)
    loss[~np.isfinite(loss)] = np.nan
    return Evaluation(alphas[:, None], loss, acc)
