"""Flatness metrics at a minimum. Each is seeded and deterministic.

- ``epsilon_sharpness`` (Keskar et al. 2017): 100 * (max_{delta in C_eps} L(theta + delta) - L)
  / (1 + L) over the box C_eps = {|delta_i| <= eps (|theta_i| + 1)}, from a random point of
  the box by projected sign-gradient ascent (``method="sign"``) or by L-BFGS-B
  (``method="lbfgsb"``, as Keskar et al. solve it); the maximum seen is kept.
- ``sharpness_1d``: the curvature L''(0) along filter-normalized random directions, from a
  least-squares parabola over a small window [-w, w] (mean and spread over directions).
- ``perturbation``: the loss increase L(theta + sigma |theta| * xi) - L(theta) for K Gaussian
  draws xi, per sigma (a multiplicative, scale-aware perturbation).
- ``pac_bayes_sigma`` (Jiang et al. 2020, "Fantastic Generalization Measures"): the largest
  sigma whose expected damage E_xi[D(theta + sigma xi)] is <= threshold, xi ~ N(0, I), with
  D the accuracy drop (``criterion="accuracy"``, their definition for a network that fits
  its training set) or the loss increase (``criterion="loss"``), by bisection on log sigma
  with the same draws at every sigma (common random numbers).
- ``adaptive_sharpness`` (Andriushchenko et al. 2023): worst-case and average-case loss
  increase under perturbations scaled elementwise by |theta|, invariant to rescaling a
  ReLU unit's incoming and outgoing weights.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lslib.directions import gaussian_like, random_direction
from lslib.landscape import evaluate_points
from lslib.params import (
    Params,
    check_data,
    check_params,
    eval_mode,
    flatten,
    mean_loss,
    params_of,
    unflatten,
)


def _check_counts(**counts) -> None:
    for name, v in counts.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; allowed: int >= 1")


def _loss(model, p, x, y, loss_fn=F.cross_entropy) -> float:
    with torch.no_grad(), eval_mode(model):
        return float(mean_loss(model, p, x, y, loss_fn=loss_fn))


METHODS = ("sign", "lbfgsb")
CRITERIA = ("accuracy", "loss")


@dataclass(frozen=True)
class Ascent:
    """The search for max L over the box: base and best loss seen, and what it cost.

    ``value`` is Keskar et al.'s 100 (best - base) / (1 + base); ``evaluations`` counts
    loss-and-gradient evaluations (``iterations`` is L-BFGS-B's count; sign ascent: steps).
    """

    value: float
    base: float
    best: float
    evaluations: int
    iterations: int
    method: str


def epsilon_sharpness(
    model: nn.Module,
    x,
    y,
    eps: float = 1e-3,
    steps: int = 20,
    seed: int = 0,
    params: Params | None = None,
    loss_fn=F.cross_entropy,
    method: str = "sign",
) -> float:
    """Keskar et al.'s epsilon-sharpness (in percent); see ``sharpness_ascent``."""
    return sharpness_ascent(model, x, y, eps, steps, seed, params, loss_fn, method).value


def sharpness_ascent(
    model: nn.Module,
    x,
    y,
    eps: float = 1e-3,
    steps: int = 20,
    seed: int = 0,
    params: Params | None = None,
    loss_fn=F.cross_entropy,
    method: str = "sign",
) -> Ascent:
    """Maximize L(theta + delta) over the box |delta_i| <= eps (|theta_i| + 1).

    Both methods start from the same seeded uniform point of the box and keep the largest
    loss seen (never below the base loss).

    - ``sign``: ``steps`` projected sign-gradient steps of 2 eps (|theta_i| + 1) / steps
      (``steps + 1`` evaluations);
    - ``lbfgsb``: scipy's L-BFGS-B on -L(theta + delta) in float64 over the box bounds, at
      most ``steps`` iterations (Keskar et al. 2017 solve the same problem with L-BFGS-B;
      they also consider random subspaces, here the full space). The loss and gradient are
      computed in the model's dtype and handed to scipy as float64.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; allowed: {METHODS}")
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
    ascend = _sign_ascent if method == "sign" else _lbfgsb_ascent
    with eval_mode(model):
        best, evals, iters = ascend(model, p, x, y, loss_fn, box, delta, steps)
    best = max(base, best)
    return Ascent(100 * (best - base) / (1 + base), base, best, evals, iters, method)


def _loss_and_grad(model, p, d, x, y, loss_fn):
    d = {k: v.clone().requires_grad_() for k, v in d.items()}
    loss = mean_loss(model, {k: p[k] + d[k] for k in p}, x, y, loss_fn=loss_fn)
    return loss.item(), torch.autograd.grad(loss, list(d.values()))


def _sign_ascent(model, p, x, y, loss_fn, box, delta, steps):
    best = -math.inf
    step = {k: 2 * b / steps for k, b in box.items()}  # crosses the box in steps / 2
    for _ in range(steps + 1):
        loss, grads = _loss_and_grad(model, p, delta, x, y, loss_fn)
        best = max(best, loss)
        delta = {
            k: torch.clamp(delta[k] + step[k] * g.sign(), -box[k], box[k])
            for (k, g) in zip(delta, grads, strict=True)
        }
    return best, steps + 1, steps


def _lbfgsb_ascent(model, p, x, y, loss_fn, box, delta, steps):
    from scipy.optimize import minimize

    seen, like = [], flatten(p)

    def objective(z):
        d = unflatten(torch.from_numpy(z).to(like), p)
        loss, grads = _loss_and_grad(model, p, d, x, y, loss_fn)
        seen.append(loss)
        return -loss, -flatten(dict(zip(p, grads, strict=True))).double().cpu().numpy()

    hi = flatten(box).double().cpu().numpy()
    x0 = flatten(delta).double().cpu().numpy()
    res = minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=np.stack([-hi, hi], 1),
        options={"maxiter": steps},
    )
    return max(seen), len(seen), int(res.nit)


def sharpness_1d(
    model: nn.Module,
    x,
    y,
    n_dirs: int = 10,
    window: float = 0.05,
    points: int = 9,
    seed: int = 0,
    params: Params | None = None,
) -> dict:
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


def perturbation(
    model: nn.Module,
    x,
    y,
    sigmas=(1e-3, 1e-2, 5e-2),
    draws: int = 10,
    seed: int = 0,
    params: Params | None = None,
) -> dict:
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
        ev = evaluate_points(
            model, [{k: p[k].abs() * xi[k] for k in p}], coords, x, y, origin=p, progress=False
        )
        deltas.append(ev.loss[1:] - ev.loss[0])
    deltas = np.array(deltas)  # (draws, n_sigma)
    return {
        "sigmas": sigmas,
        "deltas": deltas,
        "mean": deltas.mean(0),
        "std": deltas.std(0, ddof=1) if draws > 1 else 0 * deltas[0],
    }


def pac_bayes_sigma(
    model: nn.Module,
    x,
    y,
    threshold: float = 0.1,
    draws: int = 5,
    lo=1e-5,
    hi=1.0,
    iters: int = 20,
    seed: int = 0,
    params: Params | None = None,
    criterion: str = "accuracy",
) -> float:
    """Jiang et al.'s sigma': the largest sigma in [lo, hi] whose expected damage is <= threshold.

    The damage of theta + sigma xi, xi ~ N(0, I) on every parameter (biases included), is
    (``criterion``) ``accuracy``: acc(theta) - acc(theta + sigma xi), or ``loss``: L(theta +
    sigma xi) - L(theta) (cross-entropy), averaged over ``draws`` fixed draws xi (common
    random numbers, so the estimate is a deterministic function of sigma), on (x, y). Found
    by bisection on log sigma, ``iters`` halvings: ``hi`` if hi passes, ``lo`` if lo fails,
    else the last passing end of the bracket (the damage need not be monotone in sigma, so
    this is a crossing, not necessarily the largest one). A model whose accuracy cannot
    drop (e.g. one class, always predicted) gets ``hi``.

    Jiang et al. (2020, "Fantastic Generalization Measures", PAC-Bayes flatness 1/sigma'^2)
    take sigma' as the largest sigma with E_u[L_hat(f_{w+u})] <= 0.1, u ~ N(0, sigma^2 I),
    L_hat the 0-1 training error; for a network at 100 % training accuracy that is the
    accuracy criterion with threshold 0.1 on the training set. The code that follows
    theirs (Dziugaite et al. 2020, robust-generalization-measures, ``_pacbayes_sigma``)
    bisects sigma linearly on [0, 2], 15 halvings of 10 fresh Monte Carlo draws each,
    stopping early once |acc drop - 0.1| < 0.01; it draws the noise as
    ``torch.normal(0, sigma**2, shape)``, i.e. with standard deviation sigma^2. Here the
    draws are fixed, the search is on log sigma and the noise has standard deviation
    sigma. The ``loss`` criterion is a cross-entropy variant, not theirs.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion={criterion!r} is unknown; allowed: {CRITERIA}")
    if not threshold > 0 or not 0 < lo < hi:
        raise ValueError(f"need threshold > 0 and 0 < lo < hi; got {threshold}, {lo}, {hi}")
    if not np.isfinite([threshold, lo, hi]).all():
        raise ValueError(f"threshold, lo, hi must be finite; got {threshold}, {lo}, {hi}")
    _check_counts(draws=draws, iters=iters)
    check_data(x, y, model)
    p = params_of(model) if params is None else params
    noise = [gaussian_like(p, seed + i) for i in range(draws)]

    def damage(sigma):
        coords = np.array([[0.0], [sigma]])
        d = []
        for xi in noise:
            ev = evaluate_points(model, [xi], coords, x, y, origin=p, progress=False)
            v = ev.loss if criterion == "loss" else -ev.acc
            d.append(v[1] - v[0])
        return float(np.mean(d))

    if damage(hi) <= threshold:
        return hi
    if damage(lo) > threshold:
        return lo
    a, b = np.log(lo), np.log(hi)
    for _ in range(iters):
        m = (a + b) / 2
        a, b = (m, b) if damage(np.exp(m)) <= threshold else (a, m)
    return float(np.exp(a))


# ---------------------------------------------------------------- adaptive sharpness

ADAPTIVE_KINDS = ("max_linf", "max_l2", "avg")


@dataclass(frozen=True)
class AdaptiveSharpness:
    """Adaptive sharpness: the mean loss increase and what it was computed from.

    ``value`` is the mean of ``increases`` (per fixed batch for the worst case, weighted by
    batch size; per draw for the average case), ``stderr`` its standard error (over batches,
    unweighted, NaN from one batch; over draws), ``base`` the (batch-weighted) loss at w, ``evaluations`` the loss evaluations
    spent (with a gradient for the worst case).
    """

    value: float
    stderr: float
    base: float
    increases: np.ndarray
    kind: str
    rho: float
    evaluations: int


def adaptive_sharpness(
    model: nn.Module,
    x,
    y,
    rho: float,
    kind: str = "max_linf",
    steps: int = 20,
    draws: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    params: Params | None = None,
    loss_fn=F.cross_entropy,
) -> AdaptiveSharpness:
    """Adaptive sharpness of a model on (x, y); see ``adaptive_sharpness_of``.

    Args:
        model: the network (its weights are used unless ``params`` is given; never changed).
        x, y: the data, cut into fixed batches of ``batch_size`` in order (None: one batch).
            The worst case is maximized per batch and the maxima averaged (Andriushchenko et
            al.'s m-sharpness with m = ``batch_size``); the average case is the same for
            any batching.
        rho, kind, steps, draws, seed: as in ``adaptive_sharpness_of``.
        loss_fn: the loss, called as ``loss_fn(out, y, reduction="sum")``.
    Returns:
        AdaptiveSharpness.
    """
    check_data(x, y, model, labels=loss_fn is F.cross_entropy)
    p = params_of(model) if params is None else params
    n = len(y)
    batch_size = n if batch_size is None else batch_size
    _check_counts(batch_size=batch_size)
    losses, weights = [], []
    for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True):
        losses.append(lambda q, xb=xb, yb=yb: mean_loss(model, q, xb, yb, loss_fn=loss_fn))
        weights.append(len(yb) / n)
    with eval_mode(model):
        return adaptive_sharpness_of(losses, p, rho, kind, steps, draws, seed, weights)


def adaptive_sharpness_of(
    loss,
    params: Params,
    rho: float,
    kind: str = "max_linf",
    steps: int = 20,
    draws: int = 100,
    seed: int = 0,
    weights=None,
) -> AdaptiveSharpness:
    """Adaptive sharpness of any differentiable loss of the parameters w.

    Andriushchenko et al. (ICML 2023, "A modern look at the relationship between sharpness
    and generalization"), with perturbations scaled elementwise by c = |w|:

    - ``max_linf`` / ``max_l2``: S_max(rho) = max over ||delta / |w| ||_p <= rho of
      L(w + delta) - L(w), p = inf or 2, found in the scaled variable u = delta / |w| from a
      seeded random start (uniform in the l-inf box, on the l2 sphere) by ``steps``
      projected ascent steps along sign(grad_u) (l-inf) or grad_u / ||grad_u||_2 (l2, one
      norm over all parameters), starting with step 2 rho and halving it, then continuing
      from the best point, at Auto-PGD's checkpoints (Croce and Hein 2020) where fewer than
      75 % of the steps since the last checkpoint raised the loss or the best loss did not
      improve. The largest loss seen (never below L(w)) is kept. Unlike Auto-PGD there is no
      momentum term and one restart. Each fixed batch (one closure) gets its own maximum;
      the result is their weighted mean. The default of 20 steps is this library's choice
      (the maximum converges within a few on MNIST-sized MLPs; check with more).
    - ``avg``: S_avg(rho) = E over delta ~ N(0, rho^2 diag(w^2)) of L(w + delta) - L(w),
      a Monte Carlo mean over ``draws`` seeded draws (the same draws as ``perturbation``
      with sigma = rho), with its standard error.

    Every parameter is perturbed, biases included (|b| scales them as |W| scales the
    weights); the paper perturbs all parameters or all but the normalization layers',
    which these models lack.
    A unit rescaled as (c W_in, c b, W_out / c) for a ReLU, which computes the same
    function, has the same adaptive sharpness, since the perturbed networks correspond too.

    Args:
        loss: a callable w (a dict of tensors like ``params``) -> scalar tensor, or a
            sequence of them (one per fixed batch).
        params: the point w.
        rho: the radius, relative to |w|.
        kind: ``'max_linf'``, ``'max_l2'`` or ``'avg'``.
        steps: ascent steps per batch (worst case).
        draws: Monte Carlo draws (average case).
        seed: seeds the random start (batch i uses seed + i) or draw i (seed + i).
        weights: the closures' weights (default equal); they must sum to 1.
    Returns:
        AdaptiveSharpness.
    """
    if kind not in ADAPTIVE_KINDS:
        raise ValueError(f"kind={kind!r} is unknown; allowed: {ADAPTIVE_KINDS}")
    if not (np.isfinite(rho) and rho > 0):
        raise ValueError(f"rho={rho!r} is invalid; allowed: finite > 0")
    _check_counts(steps=steps, draws=draws)
    check_params(params)
    losses = [loss] if callable(loss) else list(loss)
    w = np.full(len(losses), 1 / len(losses)) if weights is None else np.asarray(weights, float)
    if len(w) != len(losses) or not np.isclose(w.sum(), 1) or (w < 0).any():
        raise ValueError(f"weights must be {len(losses)} numbers >= 0 summing to 1, got {w}")
    scale = {k: v.abs() for k, v in params.items()}
    with torch.no_grad():
        bases = np.array([float(f(params)) for f in losses])
    if kind == "avg":
        inc, evals = _average_case(losses, params, scale, rho, draws, seed, bases, w)
        err = inc.std(ddof=1) / np.sqrt(draws) if draws > 1 else np.nan
        value = inc.mean()
    else:
        norm = kind.removeprefix("max_")
        found = [
            _adaptive_ascent(f, params, scale, rho, norm, steps, seed + i)
            for i, f in enumerate(losses)
        ]
        inc = np.maximum(np.array(found) - bases, 0.0)
        evals = len(losses) * (steps + 1)
        err = inc.std(ddof=1) / np.sqrt(len(inc)) if len(inc) > 1 else np.nan
        value = float(w @ inc)
    return AdaptiveSharpness(float(value), float(err), float(w @ bases), inc, kind, rho, evals)


def _average_case(losses, p, scale, rho, draws, seed, bases, w):
    inc = np.zeros(draws)
    with torch.no_grad():
        for i in range(draws):
            xi = gaussian_like(p, seed + i)
            q = {k: p[k] + rho * (scale[k] * xi[k]) for k in p}
            inc[i] = w @ (np.array([float(f(q)) for f in losses]) - bases)
    return inc, draws * len(losses)


def _apgd_checkpoints(steps: int) -> set[int]:
    """Auto-PGD's step-size checkpoints ceil(p_j steps): p = 0.22, then gaps shrinking by
    0.03 to at least 0.06 (Croce and Hein 2020)."""
    p, prev, out = 0.22, 0.0, set()
    while p <= 1:
        out.add(math.ceil(p * steps))
        p, prev = p + max(p - prev - 0.03, 0.06), p
    return out


def _adaptive_ascent(loss, p, scale, rho, norm, steps, seed) -> float:
    """The largest loss(p + scale * u) seen over ||u||_norm <= rho (see adaptive_sharpness_of)."""
    if norm == "linf":
        gen = torch.Generator().manual_seed(seed)
        u = {
            k: (torch.rand(v.shape, generator=gen, dtype=v.dtype) * 2 - 1) * rho
            for k, v in p.items()
        }
        u = {k: v.to(p[k].device) for k, v in u.items()}
        proj = lambda u: {k: v.clamp(-rho, rho) for k, v in u.items()}
        direction = lambda g: {k: v.sign() for k, v in g.items()}
    else:
        u = _scale_to(gaussian_like(p, seed), rho)
        proj = lambda u: _scale_to(u, rho, shrink_only=True)
        direction = lambda g: _scale_to(g, 1.0)

    def value_and_grad(u):
        leaves = {k: v.clone().requires_grad_() for k, v in u.items()}
        out = loss({k: p[k] + scale[k] * leaves[k] for k in p})
        grads = torch.autograd.grad(out, list(leaves.values()))
        return out.item(), dict(zip(p, grads, strict=True))

    eta, checkpoints = 2 * rho, _apgd_checkpoints(steps)
    f, g = value_and_grad(u)
    best = (f, u, g)
    last, raised, best_at_last, halved = 0, 0, f, False
    for k in range(1, steps + 1):
        d = direction(g)
        u = proj({n: u[n] + eta * d[n] for n in u})
        f_new, g = value_and_grad(u)
        raised += f_new > f
        f = f_new
        if f > best[0]:
            best = (f, u, g)
        if k in checkpoints:
            # Auto-PGD's two conditions: too few steps raised the loss, or the step was not
            # halved at the previous checkpoint and the best loss has not moved since.
            stalled = not halved and best[0] <= best_at_last
            halved = raised < 0.75 * (k - last) or stalled
            if halved:
                eta /= 2
                f, u, g = best
            last, raised, best_at_last = k, 0, best[0]
    return best[0]


def _scale_to(u: Params, radius: float, shrink_only: bool = False) -> Params:
    """``u`` scaled to l2 norm ``radius`` over all tensors (only if above it: ``shrink_only``)."""
    norm = float(torch.sqrt(sum((v.double() ** 2).sum() for v in u.values())))
    if norm == 0 or (shrink_only and norm <= radius):
        return u
    return {k: v * (radius / norm) for k, v in u.items()}
