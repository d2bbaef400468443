"""REPAIR, adaptive sharpness and the edge of stability, against independent references."""

import copy
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lslib import connectivity as C
from lslib import flatness as FL
from lslib import stability as S
from lslib.models import build_model
from lslib.params import forward, params_of


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)


@functools.cache
def _trained(name, width, seed, x, y, steps, lr):
    m = build_model(name, width, seed=seed)
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    return m


def trained(name, width, seed, x, y, steps=5, lr=0.05):
    """A tiny model after a few full-batch SGD steps (trained once per session, shared:
    every test checks it leaves the model untouched)."""
    return _trained(name, width, seed, x, y, steps, lr)


def snapshot(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def unchanged(m, before) -> bool:
    return all(torch.equal(m.state_dict()[k], v) for k, v in before.items())


# ---- REPAIR -------------------------------------------------------------------------------


def hooked_stats(model, p, x):
    """Per-unit mean and population std of each hidden pre-activation, by forward hooks on a
    copy of the model (a reference independent of lslib's layer walk)."""
    m = copy.deepcopy(model)
    m.load_state_dict(p)
    layers = [n for n, c in m.named_children() if isinstance(c, nn.Linear | nn.Conv2d)][:-1]
    out = {}
    for n in layers:
        hook = lambda mod, inp, z, n=n: out.__setitem__(n, z.detach().double())
        m._modules[n].register_forward_hook(hook)
    with torch.no_grad():
        m(x)
    dims = lambda z: (0, 2, 3) if z.dim() == 4 else (0,)
    return {n: (z.mean(dims(z)), z.std(dims(z), correction=0)) for n, z in out.items()}


@pytest.mark.parametrize("name,width", [("mlp", 8), ("cnn", 3)])
def test_repair_hits_the_interpolated_statistics(name, width, data):
    x, y = data
    ma, mb = trained(name, width, 0, x, y), trained(name, width, 1, x, y)
    before = (snapshot(ma), snapshot(mb))
    a, b0 = params_of(ma), params_of(mb)
    _, b = C.weight_matching(ma, a, b0)
    a_copy, b_copy = {k: v.clone() for k, v in a.items()}, {k: v.clone() for k, v in b.items()}
    sa, sb = hooked_stats(ma, a, x), hooked_stats(ma, b, x)
    for alpha in (0.3, 0.5):
        p = C.repair(ma, a, b, alpha, x, batch_size=24)  # uneven batches: merged exactly
        got = hooked_stats(ma, p, x)
        assert list(got) == list(sa) and len(got) == (1 if name == "mlp" else 3)
        for n, (mu, sd) in got.items():
            mu_t = (1 - alpha) * sa[n][0] + alpha * sb[n][0]
            sd_t = (1 - alpha) * sa[n][1] + alpha * sb[n][1]
            torch.testing.assert_close(mu, mu_t, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(sd, sd_t, rtol=1e-4, atol=1e-5)
        plain = hooked_stats(ma, {k: (1 - alpha) * a[k] + alpha * b[k] for k in a}, x)
        assert any(not torch.allclose(plain[n][1], got[n][1], rtol=1e-3) for n in got)
    assert unchanged(ma, before[0]) and unchanged(mb, before[1])
    assert all(torch.equal(a[k], a_copy[k]) and torch.equal(b[k], b_copy[k]) for k in a)


@pytest.mark.parametrize("name,width", [("mlp", 8), ("cnn", 3)])
def test_repair_at_the_endpoints_is_the_endpoint(name, width, data):
    x, y = data
    m = trained(name, width, 0, x, y)
    a, b = params_of(m), params_of(trained(name, width, 1, x, y))
    for alpha, ref in ((0.0, a), (1.0, b)):
        p = C.repair(m, a, b, alpha, x)
        assert all(torch.equal(p[k], ref[k]) for k in a)
        assert torch.equal(forward(m, p, x), forward(m, ref, x))


def test_repaired_curve_and_barrier(data):
    x, y = data
    m = trained("mlp", 8, 0, x, y)
    a, b = params_of(m), params_of(trained("mlp", 8, 1, x, y))
    before = snapshot(m)
    alphas = [0.0, 0.5, 1.0]
    ev = C.interpolate_repaired(m, a, b, x, y, alphas=alphas)
    plain = C.interpolate(m, a, b, x, y, alphas=alphas, progress=False)
    np.testing.assert_allclose(ev.loss[[0, 2]], plain.loss[[0, 2]], rtol=1e-5)
    np.testing.assert_allclose(ev.acc[[0, 2]], plain.acc[[0, 2]])
    assert ev.coords[:, 0].tolist() == alphas
    assert C.barrier(ev.coords[:, 0], 1 - ev.acc)["height"] >= 0
    assert unchanged(m, before)


def test_repair_refuses_normalization_layers(data):
    x, _ = data
    bn = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 26 * 26, 10)
    )
    p = params_of(bn)
    with pytest.raises(ValueError, match="without normalization layers; layer '1' is BatchNorm2d"):
        C.repair(bn, p, p, 0.5, x)
    ln = nn.Sequential(nn.Flatten(), nn.Linear(784, 4), nn.LayerNorm(4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="LayerNorm"):
        C.repair(ln, params_of(ln), params_of(ln), 0.5, x)


# ---- adaptive sharpness -------------------------------------------------------------------


def rescaled(m, layer="1", nxt="3", c=10.0):
    """The same function: a hidden layer's incoming weights and bias x c, outgoing / c."""
    p = params_of(m)
    p[f"{layer}.weight"], p[f"{layer}.bias"] = p[f"{layer}.weight"] * c, p[f"{layer}.bias"] * c
    p[f"{nxt}.weight"] = p[f"{nxt}.weight"] / c
    twin = copy.deepcopy(m)
    twin.load_state_dict(p)
    return twin


def test_adaptive_sharpness_is_invariant_to_relu_rescaling(data):
    x, y = data
    x, y = x[:32].double(), y[:32]
    m = trained("mlp", 8, 0, x.float(), y).double()
    twin = rescaled(m)
    torch.testing.assert_close(twin(x), m(x), rtol=1e-12, atol=1e-12)
    before = snapshot(m)
    for kind, rho in (("max_linf", 0.02), ("max_l2", 0.5), ("avg", 0.05)):
        r = FL.adaptive_sharpness(m, x, y, rho, kind, steps=10, draws=8, batch_size=16)
        t = FL.adaptive_sharpness(twin, x, y, rho, kind, steps=10, draws=8, batch_size=16)
        assert r.value > 0 and r.increases.shape == ((8,) if kind == "avg" else (2,))
        assert t.value == pytest.approx(r.value, rel=1e-8)
        assert t.base == pytest.approx(r.base, rel=1e-12)
    eps = FL.epsilon_sharpness(m, x, y, eps=1e-2, steps=10)
    eps_twin = FL.epsilon_sharpness(twin, x, y, eps=1e-2, steps=10)
    assert abs(eps_twin - eps) > 0.2 * eps
    assert unchanged(m, before)


def test_adaptive_average_case_of_a_quadratic_matches_the_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 6, generator=g, dtype=torch.float64)
    H = a @ a.T + torch.eye(6, dtype=torch.float64)
    w = torch.randn(6, generator=g, dtype=torch.float64)
    m = w + 0.1 * torch.randn(6, generator=g, dtype=torch.float64)  # not at the minimum
    loss = lambda q: 0.5 * (q["w"] - m) @ H @ (q["w"] - m)
    rho = 0.1
    expected = rho**2 / 2 * float((H.diagonal() * w**2).sum())
    r = FL.adaptive_sharpness_of(loss, {"w": w}, rho, "avg", draws=4000, seed=1)
    assert abs(r.value - expected) < 4 * r.stderr and r.stderr < 0.05 * expected
    assert r.base == pytest.approx(float(loss({"w": w})), rel=1e-12)

    # the same through the model API: a model whose output is its parameters
    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(w.clone())

        def forward(self, x):
            return self.w.expand(len(x), -1)

    def loss_fn(out, y, reduction="mean"):
        d = out - m
        per = 0.5 * ((d @ H) * d).sum(-1)
        return per.sum() if reduction == "sum" else per.mean()

    xq, yq = torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1)
    rm = FL.adaptive_sharpness(Quadratic(), xq, yq, rho, "avg", draws=50, seed=1, loss_fn=loss_fn)
    r50 = FL.adaptive_sharpness_of(loss, {"w": w}, rho, "avg", draws=50, seed=1)
    assert rm.value == pytest.approx(r50.value, rel=1e-10)


def test_adaptive_worst_case_of_a_quadratic_finds_the_maximum():
    b = torch.tensor([1.0, 2.0, 0.5, 4.0, 3.0], dtype=torch.float64)
    w = torch.tensor([0.5, -2.0, 1.0, 0.3, -1.0], dtype=torch.float64)
    loss = lambda q: 0.5 * (b * (q["w"] - w) ** 2).sum()  # at its minimum
    rho = 0.05
    linf = FL.adaptive_sharpness_of(loss, {"w": w}, rho, "max_linf", steps=20)
    assert linf.value == pytest.approx(rho**2 / 2 * float((b * w**2).sum()), rel=1e-12)
    l2 = FL.adaptive_sharpness_of(loss, {"w": w}, rho, "max_l2", steps=20)
    assert l2.value == pytest.approx(rho**2 / 2 * float((b * w**2).max()), rel=1e-3)
    assert l2.evaluations == 21


def test_adaptive_average_case_uses_the_perturbation_draws(data):
    x, y = data
    m = trained("mlp", 8, 0, x, y)
    before = snapshot(m)
    r = FL.adaptive_sharpness(m, x, y, 0.05, "avg", draws=4, seed=3, batch_size=24)
    ref = FL.perturbation(m, x, y, sigmas=[0.05], draws=4, seed=3)
    np.testing.assert_allclose(r.increases, ref["deltas"][:, 0], rtol=1e-3, atol=1e-6)
    with pytest.raises(ValueError, match=r"kind='max'.*allowed"):
        FL.adaptive_sharpness(m, x, y, 0.05, "max")
    with pytest.raises(ValueError, match="rho"):
        FL.adaptive_sharpness(m, x, y, 0.0)
    assert unchanged(m, before)


# ---- edge of stability --------------------------------------------------------------------


def test_stability_thresholds():
    assert S.stability_threshold("sgd", 0.01) == pytest.approx(200)
    assert S.stability_threshold("momentum", 0.01, momentum=0.9) == pytest.approx(380)
    assert S.stability_threshold("adam", 1e-3) == pytest.approx(38 / 1e-3)
    assert S.stability_threshold("adam", 1e-3, beta1=0.0) == pytest.approx(2 / 1e-3)
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        S.stability_threshold("rmsprop", 0.1)


def test_preconditioned_sharpness_matches_a_dense_hessian():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (24,), generator=g)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    before = snapshot(m)
    P = S.adam_preconditioner(opt, m)
    assert all(torch.equal(P[k], v) for k, v in S.adam_preconditioner(opt.state_dict(), m).items())
    st = opt.state[m[0].weight]
    manual = (st["exp_avg_sq"] / (1 - 0.999 ** float(st["step"]))).sqrt() + 1e-8
    torch.testing.assert_close(P["0.weight"], manual, rtol=0, atol=0)

    p = params_of(m)
    names, shapes = list(p), [v.shape for v in p.values()]
    flat = torch.cat([v.reshape(-1) for v in p.values()])

    def loss(z):
        parts = dict(zip(names, torch.split(z, [s.numel() for s in shapes]), strict=True))
        q = {k: v.reshape(s) for (k, v), s in zip(parts.items(), shapes, strict=True)}
        return F.cross_entropy(torch.func.functional_call(m, q, (x,)), y)

    H = torch.autograd.functional.hessian(loss, flat).numpy()
    pvec = torch.cat([P[k].reshape(-1) for k in names]).numpy()
    ref = np.sort(np.linalg.eigvals(H / pvec[:, None]).real)[::-1]
    e = S.preconditioned_sharpness(m, x, y, P, k=2, tol=1e-10)
    np.testing.assert_allclose(e.values, ref[:2], rtol=1e-8)
    chunked = S.preconditioned_sharpness(m, x, y, P, k=2, tol=1e-10, chunk=10)
    np.testing.assert_allclose(chunked.values, ref[:2], rtol=1e-8)
    assert e.values[0] > 10 * np.linalg.eigvalsh(H)[-1]  # Adam's P makes it much sharper
    assert unchanged(m, before)
