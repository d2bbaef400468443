"""Figures. Every function takes arrays and returns a matplotlib Figure; nothing computes."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors

plt.rcParams.update({"figure.dpi": 90, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})


def _norm(lo, hi, log):
    return colors.LogNorm(max(lo, 1e-8), hi) if log else colors.Normalize(lo, hi)


def landscape_rows(rows: list[dict], log: bool = False, share: bool = True) -> plt.Figure:
    """One row per model: 1D lines, 3D surface, contour map.

    Each row dict holds: title, alphas (S,), lines (D, S), xs (nx,), ys (ny,), plane (ny, nx).
    With ``share``, all rows use one color scale and the same axis limits, so rows compare.
    """
    finite = lambda a: np.asarray(a)[np.isfinite(a)]
    allv = np.concatenate([np.concatenate([finite(r["lines"]), finite(r["plane"])]) for r in rows])
    lo, hi = float(allv.min()), float(allv.max())
    fig = plt.figure(figsize=(12, 3.4 * len(rows)))
    for i, r in enumerate(rows):
        a = fig.add_subplot(len(rows), 3, 3 * i + 1)
        for ln in r["lines"]:
            a.plot(r["alphas"], ln, lw=1)
        a.set(
            title=f"{r['title']}: 1D, {len(r['lines'])} directions", xlabel="alpha", ylabel="loss"
        )
        if log:
            a.set_yscale("log")
        if share:
            a.set_ylim(lo * (0.9 if log else 1), hi * (1.1 if log else 1.02))
        X, Y = np.meshgrid(r["xs"], r["ys"])
        Z = np.log10(r["plane"]) if log else r["plane"]
        s = fig.add_subplot(len(rows), 3, 3 * i + 2, projection="3d")
        zlo, zhi = (np.log10(lo), np.log10(hi)) if log else (lo, hi)
        s.plot_surface(
            X, Y, Z, cmap="viridis", vmin=zlo if share else None, vmax=zhi if share else None
        )
        s.set(
            title="2D surface",
            xlabel="alpha",
            ylabel="beta",
            zlabel="log10 loss" if log else "loss",
        )
        if share:
            s.set_zlim(zlo, zhi)
        c = fig.add_subplot(len(rows), 3, 3 * i + 3)
        norm = _norm(lo, hi, log) if share else None
        levels = np.geomspace(max(lo, 1e-8), hi, 20) if log else np.linspace(lo, hi, 20)
        cs = c.contourf(X, Y, r["plane"], levels=levels if share else 20, norm=norm, cmap="viridis")
        fig.colorbar(cs, ax=c, shrink=0.85, format="%.3g")
        c.set(title="contour", xlabel="alpha", ylabel="beta", aspect="equal")
    fig.tight_layout()
    return fig


def loss_curves(histories: dict, keys=("train_loss", "test_loss")) -> plt.Figure:
    """Per-epoch curves, one line per label; histories: label -> list of epoch dicts."""
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.2))
    for ax, key in zip(np.atleast_1d(axes), keys, strict=True):
        for label, h in histories.items():
            ax.plot([r["epoch"] for r in h], [r[key] for r in h], marker="o", label=label)
        ax.set(xlabel="epoch", ylabel=key.replace("_", " "), yscale="log")
        ax.legend()
    fig.tight_layout()
    return fig


def paths(t, curves: dict, xlabel="alpha", ylabel="loss", title="") -> plt.Figure:
    """Loss along paths (interpolations, curves): label -> values at t."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, v in curves.items():
        ax.plot(t, v, marker=".", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def pca_contour(xs, ys, plane, path, explained) -> plt.Figure:
    """Contour of the loss on the PC1-PC2 plane with the projected optimization path."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    X, Y = np.meshgrid(xs, ys)
    finite = plane[np.isfinite(plane)]
    levels = np.geomspace(max(finite.min(), 1e-8), finite.max(), 25)
    cs = ax.contour(X, Y, plane, levels=levels, cmap="viridis", norm=colors.LogNorm())
    ax.clabel(cs, fontsize=6, fmt="%.3g")
    ax.plot(path[:, 0], path[:, 1], "r.-", lw=1, ms=4, label="training path")
    ax.plot(path[-1, 0], path[-1, 1], "k*", ms=10, label="final weights")
    ax.set(xlabel=f"PC1 ({100 * explained[0]:.1f}% of variance)",
           ylabel=f"PC2 ({100 * explained[1]:.1f}%)" if len(explained) > 1 else "PC2")  # fmt: skip
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def density(grid, values, title="") -> plt.Figure:
    """Hessian eigenvalue density (SLQ), log scale."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.semilogy(grid, np.maximum(values, 1e-12))
    ax.set(xlabel="eigenvalue", ylabel="density", title=title)
    fig.tight_layout()
    return fig
