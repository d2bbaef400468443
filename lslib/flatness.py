"""Flatness metrics at a minimum. Each is seeded and deterministic.

- ``epsilon_sharpness`` (Keskar et al. 2017): 100 * (max_{delta in C_eps} L(theta + delta) - L)
  / (1 + L) over the box C_eps = {|delta_i| <= eps (|theta_i| + 1)}, by projected
  sign-gradient ascent from a random point of the box (the maximum seen is kept).
- ``sharpness_1d``: the curvature L''(0) along filter-normalized random directions, from a
  least-squares parabola over a small window [-w, w] (mean and spread over directions).
- ``perturbation``: the loss increase L(theta + sigma |theta| * xi) - L(theta) for K Gaussian
  draws xi, per sigma (a multiplicative, scale-aware perturbation).
- ``pac_bayes_sigma`` (Jiang et al. 2020, "Fantastic Generalization Measures"): the largest
  sigma with E_xi[L(theta + sigma xi)] - L(theta) <= threshold, xi ~ N(0, I), by bisection
  on log sigma with the same draws at every sigma (common random numbers).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lslib.directions import gaussian_like, random_direction
from lslib.landscape import evaluate_points
from lslib.params import Params, check_data, check_params, eval_mode, mean_loss, params_of


def _check_counts(**counts) -> None:
    for name, v in counts.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; allowed: int >= 1")


def _loss(model, p, x, y, loss_fn=F.cross_entropy) -> float:
    with torch.no_grad(), eval_mode(model):
        return float(mean_loss(model, p, x, y, loss_fn=loss_fn))


def epsilon_sharpness(model: nn.Module, x, y, eps: float = 1e-3, steps: int = 20, seed: int = 0,
                      params: Params | None = None, loss_fn=F.cross_entropy) -> float:  # fmt: skip
    """Keskar et al.'s epsilon-sharpness (in percent); see the module docstring."""
    if not eps > 0 or not np.isfinite(eps):
        raise ValueError(f"eps={eps!r} is invalid; allowed: finite > 0")
    _check_counts(steps=steps)
    check_data(x, y, model, labels=loss_fn is F.cross_entropy)
    p = params_of(model) if params is None else params
    check_params(p)
    box = {k: eps * (v.abs() + 1) for k, v in p.items()}
    gen = torch.Generator().manual_seed(seed)
    delta = {k: (torch.rand(v.shape, generator=gen).to(v) * 2 - 1) * box[k] for k, v in p.items()}
    base = _loss(model, p, x, y, loss_fn)
    best = base
    step = {k: 2 * b / steps for k, b in box.items()}  # crosses the box in steps / 2
    with eval_mode(model):
        for _ in range(steps + 1):
            d = {k: v.clone().requires_grad_() for k, v in delta.items()}
            loss = mean_loss(model, {k: p[k] + d[k] for k in p}, x, y, loss_fn=loss_fn)
            best = max(best, loss.item())
            grads = torch.autograd.grad(loss, list(d.values()))
            delta = {k: torch.clamp(delta[k] + step[k] * g.sign(), -box[k], box[k])
                     for (k, g) in zip(d, grads, strict=True)}  # fmt: skip
    return 100 * (best - base) / (1 + base)


def sharpness_1d(model: nn.Module, x, y, n_dirs: int = 10, window: float = 0.05, points: int = 9,
                 seed: int = 0, params: Params | None = None) -> dict:  # fmt: skip
    """Curvature L''(0) along ``n_dirs`` filter-normalized directions: values, mean, std."""
    if not window > 0 or not np.isfinite(window):
        raise ValueError(f"window={window!r} is invalid; allowed: finite > 0")
    _check_counts(n_dirs=n_dirs, points=points)
    if points < 3:
        raise ValueError(f"points={points!r} is invalid; allowed: int >= 3 (a parabola fit)")
    check_data(x, y, model)
    p = params_of(model) if params is None else params
    alphas = np.linspace(-window, window, points)
    curv = []
    for i in range(n_dirs):
        d = random_direction(p, seed + i)
        ev = evaluate_points(model, [d], alphas[:, None], x, y, origin=p, progress=False)
        curv.append(2 * np.polyfit(alphas, ev.loss, 2)[0])
    curv = np.array(curv)
    return {"values": curv, "mean": float(curv.mean()), "std": float(curv.std(ddof=1))}


def perturbation(model: nn.Module, x, y, sigmas=(1e-3, 1e-2, 5e-2), draws: int = 10, seed: int = 0,
                 params: Params | None = None) -> dict:  # fmt: skip
    """Loss increase under theta + sigma |theta| xi: per sigma, mean and std over ``draws``."""
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if (sigmas < 0).any() or not np.isfinite(sigmas).all():
        raise ValueError(f"sigmas={sigmas.tolist()} are invalid; allowed: finite, >= 0")
    _check_counts(draws=draws)
    check_data(x, y, model)
    p = params_of(model) if params is None else params
    coords = np.concatenate([[0.0], sigmas])[:, None]  # the base loss by the same arithmetic
    deltas = []
    for i in range(draws):
        xi = gaussian_like(p, seed + i)
        ev = evaluate_points(model, [{k: p[k].abs() * xi[k] for k in p}], coords, x, y,
                             origin=p, progress=False)  # fmt: skip
        deltas.append(ev.loss[1:] - ev.loss[0])
    deltas = np.array(deltas)  # (draws, n_sigma)
    return {"sigmas": sigmas, "deltas": deltas, "mean": deltas.mean(0),
            "std": deltas.std(0, ddof=1) if draws > 1 else 0 * deltas[0]}  # fmt: skip


def pac_bayes_sigma(model: nn.Module, x, y, threshold: float = 0.1, draws: int = 5, lo=1e-5,
                    hi=1.0, iters: int = 20, seed: int = 0, params: Params | None = None) -> float:  # fmt: skip
    """Jiang et al.'s sigma': the largest sigma whose expected loss increase is <= threshold."""
    if not threshold > 0 or not 0 < lo < hi:
        raise ValueError(f"need threshold > 0 and 0 < lo < hi; got {threshold}, {lo}, {hi}")
    if not np.isfinite([threshold, lo, hi]).all():
        raise ValueError(f"threshold, lo, hi must be finite; got {threshold}, {lo}, {hi}")
    _check_counts(draws=draws, iters=iters)
    check_data(x, y, model)
    p = params_of(model) if params is None else params
    noise = [gaussian_like(p, seed + i) for i in range(draws)]

    def increase(sigma):
        coords = np.array([[0.0], [sigma]])
        d = [
            evaluate_points(model, [xi], coords, x, y, origin=p, progress=False).loss
            for xi in noise
        ]
        return float(np.mean([v[1] - v[0] for v in d]))

    if increase(hi) <= threshold:
        return hi
    if increase(lo) > threshold:
        return lo
    a, b = np.log(lo), np.log(hi)
    for _ in range(iters):
        m = (a + b) / 2
        a, b = (m, b) if increase(np.exp(m)) <= threshold else (a, m)
    return float(np.exp(a))
