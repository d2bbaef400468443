"""Top-3 Hessian eigenvalues on one 128-image test batch: lslib vs PyHessian 0.1.

For a trained MLP-128 and SimpleCNN-32, side by side in one run:
  - lslib: ``top_eigen(HVP(model, x, y), k=3, tol=...)`` (Lanczos with full
    reorthogonalization; the HVP method is chosen automatically), at tol 1e-4, the
    accuracy the goal asks for (a relative residual r bounds the relative eigenvalue
    error by r), and at tol 1e-6;
  - PyHessian 0.1: ``hessian(model, criterion, data=(x, y), cuda=False).eigenvalues(top_n=3)``
    with its defaults (power iteration with deflation, maxIter=100, tol=1e-3);
  - the reference: scipy's ARPACK ``eigsh`` (tol 1e-10) on float64 products from
    ``torch.func`` (model and data in double): independent of lslib's Lanczos and of its
    closed-form MLP products.
Every method runs once untimed (warm-up), then the best of ``--repeat`` runs is kept.
Prints, per method, the eigenvalues' relative errors against the reference, the number
of Hessian-vector products (HVPs), the wall time, and PyHessian's time over lslib's.

Usage: python benchmarks/hessian_vs_peers.py [--repeat 5]
"""

import argparse
import copy
import sys

import numpy as np
import pyhessian
import scipy.sparse.linalg as sla
import torch
import torch.nn.functional as F
from common import data, timed, trained

from lslib import hessian as H


def pyhessian_top3(model, x, y):
    ph = sys.modules["pyhessian.hessian"]  # the module; `pyhessian.hessian` is its class
    calls = [0]
    real = ph.hessian_vector_product

    def counting(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    ph.hessian_vector_product = counting
    try:
        torch.manual_seed(0)
        vals, _ = pyhessian.hessian(model, F.cross_entropy, data=(x, y), cuda=False).eigenvalues(
            top_n=3
        )
    finally:
        ph.hessian_vector_product = real
    return np.array(vals), calls[0]


def lslib_top3(model, x, y, tol):
    e = H.top_eigen(H.HVP(model, x, y), k=3, tol=tol)
    return e.values, e.hvps


def reference_top3(model, x, y):
    """scipy's ARPACK eigsh (tol 1e-10) on float64 torch.func products."""
    hvp = H.HVP(copy.deepcopy(model).double(), x.double(), y, method="func")
    mv = lambda v: hvp(torch.as_tensor(v.ravel())).numpy()
    op = sla.LinearOperator((hvp.n, hvp.n), matvec=mv, dtype=np.float64)
    vals = sla.eigsh(
        op, k=3, which="LA", tol=1e-10, v0=np.random.default_rng(0).standard_normal(hvp.n)
    )[0]
    return np.sort(vals)[::-1]


def main(repeat):
    d = data()
    x, y = d.test.x[:128], d.test.y[:128]
    print(
        f"top-3 eigenvalues, 128 test images, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    methods = {
        "lslib tol 1e-4": lambda m: lslib_top3(m, x, y, 1e-4),
        "lslib tol 1e-6": lambda m: lslib_top3(m, x, y, 1e-6),
        "PyHessian": lambda m: pyhessian_top3(m, x, y),
    }
    for name in ("MLP-128", "SimpleCNN-32"):
        model = trained(name).eval()
        ref = reference_top3(model, x, y)
        print(f"{name}: float64 reference (eigsh) {np.array2string(ref, precision=6)}")
        times = {}
        for label, fn in methods.items():
            (vals, hvps), t = timed(
                lambda fn=fn, m=model: fn(copy.deepcopy(m)), repeat, warmup=True
            )
            vals = np.sort(vals)[::-1]
            err = np.abs(vals - ref) / np.abs(ref)
            times[label] = t
            print(
                f"  {label:14s} values {np.array2string(vals, precision=6)} "
                f"max rel err {err.max():.1e} | HVPs {hvps:4d} | {t * 1e3:8.1f} ms"
            )
        for label in ("lslib tol 1e-4", "lslib tol 1e-6"):
            print(f"  PyHessian time / {label} time: {times['PyHessian'] / times[label]:.2f}x")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per method (best kept)")
    main(ap.parse_args().repeat)
