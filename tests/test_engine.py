"""The landscape engine and the Hessian, against independent references on tiny models."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lslib import directions as D
from lslib import fused
from lslib import hessian as H
from lslib import landscape as L
from lslib.models import build_model
from lslib.params import evaluate, params_of


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, model.training


def assert_unchanged(model, snap):
    state, training = snap
    now = model.state_dict()
    assert all(torch.equal(now[k], v) for k, v in state.items()) and model.training == training


@pytest.fixture(scope="module")
def tiny_data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_filter_normalization(name):
    p = params_of(build_model(name, 4, seed=0))
    d = D.random_direction(p, seed=1, norm="filter", bias="ignore")
    for k, w in p.items():
        if w.dim() <= 1:
            assert torch.count_nonzero(d[k]) == 0
        else:
            rows_d, rows_w = d[k].reshape(len(w), -1), w.reshape(len(w), -1)
            torch.testing.assert_close(rows_d.norm(dim=1), rows_w.norm(dim=1), rtol=1e-5, atol=0)
    db = D.random_direction(p, seed=1, norm="filter", bias="filter")
    for k, w in p.items():
        if w.dim() == 1:
            torch.testing.assert_close(db[k].abs(), w.abs(), rtol=1e-5, atol=1e-7)


def test_directions_are_gaussian_seeded_and_normalized_by_layer_and_model():
    p = params_of(build_model("mlp", 64, seed=0))
    raw = D.gaussian_like(p, seed=3)
    flat = torch.cat([v.reshape(-1) for v in raw.values()])
    five_sigma = 5 / flat.numel() ** 0.5  # U[0, 1] draws (mean 0.5) would fail by far
    assert abs(flat.mean()) < five_sigma and abs(flat.std() - 1) < 0.01
    assert all(torch.equal(raw[k], D.gaussian_like(p, seed=3)[k]) for k in p)
    assert not torch.equal(raw["1.weight"], D.gaussian_like(p, seed=4)["1.weight"])
    lay = D.normalize(raw, p, "layer", "filter")
    for k in p:
        torch.testing.assert_close(lay[k].norm(), p[k].norm(), rtol=1e-5, atol=0)
    mod = D.normalize(raw, p, "model", "filter")
    torch.testing.assert_close(
        torch.sqrt(sum(v.pow(2).sum() for v in mod.values())),
        torch.sqrt(sum(v.pow(2).sum() for v in p.values())),
        rtol=1e-5,
        atol=0,
    )


def test_orthogonalization_after_normalization():
    p = params_of(build_model("mlp", 8, seed=0))
    d1, d2 = D.random_plane(p, seed=0, orthogonal=True)
    assert abs(float(D.dot(d1, d2))) < 1e-4 * float(D.dot(d1, d1))
    rows = d1["1.weight"].norm(dim=1)
    torch.testing.assert_close(rows, p["1.weight"].norm(dim=1), rtol=1e-5, atol=0)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_surface_centre_is_the_plain_loss_and_points_are_exact(name, tiny_data):
    x, y = tiny_data
    model = build_model(name, 4, seed=0)
    before = snapshot(model)
    p = params_of(model)
    d1, d2 = D.random_plane(p, seed=0)
    pl = L.plane(model, d1, d2, x, y, nx=5, ny=3, progress=False)
    assert pl.loss.shape == (3, 5)
    centre, acc = evaluate(model, p, x, y)
    assert pl.loss[1, 2] == pytest.approx(centre, rel=1e-5) and pl.acc[1, 2] == acc
    a, b = pl.xs[4], pl.ys[0]
    ref, _ = evaluate(model, {k: p[k] + a * d1[k] + b * d2[k] for k in p}, x, y)
    assert pl.loss[0, 4] == pytest.approx(ref, rel=1e-5)
    assert_unchanged(model, before)


FAST_PATH_TAILS = {
    "relu-linear-tanh-linear": lambda b: [
        nn.ReLU(),
        nn.Linear(16, 12, bias=b),
        nn.Tanh(),
        nn.Linear(12, 10, bias=b),
    ],
    "relu-linear": lambda b: [nn.ReLU(), nn.Linear(16, 10, bias=b)],
    "relu-linear-tanh": lambda b: [nn.ReLU(), nn.Linear(16, 10, bias=b), nn.Tanh()],
    "tanh": lambda b: [nn.Tanh()],
}


@pytest.mark.parametrize("use_fused", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("tail", sorted(FAST_PATH_TAILS))
def test_mlp_fast_path_equals_one_forward_per_point(use_fused, bias, tail, tiny_data, monkeypatch):
    """The precomputed-first-layer path, split into many groups, image chunks (of a size
    that is no multiple of the fused kernel's 16) and logit blocks, with and without the
    fused kernel, gives every point as a plain forward pass does."""
    if use_fused and not fused.available():
        pytest.skip("the fused kernel could not be built here")
    if use_fused:
        monkeypatch.setenv("LSLIB_FUSED", "1")  # used without measuring whether it is faster
    else:
        monkeypatch.setattr(fused, "_state", False)
    x, y = tiny_data
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16, bias=bias), *FAST_PATH_TAILS[tail](bias))
    assert L._split_first_layer(model, 2) is not None
    p = params_of(model)
    d1, d2 = D.random_plane(p, seed=0, bias="filter" if bias else "ignore")
    coords = np.random.default_rng(0).uniform(-1, 1, size=(23, 2))
    monkeypatch.setattr(L, "GROUP_FLOATS", 3 * 16 * 40)  # groups of 3 points (40-image chunks)
    monkeypatch.setattr(L, "LOGIT_FLOATS", 7 * 16 * 40)  # blocks of 6 points
    ev = L.evaluate_points(model, [d1, d2], coords, x, y, chunk=40, progress=False)
    for i, (a, b) in enumerate(coords):
        ref, acc = evaluate(model, {k: p[k] + a * d1[k] + b * d2[k] for k in p}, x, y)
        assert ev.loss[i] == pytest.approx(ref, rel=1e-5) and ev.acc[i] == acc


def test_fused_kernel_is_used_for_relu_linear_tails_and_can_be_switched_off(monkeypatch):
    model = build_model("mlp", 4, seed=0)
    z = torch.zeros(4, 16, dtype=torch.float32)
    basis = [
        (m, L._stack(params_of(model), [params_of(model)], m, f"{i}."))
        for i, m in model[2:].named_children()
    ]
    if fused.available():
        assert L._fusable(basis, 10, z)
    assert not L._fusable(basis, 10, z.double())
    assert not L._fusable(basis[1:], 10, z)
    monkeypatch.setattr(fused, "_state", None)
    monkeypatch.setenv("LSLIB_FUSED", "0")
    assert not fused.available() and not L._fusable(basis, 10, z)


def test_fused_kernel_is_used_only_where_measured_faster_and_the_choice_is_kept(
    monkeypatch, tmp_path
):
    """The kernel is used at a thread count only if it measured faster there; the times and
    the choice are written beside the build and read back (no second measurement) by a
    later process; LSLIB_FUSED=1 skips the measurement."""
    if not fused.available():
        pytest.skip("the fused kernel could not be built here")
    path = tmp_path / "calibration.json"
    monkeypatch.setattr(fused, "calibration_path", lambda: str(path))
    monkeypatch.setattr(fused, "_decided", {})
    monkeypatch.delenv("LSLIB_FUSED", raising=False)
    calls = []

    def measure(kernel_s, torch_s):
        return lambda: calls.append(1) or (kernel_s, torch_s)

    assert fused.faster(measure(0.2, 0.1), threads=2) is False  # the kernel lost: not used
    assert fused.faster(measure(0.1, 0.2), threads=3) is True
    assert json.loads(path.read_text()) == {
        "2": {"kernel_s": 0.2, "torch_s": 0.1, "use": False},
        "3": {"kernel_s": 0.1, "torch_s": 0.2, "use": True},
    }
    monkeypatch.setattr(fused, "_decided", {})  # a new process: the file is read, not re-measured
    assert fused.faster(measure(0.1, 0.2), threads=2) is False
    assert fused.faster(measure(0.2, 0.1), threads=3) is True
    assert len(calls) == 2
    path.write_text("{torn")  # a torn file: measured again, and rewritten
    monkeypatch.setattr(fused, "_decided", {})
    assert fused.faster(measure(0.1, 0.2), threads=2) is True and len(calls) == 3
    monkeypatch.setattr(fused, "_decided", {})
    monkeypatch.setenv("LSLIB_FUSED", "1")
    assert fused.faster(measure(0.2, 0.1), threads=5) is True and len(calls) == 3


def test_calibration_times_both_paths_on_the_same_work(monkeypatch):
    """The engine's calibration times the kernel and the PyTorch path, which give the same
    logits on its plane."""
    if not fused.available():
        pytest.skip("the fused kernel could not be built here")
    kernel_s, torch_s = L._calibrate(repeat=1)
    assert 0 < kernel_s < 60 and 0 < torch_s < 60
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    p = params_of(model)
    d = [{k: torch.randn_like(v) for k, v in p.items()} for _ in "xy"]
    coords = np.random.default_rng(0).uniform(-1, 1, size=(9, 2))
    xb = torch.rand(40, 784)
    split = L._split_first_layer(model, 2)
    with torch.inference_mode():
        a, b = (
            torch.cat([o for _, o, _ in L._logits(model, split, p, d, coords, xb, fuse=f)])
            for f in (True, False)
        )
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


def test_fused_kernel_matches_torch_including_nan_and_inf():
    if not fused.available():
        pytest.skip("the fused kernel could not be built here")
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 7, 37, generator=g)  # 37 images: padded to 48 inside
    z[1, 0, 3], z[2, 1, 5] = float("nan"), float("inf")
    c = torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.0, 1.0], [1.0, 0.0, -1.0], [1.0, -0.3, 0.2]])
    w = torch.randn(4, 10, 7, generator=g)
    out = fused.relu_contract(z, c, w)
    ref = torch.bmm(w, torch.relu(torch.einsum("pk,kjn->pjn", c, z)))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert out[0, :, 3].isnan().all() and out[1, :, 5].isinf().any()  # NaN and inf propagate
    assert out[2, :, 5].isfinite().all()  # relu(-inf) = 0, as in torch


def _kernel_reference(z, c, w, fma: bool):
    """The kernel's arithmetic, one float32 operation at a time in its order (numpy): per
    point and image, h_j = c_0 z_0j (a rounded product), then h_j += c_k z_kj for k = 1..K-1,
    relu, then l_q += w_qj h_j for j = 0..J-1; each += a fused multiply-add (exact product
    and sum, one rounding: exact in float64 but for ~2^-29 double-rounding cases) or, where
    the compiler has no FMA, a rounded product then a rounded sum."""
    z, c, w = (t.double().numpy() for t in (z, c, w))

    def muladd(a, b, acc):
        if fma:
            return (a * b + acc).astype(np.float32)
        return ((a * b).astype(np.float32).astype(np.float64) + acc).astype(np.float32)

    h = (c[:, 0, None, None] * z[0]).astype(np.float32)  # (P, J, n)
    for k in range(1, len(z)):
        h = muladd(c[:, k, None, None], z[k], h.astype(np.float64))
    h = np.maximum(h, 0).astype(np.float64)
    out = np.zeros((len(c), w.shape[1], z.shape[2]), np.float32)
    for j in range(z.shape[1]):
        out = muladd(w[:, :, j, None], h[:, None, j, :], out.astype(np.float64))
    return torch.from_numpy(out)


@pytest.mark.parametrize("k", [2, 3, 4])  # a line, a plane (both specialized), K at run time
@pytest.mark.parametrize("n", [37, 48])  # 48: a pair of 16-image vectors and a single one
def test_fused_kernel_does_its_float_operations_in_the_documented_order(k, n):
    """Bit for bit against a one-operation-at-a-time reference: a change that lets the
    compiler fuse or reorder differently (which changes every stored surface's last bits)
    fails here."""
    if not fused.available():
        pytest.skip("the fused kernel could not be built here")
    g = torch.Generator().manual_seed(10 * k + n)
    z = torch.randn(k, 24, n, generator=g)
    c = torch.cat([torch.ones(7, 1), torch.randn(7, k - 1, generator=g)], 1)
    w = torch.randn(7, 10, 24, generator=g)
    out = fused.relu_contract(z, c, w)
    refs = [_kernel_reference(z, c, w, fma) for fma in (True, False)]
    assert not torch.equal(refs[0], refs[1])  # the two orders are told apart by this data
    assert any(torch.equal(out, r) for r in refs)


def _same(a, b):
    """Equal bit for bit, NaN where NaN."""
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


@pytest.mark.parametrize("n", [37, 64])  # 37: padded to whole 16-image blocks inside
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("bad", [False, True])
def test_fused_cross_entropy_steps_equal_torchs_steps_on_the_kernel_logits_bit_for_bit(
    n, bias, bad
):
    """relu_contract_ce does max, target and (l - max) * log2(e) inside the kernel: the same
    float32 operations as the engine's PyTorch steps on the kernel's logits, so the same bits
    (NaN and inf included), and the losses and hits of a plane are unchanged by it."""
    if not fused.available():
        pytest.skip("the fused kernel could not be built here")
    g = torch.Generator().manual_seed(n + 2 * bias + 4 * bad)
    z = torch.randn(3, 20, n, generator=g)
    if bad:  # image 3: NaN logits at every point (0 * NaN is NaN); image 5: inf or NaN
        z[1, 0, 3], z[2, 1, 5] = float("nan"), float("inf")
    c = torch.cat([torch.ones(12, 1), torch.randn(12, 2, generator=g)], 1)
    c[0, 1:] = 0  # theta0 itself
    w = torch.randn(12, 10, 20, generator=g)
    b = torch.randn(12, 10, 1, generator=g) if bias else None
    y = torch.randint(10, (n,), generator=g)
    logits = fused.relu_contract(z, c, w)
    if bias:
        logits = logits + b  # the engine's order before the bias moved into the kernel
    assert _same(fused.relu_contract(z, c, w, b), logits)
    shifted, top, target = fused.relu_contract_ce(z, c, w, b, y, L.LOG2E)
    top_ref = logits.amax(1, keepdim=True)
    assert _same(top, top_ref)
    assert _same(target, logits.gather(1, y.view(1, 1, -1).expand(12, 1, -1)))
    assert _same(shifted, logits.sub(top_ref).mul(L.LOG2E))
    if bad:
        assert top[:, 0, 3].isnan().all() and top[:, 0, :3].isfinite().all()
        assert logits[:, :, 5].isinf().any()
    loss, hits = L._loss_and_hits(logits.clone(), 1, y, F.cross_entropy)
    loss_k, hits_k = L._loss_and_hits((shifted, top, target), 1, y, F.cross_entropy)
    assert _same(loss_k, loss) and (hits_k == hits).all()
    assert loss.isnan().all() if bad else loss.isfinite().all()


class Linear(nn.Module):
    """y_hat = w . x: with squared loss, the loss on the plane is an analytic quadratic."""

    def __init__(self, n):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(n))

    def forward(self, x):
        return x @ self.w


def test_non_square_grid_lands_on_the_right_axes():
    torch.manual_seed(0)
    n = 3
    model = Linear(n)
    x = torch.eye(n)  # loss(w) = mean_i (w_i - t_i)^2 with targets t
    t = torch.tensor([1.0, -2.0, 0.5])
    mse = lambda out, y, reduction: F.mse_loss(out, y, reduction=reduction)
    d1 = {"w": torch.tensor([1.0, 0.0, 0.0])}
    d2 = {"w": torch.tensor([0.0, 1.0, 0.0])}
    pl = L.plane(
        model,
        d1,
        d2,
        x,
        t,
        nx=7,
        ny=4,
        xspan=(-1.0, 2.0),
        yspan=(-3.0, 0.0),
        loss_fn=mse,
        progress=False,
    )
    A, B = np.meshgrid(pl.xs, pl.ys)
    expected = ((A - 1.0) ** 2 + (B + 2.0) ** 2 + 0.5**2) / 3
    assert pl.loss.shape == (4, 7)
    np.testing.assert_allclose(pl.loss, expected, rtol=1e-6)


def test_no_drift_points_match_direct_evaluation_everywhere(tiny_data):
    x, y = tiny_data
    model = build_model("mlp", 8, seed=1)
    p = params_of(model)
    d = D.random_direction(p, seed=2)
    ev = L.line(model, d, x, y, steps=41, span=2.0, progress=False)
    for i in (0, 17, 40):
        ref, _ = evaluate(model, {k: p[k] + ev.coords[i, 0] * d[k] for k in p}, x, y)
        assert ev.loss[i] == pytest.approx(ref, rel=1e-5)


def test_nonfinite_points_are_nan_and_counted(tiny_data):
    x, y = tiny_data
    model = build_model("mlp", 8, seed=1)
    d = D.random_direction(params_of(model), seed=2)
    ev = L.evaluate_points(model, [d], np.array([[0.0], [1e30], [np.inf]]), x, y, progress=False)
    assert np.isfinite(ev.loss[0]) and ev.nonfinite == 2 and np.isnan(ev.loss[1:]).all()


def test_bad_input_is_rejected_before_compute(tiny_data):
    x, y = tiny_data
    model = build_model("mlp", 8, seed=1)
    p = params_of(model)
    d = D.random_direction(p, seed=2)
    with pytest.raises(ValueError, match="shape"):
        L.line(model, D.random_direction(params_of(build_model("mlp", 9)), 0), x, y)
    with pytest.raises(ValueError, match="steps"):
        L.line(model, d, x, y, steps=1)
    with pytest.raises(ValueError, match="range"):
        L.line(model, d, x, y, span=0.0)
    with pytest.raises(ValueError, match="range"):
        L.plane(model, d, d, x, y, xspan=(1.0, -1.0))
    with pytest.raises(ValueError, match="empty"):
        L.line(model, d, x[:0], y[:0])
    with pytest.raises(ValueError, match="k="):
        H.top_eigen(H.HVP(model, x, y), k=sum(v.numel() for v in p.values()))
    with pytest.raises(ValueError, match="empty"):
        H.HVP(model, x[:0], y[:0])
    with pytest.raises(ValueError, match="tol"):
        H.top_eigen(H.HVP(model, x, y), tol=0.0)
    with pytest.raises(ValueError, match="mlp"):
        H.HVP(build_model("cnn", 2, seed=0), x, y, method="mlp")
    with pytest.raises(ValueError, match="method"):
        H.HVP(model, x, y, method="exact")
    with pytest.raises(ValueError, match="norm"):
        D.random_direction(p, 0, norm="unit")


def dense_hessian(model, x, y):
    p = {k: v.detach().double() for k, v in model.named_parameters()}
    keys = list(p)
    flat = torch.cat([p[k].reshape(-1) for k in keys])

    def f(v):
        from lslib.params import unflatten

        out = torch.func.functional_call(model, unflatten(v, p), (x,))
        return F.cross_entropy(out, y)

    return torch.autograd.functional.hessian(f, flat)


def deep_mlp(bias):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 3, bias=bias),
        nn.ReLU(),
        nn.Linear(3, 4, bias=bias),
        nn.ReLU(),
        nn.Linear(4, 10, bias=bias),
    )


def other_cnn():
    """ReLU before a pool, a strided conv without bias, a 3x3 pool, a Linear after Flatten."""
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2, 3, 3, padding=(0, 1), bias=False),
        nn.MaxPool2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(6, 10),
    )


def shared_relu_cnn():
    """One ReLU module used twice, a pool before the first conv, a grouped dilated conv."""
    act = nn.ReLU()
    return nn.Sequential(
        nn.MaxPool2d(2),
        nn.Conv2d(1, 2, 3, padding=1),
        act,
        nn.Conv2d(2, 4, 3, padding=2, dilation=2, groups=2),
        act,
        nn.MaxPool2d((2, 2), stride=None),
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, 3, bias=False),
        act,
        nn.Linear(3, 10),
    )


MODELS = {
    "mlp": lambda: build_model("mlp", 2, seed=0),
    "cnn": lambda: build_model("cnn", 2, seed=0),
    "other-cnn": other_cnn,
    "shared-relu-cnn": shared_relu_cnn,
    "deep": lambda: deep_mlp(True),
    "deep-nobias": lambda: deep_mlp(False),
}


DENSE = {}


@pytest.mark.parametrize(
    "name,method",
    [
        ("mlp", "graph"),
        ("mlp", "func"),
        ("cnn", "graph"),
        ("cnn", "cnn"),
        ("other-cnn", "cnn"),
        ("shared-relu-cnn", "cnn"),
        ("deep", "cnn"),
        ("deep-nobias", "cnn"),
        ("mlp", "mlp"),
        ("deep", "mlp"),
        ("deep-nobias", "mlp"),
        ("deep", "graph"),
    ],
)
def test_hvp_and_top3_match_dense_hessian(name, method, tiny_data):
    x, y = tiny_data
    torch.manual_seed(0)
    model = MODELS[name]().double()
    xd = x.double()
    before = snapshot(model)
    if name not in DENSE:  # one dense Hessian a model, shared by its methods
        DENSE[name] = dense_hessian(model, xd, y)
    Hd = DENSE[name]
    hvp = H.HVP(model, xd, y, method=method)
    v = torch.randn(hvp.n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(hvp(v), Hd @ v, rtol=1e-8, atol=1e-10)
    e = H.top_eigen(hvp, k=3, tol=1e-12)
    ref = torch.linalg.eigvalsh(Hd).flip(0)[:3].numpy()
    np.testing.assert_allclose(e.values, ref, rtol=1e-6)
    assert (e.residuals < 1e-5).all() and e.hvps > 0
    assert_unchanged(model, before)


def test_auto_method_picks_a_closed_form_where_one_applies(tiny_data):
    x, y = tiny_data
    assert H.HVP(build_model("mlp", 2, seed=0), x, y).method == "mlp"
    assert H.HVP(deep_mlp(False), x, y).method == "mlp"
    assert H.HVP(build_model("cnn", 2, seed=0), x, y).method == "cnn"
    assert H.HVP(other_cnn(), x, y).method == "cnn"
    tanh = nn.Sequential(nn.Flatten(), nn.Linear(784, 3), nn.Tanh(), nn.Linear(3, 10))
    assert H.HVP(tanh, x, y).method == "graph"
    mse = lambda out, t: F.mse_loss(out, F.one_hot(t, 10).to(out.dtype))
    assert H.HVP(build_model("mlp", 2, seed=0), x, y, loss_fn=mse).method == "graph"


def test_closed_form_cnn_product_follows_autograd_at_tied_pool_windows(tiny_data):
    # Images that are zero but for a few pixels: the convolutions' outputs repeat their bias
    # over whole windows, so most max-pool windows are ties; the argmax autograd picks (the
    # first) is the one the closed form uses, in the ReLU-then-pool order as well.
    x, y = tiny_data
    xd = torch.zeros_like(x, dtype=torch.float64)
    xd[:, :, ::9, ::7] = x[:, :, ::9, ::7].double()
    for model in (build_model("cnn", 1, seed=1), other_cnn()):
        model = model.double()
        Hd = dense_hessian(model, xd, y)
        hvp = H.HVP(model, xd, y, method="cnn")
        for seed in range(3):
            v = torch.randn(
                hvp.n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
            )
            torch.testing.assert_close(hvp(v), Hd @ v, rtol=1e-8, atol=1e-10)


def test_closed_form_cnn_product_at_given_weights_and_its_state_size(tiny_data):
    x, y = tiny_data
    model, other = build_model("cnn", 2, seed=0).double(), build_model("cnn", 2, seed=1).double()
    xd = x.double()
    v = torch.randn(H.HVP(model, xd, y).n, dtype=torch.float64)
    at = H.HVP(model, xd, y, method="cnn", params=params_of(other))(v)
    torch.testing.assert_close(at, H.HVP(other, xd, y, method="graph")(v), rtol=1e-9, atol=1e-12)
    # the state: inputs of the weighted layers but the first, masks, indices, gradients
    n, w = len(y), 2
    floats = n * (w * 14 * 14 + 2 * w * 7 * 7 + 2 * w) * 2 + n * 10 * 2
    masks, indices = n * (w * 14 * 14 + 2 * w * 7 * 7 + 2 * w), n * (w * 14 * 14 + 2 * w * 7 * 7)
    state = H.HVP(model, xd, y, method="cnn")._product
    assert state.nbytes == 8 * floats + masks + 8 * indices
    # a pool before the first conv makes that conv's input a new tensor: counted, and the
    # pool itself keeps nothing
    rest = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.ReLU())
    rest.extend([nn.Flatten(), nn.Linear(2 * 7 * 7, 10)])
    pooled = nn.Sequential(nn.MaxPool2d(2), *rest)
    px = nn.MaxPool2d(2)(x)
    after = H.HVP(rest, px, y, method="cnn")._product.nbytes
    assert H.HVP(pooled, x, y, method="cnn")._product.nbytes == after + 4 * px.numel()


@pytest.mark.parametrize(
    "layer",
    [
        nn.Tanh(),
        nn.MaxPool2d(2, stride=1),
        nn.MaxPool2d(2, padding=1),
        nn.MaxPool2d(2, return_indices=True),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 2, 3, padding="same"),
        nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"),
        nn.Flatten(start_dim=2),
        nn.Linear(28, 28),  # a Linear on a 4-D tensor
    ],
)
def test_closed_form_cnn_product_refuses_layers_it_does_not_cover(layer, tiny_data):
    x, y = tiny_data
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), layer, nn.Flatten(), nn.LazyLinear(10))
    runs = not isinstance(layer, nn.MaxPool2d) or not layer.return_indices
    if runs:
        model(x[:1])
    else:  # a pool returning its indices breaks the model's own forward pass
        model[-1] = nn.Linear(2 * 14 * 14, 10)
    with pytest.raises(ValueError, match="method='cnn' needs"):
        H.HVP(model, x, y, method="cnn")
    if runs:
        assert H.HVP(model, x, y).method == "graph"


def test_closed_form_cnn_product_refuses_a_weighted_layer_used_twice(tiny_data):
    x, y = tiny_data
    lin = nn.Linear(10, 10)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), lin, nn.ReLU(), lin)
    with pytest.raises(ValueError, match="method='cnn' needs"):
        H.HVP(model, x, y, method="cnn")
    assert H.HVP(model, x, y).method == "graph"


class DiagonalHVP:
    """H = diag(d): an analytic operator with the attributes top_eigen uses."""

    def __init__(self, d):
        self.d, self.n, self.calls, self.device, self.dtype = d, len(d), 0, d.device, d.dtype

    def __call__(self, v):
        self.calls += 1
        return self.d * v


def test_top_eigen_restarts_when_the_krylov_space_is_invariant():
    # Two distinct eigenvalues: every Krylov space has dimension <= 2 < k, so Lanczos must
    # restart with a vector orthogonal to the basis to find the second 5.
    d = torch.tensor([5.0, 5.0, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    e = H.top_eigen(DiagonalHVP(d), k=3, tol=1e-10)
    np.testing.assert_allclose(e.values, [5.0, 5.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(np.abs(e.vectors @ e.vectors.T), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(e.vectors[:2, 2:], 0, atol=1e-12)  # 5-vectors span e_0, e_1


def test_top_eigen_float32_matches_the_float64_spectrum():
    g = torch.Generator().manual_seed(0)
    d = torch.cat([torch.tensor([9.0, 4.2, 4.0]), torch.rand(20_000, generator=g) * 3.5])
    e = H.top_eigen(DiagonalHVP(d.float()), k=3, tol=1e-4)
    np.testing.assert_allclose(e.values, [9.0, 4.2, 4.0], rtol=1e-4)
    assert (e.residuals < 1e-4).all() and e.hvps < 100  # converged before the step cap


def test_trace_and_density_against_dense_hessian(tiny_data):
    x, y = tiny_data
    model = build_model("mlp", 2, seed=0).double()
    xd = x.double()
    Hd = dense_hessian(model, xd, y)
    hvp = H.HVP(model, xd, y)
    est, se = H.hutchinson_trace(hvp, samples=200, seed=0)
    assert abs(est - float(torch.trace(Hd))) < 4 * se
    # Full-length Lanczos reproduces the spectrum: Ritz values = eigenvalues.
    slq = H.spectral_density(hvp, steps=hvp.n, runs=1)
    eig = torch.linalg.eigvalsh(Hd).numpy()
    big = slq["nodes"][0][np.argsort(slq["nodes"][0])[-3:]]
    np.testing.assert_allclose(np.sort(big), eig[-3:], rtol=1e-6)
    assert slq["weights"][0].sum() == pytest.approx(1.0)
    grid = np.linspace(eig.min() - 1, eig.max() + 1, 2001)
    dens = H.density_on(slq, grid, sigma=0.05)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, rel=1e-3)


def test_eigenvalue_stats_shapes_and_reproducibility(tiny_data):
    x, y = tiny_data
    model = build_model("mlp", 4, seed=0)
    s = H.eigenvalue_stats(model, x, y, n_batches=3, batch_size=16, k=2)
    assert s["values"].shape == (3, 2) and (s["values"][:, 0] >= s["values"][:, 1]).all()
    np.testing.assert_allclose(s["mean"], s["values"].mean(0))
    s2 = H.eigenvalue_stats(model, x, y, n_batches=3, batch_size=16, k=2)
    np.testing.assert_allclose(s["values"], s2["values"], rtol=1e-5)
    with pytest.raises(ValueError, match="batches"):
        H.eigenvalue_stats(model, x, y, n_batches=5, batch_size=16)
