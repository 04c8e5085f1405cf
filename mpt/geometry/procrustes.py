"""Batched similarity Procrustes (scale, proper rotation, translation), for PA-MPJPE.

The closed form is Umeyama's (IEEE TPAMI 1991): with centred point sets, the SVD of their
cross-covariance gives the rotation, a sign flip of the last singular direction excludes
reflections, and the scale is trace(S D) / var(pred). This is the alignment that METRO's
``reconstruction_error`` performs for PA-MPJPE (microsoft/MeshTransformer, called from
metro/tools/run_metro_bodymesh.py run_validate).
"""

from __future__ import annotations

import torch

__all__ = ["apply_similarity", "procrustes_transform", "similarity_procrustes"]


def _check(pred: torch.Tensor, gt: torch.Tensor) -> None:
    if pred.dim() != 3 or pred.shape[-1] != 3 or pred.shape != gt.shape:
        raise ValueError(
            f"pred and gt must both be (B, N, 3) with equal shapes, got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    if pred.shape[1] < 3:
        raise ValueError(f"similarity Procrustes needs at least 3 points per sample, got N={pred.shape[1]}")


def procrustes_transform(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best similarity gt ~ s * R @ pred + t per sample: (scale (B,), R (B,3,3), t (B,3)), float64.

    det(R) = +1 always (reflections are excluded). A sample whose pred points all coincide gets
    scale 0 (every point maps to gt's centroid) instead of NaN.
    """
    _check(pred, gt)
    x = pred.double()
    y = gt.double()
    mu_x = x.mean(dim=1, keepdim=True)  # (B, 1, 3)
    mu_y = y.mean(dim=1, keepdim=True)
    x0, y0 = x - mu_x, y - mu_y
    var_x = (x0 * x0).sum(dim=(1, 2))  # (B,)
    cov = y0.transpose(1, 2) @ x0  # (B, 3, 3) = sum_n y_n x_n^T
    U, S, Vh = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(U @ Vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    D = torch.ones_like(S)
    D[:, 2] = sign
    R = U @ torch.diag_embed(D) @ Vh  # (B, 3, 3)
    scale = (S * D).sum(-1) / var_x.clamp_min(torch.finfo(torch.float64).tiny)
    t = mu_y.squeeze(1) - scale.unsqueeze(-1) * (R @ mu_x.transpose(1, 2)).squeeze(-1)
    return scale, R, t


def similarity_procrustes(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """pred (B,N,3) aligned to gt (B,N,3) by the best similarity transform; pred's dtype.

    Computed in float64 for a stable SVD; differentiable with respect to pred and gt except at
    degenerate (repeated singular value) configurations.
    """
    return apply_similarity(pred, *procrustes_transform(pred, gt))


def apply_similarity(points: torch.Tensor, scale: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """s * R @ x + t for every point x of ``points`` (B, N, 3), with :func:`procrustes_transform`'s (scale, R, t);
    computed in float64, returned in ``points``' dtype. Lets a caller that also needs R (e.g. the rotation error
    of PA-MPJPE) solve the Procrustes problem once."""
    aligned = scale.view(-1, 1, 1) * points.double() @ R.transpose(1, 2) + t.unsqueeze(1)
    return aligned.to(points.dtype)
