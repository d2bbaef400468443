"""PCA of the optimization path (Li et al. 2018, Sec. 7).

The rows of M are theta_t - theta_final for the training snapshots; its top right
singular vectors are the directions that best span the path's displacement from the
final point (no mean-centering, so the final point is the origin of the plot and the
path ends at (0, 0)). Each direction has unit norm; its sign is fixed so that the path's
starting point projects onto the negative side.
"""

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class PCA:
    """components (k, n) orthonormal; explained (k,) variance ratios; path (T, k) projections."""

    components: torch.Tensor
    explained: np.ndarray
    path: np.ndarray


def trajectory_pca(snapshots: torch.Tensor, k: int = 2) -> PCA:
    """PCA of (snapshots[t] - snapshots[-1]); snapshots is (T, n_params) with T >= 2."""
    if snapshots is None or snapshots.dim() != 2 or len(snapshots) < 2:
        got = None if snapshots is None else tuple(snapshots.shape)
        raise ValueError(f"need at least 2 snapshots as a (T, n_params) tensor, got {got}")
    m = (snapshots[:-1] - snapshots[-1]).double()
    _, s, vt = torch.linalg.svd(m, full_matrices=False)
    k = min(k, len(s))
    comps = vt[:k]
    proj = m @ comps.T
    sign = torch.where(proj[0] > 0, -1.0, 1.0).to(comps.dtype)
    comps, proj = comps * sign[:, None], proj * sign[None, :]
    var = s**2
    explained = (var[:k] / var.sum()).numpy() if var.sum() > 0 else np.zeros(k)
    path = torch.cat([proj, torch.zeros(1, k, dtype=proj.dtype)]).numpy()
    return PCA(comps.float(), explained, path)


def total_variation(values) -> float:
    """sum_i |L_{i+1} - L_i|: how much the loss moves along a sampled path."""
    return float(np.abs(np.diff(np.asarray(values, dtype=np.float64))).sum())
