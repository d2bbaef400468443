"""The paper's analyses beyond the report's instruments, cached like ``analyses``' (config ->
store -> plain values): adaptive sharpness with the generalization gap, and lambda_1 after
every epoch against the optimizers' stability thresholds (the edge of stability). REPAIR
is part of ``analyses.connectivity``.
"""

import numpy as np

from lslib import cache
from lslib import flatness as FL
from lslib import hessian as H
from lslib import stability as ST
from lslib.config import AdaptiveConfig, EdgeConfig, EvalSet
from lslib.models import build_model
from lslib.paper.sections.analyses import eval_data
from lslib.params import evaluate, params_of
from lslib.train import checkpoint, train_or_load

KINDS = ("max_linf", "max_l2", "avg")


def adaptive(c: AdaptiveConfig) -> dict:
    """Adaptive sharpness of the run's final weights on ``c.data`` (worst case in l-inf and
    l2, average case; Andriushchenko et al. 2023), the loss on ``c.train_images`` random
    training images and the run's final test loss and accuracy (the generalization gap is
    the difference of the losses)."""

    def compute():
        dev = c.run.device
        run = train_or_load(c.run)
        model = run.model(dev)
        x, y = eval_data(c.data, dev)
        rho = {"max_linf": c.rho_linf, "max_l2": c.rho_l2, "avg": c.rho_avg}
        out = {}
        for kind in KINDS:
            r = FL.adaptive_sharpness(
                model, x, y, rho[kind], kind, c.steps, c.draws, c.batch_size, c.seed
            )
            out[kind], out[f"{kind}_stderr"], out["base"] = r.value, r.stderr, r.base
        n = min(c.train_images, c.run.subset or c.train_images)
        tx, ty = eval_data(EvalSet("train", n, "random", c.seed + 1), dev)
        out["train_loss"], out["train_acc"] = evaluate(model, params_of(model), tx, ty)
        return out | {"test_loss": run.final["test_loss"], "test_acc": run.final["test_acc"]}

    return cache.cached("adaptive", c, compute)


def edge(c: EdgeConfig) -> dict:
    """lambda_1 of the training loss on ``c.images`` fixed random training images after
    every epoch of the run (its stored checkpoints), with the optimizer's stability
    threshold (``stability.stability_threshold``); for Adam also the preconditioned lambda_1
    (Cohen et al. 2022), whose threshold that is."""

    def compute():
        r, dev = train_or_load(c.run), c.run.device
        x, y = eval_data(EvalSet("train", c.images, "random", c.seed), dev)
        lam, pre = [], []
        for e in range(1, r.epochs + 1):
            ck = checkpoint(c.run, e)
            model = build_model(c.run.model, c.run.width, seed=0)
            model.load_state_dict(ck["state"])
            model = model.to(dev)
            top = H.top_eigen(H.DataHVP(model, x, y, chunk=256), k=1, tol=c.tol, seed=c.seed)
            lam.append(float(top.values[0]))
            if c.run.optimizer == "adam":
                P = ST.adam_preconditioner(ck["optim"], model)
                P = {k: v.to(dev) for k, v in P.items()}
                q = ST.preconditioned_sharpness(model, x, y, P, tol=c.tol, seed=c.seed, chunk=256)
                pre.append(float(q.values[0]))
        o, lr = c.run.optimizer, c.run.learning_rate
        return {
            "epochs": np.arange(1, r.epochs + 1),
            "lambda1": np.array(lam),
            "preconditioned": np.array(pre) if pre else None,
            "lr": lr,
            "threshold": ST.stability_threshold(o, lr, c.run.momentum),
            "gd_threshold": 2 / lr,
            "momentum_threshold": ST.stability_threshold("momentum", lr, c.run.momentum),
        }

    return cache.cached("edge", c, compute)
