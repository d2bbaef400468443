"""The library as a researcher meets it: the README's example, and a model not the report's.

The model is torchvision's ResNet-18 (BatchNorm, residual blocks, random weights, no
download) on 8 random 3 x 32 x 32 images. Its BatchNorm statistics are set from those
images, and it is left in train mode, so every test also checks that the instruments
evaluate in eval mode (running statistics, never updated) and hand the model back
bit-identical, buffers and train/eval flags included. What the API page (book/api.md)
says is supported and refused is what these tests run.
"""

import copy
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from lslib import connectivity, directions, flatness, hessian, landscape
from lslib.params import params_of
from lslib.paths import REPO


def readme_example() -> str:
    """The first python block of the README's "The library" section."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("\n## The library\n") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs():
    ns: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), ns)
    surface, top = ns["surface"], ns["top"]
    assert surface.loss.shape == (31, 21) and np.isfinite(surface.loss).all()
    assert (np.diff(top.values) <= 0).all() and (top.residuals < 1e-6).all()
    assert np.isfinite(ns["sharpness"]) and ns["sharpness"] >= 0


# ---------------------------------------------------------------- ResNet-18 with BatchNorm


@pytest.fixture(scope="module")
def resnet():
    """ResNet-18 (random weights), BatchNorm statistics of 8 random images, in train mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.resnet18(weights=None, num_classes=10)
        x = torch.randn(8, 3, 32, 32)
        y = torch.randint(0, 10, (8,))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one batch's statistics exactly
    with torch.no_grad():
        model.train()(x)
    return model, x, y


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, [
        m.training for m in model.modules()
    ]


def assert_untouched(model, before):
    state, flags = before
    after = model.state_dict()
    assert list(after) == list(state)
    assert all(torch.equal(after[k], v) for k, v in state.items())  # running stats included
    assert [m.training for m in model.modules()] == flags  # still in train mode


def reference_loss(model, p, x, y) -> float:
    """Plain PyTorch: a copy of the model holding ``p``, in eval mode, one forward pass."""
    m = copy.deepcopy(model).eval()
    m.load_state_dict(p, strict=False)
    with torch.no_grad():
        return float(F.cross_entropy(m(x), y))


def test_resnet_directions_treat_batchnorm_as_li_et_al(resnet):
    model, _, _ = resnet
    p = params_of(model)
    assert not set(p) & {k for k, _ in model.named_buffers()}  # running stats: no direction
    ignore = directions.random_direction(p, seed=0)
    with_bn = directions.random_direction(p, seed=0, bias="filter")
    for k, w in p.items():
        if w.dim() <= 1:  # BatchNorm weight and bias (and fc.bias)
            assert not ignore[k].any()
            assert torch.allclose(with_bn[k].abs(), w.abs())
        else:  # each filter (output channel) has the norm of the weights' filter
            rows = lambda t: t.reshape(len(t), -1).norm(dim=1)  # noqa: E731
            assert torch.allclose(rows(ignore[k]), rows(w), rtol=1e-5)


def test_resnet_plane(resnet):
    model, x, y = resnet
    before = snapshot(model)
    p = params_of(model)
    d1, d2 = directions.random_plane(p, seed=0, bias="filter")
    plane = landscape.plane(model, d1, d2, x, y, nx=3, ny=3, xspan=0.5, yspan=0.5, progress=False)
    assert plane.loss.shape == (3, 3) and np.isfinite(plane.loss).all()
    assert_untouched(model, before)
    # Two grid points against plain forward passes of a copy holding those weights.
    for j, i in ((1, 1), (0, 2)):
        a, b = plane.xs[i], plane.ys[j]
        q = {k: p[k] + a * d1[k] + b * d2[k] for k in p}
        assert plane.loss[j, i] == pytest.approx(reference_loss(model, q, x, y), rel=1e-4)


def grad64(model64, p, x, y) -> torch.Tensor:
    """The flat float64 gradient of the mean loss at weights ``p``, in plain PyTorch."""
    with torch.no_grad():
        for k, v in model64.named_parameters():
            v.copy_(p[k])
    model64.zero_grad()
    F.cross_entropy(model64(x.double()), y).backward()
    return torch.cat([v.grad.reshape(-1) for v in model64.parameters()])


def test_resnet_top_eigenvalues(resnet):
    model, x, y = resnet
    before = snapshot(model)
    # 8 products (Lanczos' least for k=3): whether or not the pairs have converged, each
    # comes with its residual, which the reference below checks.
    top = hessian.top_eigen(hessian.HVP(model, x, y), k=3, max_steps=8)
    assert_untouched(model, before)
    assert top.hvps == 8 and np.isfinite(top.values).all() and (np.diff(top.values) <= 0).all()
    # Independent reference: H v1 as a central difference of float64 gradients, in plain
    # PyTorch (a step small enough that no ReLU or max-pool switches along it).
    m64 = copy.deepcopy(model).double().eval()
    p = {k: v.double() for k, v in params_of(model).items()}
    v = torch.from_numpy(top.vectors[0])
    vs = dict(zip(p, torch.split(v, [t.numel() for t in p.values()]), strict=True))
    h = 1e-6
    plus = grad64(m64, {k: p[k] + h * vs[k].view_as(p[k]) for k in p}, x, y)
    minus = grad64(m64, {k: p[k] - h * vs[k].view_as(p[k]) for k in p}, x, y)
    hv = (plus - minus) / (2 * h)
    lam = top.values[0]
    assert float(v @ hv) == pytest.approx(lam, rel=1e-3)  # the Ritz value is v's Rayleigh quotient
    residual = float((hv - lam * v).norm()) / abs(lam)
    assert residual == pytest.approx(top.residuals[0], rel=0.01, abs=1e-4)


def test_resnet_flatness(resnet):
    model, x, y = resnet
    before = snapshot(model)
    ascent = flatness.sharpness_ascent(model, x, y, eps=1e-4, steps=1)
    assert ascent.base == pytest.approx(reference_loss(model, params_of(model), x, y), rel=1e-4)
    assert np.isfinite(ascent.value) and ascent.best >= ascent.base
    curv = flatness.sharpness_1d(model, x, y, n_dirs=2, points=3, window=0.01)
    assert np.isfinite(curv["values"]).all()
    assert_untouched(model, before)


def test_resnet_connectivity(resnet):
    """Interpolation applies between weights that share the model's BatchNorm statistics;
    weight matching refuses a model that is not an nn.Sequential, with a clear error."""
    model, x, y = resnet
    before = snapshot(model)
    a = params_of(model)
    d = directions.random_direction(a, seed=1)
    b = {k: a[k] + 0.2 * d[k] for k in a}
    ev = connectivity.interpolate(model, a, b, x, y, alphas=[0.0, 0.5, 1.0], progress=False)
    bar = connectivity.barrier([0.0, 0.5, 1.0], ev.loss)
    assert bar["loss_b"] == pytest.approx(reference_loss(model, b, x, y), rel=1e-4)
    assert bar["height"] >= 0
    with pytest.raises(ValueError, match=r"nn\.Sequential"):
        connectivity.weight_matching(model, a, b)
    assert_untouched(model, before)


def test_resnet_refusals(resnet):
    model, x, y = resnet
    with pytest.raises(ValueError, match="method='mlp' needs an nn.Sequential"):
        hessian.HVP(model, x, y, method="mlp")
    with pytest.raises(ValueError, match="x must be a floating-point tensor"):
        landscape.line(model, directions.random_direction(params_of(model), 0), x.long(), y)
