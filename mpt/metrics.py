"""Evaluation metrics in millimetres, per sample (so callers can all-reduce sums and counts): MPJPE, PA-MPJPE, PVE.

Inputs are metres (the unit of SMPL, the TSV labels and the model); results are multiplied by 1000.
:func:`h36m_p2_errors` is Human3.6M protocol 2 exactly as METRO evaluates it (microsoft/MeshTransformer
metro/tools/run_metro_bodymesh.py ``run_validate``, ``mean_per_joint_position_error`` and
``reconstruction_error``):
  - prediction: the (17, 6890) H36M regressor applied to the predicted mesh, minus its H36M pelvis (index 0),
    reordered H36M-17 -> J14;
  - ground truth: J24 labels minus the J24 pelvis (index 14), reordered J24 -> J14;
  - MPJPE: both re-centred on the midpoint of their hips (J14 indices 2 and 3), mean joint distance over all 14
    joints (METRO ignores the confidence column here);
  - PA-MPJPE: the 14 predicted joints aligned to the ground truth by a similarity Procrustes, then mean distance.
Beside them (ours, not METRO's): the global-rotation error, the angle in degrees of the rotation that this
Procrustes alignment removes, so a prediction with the right articulation and the wrong facing shows in one number.
"""

from __future__ import annotations

import torch

from mpt.body.joints import H36M_PELVIS, H36M_TO_J14, J14_LEFT_HIP, J14_RIGHT_HIP
from mpt.data.joints24 import J24_PELVIS, J24_TO_J14
from mpt.geometry.procrustes import apply_similarity, procrustes_transform
from mpt.geometry.rotations import rotation_angle

__all__ = ["M_TO_MM", "center_on_hips", "h36m_p2_errors", "h36m_pve", "mpjpe", "pa_mpjpe", "procrustes_errors", "pve"]

M_TO_MM = 1000.0


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, what: str) -> None:
    if pred.dim() != 3 or pred.shape[-1] != 3 or pred.shape != gt.shape:
        raise ValueError(f"{what}: pred and gt must both be (B, N, 3), got {tuple(pred.shape)} and {tuple(gt.shape)}")


def mpjpe(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None, unit_scale: float = M_TO_MM
) -> torch.Tensor:
    """Mean per-joint position error (B,) of pred vs gt (B, J, 3), no re-centring (see :func:`center_on_hips`).

    ``valid`` (B, J) bool/0-1 restricts the mean to valid joints; a sample with none gives NaN, so exclude it
    from sums (e.g. ``errors[valid.any(1)]``).
    """
    _check_pair(pred, gt, "mpjpe")
    dist = torch.linalg.vector_norm(pred - gt, dim=-1)  # (B, J)
    if valid is None:
        return dist.mean(dim=-1) * unit_scale
    if valid.shape != dist.shape:
        raise ValueError(f"mpjpe: valid must be (B, J) = {tuple(dist.shape)}, got {tuple(valid.shape)}")
    w = valid.to(dist.dtype)
    return (dist * w).sum(dim=-1) / w.sum(dim=-1) * unit_scale  # 0/0 = NaN when no joint is valid


def procrustes_errors(pred: torch.Tensor, gt: torch.Tensor, unit_scale: float = M_TO_MM
                      ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """PA-MPJPE (B,) and the global-rotation error (B,) in degrees, from one Procrustes solution per sample.

    pred (B, J, 3) is aligned to gt by scale, rotation and translation; PA-MPJPE is the mean joint distance after
    that, and the rotation error the angle of the rotation it applied (0 when pred already faces like gt).
    """
    _check_pair(pred, gt, "pa_mpjpe")
    scale, R, t = procrustes_transform(pred, gt)
    aligned = apply_similarity(pred.double(), scale, R, t)
    error = torch.linalg.vector_norm(aligned - gt.double(), dim=-1).mean(dim=-1) * unit_scale
    return error.to(pred.dtype), torch.rad2deg(rotation_angle(R)).to(pred.dtype)


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor, unit_scale: float = M_TO_MM) -> torch.Tensor:
    """MPJPE (B,) after aligning each pred (B, J, 3) to its gt by scale, rotation and translation (Procrustes)."""
    return procrustes_errors(pred, gt, unit_scale)[0]


def pve(pred_vertices: torch.Tensor, gt_vertices: torch.Tensor, unit_scale: float = M_TO_MM) -> torch.Tensor:
    """Mean per-vertex error (B,) of (B, V, 3) meshes as given (centre them first, e.g. with :func:`h36m_pve`)."""
    _check_pair(pred_vertices, gt_vertices, "pve")
    return torch.linalg.vector_norm(pred_vertices - gt_vertices, dim=-1).mean(dim=-1) * unit_scale


def center_on_hips(j14: torch.Tensor) -> torch.Tensor:
    """J14 joints (..., 14, C) minus the midpoint of their right and left hips (J14 indices 2, 3)."""
    if j14.dim() < 2 or j14.shape[-2] != 14:
        raise ValueError(f"center_on_hips expects (..., 14, C) J14 joints, got {tuple(j14.shape)}")
    mid = (j14[..., J14_RIGHT_HIP, :] + j14[..., J14_LEFT_HIP, :]) / 2
    return j14 - mid.unsqueeze(-2)


def _regress(vertices: torch.Tensor, regressor: torch.Tensor) -> torch.Tensor:
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be (B, V, 3), got {tuple(vertices.shape)}")
    if regressor.dim() != 2 or regressor.shape != (17, vertices.shape[1]):
        raise ValueError(f"h36m_regressor must be (17, {vertices.shape[1]}), got {tuple(regressor.shape)}")
    return torch.einsum("jv,bvc->bjc", regressor.to(vertices), vertices)  # (B, 17, 3)


def _pred_j14(pred_vertices: torch.Tensor, regressor: torch.Tensor) -> torch.Tensor:
    h36m = _regress(pred_vertices, regressor)
    return h36m[:, list(H36M_TO_J14)] - h36m[:, H36M_PELVIS : H36M_PELVIS + 1]  # (B, 14, 3)


def _gt_j14(gt_joints: torch.Tensor) -> torch.Tensor:
    """(B, 24, 3|4) J24 labels -> (B, 14, 3) minus the J24 pelvis; (B, 14, 3|4) J14 labels pass through."""
    if gt_joints.dim() != 3 or gt_joints.shape[1] not in (24, 14) or gt_joints.shape[2] not in (3, 4):
        raise ValueError(f"gt joints must be (B, 24, 3|4) J24 or (B, 14, 3|4) J14, got {tuple(gt_joints.shape)}")
    xyz = gt_joints[..., :3]
    if xyz.shape[1] == 14:
        return xyz
    return xyz[:, list(J24_TO_J14)] - xyz[:, J24_PELVIS : J24_PELVIS + 1]


def h36m_p2_errors(
    pred_vertices: torch.Tensor, gt_joints24: torch.Tensor, h36m_regressor: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Human3.6M protocol-2 errors per sample, as METRO's run_validate: dict(mpjpe=(B,), pa_mpjpe=(B,)) in mm, and
    ``rotation_error_deg`` (B,), the angle of PA-MPJPE's Procrustes rotation in degrees.

    Args:
        pred_vertices: (B, 6890, 3) predicted meshes, metres.
        gt_joints24: (B, 24, 4) J24 labels (x, y, z, conf), metres. Already pelvis-relative J14 labels (B, 14, 3|4),
            as MeshTSVDataset returns, are accepted too: both metrics are translation invariant.
        h36m_regressor: (17, 6890) J_regressor_h36m_correct.
    """
    pred = _pred_j14(pred_vertices, h36m_regressor)
    gt = _gt_j14(gt_joints24).to(pred.dtype)
    if gt.shape[0] != pred.shape[0]:
        raise ValueError(f"batch sizes differ: {pred.shape[0]} meshes, {gt.shape[0]} joint sets")
    pa, rotation = procrustes_errors(pred, gt)
    return {"mpjpe": mpjpe(center_on_hips(pred), center_on_hips(gt)), "pa_mpjpe": pa, "rotation_error_deg": rotation}


def h36m_pve(pred_vertices: torch.Tensor, gt_vertices: torch.Tensor, h36m_regressor: torch.Tensor) -> torch.Tensor:
    """METRO's mPVE (B,) in mm: each mesh minus its own H36M-regressed pelvis, then mean vertex distance."""
    pred = pred_vertices - _regress(pred_vertices, h36m_regressor)[:, H36M_PELVIS : H36M_PELVIS + 1]
    gt = gt_vertices - _regress(gt_vertices, h36m_regressor)[:, H36M_PELVIS : H36M_PELVIS + 1]
    return pve(pred, gt)
