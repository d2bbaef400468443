"""The edge of stability: optimizers' sharpness thresholds and Adam's preconditioned sharpness.

Cohen et al. (ICLR 2021, "Gradient descent on neural networks typically occurs at the edge
of stability"): on a quadratic, gradient descent with step eta diverges along any Hessian
eigenvector whose eigenvalue exceeds 2 / eta; in training, the top eigenvalue lambda_1 rises
until it reaches that threshold and hovers there. Heavy-ball momentum beta (PyTorch's SGD
with momentum and no dampening) moves the threshold to (2 + 2 beta) / eta. Cohen et al.
(2022, "Adaptive gradient methods at the edge of stability") show that Adam does the same
with the preconditioned sharpness lambda_1(P^-1 H), P = diag(sqrt(v_hat) + eps), against
(2 + 2 beta_1) / ((1 - beta_1) eta), which is 38 / eta for beta_1 = 0.9: with P held
fixed, Adam's update is heavy-ball momentum beta_1 with step (1 - beta_1) eta on the
preconditioned problem (the first moment's bias correction, which tends to 1, is ignored).
The general formula is the one used here; 38 / eta is its value at beta_1 = 0.9.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from lslib.config import OPTIMIZERS
from lslib.hessian import HVP, DataHVP, Eigen, top_eigen
from lslib.params import Params, flatten


def stability_threshold(
    optimizer: str, lr: float, momentum: float = 0.9, beta1: float = 0.9
) -> float:
    """The sharpness above which the optimizer is unstable on a quadratic.

    Args:
        optimizer: ``'sgd'`` (2 / lr), ``'momentum'`` (heavy ball: (2 + 2 momentum) / lr) or
            ``'adam'`` ((2 + 2 beta1) / ((1 - beta1) lr), for the preconditioned sharpness;
            38 / lr at beta1 = 0.9, Cohen et al. 2022).
        lr: the step size eta.
        momentum: heavy-ball beta (``'momentum'`` only).
        beta1: Adam's first-moment decay (``'adam'`` only).
    Returns:
        The threshold on lambda_1 (on the preconditioned lambda_1 for Adam).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is unknown; allowed: {OPTIMIZERS}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} is invalid; allowed: finite > 0")
    for name, b in (("momentum", momentum), ("beta1", beta1)):
        if not 0 <= b < 1:
            raise ValueError(f"{name}={b!r} is invalid; allowed: a number in [0, 1)")
    if optimizer == "sgd":
        return 2 / lr
    if optimizer == "momentum":
        return (2 + 2 * momentum) / lr
    return (2 + 2 * beta1) / ((1 - beta1) * lr)


def adam_preconditioner(optim_state, model: nn.Module) -> Params:
    """Adam's diagonal preconditioner P = sqrt(v_hat) + eps, per parameter of ``model``.

    v_hat = v / (1 - beta2^t) is the bias-corrected second moment (``exp_avg_sq``, or
    ``max_exp_avg_sq`` with amsgrad) after t steps: the P that divides the next step.

    Args:
        optim_state: a ``torch.optim.Adam`` (or AdamW) built on ``model.parameters()`` in
            order, or its ``state_dict()`` (as in a stored checkpoint's ``optim``).
        model: gives the parameter names, in the optimizer's order.
    Returns:
        {name: P} shaped like the parameters (on the state's device).
    """
    sd = optim_state.state_dict() if isinstance(optim_state, torch.optim.Optimizer) else optim_state
    names = [k for k, _ in model.named_parameters()]
    out = {}
    for group in sd["param_groups"]:
        beta2, eps = group["betas"][1], group["eps"]
        for i in group["params"]:
            st = sd["state"].get(i)
            if not st or "exp_avg_sq" not in st:
                raise ValueError(f"parameter {i} has no Adam state; allowed: an Adam after a step")
            v = st["max_exp_avg_sq"] if group.get("amsgrad") else st["exp_avg_sq"]
            t = float(st["step"])
            out[names[i]] = (v / (1 - beta2**t)).sqrt() + eps
    if len(out) != len(names):
        raise ValueError(f"the optimizer holds {len(out)} parameters, the model {len(names)}")
    return {k: out[k] for k in names}


class _Preconditioned:
    """u -> P^-1/2 H P^-1/2 u: symmetric, with the eigenvalues of P^-1 H."""

    def __init__(self, hvp: HVP | DataHVP, precond: Params):
        self.hvp, self.n, self.dtype, self.device = hvp, hvp.n, hvp.dtype, hvp.device
        self.d = flatten(precond).to(hvp.device, hvp.dtype).rsqrt()
        self.calls = 0

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.d * self.hvp(self.d * u.to(self.device, self.dtype))


def preconditioned_sharpness(
    model: nn.Module,
    x,
    y,
    precond: Params,
    k: int = 1,
    tol: float = 1e-6,
    seed: int = 0,
    params: Params | None = None,
    loss_fn=F.cross_entropy,
    method: str = "auto",
    chunk: int | None = None,
) -> Eigen:
    """The top eigenvalues of P^-1 H, H the Hessian of the mean loss on (x, y).

    Cohen et al. (2022, "Adaptive gradient methods at the edge of stability") call
    lambda_1(P^-1 H) Adam's preconditioned sharpness, P = diag(sqrt(v_hat) + eps) from
    ``adam_preconditioner``. P^-1 H is similar to the symmetric P^-1/2 H P^-1/2, whose top
    eigenpairs ``lslib.hessian.top_eigen`` (Lanczos) finds from ``HVP`` products.

    Args:
        model, x, y, params, loss_fn, method: as for ``lslib.hessian.HVP``.
        chunk: if set, the products are accumulated over chunks of this many images
            (``lslib.hessian.DataHVP``: the chunks' graphs are kept up to its ``keep``
            images, beyond that memory is bounded by one chunk); same Hessian.
        precond: P, positive, shaped like the parameters.
        k, tol, seed: as for ``top_eigen``.
    Returns:
        Eigen: values (k,) of P^-1 H; vectors u of P^-1/2 H P^-1/2 (an eigenvector of
        P^-1 H is P^-1/2 u); residuals and products as in ``top_eigen``.
    """
    if chunk is None:
        hvp = HVP(model, x, y, params=params, method=method, loss_fn=loss_fn)
    else:
        hvp = DataHVP(model, x, y, chunk, method=method, params=params, loss_fn=loss_fn)
    if set(precond) != set(hvp.params) or any(
        precond[n].shape != v.shape for n, v in hvp.params.items()
    ):
        raise ValueError("precond must have the model's parameter names and shapes")
    precond = {n: precond[n] for n in hvp.params}
    if not all(bool((v > 0).all()) and bool(torch.isfinite(v).all()) for v in precond.values()):
        raise ValueError("precond must be finite and > 0 (Adam's sqrt(v_hat) + eps is)")
    return top_eigen(_Preconditioned(hvp, precond), k=k, tol=tol, seed=seed)
