"""Connectivity, trajectory and flatness, against exact and closed-form references."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lslib import connectivity as C
from lslib import flatness as FL
from lslib import trajectory as T
from lslib.models import build_model
from lslib.params import evaluate, forward, params_of


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(96, 1, 28, 28, generator=g), torch.randint(0, 10, (96,), generator=g)


def random_perms(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    spec = C.perm_spec(model)
    sizes = [params_of(model)[layer.prefix + "weight"].shape[0] for layer in spec[:-1]]
    return [torch.randperm(n, generator=g) for n in sizes]


def test_identical_endpoints_give_zero_barrier(data):
    x, y = data
    m = build_model("mlp", 8, seed=0)
    p = params_of(m)
    ev = C.interpolate(m, p, p, x, y, progress=False)
    b = C.barrier(ev.coords[:, 0], ev.loss)
    assert b["height"] == 0.0 and b["relative"] == 0.0
    assert np.ptp(ev.loss) == 0.0


def test_barrier_definition_on_a_known_curve():
    a = np.linspace(0, 1, 11)
    loss = 1.0 + 2.0 * a + 0.5 * np.sin(np.pi * a)  # endpoints 1 and 3, bump 0.5 at a = 0.5
    b = C.barrier(a, loss)
    assert b["height"] == pytest.approx(0.5) and b["alpha"] == pytest.approx(0.5)
    assert b["relative"] == pytest.approx(0.5 / 2.0)
    with pytest.raises(ValueError, match="include 0 and 1"):
        C.barrier([0.1, 0.5], [1, 2])


def test_interpolation_points_are_exact(data):
    x, y = data
    m = build_model("cnn", 3, seed=0)
    a, b = params_of(m), params_of(build_model("cnn", 3, seed=1))
    ev = C.interpolate(m, a, b, x, y, alphas=[0.0, 0.3, 1.0], progress=False)
    for i, t in enumerate([0.0, 0.3, 1.0]):
        ref, _ = evaluate(m, {k: (1 - t) * a[k] + t * b[k] for k in a}, x, y)
        assert ev.loss[i] == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_weight_matching_recovers_a_permutation_exactly(name, data):
    x, _ = data
    m = build_model(name, 6, seed=0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    a = params_of(m)
    perms = random_perms(m, seed=1)
    b = C.permute(a, m, perms)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    torch.testing.assert_close(forward(m, b, x), forward(m, a, x), rtol=1e-5, atol=1e-5)
    found, aligned = C.weight_matching(m, a, b)
    assert all(torch.equal(aligned[k], a[k]) for k in a)
    # found maps A's units to B's: B's unit found[r] is A's unit r
    assert all(
        torch.equal(perms[i][found[i]], torch.arange(len(found[i]))) for i in range(len(perms))
    )
    ev = C.interpolate(m, a, aligned, x, data[1], progress=False)
    assert C.barrier(ev.coords[:, 0], ev.loss)["height"] == 0.0
    assert all(torch.equal(m.state_dict()[k], v) for k, v in before.items())


def test_weight_matching_keeps_the_function_of_an_unrelated_model(data):
    x, _ = data
    m = build_model("cnn", 4, seed=0)
    a, b = params_of(m), params_of(build_model("cnn", 4, seed=5))
    _, aligned = C.weight_matching(m, a, b)
    torch.testing.assert_close(forward(m, aligned, x), forward(m, b, x), rtol=1e-4, atol=1e-5)


def test_endpoints_of_different_widths_are_rejected(data):
    x, y = data
    m = build_model("mlp", 8)
    a, b = params_of(m), params_of(build_model("mlp", 9))
    with pytest.raises(ValueError, match="different architectures or widths"):
        C.interpolate(m, a, b, x, y)
    with pytest.raises(ValueError, match="different architectures or widths"):
        C.weight_matching(m, a, b)
    with pytest.raises(ValueError, match="different architectures or widths"):
        C.interpolate(m, a, params_of(build_model("cnn", 8)), x, y)


def test_bezier_curve_passes_through_endpoints_and_lowers_the_middle(data):
    x, y = data
    m = build_model("mlp", 8, seed=0)
    a, b = params_of(m), params_of(build_model("mlp", 8, seed=1))
    mid = C.train_bezier(m, a, b, x, y, epochs=3, lr=0.05, batch_size=32)
    ev = C.curve(m, a, mid, b, x, y, ts=[0.0, 0.5, 1.0], progress=False)
    la, _ = evaluate(m, a, x, y)
    lb, _ = evaluate(m, b, x, y)
    assert ev.loss[0] == pytest.approx(la, rel=1e-5) and ev.loss[2] == pytest.approx(lb, rel=1e-5)
    straight = C.interpolate(m, a, b, x, y, alphas=[0.5], progress=False).loss[0]
    assert ev.loss[1] < straight


def test_straight_line_trajectory_has_one_component():
    g = torch.Generator().manual_seed(0)
    start, end = torch.randn(50, generator=g), torch.randn(50, generator=g)
    t = torch.tensor([0.0, 0.1, 0.3, 0.35, 0.8, 1.0])[:, None]
    pca = T.trajectory_pca((1 - t) * start + t * end)
    assert pca.explained[0] == pytest.approx(1.0, abs=1e-9)
    u = (end - start) / (end - start).norm()
    assert abs(float(pca.components[0] @ u)) == pytest.approx(1.0, abs=1e-6)
    assert pca.path[0, 0] < 0 and np.allclose(pca.path[-1], 0)
    np.testing.assert_allclose(
        pca.path[:, 0], ((t[:, 0] - 1) * (end - start).norm()).numpy(), rtol=1e-5
    )
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        T.trajectory_pca(start[None])
    assert T.total_variation([1.0, 0.5, 0.75]) == pytest.approx(0.75)


class Quadratic(nn.Module):
    """Parameters theta; loss sum_i a_i (theta_i - c_i)^2 through a pass-through output."""

    def __init__(self, c):
        super().__init__()
        self.theta = nn.Parameter(c.clone())

    def forward(self, x):
        return self.theta.expand(len(x), -1)


def test_epsilon_sharpness_of_a_quadratic_matches_closed_form():
    c = torch.tensor([0.5, -2.0, 0.0, 3.0], dtype=torch.float64)
    a = torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=torch.float64)
    loss_fn = lambda out, y, reduction="mean": (
        (a * (out - c) ** 2).sum(-1).mean() if reduction != "sum" else (a * (out - c) ** 2).sum()
    )
    model = Quadratic(c)
    x, y = torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1)
    eps = 1e-2
    got = FL.epsilon_sharpness(model, x, y, eps=eps, steps=40, loss_fn=loss_fn)
    expected = 100 * float((a * (eps * (c.abs() + 1)) ** 2).sum()) / (1 + 0)
    assert got == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="eps"):
        FL.epsilon_sharpness(model, x, y, eps=0.0, loss_fn=loss_fn)


def test_perturbation_sigma_zero_changes_nothing_and_grows_with_sigma(data):
    x, y = data
    m = build_model("mlp", 8, seed=0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    r = FL.perturbation(m, x, y, sigmas=[0.0, 0.1, 1.0], draws=4)
    assert (r["deltas"][:, 0] == 0).all()
    assert r["mean"][2] > r["mean"][1]
    with pytest.raises(ValueError, match="sigmas"):
        FL.perturbation(m, x, y, sigmas=[-0.1])
    assert all(torch.equal(m.state_dict()[k], v) for k, v in before.items())


def test_sharpness_1d_matches_a_known_curvature():
    c = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=torch.float64)

    class Lin(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(c.clone())

        def forward(self, x):
            return (x @ self.w.T).sum(-1)

    m = Lin()
    # squared loss through the origin: L(w + a d) = mean_i (x_i (w + a d) - t_i)^2, t = x w
    x = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = m(x).detach()
    from lslib.directions import random_direction
    from lslib.landscape import evaluate_points

    d = random_direction(params_of(m), 0)
    mse = lambda o, y, reduction: F.mse_loss(o, y, reduction=reduction)
    alphas = np.linspace(-0.05, 0.05, 9)
    ev = evaluate_points(m, [d], alphas[:, None], x, t, loss_fn=mse, progress=False)
    exact = 2 * float(((x @ d["w"].T).sum(-1) ** 2).mean())
    assert 2 * np.polyfit(alphas, ev.loss, 2)[0] == pytest.approx(exact, rel=1e-6)


def test_flatness_on_a_small_network_is_sane(data):
    x, y = data
    m = build_model("mlp", 8, seed=0)
    s = FL.sharpness_1d(m, x, y, n_dirs=3)
    assert s["values"].shape == (3,) and np.isfinite(s["values"]).all()
    sig = FL.pac_bayes_sigma(m, x, y, threshold=0.1, draws=2, iters=8, criterion="loss")
    assert 1e-5 <= sig <= 1.0
    # the bisection's answer respects the threshold
    p = params_of(m)
    from lslib.directions import gaussian_like

    inc = np.mean(
        [
            evaluate(m, {k: p[k] + sig * xi[k] for k in p}, x, y)[0] - evaluate(m, p, x, y)[0]
            for xi in (gaussian_like(p, i) for i in range(2))
        ]
    )
    assert inc <= 0.1 + 1e-4
