"""The GPU path: training, a plane, the Hessian top-3 and connectivity on CUDA agree with the
CPU within float32 tolerance (skipped without a GPU; the paper's analyses, each config
once per device, so each is also a separate entry of the run store).

TF32 is switched off for the comparison: with it, cuDNN convolutions round inputs to a
10-bit mantissa, which is a documented speed trade, not a float32 result.
"""

import dataclasses

import numpy as np
import pytest
import torch

from lslib.config import ConnectivityConfig, EvalSet, HessianConfig, LandscapeConfig, TrainConfig
from lslib.paper.sections import analyses as A
from lslib.paper.sections import analyses_curvature
from lslib.train import train_or_load

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]
RTOL, ATOL = 1e-3, 1e-4


@pytest.fixture(autouse=True)
def no_tf32():
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def both(c: TrainConfig):
    return dataclasses.replace(c, device="cpu"), dataclasses.replace(c, device="cuda")


@pytest.mark.parametrize("model, width", [("mlp", 32), ("cnn", 4)])
def test_training_on_cuda_matches_the_cpu(model, width):
    cpu, gpu = both(TrainConfig(model=model, width=width, subset=1024, eval_subset=256, epochs=2))
    a, b = train_or_load(cpu), train_or_load(gpu)
    for k in a.state:
        torch.testing.assert_close(b.state[k], a.state[k], rtol=RTOL, atol=ATOL)
    assert b.history[-1]["test_loss"] == pytest.approx(a.history[-1]["test_loss"], rel=RTOL)


@pytest.mark.parametrize("model, width", [("mlp", 32), ("cnn", 4)])
def test_a_plane_and_the_hessian_top3_on_cuda_match_the_cpu(model, width):
    run = TrainConfig(model=model, width=width, subset=1024, eval_subset=256, epochs=2)
    out = {}
    for c in both(run):
        land = LandscapeConfig(run=c, data=EvalSet("train", 200), grid=5, n_dirs=2, line_steps=5)
        out[c.device] = (
            A.plane(land),
            analyses_curvature.hessian(HessianConfig(run=c, n_batches=2, batch_size=64)),
        )
    (pc, hc), (pg, hg) = out["cpu"], out["cuda"]
    np.testing.assert_allclose(pg["plane"], pc["plane"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(hg["values"]), np.asarray(hc["values"]), rtol=1e-2)


def test_connectivity_on_cuda_matches_the_cpu():
    run = TrainConfig(model="mlp", width=32, subset=1024, eval_subset=256, epochs=2)
    out = {}
    for c in both(run):
        cfg = ConnectivityConfig(
            run_a=c,
            run_b=dataclasses.replace(c, seed=1),
            data=EvalSet("train", 200),
            points=5,
            bezier_epochs=1,
        )
        out[c.device] = A.connectivity(cfg)
    for key in ("test_plain_loss", "test_aligned_loss", "test_bezier_loss"):
        np.testing.assert_allclose(out["cuda"][key], out["cpu"][key], rtol=RTOL, atol=ATOL)
    assert out["cuda"]["units_moved"] == pytest.approx(out["cpu"]["units_moved"])
