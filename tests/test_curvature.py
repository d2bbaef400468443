"""Trace estimators and the full-data Hessian product, against known traces and dense Hessians."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lslib import hessian as H
from lslib.models import build_model
from lslib.params import unflatten

METHODS = H.TRACE_METHODS


class DenseOp:
    """v -> A v for a dense symmetric A, with the attributes the estimators use."""

    def __init__(self, A):
        self.A, self.n, self.calls, self.dtype, self.device = A, len(A), 0, A.dtype, A.device

    def __call__(self, v):
        self.calls += 1
        return self.A @ v


def with_spectrum(lam, seed=0):
    """U diag(lam) U^T with a seeded Haar-random orthogonal U."""
    g = torch.Generator().manual_seed(seed)
    U, R = torch.linalg.qr(torch.randn(len(lam), len(lam), generator=g, dtype=torch.float64))
    U = U * torch.sign(torch.diagonal(R))
    return (U * lam) @ U.T


N = 300
i = torch.arange(1, N + 1, dtype=torch.float64)
SPECTRA = {
    "fast": 1.0 / i**2,  # a few eigenvalues dominate: deflation pays
    "slow": 1.0 / i**0.25,  # flat: Hutchinson is near-optimal
    # indefinite, like a Hessian: large positive and negative outliers on a small bulk
    "indefinite": torch.cat([torch.tensor([40.0, -25.0, 12.0, -6.0]), 0.05 * torch.sin(i[4:])]),
}
MATRICES = {k: with_spectrum(lam, seed=j) for j, (k, lam) in enumerate(SPECTRA.items())}


def errors(A, method, budget, seeds):
    """(estimate - trace, stderr) over seeds, and the products each estimate reported."""
    exact, out, products = float(torch.trace(A)), [], set()
    for s in range(seeds):
        op = DenseOp(A)
        t = H.trace(op, budget, method, seed=s)
        assert t.products == op.calls and t.method == method
        out.append((t.value - exact, t.stderr))
        products.add(t.products)
    return np.array(out), products


@pytest.mark.parametrize("spectrum", SPECTRA)
@pytest.mark.parametrize("method", METHODS)
def test_estimators_are_unbiased_and_their_stderr_calibrated(method, spectrum):
    A = MATRICES[spectrum]
    e, _ = errors(A, method, 36, seeds=200)
    err, se = e[:, 0], e[:, 1]
    # unbiased: the mean error over 200 seeds is within 4 standard errors of that mean
    assert abs(err.mean()) < 4 * err.std(ddof=1) / np.sqrt(len(err)) + 1e-12
    # calibrated: each estimate's own stderr covers its error at 4 sigma almost always
    assert (np.abs(err) < 4 * se).mean() >= 0.9
    # and is of the right size on average (not inflated to pass the line above)
    assert 0.5 < np.sqrt((se**2).mean()) / err.std(ddof=1) < 2.0


def test_deflation_beats_hutchinson_at_a_fixed_budget_when_the_spectrum_decays_fast():
    mse = {m: (errors(MATRICES["fast"], m, 60, seeds=50)[0][:, 0] ** 2).mean() for m in METHODS}
    # Hutchinson's error on 1/i^2 is ~100x larger: a factor 20 in MSE cannot come by chance
    assert mse["hutchpp"] < mse["hutchinson"] / 20
    assert mse["xtrace"] < mse["hutchinson"] / 20
    ind = {m: (errors(MATRICES["indefinite"], m, 60, 50)[0][:, 0] ** 2).mean() for m in METHODS}
    assert ind["xtrace"] < ind["hutchinson"] / 20 and ind["hutchpp"] < ind["hutchinson"] / 20


@pytest.mark.parametrize(
    "method,budget,spent",
    [("hutchinson", 7, 7), ("hutchpp", 10, 10), ("xtrace", 10, 10), ("xtrace", 11, 10)],
)
def test_products_are_counted(method, budget, spent):
    op = DenseOp(MATRICES["slow"])
    op(torch.ones(N, dtype=torch.float64))  # earlier calls are not charged to the estimate
    t = H.trace(op, budget, method, seed=3)
    assert t.products == spent and op.calls == spent + 1
    assert H.trace(DenseOp(MATRICES["slow"]), budget, method, seed=3) == t  # seeded


def test_hutchinson_trace_is_the_hutchinson_estimator():
    op = DenseOp(MATRICES["fast"])
    t = H.trace(op, 25, "hutchinson", seed=4)
    assert H.hutchinson_trace(DenseOp(MATRICES["fast"]), 25, seed=4) == (t.value, t.stderr)


@pytest.mark.parametrize(
    "method,budget,match",
    [
        ("hutchinson", 1, "budget=1 .*>= 2"),
        ("hutchpp", 3, "budget=3 .*>= 4"),
        ("xtrace", 3, "budget=3 .*>= 4"),
        ("xtrace", 2.0, "budget"),
        ("hutchpp", 3 * N, "budget=900 .*<= 899"),
        ("xtrace", 2 * N, "budget=600 .*<= 599"),
        ("lanczos", 10, "method='lanczos'"),
    ],
)
def test_trace_rejects_bad_budgets_and_methods(method, budget, match):
    with pytest.raises(ValueError, match=match):
        H.trace(DenseOp(MATRICES["slow"]), budget, method)


def small_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(49, 6), nn.ReLU(), nn.Linear(6, 10)).double()


def dense_hessian(model, x, y):
    p = {k: v.detach() for k, v in model.named_parameters()}
    flat = torch.cat([v.reshape(-1) for v in p.values()])
    f = lambda v: F.cross_entropy(torch.func.functional_call(model, unflatten(v, p), (x,)), y)
    return torch.autograd.functional.hessian(f, flat)


@pytest.mark.parametrize("method", METHODS)
def test_estimators_on_a_real_hessian_against_its_dense_trace(method):
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(40, 1, 7, 7, generator=g, dtype=torch.float64),
        torch.randint(0, 10, (40,), generator=g),
    )
    model = small_mlp()
    exact = float(torch.trace(dense_hessian(model, x, y)))
    hvp = H.HVP(model, x, y)
    est = [H.trace(hvp, 30, method, seed=s) for s in range(40)]
    err = np.array([t.value - exact for t in est])
    assert abs(err.mean()) < 4 * err.std(ddof=1) / np.sqrt(len(err))
    assert (np.abs(err) < 4 * np.array([t.stderr for t in est])).mean() >= 0.9
    assert hvp.calls == sum(t.products for t in est)


def tiny_data(n=37, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(
        0, 10, (n,), generator=g
    )


MODELS = {
    "mlp": lambda: build_model("mlp", 2, seed=0),
    "cnn": lambda: build_model("cnn", 1, seed=0),
    # hidden state (3 x 300 + 2 x 10 numbers an image) larger than the 784 inputs: the
    # closed-form path rebuilds each chunk's activations per product instead of keeping them
    "wide-mlp": lambda: build_model("mlp", 300, seed=0),
}
CASES = [
    ("mlp", "auto"),
    ("cnn", "auto"),
    ("cnn", "graph"),
    ("wide-mlp", "auto"),
    ("mlp", "graph"),
    ("cnn", "func"),
]


@pytest.mark.parametrize("name,method", CASES)
def test_data_hvp_equals_the_product_on_all_images_at_once(name, method):
    x, y = tiny_data()
    model = MODELS[name]().double()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    full = H.HVP(model, x, y, method=method)
    v = torch.randn(full.n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = full(v)
    # uneven last chunks (37 = 3 x 10 + 7), one chunk, more; graphs kept for <= keep images
    for chunk, keep in itertools.product((4, 10, 16, 37, 100), (0, 36, 37)):
        op = H.DataHVP(model, x, y, chunk=chunk, method=method, keep=keep)
        assert op.method == full.method and op.n == full.n and op.dtype == torch.float64
        if op.method == "mlp":
            kept = chunk >= 37 or name != "wide-mlp"
        elif op.method == "cnn":
            kept = True  # its state here, ~1 MB, is far below KEEP_BYTES
        else:
            kept = chunk >= 37 or keep >= 37
        assert (op._kept is not None) == kept
        torch.testing.assert_close(op(v), ref, rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(op(v), ref, rtol=1e-10, atol=1e-13)  # kept state reused
        assert op.calls == 2
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_closed_form_cnn_state_is_kept_within_keep_bytes_or_keep_images(monkeypatch):
    x, y = tiny_data()
    model = MODELS["cnn"]().double()
    v = torch.randn(H.HVP(model, x, y).n, dtype=torch.float64)
    ref = H.HVP(model, x, y, method="graph")(v)
    per_image = H.HVP(model, x[:10], y[:10], method="cnn")._product.nbytes / 10
    for budget, keep, kept in ((0, 0, False), (0, 37, True), (per_image * 37, 0, True)):
        monkeypatch.setattr(H, "KEEP_BYTES", budget)
        op = H.DataHVP(model, x, y, chunk=10, method="cnn", keep=keep)
        assert (op._kept is not None) == kept
        torch.testing.assert_close(op(v), ref, rtol=1e-10, atol=1e-13)
    monkeypatch.setattr(H, "KEEP_BYTES", per_image * 37 - 1)
    assert H.DataHVP(model, x, y, chunk=10, method="cnn", keep=0)._kept is None


def test_eigensolver_and_estimators_take_a_data_hvp_unchanged():
    x, y = tiny_data()
    model = build_model("mlp", 2, seed=0).double()
    full, op = H.HVP(model, x, y), H.DataHVP(model, x, y, chunk=8)
    np.testing.assert_allclose(
        H.top_eigen(op, 3, tol=1e-10).values, H.top_eigen(full, 3, tol=1e-10).values, rtol=1e-9
    )
    for m in METHODS:
        a, b = H.trace(op, 12, m, seed=2), H.trace(full, 12, m, seed=2)
        assert a.products == b.products and a.value == pytest.approx(b.value, rel=1e-9)
    a, _ = H.lanczos(op, 5, torch.ones(op.n))
    np.testing.assert_allclose(a, H.lanczos(full, 5, torch.ones(full.n))[0], rtol=1e-9)


def test_data_hvp_rejects_bad_chunks_and_data():
    x, y = tiny_data(4)
    model = build_model("mlp", 2, seed=0).double()
    for chunk in (0, 2.0, True):
        with pytest.raises(ValueError, match="chunk"):
            H.DataHVP(model, x, y, chunk=chunk)
    for keep in (-1, 2.0, None, True):
        with pytest.raises(ValueError, match="keep"):
            H.DataHVP(model, x, y, keep=keep)
    # chunk=None: 256 images for a convolutional model on the CPU, 1,024 for others
    cx = torch.randn(300, 1, 28, 28, dtype=torch.float64)
    cy = torch.zeros(300, dtype=torch.long)
    assert H.DataHVP(build_model("cnn", 2, seed=0).double(), cx, cy).chunk == 256
    assert H.DataHVP(model, x, y).chunk == 1024
    with pytest.raises(ValueError, match="labels"):
        H.DataHVP(model, x, y[:3])
    with pytest.raises(ValueError, match="method"):
        H.DataHVP(model, x, y, method="exact")
