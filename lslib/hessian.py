"""Hessian of the mean loss with respect to all parameters: products, spectra, trace.

Hessian-vector products (HVPs), chosen by ``HVP(method=...)``:

- ``'mlp'`` (picked by ``'auto'`` for an ``nn.Sequential`` of Flatten, then Linear layers
  with ReLU between, under cross-entropy): the closed-form second-order forward and
  backward pass (Pearlmutter's R-operator), a dozen tensor operations per product with the
  activations of one forward pass reused. It does the same arithmetic as double
  backpropagation without the autograd engine's bookkeeping: ~1.6x faster per product on
  MLP-128 with 128 images.
- ``'cnn'`` (``'auto'`` for other ``nn.Sequential`` models of Conv2d, Linear, ReLU,
  non-overlapping MaxPool2d and Flatten layers under cross-entropy, such as SimpleCNN):
  the same closed form layer by layer (``lslib.rop``), with the pools' argmax indices and
  the ReLU masks of one forward pass, and a per-image state ~6x smaller than a gradient
  graph, so it is kept for whole data sets (``DataHVP``).
- ``'graph'`` (``'auto'`` for every other model): double backpropagation with the gradient
  graph built once and reused for every product (~1.4x faster on MLP-128 than rebuilding
  it each time).
- ``'func'``: ``torch.func``'s forward-over-reverse ``jvp(grad(f))``.

All four are checked against a dense autograd Hessian in the tests.

Top eigenpairs come from the Lanczos method with full reorthogonalization, run in torch
on the HVP's device until every wanted Ritz pair's relative residual
||Hv - lambda v|| / |lambda| = |beta_m s_mi| / |theta_i| is below the tolerance. Unlike
power iteration with deflation it converges to a set tolerance in few products (15-21
for the top 3 of MLP-128 and SimpleCNN-32 at tolerances 1e-4 to 1e-6, against 30-44 for
PyHessian's defaults at a 10^3 times larger error), and each eigenpair is returned with
its residual and the number of HVPs spent, so a result can be trusted. (scipy's ARPACK
``eigsh`` needs about as many products but spends more time between them.)
``DataHVP`` is the same product for the mean loss over a whole data set, accumulated in
chunks (graphs kept up to 2,048 images; beyond that memory bounded by one chunk), so the same eigensolver and estimators apply to
the full-data Hessian.

``trace`` estimates tr(H) at a given product budget by Hutchinson's estimator, Hutch++
(Meyer et al. 2021) or XTrace (Epperly et al. 2024); the last two project out the dominant
eigenspace found by a sketch and need several times fewer products when a few
eigenvalues dominate. The stochastic Lanczos quadrature (SLQ) spectral density follows
Yao et al. 2020 (PyHessian) and Ghorbani et al. 2019.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp

from lslib.params import Params, check_data, check_params, eval_mode, flatten, params_of, unflatten
from lslib.rop import SequentialCurvature, sequential_ops

METHODS = ("auto", "mlp", "cnn", "graph", "func")
# DataHVP keeps every chunk's gradient graph when x has at most this many images: the
# memory of one 2,048-image graph (SimpleCNN-32: ~2 GB at the peak), reused by every product.
KEEP_IMAGES = 2048
# The closed form's (method 'cnn') per-chunk state is kept up to this many bytes: ~6x more
# compact than a gradient graph (SimpleCNN-32: 157 KiB an image), 10,000 images of
# SimpleCNN-64 (3.0 GiB) fit.
KEEP_BYTES = 4 * 2**30


class HVP:
    """v -> H v for the mean loss of ``model`` on (x, y) at weights ``params`` (flat vectors).

    ``method``: ``'mlp'`` (closed-form second-order pass for a Linear/ReLU chain under
    cross-entropy), ``'cnn'`` (the same for a Sequential of Conv2d, Linear, ReLU,
    non-overlapping MaxPool2d and Flatten layers), ``'graph'`` (double backward through a
    reused gradient graph), ``'func'`` (``torch.func`` forward-over-reverse), or ``'auto'``:
    the first of ``'mlp'`` and ``'cnn'`` that applies, else ``'graph'``. ``calls`` counts
    the products computed.
    """

    def __init__(
        self,
        model: nn.Module,
        x,
        y,
        params: Params | None = None,
        method="auto",
        loss_fn=F.cross_entropy,
    ):
        check_data(x, y, model, labels=loss_fn is F.cross_entropy)
        self.model, self.x, self.y, self.loss_fn = model, x, y, loss_fn
        _setup(self, model, params, method, loss_fn)
        self._product = _product(self, x, y)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self._product(v.to(self.device, self.dtype))


class DataHVP:
    """v -> H v for the mean loss over ALL of (x, y), in chunks of ``chunk`` images.

    The product is the chunk-size-weighted mean of per-chunk products (exact, also for an
    uneven last chunk: the mean loss is the weighted mean of the chunk means), each by the
    same ``method`` as ``HVP``. For ``'graph'``, when x is one chunk or has at most ``keep``
    images, every chunk's gradient graph is built once and reused by every product (as in
    ``HVP``): memory then holds the graphs of all of x (SimpleCNN-32 at 2,048 float32
    images: ~2 GB at the peak; SimpleCNN-64 about twice that); beyond ``keep`` no more than
    one chunk's graph is alive at a time, each built, used and freed within a product.
    ``'func'`` keeps no graph (each product recomputes its chunk's forward pass). For
    ``'mlp'`` the closed form's per-chunk state (hidden activations, ReLU masks, softmax
    and backpropagated gradients; no graph) is kept between products when it holds no more
    numbers than x itself (MLP-128: 404 an image against x's 784), else rebuilt per product
    at the cost of one more forward and backward pass per chunk. For ``'cnn'`` the per-chunk
    state (layer inputs, ReLU masks, pool indices, gradients; SimpleCNN-32: 157 KiB an
    image) is kept when all of it holds at most ``KEEP_BYTES`` (4 GiB: 10,000 images of
    SimpleCNN-64) or x has at most ``keep`` images, else rebuilt per product. Same interface as ``HVP`` (``n``,
    ``dtype``, ``device``, ``calls``, ``method``, ``params``): ``top_eigen``, ``lanczos``,
    ``spectral_density`` and ``trace`` take it unchanged.

    ``chunk=None`` picks 256 images for a model with convolutions on the CPU (their
    activations then stay in cache: SimpleCNN-32's product on 1,024 images measured 0.55 s in
    kept chunks of 256 against 1.1 s in one of 1,024, and on 2,048 images 1.17 s against
    3.97 s in two rebuilt chunks of 1,024) and 1,024 otherwise.
    """

    def __init__(
        self,
        model: nn.Module,
        x,
        y,
        chunk: int | None = None,
        method="auto",
        params: Params | None = None,
        loss_fn=F.cross_entropy,
        keep: int = KEEP_IMAGES,
    ):
        whole = lambda v, lo: isinstance(v, int) and not isinstance(v, bool) and v >= lo
        if not (chunk is None or whole(chunk, 1)):
            raise ValueError(f"chunk={chunk!r} is invalid; allowed: int >= 1, or None")
        if not whole(keep, 0):
            raise ValueError(f"keep={keep!r} is invalid; allowed: int >= 0")
        check_data(x, y, model, labels=loss_fn is F.cross_entropy)
        if chunk is None:
            conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
            chunk = 256 if conv and x.device.type == "cpu" else 1024
        self.model, self.x, self.y, self.loss_fn, self.chunk = model, x, y, loss_fn, chunk
        _setup(self, model, params, method, loss_fn)
        self._chunks = [(x[i : i + chunk], y[i : i + chunk]) for i in range(0, len(y), chunk)]
        first = _product(self, *self._chunks[0]) if self.method == "cnn" else None
        if self.method == "mlp":
            kept = len(self._chunks) == 1 or _mlp_numbers(self._chain, len(y)) <= x.numel()
        elif self.method == "cnn":
            held = first.nbytes / len(self._chunks[0][1]) * len(y)
            kept = len(self._chunks) == 1 or len(y) <= keep or held <= KEEP_BYTES
        else:
            kept = len(self._chunks) == 1 or len(y) <= keep
        self._kept = None
        if kept:
            self._kept = [first] if first is not None else []
            self._kept += [_product(self, xc, yc) for xc, yc in self._chunks[len(self._kept) :]]

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        v = v.to(self.device, self.dtype)
        out = torch.zeros_like(v)
        for i, (xc, yc) in enumerate(self._chunks):
            prod = self._kept[i] if self._kept is not None else _product(self, xc, yc)
            out.add_(prod(v), alpha=len(yc) / len(self.y))
        return out


def _setup(op, model, params, method, loss_fn) -> None:
    """Shared by HVP and DataHVP: check and store parameters, resolve ``'auto'``."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; allowed: {METHODS}")
    op.params = params_of(model) if params is None else params
    check_params(op.params)
    op.n = sum(v.numel() for v in op.params.values())
    first = next(iter(op.params.values()))
    op.dtype, op.device = first.dtype, first.device
    ce = loss_fn is F.cross_entropy
    chain = _linear_relu_chain(model) if ce else None
    ops = sequential_ops(model) if ce else None
    if method == "cnn" and ops is None:
        raise ValueError(
            "method='cnn' needs an nn.Sequential of Conv2d (zero padding), Linear, ReLU, "
            "Flatten and non-overlapping MaxPool2d layers, a Linear last, and cross-entropy"
        )
    if method == "mlp" and chain is None:
        raise ValueError(
            "method='mlp' needs an nn.Sequential of parameter-free input "
            "modules, then Linear layers with ReLU between, and cross-entropy"
        )
    if method == "auto":
        method = "mlp" if chain is not None else "cnn" if ops is not None else "graph"
    op.method, op.calls, op._chain, op._ops = method, 0, chain, ops


def _product(op, x, y):
    """v -> H v (flat, in op's dtype) for the mean loss on (x, y) by ``op.method``."""
    if op.method == "mlp":
        return _MLPCurvature(op._chain, op.params, x, y)
    if op.method == "cnn":
        return SequentialCurvature(op._ops, op.params, x, y)

    def loss(p):
        with eval_mode(op.model):
            return op.loss_fn(functional_call(op.model, p, (x,)), y)

    if op.method == "func":
        p = {k: v.detach() for k, v in op.params.items()}
        return lambda v: flatten(jvp(grad(loss), (p,), (unflatten(v, op.params),))[1]).detach()
    leaves = {k: v.detach().clone().requires_grad_() for k, v in op.params.items()}
    with torch.enable_grad():
        grads = torch.autograd.grad(loss(leaves), list(leaves.values()), create_graph=True)

    def graph(v):
        with torch.enable_grad():
            hv = torch.autograd.grad(
                grads,
                list(leaves.values()),
                retain_graph=True,
                grad_outputs=list(unflatten(v, op.params).values()),
            )
        return torch.cat([h.reshape(-1) for h in hv]).detach()

    return graph


def _mlp_numbers(chain, n: int) -> int:
    """Numbers kept by ``_MLPCurvature`` for n images beyond the input: activations, masks
    and gradients of each hidden layer, softmax and gradient of the output."""
    widths = [lin.out_features for _, lin in chain[1]]
    return n * (3 * sum(widths[:-1]) + 2 * widths[-1])


def _linear_relu_chain(model: nn.Module):
    """(input modules, [(name, Linear)]) for Sequential(parameter-free..., Linear, ReLU, ..., Linear)."""
    if not isinstance(model, nn.Sequential):
        return None
    mods = list(model.named_children())
    i = 0
    while i < len(mods) and not isinstance(mods[i][1], nn.Linear):
        if any(True for _ in mods[i][1].parameters()) or not isinstance(mods[i][1], nn.Flatten):
            return None
        i += 1
    body = mods[i:]
    if not body or len(body) % 2 == 0:
        return None
    linears, relus = body[0::2], body[1::2]
    if not all(isinstance(m, nn.Linear) for _, m in linears):
        return None
    if not all(type(m) is nn.ReLU for _, m in relus):
        return None
    return nn.Sequential(*[m for _, m in mods[:i]]), linears


class _MLPCurvature:
    """Exact Hessian-vector products of the mean cross-entropy of a Linear/ReLU chain.

    With z_l = a_{l-1} W_l^T + b_l, a_l = relu(z_l) and g_l = dL/dz_l from one forward and
    backward pass, a product is the directional derivative R{.} of the gradient along v
    (Pearlmutter 1994): a forward pass Rz_l = Ra_{l-1} W_l^T + a_{l-1} V_l^T + v_l,
    Ra_l = relu'(z_l) Rz_l; at the loss Rg_L = (p * Rz_L - p * <p, Rz_L>) / n (softmax
    curvature); a backward pass HV_l = Rg_l^T a_{l-1} + g_l^T Ra_{l-1}, Hv_l = sum Rg_l,
    Rg_{l-1} = relu'(z_{l-1}) (Rg_l W_l + g_l V_l). relu'' = 0 almost everywhere, as in
    autograd. Its cost is that of the double backward (two products with the input), without
    the autograd engine's bookkeeping, which dominates for small batches.
    """

    def __init__(self, chain, params: Params, x, y):
        prefix, linears = chain
        with torch.no_grad():
            a = prefix(x)
            self.w, self.keys, self.acts, self.masks = [], [], [a], []
            for j, (name, lin) in enumerate(linears):
                w, b = params[f"{name}.weight"], params.get(f"{name}.bias")
                if (b is None) != (lin.bias is None):
                    raise ValueError(f"parameters and model disagree on {name}.bias")
                self.w.append(w)
                self.keys.append((f"{name}.weight", None if b is None else f"{name}.bias"))
                z = a @ w.T if b is None else torch.addmm(b, a, w.T)
                if j < len(linears) - 1:
                    self.masks.append((z > 0).to(z.dtype))
                    a = z.relu()
                    self.acts.append(a)
            n = len(y)
            self.p = torch.softmax(z, 1)
            g = self.p.clone()
            g[torch.arange(n), y] -= 1
            g /= n
            self.g = [g]  # g_l = dL/dz_l, last layer first
            for w, m in zip(self.w[:0:-1], self.masks[::-1], strict=True):
                g = (g @ w) * m
                self.g.append(g)
            self.g.reverse()
            self.n = n
        order = [k for pair in self.keys for k in pair if k is not None]
        if order != list(params):
            raise ValueError(f"parameter order {list(params)} is not the chain's {order}")
        self.params = params

    @torch.no_grad()
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        vs = unflatten(v, self.params)
        out = torch.empty_like(v)
        hs = unflatten(out, self.params)
        V = [(vs[kw], None if kb is None else vs[kb]) for kw, kb in self.keys]
        L = len(self.w)
        ra, ras = None, [None]  # R{a_0} = 0: the input does not depend on the weights
        for j in range(L):
            vw, vb = V[j]
            rz = self.acts[j] @ vw.T
            if ra is not None:
                rz.addmm_(ra, self.w[j].T)
            if vb is not None:
                rz += vb
            if j < L - 1:
                ra = rz.mul_(self.masks[j])
                ras.append(ra)
        p = self.p
        rg = (p * rz).sub_(p * (p * rz).sum(1, keepdim=True)).div_(self.n)
        for j in range(L - 1, -1, -1):
            kw, kb = self.keys[j]
            torch.mm(rg.T, self.acts[j], out=hs[kw])
            if ras[j] is not None:
                hs[kw].addmm_(self.g[j].T, ras[j])
            if kb is not None:
                torch.sum(rg, 0, out=hs[kb])
            if j > 0:
                rg = (rg @ self.w[j]).addmm_(self.g[j], V[j][0]).mul_(self.masks[j - 1])
        return out


@dataclass(frozen=True)
class Eigen:
    """Top eigenpairs: values (k,) descending, vectors (k, n), relative residuals (k,), HVPs used."""

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    hvps: int


def top_eigen(
    hvp: HVP, k: int = 3, tol: float = 1e-6, seed: int = 0, max_steps: int = 100
) -> Eigen:
    """The k largest (algebraic) eigenpairs of H by Lanczos with full reorthogonalization.

    Stops when all k relative residuals ||Hv - theta v|| / |theta| are below ``tol``
    (checked after every product), or after ``max_steps`` products; the residuals are
    returned either way, so a caller can see an unconverged pair. A relative residual r
    bounds the relative error of its eigenvalue by r (an eigenvalue of H lies within
    ||Hv - theta v|| of theta), and in practice by about r^2 |theta| / gap. Vectors are kept
    in the HVP's dtype on its device (steps x n).
    """
    if not isinstance(k, int) or not 1 <= k < hvp.n:
        raise ValueError(f"k={k!r} is invalid; allowed: 1 <= k < {hvp.n} (the parameter count)")
    if not tol > 0:
        raise ValueError(f"tol={tol!r} is invalid; allowed: > 0")
    steps = min(hvp.n, max(max_steps, 2 * k + 2))
    Q = torch.empty(min(steps, 32), hvp.n, dtype=hvp.dtype, device=hvp.device)  # grows by doubling
    Q[0] = _unit_random(hvp, seed)
    T = np.zeros((steps, steps))  # the tridiagonal Lanczos matrix
    start, eps = hvp.calls, torch.finfo(hvp.dtype).eps
    for j in range(steps):
        w, basis = hvp(Q[j]), Q[: j + 1]
        # Full reorthogonalization: one classical Gram-Schmidt pass against every Lanczos
        # vector (it also subtracts alpha_j q_j and beta_j-1 q_j-1), repeated if it cancelled
        # more than 99 % of Hq: one pass leaves about eps ||Hq|| / ||w|| of the basis in w.
        h = torch.mv(basis, w)
        w.addmv_(basis.T, h, alpha=-1)
        b, hn = float(w.norm()), float(h.norm())
        if b < 0.01 * (hn**2 + b**2) ** 0.5:
            h2 = torch.mv(basis, w)
            w.addmv_(basis.T, h2, alpha=-1)
            h += h2
            b = float(w.norm())
        T[j, j] = float(h[j])
        m = j + 1
        # The end, or an invariant subspace (Hq lies in the basis up to rounding).
        done = m == steps or b <= 100 * eps * (hn**2 + b**2) ** 0.5
        if m >= k:
            theta, s = np.linalg.eigh(T[:m, :m])
            theta, s = theta[::-1][:k].copy(), s[:, ::-1][:, :k].copy()
            res = np.abs(b * s[-1]) / np.maximum(np.abs(theta), np.finfo(float).tiny)
            if done or (res < tol).all():
                vecs = torch.as_tensor(s.T, dtype=hvp.dtype, device=hvp.device) @ Q[:m]
                return Eigen(theta, vecs.cpu().double().numpy(), res, hvp.calls - start)
        if m == len(Q):
            Q = torch.cat([Q, torch.empty_like(Q)])[:steps]
        if done:  # fewer than k Ritz pairs in an invariant subspace: restart orthogonally
            w = _unit_random(hvp, seed + m)
            for _ in range(2):
                w.addmv_(Q[:m].T, torch.mv(Q[:m], w), alpha=-1)
            b = float(w.norm())
            torch.div(w, b, out=Q[m])
            continue
        T[j, j + 1] = T[j + 1, j] = b
        torch.div(w, b, out=Q[m])
    raise AssertionError("not reached: the last step always returns")


def _unit_random(hvp: HVP, seed: int) -> torch.Tensor:
    """A seeded random unit vector (drawn on the CPU, so the same on every device)."""
    q = torch.randn(hvp.n, generator=torch.Generator().manual_seed(seed)).to(hvp.device, hvp.dtype)
    return q / q.norm()  # normalized in the working precision


def eigenvalue_stats(
    model, x, y, n_batches: int = 5, batch_size: int = 128, k: int = 3, seed=0, tol: float = 1e-6
) -> dict:
    """Top-k eigenvalues on ``n_batches`` disjoint mini-batches of (x, y) (a seeded shuffle).

    Returns a dict: ``values`` (n_batches, k), ``mean``/``std``/``min``/``max`` (k,),
    ``residuals`` (n_batches, k) and ``hvps`` (n_batches,).
    """
    check_data(x, y, model)
    for name, v in (("n_batches", n_batches), ("batch_size", batch_size), ("k", k)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid; allowed: int >= 1")
    if n_batches * batch_size > len(y):
        raise ValueError(
            f"{n_batches} batches of {batch_size} need {n_batches * batch_size} "
            f"images; the set has {len(y)}"
        )
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(x.device)
    vals, res, hvps = [], [], []
    for i in range(n_batches):
        idx = perm[i * batch_size : (i + 1) * batch_size]
        e = top_eigen(HVP(model, x[idx], y[idx]), k=k, tol=tol, seed=seed + i)
        vals.append(e.values)
        res.append(e.residuals)
        hvps.append(e.hvps)
    v = np.array(vals)
    return {
        "values": v,
        "mean": v.mean(0),
        "std": v.std(0, ddof=1) if n_batches > 1 else 0 * v[0],
        "min": v.min(0),
        "max": v.max(0),
        "residuals": np.array(res),
        "hvps": np.array(hvps),
    }


def rademacher(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=gen).float().mul_(2).sub_(1)


TRACE_METHODS = ("hutchinson", "hutchpp", "xtrace")
_MIN_BUDGET = {"hutchinson": 2, "hutchpp": 4, "xtrace": 4}


@dataclass(frozen=True)
class TraceEstimate:
    """A trace estimate, its standard error, the products it spent and the estimator's name."""

    value: float
    stderr: float
    products: int
    method: str


def budget_limits(method: str, n: int) -> tuple[int, float]:
    """The smallest and largest budget ``trace`` accepts for ``method`` on ``n`` parameters:
    Hutch++ sketches budget // 3 directions and XTrace budget // 2, fewer than ``n`` each
    (their QR needs it); Hutchinson has no upper limit."""
    per = {"hutchinson": None, "hutchpp": 3, "xtrace": 2}[method]
    return _MIN_BUDGET[method], math.inf if per is None else per * n - 1


def trace(op, budget: int, method: str = "hutchpp", seed: int = 0) -> TraceEstimate:
    """tr(H) from at most ``budget`` products of ``op`` (an ``HVP``, ``DataHVP`` or alike).

    ``method``:

    - ``'hutchinson'`` (Hutchinson 1989): the mean of v^T H v over ``budget`` Rademacher v;
      stderr = sample std / sqrt(budget).
    - ``'hutchpp'`` (Meyer, Musco, Musco & Woodruff 2021, Hutch++): k = budget // 3 products
      sketch the range, Q = orth(H S); tr(Q^T H Q) exactly (k products) plus Hutchinson on
      the deflated (I - QQ^T) H (I - QQ^T) with the remaining budget - 2k products; stderr
      is that of the Hutchinson part (the exact part has none given Q).
    - ``'xtrace'`` (Epperly, Tropp & Webber 2024, XTrace): m = budget // 2 Rademacher test
      vectors; for each i, the Hutch++-like estimate whose basis spans H times the other
      m - 1 vectors and whose Hutchinson part uses vector i, averaged over i (the
      exchangeable estimator, Algorithm 1.2, with the basis downdated from one QR of H W
      rather than recomputed); stderr = std of the m estimates / sqrt(m), the paper's error
      estimate. Valid for indefinite H (only symmetry is used).

    Hutch++ and XTrace need fewer products than Hutchinson when a few eigenvalues dominate
    |H|; every estimator is unbiased. The returned ``products`` counts the HVPs spent
    (XTrace spends 2 * (budget // 2)). Blocks of vectors (n x budget) are held in op's dtype.
    """
    if method not in TRACE_METHODS:
        raise ValueError(f"method={method!r} is unknown; allowed: {TRACE_METHODS}")
    lo, hi = budget_limits(method, op.n)
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < lo:
        raise ValueError(
            f"budget={budget!r} is too small for method={method!r}; allowed: int >= {lo}"
        )
    if budget > hi:
        raise ValueError(
            f"budget={budget} is too large for method={method!r} on {op.n} "
            f"parameters; allowed: {lo} <= budget <= {hi}"
        )
    gen, start = torch.Generator().manual_seed(seed), op.calls
    est = {"hutchinson": _hutchinson, "hutchpp": _hutchpp, "xtrace": _xtrace}[method]
    value, stderr = est(op, budget, gen)
    return TraceEstimate(float(value), float(stderr), op.calls - start, method)


def _signs(op, m: int, gen: torch.Generator) -> torch.Tensor:
    """m Rademacher vectors as the columns of an (n, m) block in op's dtype and device."""
    out = torch.empty(op.n, m, dtype=op.dtype, device=op.device)
    for j in range(m):
        out[:, j] = rademacher(op.n, gen)
    return out


def _apply(op, V: torch.Tensor) -> torch.Tensor:
    """H V column by column (one product each)."""
    return torch.stack([op(V[:, j].contiguous()) for j in range(V.shape[1])], 1)


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(np.mean(x)), float(np.std(x, ddof=1) / np.sqrt(len(x)))


def _hutchinson(op, m: int, gen) -> tuple[float, float]:
    # vectors drawn one at a time: the same sequence as the original hutchinson_trace
    vs = (rademacher(op.n, gen).to(op.device, op.dtype) for _ in range(m))
    return _mean_se(np.array([float(v @ op(v)) for v in vs]))


def _hutchpp(op, budget: int, gen) -> tuple[float, float]:
    k = budget // 3
    Q = torch.linalg.qr(_apply(op, _signs(op, k, gen)))[0]
    exact = float((Q * _apply(op, Q)).sum())
    G = _signs(op, budget - 2 * k, gen)
    G -= Q @ (Q.T @ G)  # (I - QQ^T) G: then g^T (I-QQ^T) H (I-QQ^T) g = g'^T H g'
    value, se = _mean_se((G * _apply(op, G)).sum(0).double().cpu().numpy())
    return exact + value, se


def _xtrace(op, budget: int, gen) -> tuple[float, float]:
    W = _signs(op, budget // 2, gen)
    Y = _apply(op, W)
    Q, R = torch.linalg.qr(Y)
    Z = _apply(op, Q)
    small = lambda t: t.double().cpu()  # noqa: E731 -- the m x m algebra in float64
    Hq, X, R = small(Q.T @ Z), small(Q.T @ W), small(R)
    Hq = (Hq + Hq.T) / 2
    d = small((W * Y).sum(0))  # w_i^T H w_i
    # Leaving out column i of Y = QR leaves the span of Q (I - s_i s_i^T) with s_i the
    # normalized i-th column of R^-T (orthogonal to every other column of R).
    S = torch.linalg.inv(R).T
    S /= S.norm(dim=0)
    base = Hq.trace() - (S * (Hq @ S)).sum(0)  # tr(Q_i^T H Q_i)
    # Hutchinson on the complement with w_i: p = (I - Q_i Q_i^T) w_i = w_i - Q c_i, and
    # p^T H p = w^T H w - 2 c^T Q^T H w + c^T Q^T H Q c, with Q^T H w_i = Q^T y_i = R[:, i].
    C = X - S * (S * X).sum(0)
    ests = base + d - 2 * (R * C).sum(0) + (C * (Hq @ C)).sum(0)
    return _mean_se(ests.numpy())


def hutchinson_trace(hvp: HVP, samples: int = 100, seed: int = 0) -> tuple[float, float]:
    """tr(H) ~ mean of v^T H v over Rademacher v; returns (estimate, standard error).

    The same numbers as ``trace(hvp, samples, 'hutchinson', seed)``, kept for callers.
    """
    t = trace(hvp, samples, "hutchinson", seed)
    return t.value, t.stderr


def lanczos(hvp: HVP, steps: int, v0: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` Lanczos steps with full reorthogonalization; returns the tridiagonal (alpha, beta)."""
    steps = min(steps, hvp.n)
    Q = torch.zeros(steps, hvp.n, dtype=torch.float64, device=hvp.device)
    q = v0.double().to(hvp.device)
    q = q / q.norm()  # normalized in float64
    alpha, beta = [], []
    for j in range(steps):
        Q[j] = q
        w = hvp(q).double()
        alpha.append(float(q @ w))
        w -= Q[: j + 1].T @ (Q[: j + 1] @ w)  # full reorthogonalization, twice is enough
        w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(w.norm())
        if j == steps - 1 or b < 1e-10:
            break
        beta.append(b)
        q = w / b
    return np.array(alpha), np.array(beta[: len(alpha) - 1])


def spectral_density(hvp: HVP, steps: int = 80, runs: int = 3, seed: int = 0) -> dict:
    """Stochastic Lanczos quadrature: Ritz values (nodes) and weights from ``runs`` random starts.

    The density is sum_r sum_i w_ri N(t; node_ri, sigma^2) / runs (see ``density_on``).
    """
    gen = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(runs):
        a, b = lanczos(hvp, steps, rademacher(hvp.n, gen))
        t, u = np.linalg.eigh(np.diag(a) + np.diag(b, 1) + np.diag(b, -1))
        nodes.append(t)
        weights.append(u[0] ** 2)
    return {"nodes": nodes, "weights": weights}


def density_on(slq: dict, grid: np.ndarray, sigma: float) -> np.ndarray:
    """The SLQ density smoothed by a Gaussian of width ``sigma``, on ``grid``."""
    out = np.zeros_like(grid, dtype=np.float64)
    for t, w in zip(slq["nodes"], slq["weights"], strict=True):
        out += (w[None, :] * np.exp(-((grid[:, None] - t[None, :]) ** 2) / (2 * sigma**2))).sum(1)
    return out / (len(slq["nodes"]) * sigma * np.sqrt(2 * np.pi))
