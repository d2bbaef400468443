import gzip
import hashlib
import shutil
import warnings
from pathlib import Path

import pytest
import torch
import yaml

import lslib.train as T
from lslib import cache, codeid, data
from lslib.config import TrainConfig
from lslib.models import build_model, n_params
from lslib.train import converged, train, train_or_load

REPO = Path(__file__).resolve().parent.parent
SMALL = dict(subset=512, eval_subset=256, epochs=2, batch_size=64)


def test_shipped_checksums_match_readme():
    readme = (REPO / "data" / "README.md").read_text()
    for name, digest in data.SHA256.items():
        assert hashlib.sha256((data.SHIPPED / name).read_bytes()).hexdigest() == digest
        assert f"| {name} | {digest} |" in readme


def test_shapes_labels_and_normalization():
    d = data.load_mnist()
    assert d.train.x.shape == (50_000, 1, 28, 28) and d.val.x.shape == (10_000, 1, 28, 28)
    assert d.test.x.shape == (10_000, 1, 28, 28)
    # Known MNIST label counts: full training set and test set.
    full = torch.cat([d.train.y, d.val.y]).bincount().tolist()
    assert full == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert d.test.y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x = torch.cat([d.train.x, d.val.x])
    assert abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 2e-3
    # Pixels are whole bytes: de-normalizing gives k/255.
    k = (x[:100] * data.STD + data.MEAN) * 255
    assert torch.allclose(k, k.round(), atol=1e-3)


def test_corrupt_or_missing_file_is_a_clear_error(tmp_path):
    for name in data.SHA256:
        shutil.copy(data.SHIPPED / name, tmp_path / name)
    name = "t10k-labels-idx1-ubyte.gz"
    with gzip.open(tmp_path / name, "wb") as f:
        f.write(b"not mnist")
    with pytest.raises(OSError, match=f"{name}.*corrupt.*git checkout"):
        data.verify(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"{name}.*git checkout"):
        data.verify(tmp_path)


def test_parameter_counts():
    # Closed forms: MLP 784w + w + 10w + 10; CNN from its layer shapes.
    def cnn(w):
        return (9 * w + w) + (9 * w * 2 * w + 2 * w) + (98 * w * 2 * w + 2 * w) + (2 * w * 10 + 10)

    for w in (32, 64, 128):
        assert n_params(build_model("mlp", w)) == 795 * w + 10
    for w in (16, 32, 64):
        assert n_params(build_model("cnn", w)) == cnn(w)
    mlp128 = n_params(build_model("mlp", 128))
    assert n_params(build_model("cnn", 16)) < mlp128 < n_params(build_model("cnn", 32))


def test_pool_before_relu_is_the_conv_relu_pool_network_bit_for_bit():
    """SimpleCNN pools before its ReLUs; the report's conv, ReLU, pool order gives the same
    outputs and gradients to the last bit, with windows all negative, tied and NaN."""
    torch.manual_seed(0)
    ours = build_model("cnn", 4, seed=0)
    report = torch.nn.Sequential(*[ours[i] for i in (0, 2, 1, 3, 5, 4, 6, 7, 8, 9)])
    assert [type(m).__name__ for m in report][:6] == ["Conv2d", "ReLU", "MaxPool2d"] * 2
    names = [k for k, _ in ours.named_parameters()]  # as in the conv, ReLU, pool order
    assert names == [f"{i}.{w}" for i in (0, 3, 7, 9) for w in ("weight", "bias")]
    x = torch.randn(16, 1, 28, 28)
    x[0] = -1.0  # every window of the first conv's output at its bias
    x[1, 0, :4, :4] = 0.5  # tied values in a window
    y = torch.randint(0, 10, (16,))
    grads = []
    for net in (ours, report):
        out = net(x)
        loss = torch.nn.functional.cross_entropy(out, y)
        grads.append((out.detach(), torch.autograd.grad(loss, list(net.parameters()))))
    assert torch.equal(grads[0][0], grads[1][0])
    assert all(torch.equal(a, b) for a, b in zip(grads[0][1], grads[1][1], strict=True))
    x[2, 0, 5, 5] = float("nan")
    assert torch.equal(ours(x).isnan(), report(x).isnan()) and ours(x)[2].isnan().all()


def test_training_lowers_loss_and_is_deterministic():
    cfg = TrainConfig(model="mlp", width=32, optimizer="momentum", **SMALL)
    a, b = train(cfg), train(cfg)
    assert a.status == "fixed" and a.epochs == 2
    assert a.history[1]["train_loss"] < a.history[0]["train_loss"]
    assert a.final["val_loss"] < 2.302  # below chance-level cross-entropy ln(10)
    for k in a.state:
        assert torch.equal(a.state[k], b.state[k])


def test_cnn_trains_and_snapshots_every_epoch():
    cfg = TrainConfig(model="cnn", width=8, optimizer="adam", **SMALL)
    r = train_or_load(cfg)
    snaps = r.snapshots()
    assert snaps.shape == (3, n_params(build_model("cnn", 8)))  # initialization + 2 epochs
    assert torch.equal(snaps[-1], torch.cat([v.reshape(-1) for v in r.state.values()]))
    assert torch.equal(
        snaps[0],
        torch.cat([p.reshape(-1) for p in build_model("cnn", 8, seed=0).state_dict().values()]),
    )
    assert r.final["val_loss"] < 2.302


@pytest.mark.parametrize("model, width, optimizer", [("mlp", 16, "adam"), ("cnn", 4, "momentum")])
def test_runs_on_one_trajectory_share_epochs_bit_for_bit(model, width, optimizer, monkeypatch):
    """A 3-epoch run after a 1-epoch run trains 2 more epochs, and equals training straight
    through (optimizer and sampler state restored exactly); a run stopped by the rule reuses
    the stored epochs of a fixed-length run on the same trajectory."""
    small = dict(
        model=model,
        width=width,
        optimizer=optimizer,
        subset=512,
        eval_subset=256,
        batch_size=64,
        seed=3,
    )
    ref = train(TrainConfig(epochs=3, **small))
    steps = []
    advance = T._advance
    monkeypatch.setattr(T, "_advance", lambda c, prev: steps.append(1) or advance(c, prev))
    train_or_load(TrainConfig(epochs=1, **small))
    assert len(steps) == 1
    r = train_or_load(TrainConfig(epochs=3, **small))
    assert len(steps) == 3  # two more, not three
    strip = lambda h: [{k: v for k, v in row.items() if k != "wall_s"} for row in h]  # noqa: E731
    assert strip(r.history) == strip(ref.history) and r.status == "fixed"
    assert all(torch.equal(ref.state[k], r.state[k]) for k in ref.state)
    conv = train_or_load(TrainConfig(epochs=None, max_epochs=3, patience=1, rel_tol=0.9, **small))
    assert len(steps) == 3 and conv.status in ("converged", "max_epochs")  # nothing trained
    assert strip(conv.history) == strip(ref.history[: conv.epochs])


def test_stopping_rule():
    assert not converged([1.0, 0.9], patience=2, rel_tol=0.01)
    assert converged([1.0, 0.5, 0.499, 0.5], patience=2, rel_tol=0.01)
    assert not converged([1.0, 0.5, 0.499, 0.48], patience=2, rel_tol=0.01)
    cfg = TrainConfig(
        model="mlp",
        width=16,
        epochs=None,
        max_epochs=3,
        patience=1,
        rel_tol=0.5,
        **{k: v for k, v in SMALL.items() if k != "epochs"},
    )
    r = train(cfg)
    assert r.status in ("converged", "max_epochs") and 1 <= r.epochs <= 3
    assert r.status == "max_epochs" or converged([h["val_loss"] for h in r.history], 1, 0.5)


def test_divergence_is_recorded_not_raised():
    cfg = TrainConfig(model="mlp", width=16, optimizer="sgd", lr=1e6, **SMALL)
    r = train(cfg)
    assert r.status == "diverged"


def test_cache_hit_returns_identical_result_without_training(monkeypatch):
    cfg = TrainConfig(model="mlp", width=8, **SMALL)
    calls = []
    advance = T._advance
    monkeypatch.setattr(T, "_advance", lambda c, prev: calls.append(c) or advance(c, prev))
    a = train_or_load(cfg)
    b = train_or_load(cfg)
    assert len(calls) == 2  # two epochs, trained once
    assert a.history == b.history and all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    meta = cache.meta("epoch", {"run": T.path_of(cfg), "epoch": 2}, T.__name__)
    assert meta["torch"] == torch.__version__ and meta["device"] == "cpu" and meta["wall_s"] > 0


def test_corrupted_entry_is_recomputed(monkeypatch):
    cfg = TrainConfig(model="mlp", width=9, **SMALL)
    a = train_or_load(cfg)
    key = cache.key_of("epoch", {"run": T.path_of(cfg), "epoch": 2}, cache.fingerprint(T.__name__))
    path = cache.cache_dir() / "epoch" / f"{key}.pt"
    path.write_bytes(path.read_bytes()[:100])  # truncate
    before = cache.stats.corrupt
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        b = train_or_load(cfg)
    assert cache.stats.corrupt == before + 1 and any("unreadable" in str(x.message) for x in w)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_fingerprint_ignores_comments_and_docstrings(tmp_path):
    src = "def f(x):\n    '''doc'''\n    return x + 1  # comment\n"
    other = "def f(x):\n    # another comment\n    return x + 1\n"
    changed = "def f(x):\n    return x + 2\n"
    import ast

    dump = lambda s: ast.dump(codeid.strip_docstrings(ast.parse(s)))
    assert dump(src) == dump(other) != dump(changed)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(model="resnet"), "model"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(width=0), "width"),
        (dict(lr=0.0), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(epochs=0), "epochs"),
        (dict(widht=3), "widht"),
    ],
)
def test_bad_input_is_a_clear_error_before_compute(kwargs, field):
    before = sorted(cache.cache_dir().rglob("*.pt")) if cache.cache_dir().exists() else []
    with pytest.raises(ValueError, match=field):
        train_or_load(TrainConfig(**kwargs))
    after = sorted(cache.cache_dir().rglob("*.pt")) if cache.cache_dir().exists() else []
    assert before == after


def test_environment_yml_mirrors_requirements():
    reqs = [
        line.strip()
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert sorted(p for p in pip if not p.startswith("-e")) == sorted(reqs)
    assert "python=3.11" in env["dependencies"]


def _compute_in_process(args):
    import time as _time

    from lslib import cache as c

    folder, marker = args

    def compute():
        with open(marker, "a") as f:
            f.write("computed\n")
        _time.sleep(1.0)  # long enough for the other process to be waiting on the lock
        return {"value": 42}

    return c.cached("locktest", {"k": 1}, compute, "lslib.config")["value"]


def test_two_processes_compute_one_key_once(tmp_path, monkeypatch):
    import multiprocessing as mp

    monkeypatch.setenv("LSLIB_CACHE", str(tmp_path / "cache"))
    marker = tmp_path / "marker.txt"
    with mp.get_context("spawn").Pool(2) as pool:
        values = pool.map(_compute_in_process, [(tmp_path, marker)] * 2)
    assert values == [42, 42]
    assert marker.read_text().count("computed") == 1


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_infer_in_slices_gives_the_logits_of_one_call_bit_for_bit(layout, monkeypatch):
    """``params.infer`` runs a convolutional model's images in slices on the CPU: the logits
    equal those of one forward over all of them (in both layouts, with a slice count that
    does not divide the images) to float32 rounding, and bit for bit where the machine's
    matrix kernels do not depend on the batch size; evaluate's loss and accuracy are those
    of the sliced logits; the slices' count and sizes are as documented."""
    from torch.func import functional_call

    from lslib import params as P
    from lslib.train import as_layout

    monkeypatch.setattr(P, "INFER_IMAGES", 24)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = build_model("cnn", 8, seed=3).to(memory_format=fmt)
    p = P.params_of(model)
    x = as_layout(torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(1)), fmt)
    y = torch.randint(0, 10, (100,), generator=torch.Generator().manual_seed(2))
    whole = functional_call(model, p, (x,))
    sliced = P.infer(model, p, x)
    assert sliced.shape == whole.shape
    # Bit for bit on an AVX2 machine; on an AVX-512 one, a Linear layer's last bit depends
    # on how many rows share the call (measured: a few logits off by 3e-8).
    torch.testing.assert_close(sliced, whole, rtol=1e-6, atol=1e-6)
    by_slice = torch.cat([functional_call(model, p, (x[i : i + 24],)) for i in range(0, 100, 24)])
    assert torch.equal(sliced, by_slice)  # the strided-maximum pool changes no bit
    loss = float(torch.nn.functional.cross_entropy(sliced, y, reduction="sum")) / len(y)
    acc = int((sliced.argmax(1) == y).sum()) / len(y)
    assert P.evaluate(model, p, x, y) == (loss, acc)
    calls = []
    monkeypatch.setattr(P, "_run_layers", lambda layers, xb: calls.append(len(xb)) or whole)
    P.infer(model, p, x)
    assert calls == [24, 24, 24, 24, 4]  # sliced, the last slice the remainder
    calls.clear()
    monkeypatch.setattr(P, "functional_call", lambda *a: calls.append(len(a[2][0])) or whole)
    P.infer(build_model("mlp", 8), P.params_of(build_model("mlp", 8)), x)
    assert calls == [100]  # an MLP in one call


@pytest.mark.parametrize("size", [28, 29])
def test_infer_pools_by_strided_maximum_bit_for_bit_with_max_pool2d(size):
    """``infer`` runs a Sequential's 2x2 max-pool as the maximum of four strided views (a
    following ReLU in place): the logits equal ``functional_call``'s (max_pool2d, ReLU) to
    the last bit, for odd feature maps (the last row and column dropped, as max_pool2d
    floors), a pool with no ReLU after it, a NaN input (kept), and other pools left alone."""
    from torch import nn
    from torch.func import functional_call

    from lslib import params as P

    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 1, size, size, generator=g)
    x[3, 0, 4, 4] = float("nan")
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.MaxPool2d((2, 2), stride=2),  # no ReLU after it
        nn.Flatten(),
        nn.LazyLinear(10),
    )
    model(x)  # materializes the lazy layer
    p = P.params_of(model)
    ops = [op for _, _, op in P._layers(model, p)]
    assert ops == ["call", "pool_relu", "call", "pool", "call", "call"]
    whole = functional_call(model, p, (x,))
    got = P.infer(model, p, x)
    assert torch.isnan(got[3]).all() and not torch.isnan(got[torch.arange(40) != 3]).any()
    assert torch.equal(got.nan_to_num(7.0), whole.nan_to_num(7.0))
    # a 3x3 pool, a padded pool: through functional_call as they are
    for pool in (nn.MaxPool2d(3), nn.MaxPool2d(2, padding=1)):
        other = nn.Sequential(nn.Conv2d(1, 2, 3), pool, nn.ReLU())
        q = P.params_of(other)
        assert [op for _, _, op in P._layers(other, q)] == ["call", "call", "call"]
        xs = x[5:10]  # no NaN
        assert torch.equal(P.infer(other, q, xs), functional_call(other, q, (xs,)))
