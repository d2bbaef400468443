"""The book's figures from a section's figure arrays (thin adapters over ``lslib.plots``),
all drawn in the one style of ``lslib.plots.STYLE``."""

import matplotlib.pyplot as plt
import numpy as np

from lslib import hessian, plots

plt.rcParams.update(plots.STYLE)


def lines(rows: list):
    """The 1D lines of each row (a model's ``landscapes`` entry), loss on a log scale."""
    return plots.lines(rows, log=True)


def contours(rows: list):
    """The 2D plane of each row as contours, loss on a log scale."""
    return plots.contours(rows, log=True)


def surfaces(rows: list):
    """The 2D plane of each row as a 3D surface, loss on a log scale."""
    return plots.surfaces(rows, log=True)


def curves(histories: dict):
    """Training and test loss per epoch, one curve per label of ``histories`` (label ->
    the run's history: a list of epoch dicts)."""
    return plots.loss_curves(histories)


def connectivity(conn: dict, title: str):
    """The loss along the paths between two seeds' minima: straight, after weight
    matching, after REPAIR, and along the Bezier curve (``conn``: a Phase 3 pair)."""
    return plots.paths(
        conn["alphas"],
        {
            "train, straight": conn["train_plain_loss"],
            "test, straight": conn["test_plain_loss"],
            "test, after weight matching": conn["test_aligned_loss"],
            "test, after weight matching + REPAIR": conn["test_repair_loss"],
            "test, Bezier curve": conn["test_bezier_loss"],
        },
        title=title,
    )


def pc1(traj: dict, title: str):
    """The loss along the trajectory's first principal component against random unit
    directions (``traj``: a Phase 3 trajectory)."""
    curves = {"PC1": traj["pc1_loss"]}
    for i, c in enumerate(traj["control_loss"]):
        curves[f"random unit direction {i + 1}"] = c
    return plots.paths(
        traj["alphas"], curves, xlabel="α (along a unit-norm direction)", title=title
    )


def pca_plane(tp: dict, title: str):
    """The loss over the trajectory's PC1-PC2 plane with the path projected on it."""
    return plots.pca_contour(tp["xs"], tp["ys"], tp["plane"], tp["path"], tp["explained"], title)


def density(slq: dict, title: str):
    """The Hessian's spectral density from stochastic Lanczos quadrature (``slq``: nodes
    and weights per run), smoothed with a Gaussian of 1 % of the top eigenvalue."""
    top = max(float(np.max(t)) for t in slq["nodes"])
    grid = np.linspace(-0.1 * top, 1.1 * top, 600)
    return plots.density(grid, hessian.density_on(slq, grid, sigma=0.01 * top), title=title)


def interactive_surface(row: dict):
    """One plane as a 3D surface a reader can rotate and hover for (α, β, loss).

    The page loads plotly.js from the book's own _static folder (``_ext/plotly_js.py``),
    so the figure holds only its data and works offline.
    """
    import plotly.graph_objects as go
    from IPython.display import HTML

    fig = go.Figure(
        go.Surface(
            x=row["xs"],
            y=row["ys"],
            z=np.log10(row["plane"]),
            colorscale="Viridis",
            customdata=row["plane"],
            colorbar={"title": {"text": "log₁₀ loss"}},
            hovertemplate="α %{x:.3f}<br>β %{y:.3f}<br>loss %{customdata:.4g}<extra></extra>",
        )
    )
    fig.update_layout(
        title=row["title"],
        height=460,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        scene={"xaxis_title": "α", "yaxis_title": "β", "zaxis_title": "log₁₀ loss"},
    )
    return HTML(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"responsive": True, "displaylogo": False},
        )
    )


def perturb_curves(results: dict, report: dict):
    """Mean loss increase against sigma (relative and absolute perturbations) per model,
    seed mean with +-2 standard errors of its draws, the report's "Perturb." values as
    horizontal lines."""
    from lslib.paper.names import label

    fig, axes = plt.subplots(1, 2, figsize=(plots.WIDTH, 3.0), sharey=True)
    for ax, kind in zip(axes, ("relative", "absolute"), strict=True):
        for i, model in enumerate(("mlp", "cnn")):
            p = results.get(("phase3", model))
            if not p:
                continue
            cur = p["flatness"]["perturb_curve"][kind]
            s = np.asarray(cur["sigmas"])
            m = np.asarray(cur["mean"]).mean(0)
            se = np.sqrt((np.asarray(cur["se"]) ** 2).sum(0)) / len(cur["se"])
            ax.plot(s, np.abs(m), "o-", ms=3, color=f"C{i}", label=label(model, p["width"]))
            ax.fill_between(s, np.abs(m - 2 * se), np.abs(m + 2 * se), color=f"C{i}", alpha=0.2)
            ax.axhline(report[model], color=f"C{i}", ls="--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="σ", title=f"{kind} perturbation")
    axes[0].set_ylabel("|mean ΔL|")
    axes[0].legend(title="dashed: the report's value")
    return fig


def lambda_batch(results: dict):
    """lambda_1 against the batch size per model (first seed; mean and std over batches),
    with the value on many test images."""
    from lslib.paper.names import label

    fig, ax = plt.subplots(figsize=(plots.WIDTH * 0.6, 3.0))
    for i, model in enumerate(("mlp", "cnn")):
        p = results.get(("phase3", model))
        if not p:
            continue
        lb = p["lambda_batch"]
        ax.errorbar(
            lb["sizes"],
            [np.mean(v) for v in lb["values"]],
            fmt="o-",
            color=f"C{i}",
            yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in lb["values"]],
            capsize=3,
            label=label(model, p["width"]),
        )
        ax.axhline(lb["full"], color=f"C{i}", ls="--", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="batch size (test images)",
        ylabel="λ1",
        title="dashed: the Hessian of the mean loss over many test images",
    )
    ax.legend()
    return fig


SHARPNESS = {  # the family rows' sharpness measures, as the figure names them
    "l1": "λ1",
    "adaptive_max_linf": "adaptive ℓ∞ (worst)",
    "adaptive_max_l2": "adaptive ℓ2 (worst)",
    "adaptive_avg": "adaptive (average)",
    "eps_sharpness": "ε-sharpness (%)",
}


def sharpness_generalization(rows: list[dict], rho: dict, title: str):
    """The generalization gap (top) and test error (bottom) of every model of a family
    against each sharpness measure; ``rho``: (measure, against) -> the rank correlation's
    interval (``claims_beyond.correlation``), shown in each panel's title."""
    panels = []
    for against, ylabel in (("gap", "test − train loss"), ("test_error", "test error")):
        for key, name in SHARPNESS.items():
            have = [r for r in rows if r.get(key) is not None]
            i = rho.get((key, against))
            note = "one model" if i is None else f"ρ {i.value:.2f} [{i.lo:.2f}, {i.hi:.2f}]"
            panels.append(
                {
                    "title": f"{note}",
                    "xlabel": name,
                    "ylabel": ylabel if key == "l1" else None,
                    "x": [r[key] for r in have],
                    "y": [r[against] for r in have],
                    "labels": [r["model"] for r in have],
                }
            )
    fig = plots.scatter_grid(panels, ncols=len(SHARPNESS))
    fig.suptitle(title, fontsize=10)
    return fig


def edge(edge: dict, title: str):
    """lambda_1 after every epoch per optimizer against 2/eta and (2 + 2 beta)/eta, and
    Adam's preconditioned lambda_1 against its threshold (Cohen et al. 2021, 2022)."""
    curves = {o: (e["epochs"], e["lambda1"]) for o, e in edge.items()}
    some = next((e for o, e in edge.items() if o != "adam"), None)
    lines = {}
    if some is not None:
        lines = {
            f"2/η = {some['gd_threshold']:.0f} (SGD)": some["gd_threshold"],
            f"(2+2β)/η = {some['momentum_threshold']:.0f} (momentum)": some["momentum_threshold"],
        }
    panels = [{"title": title, "ylabel": "λ1 (training images)", "curves": curves, "lines": lines}]
    if edge.get("adam", {}).get("preconditioned"):
        a = edge["adam"]
        panels.append(
            {
                "title": "Adam: preconditioned sharpness",
                "ylabel": "λ1(P⁻¹H)",
                "curves": {"adam": (a["epochs"], a["preconditioned"])},
                "lines": {f"38/η = {a['threshold']:.0f}": a["threshold"]},
            }
        )
    return plots.thresholds(panels)
