"""Random directions in weight space and their normalization.

A direction is a dict of tensors shaped like the model's parameters, seeded and drawn on
the CPU (the same on every device). Its distribution (``dist``):

- ``gaussian`` (the default): N(0, 1) entries, as Li et al. draw them; every direction is
  equally likely, so a normalized draw has no preferred orientation inside a filter;
- ``uniform``: U[0, 1) entries, as the ``loss-landscapes`` package draws them
  (``rand_u_like`` in its ``model_parameters.py``), kept to reproduce results made with it.
  Every entry is positive, so a filter of such a direction is not isotropic: its cosine
  with the all-ones vector of that filter is E[u] / sqrt(E[u^2]) = sqrt(3) / 2 ~ 0.87, i.e.
  about 3/4 of its squared norm moves all weights of the filter up together, and the
  landscape along it mixes a systematic shift of each unit's pre-activation with the
  random part. Normalization only rescales filters, so it keeps this bias.

Normalization (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"):

- ``filter``: each filter of a weight, i.e. each output row of a Linear weight and each
  output channel of a Conv weight, is rescaled to the norm of the same filter of the
  weights, so that the scale invariance of ReLU networks does not distort the picture;
- ``layer``: each parameter tensor is rescaled to the norm of the weight tensor;
- ``model``: the whole direction is rescaled to the norm of all weights;
- ``none``: the raw draw.

Bias policy for 1-D parameters (biases): ``ignore`` sets their direction to zero (Li et
al.'s default); ``filter`` treats each entry as its own filter, so |d_i| = |w_i|.
"""

import torch

from lslib.params import Params, check_params

NORMS = ("filter", "layer", "model", "none")
BIAS = ("ignore", "filter")
DISTS = ("gaussian", "uniform")
_EPS = 1e-10


def gaussian_like(ref: Params, seed: int) -> Params:
    """N(0, 1) tensors shaped like ``ref``, drawn on the CPU from ``seed`` (device-independent)."""
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=g, dtype=v.dtype).to(v.device) for k, v in ref.items()
    }


def uniform_like(ref: Params, seed: int) -> Params:
    """U[0, 1) tensors shaped like ``ref``, drawn on the CPU from ``seed`` (device-independent).

    The same numbers as ``torch.manual_seed(seed)`` followed by one ``torch.rand`` per
    tensor in ``ref``'s order, which is how ``loss-landscapes`` draws a direction.
    """
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(v.shape, generator=g, dtype=v.dtype).to(v.device) for k, v in ref.items()}


def draw_like(ref: Params, seed: int, dist: str = "gaussian") -> Params:
    """Raw tensors shaped like ``ref`` from ``dist`` (one of ``DISTS``)."""
    if dist not in DISTS:
        raise ValueError(f"dist={dist!r} is unknown; allowed: {DISTS}")
    return (gaussian_like if dist == "gaussian" else uniform_like)(ref, seed)


def normalize(d: Params, ref: Params, norm: str = "filter", bias: str = "ignore") -> Params:
    """Rescale direction ``d`` against weights ``ref`` (returns new tensors)."""
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is unknown; allowed: {NORMS}")
    if bias not in BIAS:
        raise ValueError(f"bias={bias!r} is unknown; allowed: {BIAS}")
    out = {}
    for k, v in d.items():
        w = ref[k]
        if w.dim() <= 1 and bias == "ignore":
            out[k] = torch.zeros_like(v)
        elif norm == "filter":
            rows_d, rows_w = v.reshape(len(v), -1), w.reshape(len(w), -1)
            scale = rows_w.norm(dim=1) / (rows_d.norm(dim=1) + _EPS)
            out[k] = (rows_d * scale[:, None]).view_as(v)
        elif norm == "layer":
            out[k] = v * (w.norm() / (v.norm() + _EPS))
        else:
            out[k] = v.clone()
    if norm == "model":
        kept = [k for k in out if out[k].any()]
        dn = torch.sqrt(sum(out[k].pow(2).sum() for k in kept))
        wn = torch.sqrt(sum(ref[k].pow(2).sum() for k in kept))
        out = {k: v * (wn / (dn + _EPS)) for k, v in out.items()}
    return out


def random_direction(
    ref: Params, seed: int, norm: str = "filter", bias: str = "ignore", dist: str = "gaussian"
) -> Params:
    """A seeded direction drawn from ``dist`` (``DISTS``), normalized against the weights ``ref``."""
    check_params(ref)
    return normalize(draw_like(ref, seed, dist), ref, norm, bias)


def dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def orthogonalize(d2: Params, d1: Params) -> Params:
    """d2 minus its projection on d1 (Gram-Schmidt).

    Applied after normalization, so d2 is exactly orthogonal to d1; its filters then
    deviate slightly from the weights' norms (by the removed component, which is tiny in
    high dimension because independent Gaussian directions are nearly orthogonal).
    """
    c = dot(d2, d1) / dot(d1, d1)
    return {k: d2[k] - c * d1[k] for k in d2}


def random_plane(
    ref: Params, seed: int, norm="filter", bias="ignore", orthogonal=False, dist="gaussian"
):
    """Two independent directions (seeds ``seed`` and ``seed + 10_000``), optionally orthogonalized."""
    check_params(ref)
    d1 = random_direction(ref, seed, norm, bias, dist)
    d2 = random_direction(ref, seed + 10_000, norm, bias, dist)
    return d1, (orthogonalize(d2, d1) if orthogonal else d2)
