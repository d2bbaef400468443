"""Top-3 Hessian eigenvalues on one 128-image test batch: lslib vs PyHessian 0.1.

For a trained MLP-128 and SimpleCNN-32, side by side in one run:
  - lslib: ``top_eigen(HVP(model, x, y), k=3)`` (Lanczos with full reorthogonalization, tol 1e-6);
  - PyHessian 0.1: ``hessian(model, criterion, data=(x, y), cuda=False).eigenvalues(top_n=3)``
    with its defaults (power iteration with deflation, maxIter=100, tol=1e-3);
  - the reference: scipy's ARPACK ``eigsh`` in float64 (model and data in double), tol 1e-10.
Prints, per method, the eigenvalues' relative errors against the reference, the number
of Hessian-vector products (HVPs) and the wall time, and the time ratio.

Usage: python benchmarks/hessian_vs_peers.py
"""

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


def lslib_top3(model, x, y):
    e = H.top_eigen(H.HVP(model, x, y), k=3, tol=1e-6)
    return e.values, e.hvps


def reference_top3(model, x, y):
    """scipy's ARPACK eigsh (tol 1e-10) on float64 products: independent of lslib's Lanczos."""
    hvp = H.HVP(copy.deepcopy(model).double(), x.double(), y)
    mv = lambda v: hvp(torch.as_tensor(v.ravel())).numpy()
    op = sla.LinearOperator((hvp.n, hvp.n), matvec=mv, dtype=np.float64)
    vals = sla.eigsh(
        op, k=3, which="LA", tol=1e-10, v0=np.random.default_rng(0).standard_normal(hvp.n)
    )[0]
    return np.sort(vals)[::-1]


def main():
    d = data()
    x, y = d.test.x[:128], d.test.y[:128]
    print(
        f"top-3 eigenvalues, 128 test images, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name in ("MLP-128", "SimpleCNN-32"):
        model = trained(name).eval()
        ref = H.top_eigen(
            H.HVP(copy.deepcopy(model).double(), x.double(), y), k=3, tol=1e-10
        ).values
        print(f"{name}: float64 reference {np.array2string(ref, precision=6)}")
        rows = {}
        for label, fn in (("lslib", lslib_top3), ("PyHessian", pyhessian_top3)):
            (vals, hvps), t = timed(lambda fn=fn, m=model: fn(copy.deepcopy(m), x, y))
            err = np.abs(np.sort(vals)[::-1] - ref) / np.abs(ref)
            rows[label] = t
            print(f"  {label:9s} values {np.array2string(np.sort(vals)[::-1], precision=6)} "
                  f"max rel err {err.max():.1e} | HVPs {hvps:4d} | {t:6.2f} s")  # fmt: skip
        print(f"  PyHessian time / lslib time: {rows['PyHessian'] / rows['lslib']:.2f}x")


if __name__ == "__main__":
    main()
