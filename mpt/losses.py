"""METRO's training losses (3D joints, vertices at three resolutions, 2D re-projected joints), masked per sample.

Following METRO's ``run_metro_bodymesh.py``: 3D joint errors are squared errors after centring both skeletons on
the midpoint of the hips and are applied twice, to the regressed joints and to the joints regressed from the
predicted mesh; vertex errors are L1 at 431, 1723 and 6890 vertices; 2D errors are squared errors of the
weak-perspective projections (regressed joints and mesh joints), weighted by each joint's confidence. Samples
without 3D joints / SMPL / 2D joints contribute nothing to the matching term (``has_3d`` / ``has_smpl`` /
``has_2d``); a term whose mask is empty for the whole batch is exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from mpt.metrics import center_on_hips


@dataclass(frozen=True)
class LossWeights:
    """METRO defaults: joints 1000, vertices 100 (levels 0.33 each), 2D joints 100."""

    joints3d: float = 1000.0
    vertices: float = 100.0
    joints2d: float = 100.0
    vertex_levels: tuple[float, float, float] = (0.33, 0.33, 0.33)  # 431, 1723, 6890


def _masked_mean(per_sample: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``per_sample`` (B,) over samples where ``mask`` (B,) is 1; zero (with a graph) if none is."""
    mask = mask.to(per_sample.dtype)
    return (per_sample * mask).sum() / mask.sum().clamp(min=1.0)


def joints3d_loss(pred: Tensor, gt: Tensor, conf: Tensor, has_3d: Tensor) -> Tensor:
    """Confidence-weighted squared error of hip-centred J14 joints; pred/gt (B,14,3), conf (B,14), has_3d (B,)."""
    err = (center_on_hips(pred) - center_on_hips(gt)).square()  # (B, 14, 3)
    return _masked_mean((conf[..., None] * err).mean(dim=(1, 2)), has_3d)


def vertices_loss(pred: Tensor, gt: Tensor, has_smpl: Tensor) -> Tensor:
    """L1 vertex error; pred/gt (B, V, 3), has_smpl (B,)."""
    return _masked_mean((pred - gt).abs().mean(dim=(1, 2)), has_smpl)


def joints2d_loss(pred: Tensor, gt: Tensor, conf: Tensor, has_2d: Tensor) -> Tensor:
    """Confidence-weighted squared error of 2D joints in [-1, 1] crop coordinates; pred/gt (B,14,2)."""
    return _masked_mean((conf[..., None] * (pred - gt).square()).mean(dim=(1, 2)), has_2d)


def mesh_losses(pred: dict[str, Tensor], target: dict[str, Tensor], weights: LossWeights) -> dict[str, Tensor]:
    """All METRO loss terms and their weighted sum ``loss``.

    pred: ``joints`` (B,14,3), ``joints_from_mesh`` (B,14,3), ``vertices_coarse`` (B,431,3), ``vertices_mid``
    (B,1723,3), ``vertices`` (B,6890,3), ``joints_2d`` and ``joints_from_mesh_2d`` (B,14,2).
    target: ``joints3d`` (B,14,3), ``joints3d_conf`` (B,14), ``vertices_coarse`` / ``vertices_mid`` /
    ``vertices`` (pelvis-centred), ``joints2d`` (B,14,2), ``joints2d_conf`` (B,14), and ``has_3d``, ``has_smpl``,
    ``has_2d`` (B,) in {0, 1}.
    """
    j3d = joints3d_loss(pred["joints"], target["joints3d"], target["joints3d_conf"], target["has_3d"])
    j3d = j3d + joints3d_loss(pred["joints_from_mesh"], target["joints3d"], target["joints3d_conf"],
                              target["has_3d"])  # fmt: skip
    w_coarse, w_mid, w_full = weights.vertex_levels
    verts = (w_coarse * vertices_loss(pred["vertices_coarse"], target["vertices_coarse"], target["has_smpl"])
             + w_mid * vertices_loss(pred["vertices_mid"], target["vertices_mid"], target["has_smpl"])
             + w_full * vertices_loss(pred["vertices"], target["vertices"], target["has_smpl"]))  # fmt: skip
    j2d = joints2d_loss(pred["joints_2d"], target["joints2d"], target["joints2d_conf"], target["has_2d"])
    j2d = j2d + joints2d_loss(pred["joints_from_mesh_2d"], target["joints2d"], target["joints2d_conf"],
                              target["has_2d"])  # fmt: skip
    total = weights.joints3d * j3d + weights.vertices * verts + weights.joints2d * j2d
    return {"loss": total, "loss_joints3d": j3d, "loss_vertices": verts, "loss_joints2d": j2d}
