"""Seeds trained side by side (``lslib.stacked``) against ``lslib.train.train``, one seed at a
time: the real training path is the reference, not a re-implementation.

Bitwise: each member's initial weights (against the epoch-0 checkpoint ``train_or_load``
stores) and its data order (every permutation ``batches`` hands out, recorded in both
paths). To float32 rounding: the weights after training, per tensor
max |stacked - one at a time| <= RTOL * max |one at a time|, RTOL = 1e-5. A batched matrix
product or grouped convolution may add a member's terms in another order than the member's
own call (one float32 ulp, 6e-8 relative, per sum), and training compounds that over the
steps. Adam compounds it most: an entry whose gradient is near zero moves by m / sqrt(v), a
ratio of two rounding-sized numbers, so one entry can differ by a good fraction of lr in a
step. Measured on an AMD EPYC (MLP-8 2 epochs, SimpleCNN-2 1 epoch, 256 images): at most
3e-7 with the default engine; the vmap engine is tested on the cases it stays within RTOL
(its SimpleCNN-4 with Adam, 2 epochs, measured 1.3e-5 on one entry of one member).
"""

import dataclasses
import math

import pytest
import torch

import lslib.stacked as S
import lslib.train as T
from lslib.config import TrainConfig
from lslib.stacked import stacked_init, train_stacked
from lslib.train import checkpoint, train

RTOL = 1e-5
SEEDS = [0, 1, 2]
SMALL = dict(subset=256, eval_subset=128, batch_size=32, device="cpu")


def config(model: str, optimizer: str, **kw) -> TrainConfig:
    """MLP-8 for 2 epochs, SimpleCNN-2 for 1 (the slower one; the suite stays near 20 s)."""
    width, epochs = (8, 2) if model == "mlp" else (2, 1)
    return TrainConfig(
        model=model, width=width, optimizer=optimizer, **{**SMALL, "epochs": epochs, **kw}
    )


def recording(monkeypatch, module) -> list[torch.Tensor]:
    """Every permutation ``module`` draws through ``batches``, in call order."""
    calls, real = [], module.batches

    def record(n, batch_size, generator):
        out = real(n, batch_size, generator)
        calls.append(torch.cat(out))
        return out

    monkeypatch.setattr(module, "batches", record)
    return calls


def one_at_a_time(c: TrainConfig, seeds=SEEDS):
    return [train(dataclasses.replace(c, seed=s)) for s in seeds]


def assert_same_run(ref, got, c: TrainConfig) -> float:
    """``got`` is ``ref`` to float32 rounding; returns the largest relative weight difference."""
    assert got.config == ref.config and got.status == ref.status and got.epochs == ref.epochs
    worst = 0.0
    for k, r in ref.state.items():
        assert got.state[k].shape == r.shape and got.state[k].dtype == r.dtype
        rel = float((got.state[k] - r).abs().max() / r.abs().max())
        assert rel <= RTOL, f"{k}: relative difference {rel:.2e} > {RTOL}"
        worst = max(worst, rel)
    for hr, hg in zip(ref.history, got.history, strict=True):
        assert hr.keys() == hg.keys()
        for f in ("train_loss", "val_loss", "test_loss"):
            if f in hr:
                assert math.isclose(hg[f], hr[f], rel_tol=RTOL), (f, hg[f], hr[f])
        for f in ("val_acc", "test_acc"):
            if f in hr:  # a near-tie may flip one image's argmax
                assert abs(hg[f] - hr[f]) <= 1 / c.eval_subset, (f, hg[f], hr[f])
    return worst


CASES = [(m, o, "grouped") for m in ("mlp", "cnn") for o in ("sgd", "momentum", "adam")]


@pytest.mark.parametrize(
    "model, optimizer, engine", [*CASES, ("mlp", "adam", "vmap"), ("cnn", "momentum", "vmap")]
)
def test_stacked_training_equals_one_seed_at_a_time(model, optimizer, engine, monkeypatch):
    c = config(model, optimizer)
    ref_orders, got_orders = recording(monkeypatch, T), recording(monkeypatch, S)
    ref = one_at_a_time(c)
    got = train_stacked(c, SEEDS, engine=engine)
    worst = max(assert_same_run(r, g, c) for r, g in zip(ref, got, strict=True))
    print(f"{model} {optimizer} {engine}: max relative weight difference {worst:.1e}")
    # The same permutations, bit for bit: one at a time is seed-major, stacked epoch-major.
    k, e = len(SEEDS), c.epochs
    assert len(ref_orders) == len(got_orders) == k * e
    for i in range(k):
        for j in range(e):
            assert torch.equal(got_orders[j * k + i], ref_orders[i * e + j])


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_the_members_start_from_their_seeds_initial_weights_bitwise(model):
    c = config(model, "sgd")
    stacked = stacked_init(c, SEEDS)
    for i, s in enumerate(SEEDS):
        init = checkpoint(dataclasses.replace(c, seed=s), 0)["state"]
        assert list(stacked) == list(init)
        for k, v in init.items():
            assert torch.equal(stacked[k][i], v)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_each_member_stops_on_its_own_as_it_would_alone(optimizer, monkeypatch):
    """Seed s 'converges' after s + 1 epochs (the rule replaced in both paths, so the
    members leave the stack one by one and the optimizer state is narrowed twice)."""

    def rule(c, history):
        return "converged" if len(history) == c.seed + 1 else None

    monkeypatch.setattr(T, "stopped", rule)
    monkeypatch.setattr(S, "stopped", rule)
    c = config("mlp", optimizer, epochs=None, max_epochs=4)
    ref, got = one_at_a_time(c), train_stacked(c, SEEDS)
    assert [r.epochs for r in ref] == [1, 2, 3]
    for r, g in zip(ref, got, strict=True):
        assert_same_run(r, g, c)


def test_a_member_that_diverges_keeps_the_weights_train_epoch_stops_at():
    c = config("mlp", "momentum", lr=1e20)
    ref, got = one_at_a_time(c), train_stacked(c, SEEDS)
    for r, g in zip(ref, got, strict=True):
        assert r.status == g.status == "diverged" and g.epochs == 1
        assert g.history[0]["train_loss"] == math.inf
        for k, v in r.state.items():  # the same step: the same entries are still finite
            assert torch.equal(v.isfinite(), g.state[k].isfinite())
            ok = v.isfinite()
            if ok.any():  # at lr 1e20 the relative measure, on the finite entries
                diff = (g.state[k][ok] - v[ok]).abs().max() / v[ok].abs().max()
                assert diff <= RTOL, f"{k}: relative difference {diff:.2e} > {RTOL}"


@pytest.mark.parametrize(
    "seeds, match",
    [
        ([], "seeds is empty"),
        ([0, 1, 0], r"seeds \[0\] repeat"),
        ([0, 1.5], "seeds must be ints"),
        ([True], "seeds must be ints"),
        (3, "seeds must be a list of ints"),
    ],
)
def test_bad_seeds_are_refused_before_any_compute(seeds, match, monkeypatch):
    monkeypatch.setattr(S, "load_mnist", lambda *a, **k: pytest.fail("data was loaded"))
    with pytest.raises(ValueError, match=match):
        train_stacked(config("mlp", "sgd"), seeds)


def test_an_unknown_engine_is_refused_before_any_compute(monkeypatch):
    monkeypatch.setattr(S, "load_mnist", lambda *a, **k: pytest.fail("data was loaded"))
    with pytest.raises(
        ValueError, match=r"engine='jit' is unknown; allowed: \('grouped', 'vmap'\)"
    ):
        train_stacked(config("mlp", "sgd"), SEEDS, engine="jit")


def test_stacked_forward_refuses_layers_it_does_not_run():
    S.check_model(S.build_model("cnn", 2))
    with pytest.raises(ValueError, match="nn.Sequential of Conv2d, MaxPool2d"):
        S.check_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(784)))


def test_an_unknown_optimizer_is_refused_before_any_compute(monkeypatch):
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        config("mlp", "rmsprop")
    c = config("mlp", "sgd")
    object.__setattr__(c, "optimizer", "rmsprop")  # past the config's own check
    monkeypatch.setattr(S, "load_mnist", lambda *a, **k: pytest.fail("data was loaded"))
    with pytest.raises(ValueError, match=r"optimizer='rmsprop' is unknown; allowed"):
        train_stacked(c, SEEDS)


@pytest.mark.cuda
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the GPU path is untested"
)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_stacked_training_equals_one_seed_at_a_time_on_cuda(model, optimizer, monkeypatch):
    """The same on a GPU, TF32 off (with it, both paths round convolution inputs to 10 bits)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    c = config(model, optimizer, device="cuda")
    ref, got = one_at_a_time(c), train_stacked(c, SEEDS)
    for r, g in zip(ref, got, strict=True):
        assert_same_run(r, g, c)
