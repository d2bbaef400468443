"""The book's figures from a section's figure arrays (thin adapters over ``lslib.plots``),
all drawn in the one style of ``lslib.plots.STYLE``."""

import matplotlib.pyplot as plt
import numpy as np

from lslib import hessian as H
from lslib import plots

plt.rcParams.update(plots.STYLE)


def lines(rows: list):
    return plots.lines(rows, log=True)


def contours(rows: list):
    return plots.contours(rows, log=True)


def surfaces(rows: list):
    return plots.surfaces(rows, log=True)


def curves(histories: dict):
    return plots.loss_curves(histories)


def connectivity(conn: dict, title: str):
    return plots.paths(conn["alphas"], {
        "train, straight": conn["train_plain_loss"], "test, straight": conn["test_plain_loss"],
        "test, after weight matching": conn["test_aligned_loss"],
        "test, Bezier curve": conn["test_bezier_loss"]}, title=title)  # fmt: skip


def pc1(traj: dict, title: str):
    curves = {"PC1": traj["pc1_loss"]}
    for i, c in enumerate(traj["control_loss"]):
        curves[f"random unit direction {i + 1}"] = c
    return plots.paths(
        traj["alphas"], curves, xlabel="α (along a unit-norm direction)", title=title
    )


def pca_plane(tp: dict, title: str):
    return plots.pca_contour(tp["xs"], tp["ys"], tp["plane"], tp["path"], tp["explained"], title)


def density(slq: dict, title: str):
    top = max(float(np.max(t)) for t in slq["nodes"])
    grid = np.linspace(-0.1 * top, 1.1 * top, 600)
    return plots.density(grid, H.density_on(slq, grid, sigma=0.01 * top), title=title)
