"""Curvature at the state of the art: lslib vs curvlinops, hessian-eigenthings and PyHessian.

One run, side by side, on a trained MLP-128 and SimpleCNN-32 (``common.py``):

(a) Top-3 Hessian eigenvalues on one 128-image test batch and on the full test set
    (10,000 images, in chunks of 250 for every library):
  - lslib: ``top_eigen(HVP(...) or DataHVP(..., chunk=250), k=3, tol=1e-4)``;
  - curvlinops 3.0.1: ``HessianLinearOperator(...).to_scipy()`` and scipy's ARPACK
    ``eigsh(k=3, which='LA', tol=1e-4)`` (its deterministic-data check switched off: it
    spends extra products);
  - hessian-eigenthings 1.0.0a5: ``lanczos(HessianOperator(...), k=3, which='LA',
    tol=1e-4, max_iter=m)``; it runs a fixed number of steps m, so m is the smallest of
    (8, 10, 12, 15, 20, 25, 30, 40) whose Ritz pairs it reports converged on the batch
    (the search is not timed), and the same m on the full set;
  - PyHessian 0.1: ``eigenvalues(top_n=3)`` at its defaults (power iteration, tol 1e-3);
    on the full set for MLP-128 only (SimpleCNN-32 would take minutes per run);
  - the reference: ARPACK ``eigsh`` (tol 1e-10) on float64 ``torch.func`` products
    (model and data in double), independent of every library's eigensolver and of
    lslib's closed-form MLP product; for SimpleCNN-32 on the full set in float32 at tol
    1e-7 (float64 would cost several more minutes), accurate to ~1e-6 relative.
  Batch runs: warm-up, then the best of ``--repeat``; full-set runs are timed once.
(b) Trace estimates at 30, 100 and 300 products, relative RMS error over ``--seeds`` seeds
    against the exact trace: lslib's three estimators, curvlinops' ``hutchinson_trace``,
    ``hutchpp_trace`` (at 30, 99, 300: it needs a multiple of 3) and ``xtrace``,
    hessian-eigenthings' ``hutchinson`` and ``hutch_plus_plus``, PyHessian's ``trace``
    (tol disabled, so it spends the budget). Every estimator but PyHessian's (which builds
    its own) gets the same product (lslib's), so only the estimators differ. Exact traces:
    the dense float64 Hessian for a small MLP-8; for MLP-128 and SimpleCNN-32,
    tr(H) = tr(GGN) = mean_n tr(J_n^T (diag p_n - p_n p_n^T) J_n) from per-sample
    Jacobians (for networks piecewise linear in each parameter, d^2 f / d theta_i^2 = 0,
    so the Hessian's residual term has a zero diagonal; checked against the dense
    Hessian on MLP-8). SimpleCNN-32: budgets 30 and 100 only, 2 seeds (its products are
    ~150x slower).

Usage: python benchmarks/curvature_vs_peers.py [--repeat 3] [--seeds 10] [--part all|trace|top3]
"""

import argparse
import copy
import sys
import time
from importlib.metadata import version

import curvlinops
import hessian_eigenthings as he
import numpy as np
import pyhessian
import scipy.sparse.linalg as sla
import torch
import torch.nn.functional as F
from common import data, timed, trained
from torch import nn
from torch.func import functional_call, jacrev, vmap

from lslib import hessian as H
from lslib.config import TrainConfig
from lslib.params import unflatten
from lslib.train import train_or_load

CHUNK, TOL = 250, 1e-4
SMALL = TrainConfig(model="mlp", width=8, optimizer="momentum", epochs=2, device="cpu")
BUDGETS = (30, 100, 300)


def batches(x, y):
    return [(x[i : i + CHUNK], y[i : i + CHUNK]) for i in range(0, len(y), CHUNK)]


# ---- (a) top-3 eigenvalues: one function per library, each returning (values, products)


def lslib_top3(model, x, y, m=None):
    op = H.HVP(model, x, y) if len(y) <= CHUNK else H.DataHVP(model, x, y, chunk=CHUNK)
    e = H.top_eigen(op, k=3, tol=TOL)
    return e.values, e.hvps


def counting(matvec, calls):
    def mv(*args):
        calls[0] += 1
        return matvec(*args)

    return mv


def curvlinops_top3(model, x, y, m=None):
    params = [p for p in model.parameters() if p.requires_grad]
    op = curvlinops.HessianLinearOperator(
        model,
        nn.CrossEntropyLoss(),
        params,
        batches(x, y),
        check_deterministic=False,
        num_data=len(y),
    ).to_scipy()
    calls = [0]
    lin = sla.LinearOperator(op.shape, matvec=counting(op.matvec, calls), dtype=op.dtype)
    v0 = np.random.default_rng(0).standard_normal(op.shape[0]).astype(op.dtype)
    vals = sla.eigsh(lin, k=3, which="LA", tol=TOL, v0=v0)[0]
    return np.sort(vals)[::-1], calls[0]


def eigenthings_op(model, x, y):
    loss = he.supervised_loss(F.cross_entropy)
    return he.HessianOperator(model, batches(x, y), loss, full_dataset=True)


def eigenthings_top3(model, x, y, m):
    op = eigenthings_op(model, x, y)
    calls = [0]
    op.matvec = counting(op.matvec, calls)
    r = he.lanczos(op, k=3, max_iter=m, tol=TOL, which="LA", seed=0)
    return np.sort(r.eigenvalues.double().numpy())[::-1], calls[0]


def eigenthings_steps(model, x, y):
    for m in (8, 10, 12, 15, 20, 25, 30, 40):
        r = he.lanczos(eigenthings_op(model, x, y), k=3, max_iter=m, tol=TOL, which="LA", seed=0)
        if bool(r.converged.all()):
            return m
    return m


def pyhessian_top3(model, x, y, m=None):
    ph = sys.modules["pyhessian.hessian"]  # the module; `pyhessian.hessian` is its class
    calls, real, real_dl = [0], ph.hessian_vector_product, ph.hessian.dataloader_hv_product
    ph.hessian_vector_product = counting(real, calls)
    ph.hessian.dataloader_hv_product = counting(real_dl, calls)
    try:
        torch.manual_seed(0)
        kw = {"data": (x, y)} if len(y) <= CHUNK else {"dataloader": batches(x, y)}
        hess = pyhessian.hessian(model, F.cross_entropy, cuda=False, **kw)
        vals, _ = hess.eigenvalues(top_n=3)
    finally:
        ph.hessian_vector_product, ph.hessian.dataloader_hv_product = real, real_dl
    return np.sort(vals)[::-1], calls[0]


def reference_top3(model, x, y, f64=True):
    """ARPACK eigsh on torch.func products, float64 unless ``f64`` is False (tol 1e-7)."""
    model = copy.deepcopy(model).double() if f64 else model
    x = x.double() if f64 else x
    hvp = H.DataHVP(model, x, y, chunk=CHUNK, method="func")
    mv = lambda v: hvp(torch.as_tensor(v.ravel())).double().numpy()
    op = sla.LinearOperator((hvp.n, hvp.n), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(1).standard_normal(hvp.n)
    vals = sla.eigsh(op, k=3, which="LA", tol=1e-10 if f64 else 1e-7, v0=v0)[0]
    return np.sort(vals)[::-1]


LIBS = {
    "lslib": lslib_top3,
    "curvlinops": curvlinops_top3,
    "eigenthings": eigenthings_top3,
    "PyHessian": pyhessian_top3,
}


def top3_table(repeat):
    d = data()
    rows = []
    for name in ("MLP-128", "SimpleCNN-32"):
        model = trained(name).eval()
        m = eigenthings_steps(model, d.test.x[:128], d.test.y[:128])
        for where, n in (("batch", 128), ("full", len(d.test.y))):
            x, y = d.test.x[:n], d.test.y[:n]
            f64 = not (name == "SimpleCNN-32" and where == "full")
            start = time.perf_counter()
            ref = reference_top3(model, x, y, f64)
            print(
                f"{name} {where}: reference {np.array2string(ref, precision=6)} "
                f"({'float64' if f64 else 'float32'}, {time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            times = {}
            for lib, fn in LIBS.items():
                if lib == "PyHessian" and where == "full" and name == "SimpleCNN-32":
                    continue
                run = lambda fn=fn, a=(model, x, y, m): fn(copy.deepcopy(a[0]), *a[1:])
                (vals, hvps), t = timed(
                    run, repeat if where == "batch" else 1, warmup=where == "batch"
                )
                err = float(np.max(np.abs(vals - ref) / np.abs(ref)))
                times[lib] = t
                rows.append((name, where, lib, t, hvps, err))
                note = f" (max_iter {m})" if lib == "eigenthings" else ""
                print(
                    f"  {lib:12s} {t:8.3f} s  {hvps:4d} HVPs  max rel err {err:.1e}{note}",
                    flush=True,
                )
            for lib in times:
                if lib != "lslib":
                    print(f"  {lib} time / lslib time: {times[lib] / times['lslib']:.2f}x")
    return rows


# ---- (b) trace estimators


class Shared:
    """lslib's product seen through each library's operator interface (one matrix for all)."""

    def __init__(self, hvp):
        self.hvp, self.shape, self.dtype, self.device = hvp, (hvp.n, hvp.n), hvp.dtype, hvp.device

    def __matmul__(self, M):  # curvlinops: A @ (n, k)
        return torch.stack([self.hvp(M[:, j].contiguous()) for j in range(M.shape[1])], 1)

    def eigenthings(self):
        return he.LambdaOperator(self.hvp, self.hvp.n, self.hvp.device, self.hvp.dtype)


def pyhessian_trace(model, x, y, budget, seed):
    torch.manual_seed(seed)
    hess = pyhessian.hessian(copy.deepcopy(model), F.cross_entropy, data=(x, y), cuda=False)
    return float(np.mean(hess.trace(maxIter=budget, tol=float("-inf"))))


def estimators(hvp, model, x, y):
    """name -> (budget, seed) -> estimate."""
    sh = Shared(hvp)

    def seeded(f):
        def g(b, s):
            torch.manual_seed(s)
            return float(f(b, s))

        return g

    return {
        "lslib hutchinson": lambda b, s: H.trace(hvp, b, "hutchinson", s).value,
        "lslib hutchpp": lambda b, s: H.trace(hvp, b, "hutchpp", s).value,
        "lslib xtrace": lambda b, s: H.trace(hvp, b, "xtrace", s).value,
        "curvlinops hutchinson": seeded(lambda b, s: curvlinops.hutchinson_trace(sh, b)),
        "curvlinops hutchpp": seeded(lambda b, s: curvlinops.hutchpp_trace(sh, b - b % 3)),
        "curvlinops xtrace": seeded(lambda b, s: curvlinops.xtrace(sh, b)),
        "eigenthings hutchinson": lambda b, s: (
            he.hutchinson(sh.eigenthings(), num_samples=b, seed=s).estimate
        ),
        "eigenthings hutch++": lambda b, s: (
            he.hutch_plus_plus(sh.eigenthings(), num_matvecs=b, seed=s).estimate
        ),
        "PyHessian": lambda b, s: pyhessian_trace(model, x, y, b, s),
    }


def ggn_trace(model, x, y, chunk=16):
    """tr(GGN) in float64 from per-sample Jacobians of the logits (see the module docstring)."""
    model = copy.deepcopy(model).double()
    p = {k: v.detach() for k, v in model.named_parameters()}
    f = lambda p, xi: functional_call(model, p, (xi[None],))[0]
    total = 0.0
    for i in range(0, len(y), chunk):
        xc = x[i : i + chunk].double()
        J = vmap(jacrev(f), in_dims=(None, 0))(p, xc)
        J = torch.cat([J[k].reshape(len(xc), J[k].shape[1], -1) for k in p], 2)
        with torch.no_grad():
            pr = torch.softmax(functional_call(model, p, (xc,)), 1)
        lam = torch.diag_embed(pr) - pr[:, :, None] * pr[:, None, :]
        total += float((lam * (J @ J.transpose(1, 2))).sum())
    return total / len(y)


def dense_trace(model, x, y):
    model = copy.deepcopy(model).double()
    p = {k: v.detach() for k, v in model.named_parameters()}
    flat = torch.cat([v.reshape(-1) for v in p.values()])
    f = lambda v: F.cross_entropy(functional_call(model, unflatten(v, p), (x.double(),)), y)
    return float(torch.trace(torch.autograd.functional.hessian(f, flat, vectorize=True)))


def trace_table(seeds):
    d = data()
    x, y = d.test.x[:128], d.test.y[:128]
    cases = [
        ("MLP-8", train_or_load(SMALL).model().eval(), BUDGETS, seeds),
        ("MLP-128", trained("MLP-128").eval(), BUDGETS, seeds),
        ("SimpleCNN-32", trained("SimpleCNN-32").eval(), BUDGETS[:2], 2),
    ]
    out = {}
    for name, model, budgets, n_seeds in cases:
        exact = ggn_trace(model, x, y)
        if name == "MLP-8":
            dense = dense_trace(model, x, y)
            print(f"MLP-8: dense trace {dense:.10g}, tr(GGN) {exact:.10g} (must agree)")
            exact = dense
        print(f"{name}: exact trace {exact:.6g}, 128 test images, {n_seeds} seeds", flush=True)
        for est, fn in estimators(H.HVP(model, x, y), model, x, y).items():
            errs = []
            for b in budgets:
                e = np.array([fn(b, s) for s in range(n_seeds)]) - exact
                errs.append(float(np.sqrt((e**2).mean()) / abs(exact)))
                out[(name, est, b)] = errs[-1]
            print(
                f"  {est:24s} "
                + "  ".join(f"{b:3d}: {r:.2e}" for b, r in zip(budgets, errs, strict=True)),
                flush=True,
            )
    for name, budgets in (("MLP-128", BUDGETS), ("SimpleCNN-32", BUDGETS[:2])):
        for b in budgets:
            best = min(out[(name, f"lslib {m}", b)] for m in ("hutchpp", "xtrace"))
            print(
                f"{name} at {b} products: best lslib deflated estimator / lslib Hutchinson: "
                f"{best / out[(name, 'lslib hutchinson', b)]:.2f}"
            )
    return out


def main(repeat, seeds, part="all"):
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; curvlinops "
        f"{version('curvlinops-for-pytorch')}, hessian-eigenthings {he.__version__}"
    )
    if part in ("all", "trace"):
        trace_table(seeds)
    if part in ("all", "top3"):
        top3_table(repeat)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs on the batch (best kept)")
    ap.add_argument("--seeds", type=int, default=10, help="seeds per trace estimate")
    ap.add_argument(
        "--part", choices=("all", "trace", "top3"), default="all", help="(a), (b) or both"
    )
    a = ap.parse_args()
    main(a.repeat, a.seeds, a.part)
