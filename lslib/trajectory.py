"""PCA of the optimization path (Li et al. 2018, Sec. 7).

The rows of M are theta_t - theta_final for the T training snapshots. Two readings:

- ``center=False`` (default): the top right singular vectors of M itself, the directions
  that best span the path's displacement from the final point. ``explained`` is the share
  of sum_t ||theta_t - theta_final||^2 (the uncentred second moment) along each direction.
- ``center=True``: what Li et al.'s code does (``projection.setup_PCA_directions``:
  sklearn's PCA on the rows of M, the final snapshot's zero row included), i.e. the SVD
  of M minus its row mean. ``explained`` is sklearn's ``explained_variance_ratio_``: the
  share of the variance of the snapshots about their mean, which ignores how far the
  path's centre sits from the final point.

In both, the path is the projection of theta_t - theta_final (not of the centred rows,
as in their ``project_trajectory``), so the final point is (0, 0). ``mask`` keeps only
some coordinates (``weight_mask``: weights without biases, as their optional
``--ignore biasbn``, which zeroes 1-D tensors' differences);
the components are zero elsewhere. Each direction has unit norm; its sign is fixed so
that the path's starting point projects onto the negative side.
"""

from dataclasses import dataclass

import numpy as np
import torch

from lslib.params import Params


@dataclass(frozen=True)
class PCA:
    """components (k, n) orthonormal; explained (k,) variance ratios; path (T, k) projections."""

    components: torch.Tensor
    explained: np.ndarray
    path: np.ndarray


def weight_mask(params: Params) -> torch.Tensor:
    """True for the coordinates of tensors with dim >= 2 (weights), False for biases and
    other 1-D or scalar tensors, in the order of ``lslib.params.flatten``."""
    return torch.cat([torch.full((v.numel(),), v.dim() >= 2) for v in params.values()])


def trajectory_pca(
    snapshots: torch.Tensor, k: int = 2, center: bool = False, mask: torch.Tensor | None = None
) -> PCA:
    """PCA of (snapshots[t] - snapshots[-1]); snapshots is (T, n_params) with T >= 2.

    Args:
        center: subtract the mean of the T rows before the SVD (see the module docstring).
        mask: optional bool (n_params,): only these coordinates enter.
    """
    if snapshots is None or snapshots.dim() != 2 or len(snapshots) < 2:
        got = None if snapshots is None else tuple(snapshots.shape)
        raise ValueError(f"need at least 2 snapshots as a (T, n_params) tensor, got {got}")
    m = (snapshots - snapshots[-1]).double()
    if mask is not None:  # the SVD runs on the kept columns only
        if mask.dtype != torch.bool or tuple(mask.shape) != (m.shape[1],) or not mask.any():
            raise ValueError(
                f"mask must be a bool tensor ({m.shape[1]},) with some True entry, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        mask = mask.to(m.device)
        m = m[:, mask]
    fit = m - m.mean(0) if center else m[:-1]  # the final row is zero: no effect uncentred
    _, s, vt = torch.linalg.svd(fit, full_matrices=False)
    k = min(k, len(s))
    comps = vt[:k]
    proj = m @ comps.T
    if mask is not None:  # back to all coordinates, exactly zero off the mask
        comps = torch.zeros(k, len(mask), dtype=comps.dtype, device=comps.device).index_copy_(
            1, mask.nonzero()[:, 0], comps
        )
    sign = torch.where(proj[0] > 0, -1.0, 1.0).to(comps.dtype)
    comps, proj = comps * sign[:, None], proj * sign[None, :]
    var = s**2
    explained = (var[:k] / var.sum()).cpu().numpy() if var.sum() > 0 else np.zeros(k)
    return PCA(comps.float(), explained, proj.cpu().numpy())


def total_variation(values) -> float:
    """sum_i |L_{i+1} - L_i|: how much the loss moves along a sampled path."""
    return float(np.abs(np.diff(np.asarray(values, dtype=np.float64))).sum())
