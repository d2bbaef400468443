"""Figures. Every function takes arrays and returns a matplotlib Figure; nothing computes.

Figures are sized for a text column about 7.8 inches (780 px at 100 dpi) wide, so that
their fonts are read at the size they were set, and drawn at 200 dpi (a 2x image for that
column); ``STYLE`` is the one style they share (``plt.rcParams.update(STYLE)``).
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors, ticker

WIDTH = 7.8  # inches: the text column at 100 dpi
STYLE = {
    "figure.dpi": 200,
    "savefig.dpi": 200,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.constrained_layout.use": True,
}


def _norm(lo, hi, log):
    return colors.LogNorm(max(lo, 1e-8), hi) if log else colors.Normalize(lo, hi)


def _range(arrays) -> tuple[float, float]:
    finite = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    finite = finite[np.isfinite(finite)]
    return float(finite.min()), float(finite.max())


def _grid(n: int, ncols: int = 3, height: float = 2.6):
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, height * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def lines(rows: list[dict], log: bool = False) -> plt.Figure:
    """One panel per model: the loss along each 1D direction, on one shared y axis.

    Each row dict holds: title, alphas (S,), lines (D, S).
    """
    lo, hi = _range([r["lines"] for r in rows])
    fig, axes = _grid(len(rows))
    for ax, r in zip(axes, rows, strict=True):
        for ln in r["lines"]:
            ax.plot(r["alphas"], ln, lw=1)
        ax.set(title=f"{r['title']} ({len(r['lines'])} directions)", xlabel="α")
        if log:
            ax.set_yscale("log")
        ax.set_ylim(lo * (0.9 if log else 1), hi * (1.1 if log else 1.02))
    axes[0].set_ylabel("loss")
    return fig


def contours(rows: list[dict], log: bool = False) -> plt.Figure:
    """One contour map per model on one color scale, with a labelled colorbar.

    Each row dict holds: title, xs (nx,), ys (ny,), plane (ny, nx).
    """
    lo, hi = _range([r["plane"] for r in rows])
    norm = _norm(lo, hi, log)
    levels = np.geomspace(max(lo, 1e-8), hi, 20) if log else np.linspace(lo, hi, 20)
    fig, axes = _grid(len(rows), height=2.9)
    for ax, r in zip(axes, rows, strict=True):
        X, Y = np.meshgrid(r["xs"], r["ys"])
        cs = ax.contourf(X, Y, r["plane"], levels=levels, norm=norm, cmap="viridis")
        ax.plot(0, 0, "w*", ms=9, mec="k", mew=0.5)
        ax.set(title=r["title"], xlabel="α", aspect="equal")
    axes[0].set_ylabel("β")
    cb = fig.colorbar(cs, ax=list(axes), shrink=0.9, format=ticker.FormatStrFormatter("%.3g"))
    cb.set_label("loss" + (" (log scale)" if log else ""))
    return fig


def surfaces(rows: list[dict], log: bool = False) -> plt.Figure:
    """The loss on each model's plane as a 3D surface, on one shared z axis.

    Each row dict holds: title, xs (nx,), ys (ny,), plane (ny, nx).
    """
    lo, hi = _range([r["plane"] for r in rows])
    zlo, zhi = (np.log10(lo), np.log10(hi)) if log else (lo, hi)
    n = len(rows)
    ncols = min(n, 3)
    fig = plt.figure(figsize=(WIDTH, 2.9 * -(-n // ncols)))
    for i, r in enumerate(rows):
        ax = fig.add_subplot(-(-n // ncols), ncols, i + 1, projection="3d")
        X, Y = np.meshgrid(r["xs"], r["ys"])
        Z = np.log10(r["plane"]) if log else np.asarray(r["plane"])
        ax.plot_surface(X, Y, Z, cmap="viridis", vmin=zlo, vmax=zhi)
        ax.set(title=r["title"], xlabel="α", ylabel="β", zlim=(zlo, zhi))
        ax.set_zlabel("log₁₀ loss" if log else "loss", labelpad=6)
        ax.tick_params(labelsize=8.5)
    return fig


def loss_curves(histories: dict, keys=("train_loss", "test_loss")) -> plt.Figure:
    """Per-epoch curves, one line per label; histories: label -> list of epoch dicts."""
    fig, axes = plt.subplots(1, len(keys), figsize=(WIDTH, 3.0), squeeze=False)
    for ax, key in zip(axes.ravel(), keys, strict=True):
        for label, h in histories.items():
            ax.plot([r["epoch"] for r in h], [r[key] for r in h], marker="o", label=label)
        ax.set(xlabel="epoch", ylabel=key.replace("_", " "), yscale="log")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.legend()
    return fig


def paths(t, curves: dict, xlabel="α", ylabel="loss", title="") -> plt.Figure:
    """Loss along paths (interpolations, curves): label -> values at t."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.75, 3.4))
    for label, v in curves.items():
        ax.plot(t, v, marker=".", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    return fig


def pca_contour(xs, ys, plane, path, explained, title: str = "") -> plt.Figure:
    """Filled contour of the loss on the PC1-PC2 plane with the projected optimization path."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.75, 4.2))
    X, Y = np.meshgrid(xs, ys)
    finite = plane[np.isfinite(plane)]
    levels = np.geomspace(max(finite.min(), 1e-8), finite.max(), 20)
    cs = ax.contourf(X, Y, plane, levels=levels, cmap="viridis", norm=colors.LogNorm())
    cb = fig.colorbar(cs, ax=ax, format=ticker.FormatStrFormatter("%.3g"))
    cb.set_label("loss (log scale)")
    ax.plot(path[:, 0], path[:, 1], "r.-", lw=1, ms=4, label="training path")
    ax.plot(path[-1, 0], path[-1, 1], "w*", ms=11, mec="k", label="final weights")
    ax.set(
        title=title,
        xlabel=f"PC1 ({100 * explained[0]:.1f} % of variance)",
        ylabel=f"PC2 ({100 * explained[1]:.1f} %)" if len(explained) > 1 else "PC2",
    )
    ax.legend(loc="upper left")
    return fig


def density(grid, values, title="") -> plt.Figure:
    """Hessian eigenvalue density (SLQ), log scale."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.75, 3.0))
    ax.semilogy(grid, np.maximum(values, 1e-12))
    ax.set(xlabel="eigenvalue", ylabel="density", title=title)
    return fig


def scatter_grid(panels: list[dict], ncols: int = 5, height: float = 2.1) -> plt.Figure:
    """One scatter panel per dict: each model's seeds as small dots and its mean as a
    labelled marker, log x axis.

    Each panel dict holds: title, xlabel, ylabel (or None), x and y (one list of per-seed
    values per model), labels (one per model).
    """
    fig, axes = _grid(len(panels), ncols, height)
    for ax, p in zip(axes, panels, strict=True):
        for i, (xs, ys, name) in enumerate(zip(p["x"], p["y"], p["labels"], strict=True)):
            xs, ys = np.asarray(xs, float), np.asarray(ys, float)
            if not (np.isfinite(xs).all() and np.isfinite(ys).all()) or not len(xs):
                continue
            ax.plot(xs, ys, ".", color=f"C{i % 10}", ms=3, alpha=0.5)
            ax.plot(xs.mean(), ys.mean(), "o", color=f"C{i % 10}", ms=5, label=name)
        ax.set(title=p["title"], xlabel=p["xlabel"], xscale="log")
        ax.xaxis.set_major_locator(ticker.LogLocator(numticks=3))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        if p.get("ylabel"):
            ax.set_ylabel(p["ylabel"])
        ax.tick_params(labelsize=7.5)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    return fig


def thresholds(panels: list[dict]) -> plt.Figure:
    """Per panel: curves against the epoch and horizontal threshold lines, log y axis.

    Each panel dict holds: title, ylabel, curves (label -> (epochs, values)), lines
    (label -> value).
    """
    fig, axes = _grid(len(panels), len(panels), 3.0)
    for ax, p in zip(axes, panels, strict=True):
        for i, (name, (t, v)) in enumerate(p["curves"].items()):
            ax.plot(t, v, "o-", color=f"C{i}", ms=4, label=name)
        for j, (name, v) in enumerate(p["lines"].items()):
            ax.axhline(v, color="k", ls=("--", ":", "-.")[j % 3], lw=1, label=name)
        ax.set(title=p["title"], xlabel="epoch", ylabel=p["ylabel"], yscale="log")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7.5)
    return fig
