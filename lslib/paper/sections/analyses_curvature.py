"""The paper's curvature and flatness analyses, cached like ``analyses``' (config -> cache).

The Hessian's top eigenvalues on test mini-batches, Table 5's flatness measures (lambda_1,
trace, 1D curvature, perturbation curves, epsilon-sharpness, PAC-Bayes sigma'), the Hessian's
spectral density and lambda_1 against the batch size. The runs and the evaluation data come
from ``analyses``.
"""

import numpy as np

from lslib import cache
from lslib import flatness as lslib_flatness
from lslib import hessian as lslib_hessian
from lslib.config import EvalSet, FlatnessConfig, HessianConfig
from lslib.data import load_mnist
from lslib.directions import gaussian_like, random_direction
from lslib.landscape import evaluate_points
from lslib.paper.sections.analyses import eval_data
from lslib.params import evaluate, params_of
from lslib.train import train_or_load


def _test_sample(n: int, seed: int, device: str):
    """``n`` random test images (all 10,000 when ``n`` covers them)."""
    return eval_data(EvalSet("test", n, "random", seed), device)


def hessian(c: HessianConfig) -> dict:
    """Top-k eigenvalue statistics on test mini-batches."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        d = load_mnist(device=c.run.device).test
        return lslib_hessian.eigenvalue_stats(
            model, d.x, d.y, c.n_batches, c.batch_size, c.k, c.seed, c.tol
        )

    return cache.cached("hessian", c, compute)


def curvature_1d(
    model, p, x, y, dist: str, n_dirs: int, window: float, seed: int, points: int = 9
) -> np.ndarray:
    """L''(0) along ``n_dirs`` filter-normalized directions of ``dist``, each from a
    least-squares parabola on [-window, window] (``points`` points)."""
    alphas = np.linspace(-window, window, points)
    out = []
    for i in range(n_dirs):
        d = random_direction(p, seed + i, dist=dist)
        ev = evaluate_points(model, [d], alphas[:, None], x, y, origin=p, progress=False)
        out.append(2 * np.polyfit(alphas, ev.loss, 2)[0])
    return np.array(out)


def absolute_perturbation(model, p, x, y, sigmas, draws: int, seed: int) -> dict:
    """Loss increase under theta + sigma xi, xi ~ N(0, I) (not scaled by |theta|)."""
    coords = np.concatenate([[0.0], np.asarray(sigmas, float)])[:, None]
    d = []
    for i in range(draws):
        ev = evaluate_points(
            model, [gaussian_like(p, seed + i)], coords, x, y, origin=p, progress=False
        )
        d.append(ev.loss[1:] - ev.loss[0])
    d = np.array(d)
    return {
        "sigmas": np.asarray(sigmas, float),
        "deltas": d,
        "mean": d.mean(0),
        "se": d.std(0, ddof=1) / np.sqrt(draws),
    }


def flatness(c: FlatnessConfig) -> dict:
    """Table 5 and its readings: test loss, lambda_1 over test batches, the trace of the
    Hessian on ``curvature_images`` random test images, 1D curvature along Gaussian and
    U[0, 1] directions, the perturbation curves (relative and absolute), epsilon-sharpness
    at several step counts and by L-BFGS-B, and the PAC-Bayes sigma' by both criteria."""

    def compute():
        dev = c.run.device
        model = train_or_load(c.run).model(dev)
        p = params_of(model)
        x, y = eval_data(c.data, dev)
        test = load_mnist(device=dev).test
        hs = lslib_hessian.eigenvalue_stats(
            model, test.x, test.y, c.hessian_batches, 128, 1, c.seed
        )
        cx, cy = _test_sample(c.curvature_images, c.seed, dev)
        tr = lslib_hessian.trace(
            lslib_hessian.DataHVP(model, cx, cy), c.trace_budget, c.trace_method, c.seed
        )
        rel = lslib_flatness.perturbation(model, x, y, c.sigmas, c.draws, c.seed)
        steps = sorted({*c.ascent_grid, c.ascent_steps})
        eps = [lslib_flatness.epsilon_sharpness(model, x, y, c.eps, s, c.seed) for s in steps]
        pac = {
            k: lslib_flatness.pac_bayes_sigma(
                model, x, y, c.pac_threshold, draws=c.pac_draws, iters=12, criterion=k, seed=c.seed
            )
            for k in ("accuracy", "loss")
        }
        return {
            "test_loss": evaluate(model, p, test.x, test.y)[0],
            "lambda1": hs["values"][:, 0],
            "trace": tr.value,
            "trace_se": tr.stderr,
            "trace_products": tr.products,
            "curvature": {
                d: curvature_1d(model, p, x, y, d, c.n_dirs, c.window, c.seed)
                for d in ("gaussian", "uniform")
            },
            "perturbation": {
                "sigmas": rel["sigmas"],
                "mean": rel["mean"],
                "se": rel["std"] / np.sqrt(c.draws),
            },
            "perturbation_abs": absolute_perturbation(model, p, x, y, c.sigmas, c.draws, c.seed),
            "eps_steps": steps,
            "eps_sign": eps,
            "eps_lbfgsb": lslib_flatness.epsilon_sharpness(
                model, x, y, c.eps, c.ascent_steps, c.seed, method="lbfgsb"
            ),
            "eps_sharpness": eps[steps.index(c.ascent_steps)],
            "pac_sigma": pac[c.pac_criterion],
            "pac_sigmas": pac,
        }

    return cache.cached("flatness", c, compute)


def spectral_density(c: HessianConfig, images: int = 2048, steps: int = 60, runs: int = 2) -> dict:
    """SLQ density of the Hessian of the mean loss on ``images`` random test images."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        x, y = _test_sample(images, c.seed, c.run.device)
        return lslib_hessian.spectral_density(
            lslib_hessian.DataHVP(model, x, y), steps, runs, c.seed
        )

    return cache.cached("density", (c, images, steps, runs), compute)


def lambda_vs_batch(
    c: HessianConfig, sizes: tuple = (32, 128, 512, 2048), full: int = 10_000
) -> dict:
    """lambda_1 on ``c.n_batches`` disjoint test batches of each size (fewer where the test
    set runs out) and on ``full`` random test images (all 10,000 by default): the per-batch
    estimate's upward bias."""

    def compute():
        model = train_or_load(c.run).model(c.run.device)
        d = load_mnist(device=c.run.device).test
        per = [
            lslib_hessian.eigenvalue_stats(
                model, d.x, d.y, min(c.n_batches, len(d.y) // b), b, 1, c.seed, c.tol
            )["values"][:, 0]
            for b in sizes
        ]
        x, y = _test_sample(full, c.seed, c.run.device)
        top = lslib_hessian.top_eigen(
            lslib_hessian.DataHVP(model, x, y), k=1, tol=c.tol, seed=c.seed
        )
        return {
            "sizes": list(sizes),
            "values": per,
            "full": float(top.values[0]),
            "full_images": full,
            "full_residual": float(top.residuals[0]),
        }

    return cache.cached("lambda_batch", (c, tuple(sizes), full), compute)
