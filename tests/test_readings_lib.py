"""The library's readings of the report's quantities (issue 11), against independent references:
U[0, 1] directions and the loss-landscapes package itself, one-sided lines, sigma' by
accuracy, epsilon-sharpness by L-BFGS-B, centred and masked trajectory PCA, random subsets."""

import importlib.util
import itertools

import numpy as np
import pytest
import torch
from test_connectivity import Quadratic
from torch import nn

from lslib import directions as D
from lslib import flatness as FL
from lslib import landscape as L
from lslib import trajectory as T
from lslib.data import Split
from lslib.models import build_model
from lslib.params import evaluate, flatten, params_of
from lslib.subsets import sample

HAVE_LL = importlib.util.find_spec("loss_landscapes") is not None


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, model.training


def unchanged(model, snap):
    now = model.state_dict()
    return all(torch.equal(now[k], v) for k, v in snap[0].items()) and model.training == snap[1]


def tiny_mlp(dtype=torch.float32, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3)).to(dtype)


def tiny_data(n=40, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 12, generator=g, dtype=dtype), torch.randint(0, 3, (n,), generator=g)


# ---- directions ---------------------------------------------------------------------------


def test_uniform_directions_are_the_global_rng_stream_and_normalize_like_gaussian_ones():
    p = params_of(build_model("mlp", 16, seed=0))
    u = D.uniform_like(p, seed=7)
    with torch.random.fork_rng(devices=[]):  # what loss-landscapes' rand_u_like draws
        torch.manual_seed(7)
        ref = {k: torch.rand(v.shape, dtype=v.dtype) for k, v in p.items()}
    assert all(torch.equal(u[k], ref[k]) for k in p)
    flat = flatten(u)
    assert 0 <= flat.min() and flat.max() < 1 and abs(float(flat.mean()) - 0.5) < 0.01
    assert not torch.equal(u["1.weight"], D.uniform_like(p, 8)["1.weight"])
    d = D.random_direction(p, 7, "filter", "ignore", "uniform")
    for k, w in p.items():
        if w.dim() == 1:
            assert torch.count_nonzero(d[k]) == 0
        else:
            assert (d[k] >= 0).all()  # normalization rescales filters, keeps U's sign bias
            torch.testing.assert_close(d[k].norm(dim=1), w.norm(dim=1), rtol=1e-5, atol=0)
    rows = d["1.weight"]  # 784 entries per filter: the docstring's cosine sqrt(3)/2
    cos = rows.sum(1) / rows.norm(dim=1) / rows.shape[1] ** 0.5
    assert abs(float(cos.mean()) - 3**0.5 / 2) < 0.01
    assert all(torch.equal(d[k], D.normalize(u, p)[k]) for k in p)
    g = D.random_direction(p, 7)  # the default is still Gaussian
    assert all(torch.equal(g[k], D.normalize(D.gaussian_like(p, 7), p)[k]) for k in p)
    d1, d2 = D.random_plane(p, 7, dist="uniform")
    assert torch.equal(d1["1.weight"], d["1.weight"])
    assert torch.equal(d2["1.weight"], D.random_direction(p, 10_007, dist="uniform")["1.weight"])
    for bad in (
        lambda: D.random_direction(p, 0, dist="normal"),
        lambda: D.random_plane(p, 0, dist="U"),
    ):
        with pytest.raises(ValueError, match=r"dist=.*allowed: \('gaussian', 'uniform'\)"):
            bad()


# ---- lines ------------------------------------------------------------------------------


def test_one_sided_line_starts_at_the_minimum_and_agrees_with_the_two_sided_one():
    x, y = tiny_data()
    model = tiny_mlp()
    snap = state(model)
    d = D.random_direction(params_of(model), 0)
    one = L.line(model, d, x, y, steps=5, span=1.0, sided="one", progress=False)
    both = L.line(model, d, x, y, steps=9, span=1.0, progress=False)
    np.testing.assert_array_equal(one.coords[:, 0], np.linspace(0, 1, 5))
    assert one.coords[0, 0] == 0.0
    assert one.loss[0] == pytest.approx(evaluate(model, params_of(model), x, y)[0], rel=1e-6)
    np.testing.assert_allclose(one.loss, both.loss[4:], rtol=1e-6)
    np.testing.assert_array_equal(both.coords[:, 0], np.linspace(-1, 1, 9))
    with pytest.raises(ValueError, match=r"sided='two'.*allowed: \('both', 'one'\)"):
        L.line(model, d, x, y, sided="two")
    with pytest.raises(ValueError, match="span=.*sided='one'"):
        L.line(model, d, x, y, span=(-1.0, 1.0), sided="one")
    with pytest.raises(ValueError, match="empty or negative"):
        L.line(model, d, x, y, span=-1.0, sided="one")
    assert unchanged(model, snap)


@pytest.mark.skipif(not HAVE_LL, reason="loss-landscapes is not installed (requirements-bench.txt)")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_loss_landscapes_line_and_plane_reproduce_the_package(dtype):
    """Same seed, same numbers: the package draws with the global RNG seeded by
    torch.manual_seed, ours with a CPU generator seeded alike, so the directions are equal
    and the losses agree to rounding (the package steps in place, we build each point)."""
    import loss_landscapes as LL
    from loss_landscapes.metrics import Loss

    x, y = tiny_data(dtype=dtype)
    model = tiny_mlp(dtype)
    snap = state(model)
    metric = Loss(nn.CrossEntropyLoss(), x, y)
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=2e-6, atol=2e-6)

    def package(fn, **kw):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            return fn(model, metric, deepcopy_model=True, **kw)

    for norm in ("filter", "layer", "model", None):
        ref = package(LL.random_line, distance=1.5, steps=7, normalization=norm)
        ev = L.loss_landscapes_line(model, x, y, 1.5, 7, 5, norm, progress=False)
        np.testing.assert_allclose(ev.loss, ref, **tol)
    # filter-normalized d has ||d|| = ||theta||: a_i = i / (distance steps), ending at 1/distance
    ev = L.loss_landscapes_line(model, x, y, 1.5, 7, 5, "filter", progress=False)
    np.testing.assert_allclose(ev.coords[:, 0], np.arange(1, 8) / (1.5 * 7), rtol=1e-6)
    for norm, steps in (("filter", 6), ("filter", 5), ("model", 4)):
        ref = package(LL.random_plane, distance=0.7, steps=steps, normalization=norm)
        pl = L.loss_landscapes_plane(model, x, y, 0.7, steps, 5, norm, progress=False)
        np.testing.assert_allclose(pl.loss.T, ref, **tol)
        if norm == "filter":  # the grid spans [-1/2, 1/2 - 1/steps] / distance
            np.testing.assert_allclose(
                pl.xs, (np.arange(steps) - steps / 2) / (0.7 * steps), rtol=1e-6
            )
    regular = L.loss_landscapes_plane(model, x, y, 0.7, 6, 5, staggered=False, progress=False)
    ref = package(LL.random_plane, distance=0.7, steps=6, normalization="filter")
    np.testing.assert_allclose(regular.loss.T[1::2], ref[1::2], **tol)  # odd columns: on grid
    assert np.abs(regular.loss.T[0::2] - ref[0::2]).min() > 1e-6  # even ones: a step off
    assert unchanged(model, snap)
    with pytest.raises(ValueError, match="normalization='unit'.*allowed"):
        L.loss_landscapes_line(model, x, y, 1.0, 3, 0, "unit")
    with pytest.raises(ValueError, match="distance=0.*allowed"):
        L.loss_landscapes_plane(model, x, y, 0, 3, 0)


# ---- PAC-Bayes sigma' ----------------------------------------------------------------------


def separable(n=60):
    """Three well-separated Gaussian clusters in R^4 and a linear model that fits them."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    centres = 3 * torch.eye(3, 4)
    x = centres[y] + 0.5 * torch.randn(n, 4, generator=g)
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight.copy_(centres)
        model[0].bias.zero_()
    return model, x, y


def acc_drop(model, p, x, y, sigma, draws, seed):
    base = evaluate(model, p, x, y)[1]
    return np.mean(
        [
            base - evaluate(model, {k: p[k] + sigma * xi[k] for k in p}, x, y)[1]
            for xi in (D.gaussian_like(p, seed + i) for i in range(draws))
        ]
    )


def test_pac_bayes_sigma_by_accuracy_brackets_the_threshold():
    model, x, y = separable()
    p = params_of(model)
    snap = state(model)
    assert evaluate(model, p, x, y)[1] == 1.0
    lo, hi, iters, draws = 1e-3, 10.0, 12, 4
    sig = FL.pac_bayes_sigma(model, x, y, 0.1, draws, lo, hi, iters, seed=3)
    assert lo < sig < hi
    step = np.exp((np.log(hi) - np.log(lo)) / 2**iters)  # the bracket's final width
    assert acc_drop(model, p, x, y, sig, draws, 3) <= 0.1
    assert acc_drop(model, p, x, y, sig * step, draws, 3) > 0.1
    by_loss = FL.pac_bayes_sigma(model, x, y, 0.1, draws, lo, hi, iters, seed=3, criterion="loss")
    assert by_loss != sig
    assert (
        FL.pac_bayes_sigma(model, x, y, 0.1, draws, lo, hi, iters, seed=3, criterion="accuracy")
        == sig
    )
    assert unchanged(model, snap)
    with pytest.raises(ValueError, match=r"criterion='error'.*allowed: \('accuracy', 'loss'\)"):
        FL.pac_bayes_sigma(model, x, y, criterion="error")


def test_pac_bayes_sigma_is_hi_when_accuracy_cannot_drop():
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    one_class = nn.Sequential(nn.Linear(4, 1))  # argmax is always class 0: accuracy 1 always
    assert (
        FL.pac_bayes_sigma(
            one_class, x, torch.zeros(16, dtype=torch.long), draws=2, iters=3, hi=50.0
        )
        == 50.0
    )
    wrong = nn.Sequential(nn.Linear(4, 2))  # always predicts class 0, every label is 1
    with torch.no_grad():
        wrong[0].weight.zero_()
        wrong[0].bias.copy_(torch.tensor([5.0, -5.0]))
    y = torch.ones(16, dtype=torch.long)
    assert FL.pac_bayes_sigma(wrong, x, y, draws=2, iters=3, hi=50.0) == 50.0  # accuracy 0
    # the loss criterion does move: cross-entropy is convex in the logits, which are linear
    # in the weights, so by Jensen the mean loss under noise exceeds the loss at theta
    assert FL.pac_bayes_sigma(wrong, x, y, draws=2, iters=3, hi=50.0, criterion="loss") < 50.0


# ---- epsilon-sharpness ------------------------------------------------------------------


def test_lbfgsb_sharpness_finds_the_corner_of_a_quadratic():
    c = torch.tensor([0.5, -2.0, 0.0, 3.0], dtype=torch.float64)
    a = torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=torch.float64)
    loss_fn = lambda out, y, reduction="mean": (
        (a * (out - c) ** 2).sum() / (1 if reduction == "sum" else len(out))
    )
    model = Quadratic(c)
    x, y = torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1)
    eps = 1e-2
    expected = 100 * float((a * (eps * (c.abs() + 1)) ** 2).sum())
    r = FL.sharpness_ascent(model, x, y, eps, 10, 0, loss_fn=loss_fn, method="lbfgsb")
    assert r.value == pytest.approx(expected, rel=1e-9) and r.method == "lbfgsb"
    assert 1 <= r.iterations <= 10 and r.evaluations >= r.iterations
    s = FL.sharpness_ascent(model, x, y, eps, 10, 0, loss_fn=loss_fn)
    assert (s.evaluations, s.iterations) == (11, 10)
    assert (
        FL.epsilon_sharpness(model, x, y, eps, 10, 0, loss_fn=loss_fn, method="lbfgsb") == r.value
    )
    with pytest.raises(ValueError, match=r"method='adam'.*allowed: \('sign', 'lbfgsb'\)"):
        FL.epsilon_sharpness(model, x, y, method="adam", loss_fn=loss_fn)


def test_lbfgsb_sharpness_of_a_convex_model_reaches_the_best_vertex():
    """Cross-entropy of a linear model is convex in its 6 parameters, so its maximum over
    the box is at one of the 64 vertices: enumerate them."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 2, generator=g, dtype=torch.float64)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(2, 2)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[-1.0, 0.2], [1.0, -0.3]]))
        model[0].bias.copy_(torch.tensor([0.1, -0.1]))
    snap = state(model)
    p = params_of(model)
    eps = 0.3
    box = flatten({k: eps * (v.abs() + 1) for k, v in p.items()})
    base = evaluate(model, p, x, y)[0]
    best = -np.inf
    for signs in itertools.product((-1.0, 1.0), repeat=6):
        vec = flatten(p) + torch.tensor(signs, dtype=torch.float64) * box
        q = {"0.weight": vec[:4].view(2, 2), "0.bias": vec[4:]}
        best = max(best, evaluate(model, q, x, y)[0])
    exact = 100 * (best - base) / (1 + base)
    lb = FL.sharpness_ascent(model, x, y, eps, 20, 0, method="lbfgsb")
    sign = FL.epsilon_sharpness(model, x, y, eps, 20, 0)
    assert lb.value == pytest.approx(exact, rel=1e-9)
    assert 0 < sign <= exact * (1 + 1e-9)
    assert unchanged(model, snap)


# ---- trajectory PCA -----------------------------------------------------------------------


def numpy_pca(snapshots, center):
    """Li et al.'s reading, independently: sklearn's PCA is the SVD of the centred rows."""
    m = (snapshots - snapshots[-1]).numpy().astype(np.float64)
    fit = m - m.mean(0) if center else m
    _, s, vt = np.linalg.svd(fit, full_matrices=False)
    return vt, s**2 / (s**2).sum(), m


def test_centred_pca_of_points_on_a_line_has_one_component_at_any_offset():
    g = torch.Generator().manual_seed(0)
    start, end = torch.randn(50, generator=g), torch.randn(50, generator=g)
    t = torch.tensor([0.0, 0.2, 0.3, 0.7, 0.9, 1.0])[:, None]
    for offset in (0.0, 100.0):
        pca = T.trajectory_pca(offset + (1 - t) * start + t * end, k=2, center=True)
        assert pca.explained[0] == pytest.approx(1.0, abs=1e-9)
        u = (end - start) / (end - start).norm()
        assert abs(float(pca.components[0] @ u)) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(
            pca.path[:, 0], ((t[:, 0] - 1) * (end - start).norm()).numpy(), rtol=1e-5, atol=1e-5
        )


def test_centred_and_uncentred_pca_differ_on_an_offset_cloud_as_expected():
    """30 snapshots 10 away from the final point along o, spread over [-5, 5] along e: the
    uncentred first direction is o (second moment 100 vs ~9), the centred one is e
    (variance ~8.6 vs ~3.1 along o, where the final point's zero row is the outlier)."""
    n = 40
    o, e = torch.zeros(n), torch.zeros(n)
    o[0], e[1] = 1.0, 1.0
    g = torch.Generator().manual_seed(0)
    spread = torch.linspace(-5, 5, 30)[:, None]
    final = torch.randn(n, generator=g)
    snaps = torch.cat(
        [final + 10 * o + spread * e + 0.01 * torch.randn(30, n, generator=g), final[None]]
    )
    unc, cen = T.trajectory_pca(snaps), T.trajectory_pca(snaps, center=True)
    assert abs(float(unc.components[0] @ o)) > 0.99 and unc.explained[0] > 0.9
    assert abs(float(cen.components[0] @ e)) > 0.99 and cen.explained[0] > 0.6
    vt, ratio, m = numpy_pca(snaps, center=True)
    np.testing.assert_allclose(cen.explained, ratio[:2], rtol=1e-9)
    for j in range(2):
        assert abs(float(cen.components[j].double() @ torch.from_numpy(vt[j]))) == pytest.approx(
            1.0, abs=1e-6
        )
    np.testing.assert_allclose(
        cen.path, m @ cen.components.double().numpy().T, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(cen.path[-1], 0.0)
    assert (cen.path[0] <= 0).all()


def test_masked_pca_ignores_biases_and_matches_an_svd_of_the_weights():
    model = build_model("mlp", 4, seed=0)
    p = params_of(model)
    mask = T.weight_mask(p)
    assert mask.dtype == torch.bool and mask.shape == flatten(p).shape
    i = 0
    for v in p.values():  # flatten's order: the dict's
        assert bool(mask[i : i + v.numel()].all()) == (v.dim() >= 2)
        assert bool(mask[i : i + v.numel()].any()) == (v.dim() >= 2)
        i += v.numel()
    g = torch.Generator().manual_seed(1)
    snaps = flatten(p) + torch.randn(7, mask.numel(), generator=g).cumsum(0)
    for center in (False, True):
        pca = T.trajectory_pca(snaps, k=3, center=center, mask=mask)
        assert torch.count_nonzero(pca.components[:, ~mask]) == 0
        torch.testing.assert_close(pca.components.norm(dim=1), torch.ones(3), rtol=1e-6, atol=0)
        vt, ratio, m = numpy_pca(snaps[:, mask], center)
        np.testing.assert_allclose(pca.explained, ratio[:3], rtol=1e-9)
        got = pca.components[:, mask].double().numpy()
        np.testing.assert_allclose(np.abs((got * vt[:3]).sum(1)), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        T.trajectory_pca(snaps, mask=mask[:-1])
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        T.trajectory_pca(snaps, mask=torch.zeros_like(mask))


# ---- random subsets -----------------------------------------------------------------------


def test_random_subsets_are_seeded_distinct_and_device_independent():
    x = torch.arange(500, dtype=torch.float32)[:, None, None, None].expand(500, 1, 2, 2)
    split = Split(x.contiguous(), torch.arange(500) % 10)
    a, b, c = sample(split, 50, 0), sample(split, 50, 0), sample(split, 50, 1)
    ids = a.x[:, 0, 0, 0].long()
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)
    assert len(a) == 50 and len(set(ids.tolist())) == 50 and torch.equal(a.y, ids % 10)
    assert torch.equal(ids, ids.sort().values)
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(sample(split, 50, 0).x, a.x)
    assert torch.equal(sample(split, 500, 0).x, split.x)  # all of it, in order
    for n in (501, 0, 2.5):
        with pytest.raises(ValueError, match=rf"n={n!r} is invalid; allowed: int in \[1, 500\]"):
            sample(split, n, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_random_subsets_and_uniform_directions_are_the_same_on_cuda():
    split = Split(torch.randn(300, 1, 2, 2), torch.arange(300) % 10)
    assert torch.equal(sample(split.to("cuda"), 40, 3).x.cpu(), sample(split, 40, 3).x)
    p = params_of(tiny_mlp())
    u = D.uniform_like({k: v.cuda() for k, v in p.items()}, 4)
    assert all(torch.equal(u[k].cpu(), D.uniform_like(p, 4)[k]) for k in p)
