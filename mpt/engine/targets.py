"""Glue between data, model and losses: multi-resolution vertex targets and joints regressed from predicted meshes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mpt.models.camera_head import weak_perspective_project
from mpt.models.mesh_levels import MeshLevels


class VertexDownsampler(nn.Module):
    """(B, 6890, 3) -> (B, 1723, 3), (B, 431, 3) with the levels' sparse D matrices, on the training device."""

    def __init__(self, levels: MeshLevels) -> None:
        super().__init__()
        for i, d in enumerate(levels.down[:2]):
            coo = d.tocoo()
            idx = torch.from_numpy(coo.row.astype("int64")), torch.from_numpy(coo.col.astype("int64"))
            mat = torch.sparse_coo_tensor(torch.stack(idx), torch.from_numpy(coo.data).float(), d.shape,
                                          check_invariants=True)
            self.register_buffer(f"down{i}", mat.coalesce(), persistent=False)

    @staticmethod
    def _mm(mat: Tensor, v: Tensor) -> Tensor:
        b, n, c = v.shape
        flat = v.permute(1, 0, 2).reshape(n, b * c)  # (N, B*3)
        return torch.sparse.mm(mat, flat.float()).reshape(-1, b, c).permute(1, 0, 2).to(v.dtype)

    def forward(self, vertices: Tensor) -> tuple[Tensor, Tensor]:
        mid = self._mm(self.down0, vertices)
        return mid, self._mm(self.down1, mid)


def synthesis_targets(syn: dict[str, Tensor], down: VertexDownsampler) -> dict[str, Tensor]:
    """Loss targets of a synthesised batch: every sample has 3D joints, a mesh and 2D joints."""
    mid, coarse = down(syn["vertices"])
    b, j = syn["joints3d"].shape[:2]
    ones = syn["joints3d"].new_ones(b)
    conf = syn["joints3d"].new_ones(b, j)
    return {"joints3d": syn["joints3d"], "joints3d_conf": conf, "vertices": syn["vertices"], "vertices_mid": mid,
            "vertices_coarse": coarse, "joints2d": syn["joints2d"], "joints2d_conf": conf, "has_3d": ones,
            "has_smpl": ones, "has_2d": ones}  # fmt: skip


def mesh_predictions(pred: dict[str, Tensor], body: nn.Module) -> dict[str, Tensor]:
    """Add the J14 joints regressed from the predicted mesh and their weak-perspective projection (float32)."""
    out = {k: v.float() for k, v in pred.items() if torch.is_floating_point(v)}
    out["joints_from_mesh"] = body.j14(out["vertices"])
    out["joints_from_mesh_2d"] = weak_perspective_project(out["joints_from_mesh"], out["camera"])
    return out


def image_targets(batch: dict[str, Tensor], body: nn.Module, down: VertexDownsampler) -> dict[str, Tensor]:
    """Loss targets of an image batch (MeshTSVDataset items): labels as given, the mesh posed from SMPL labels.

    As METRO: the ground-truth mesh is the neutral SMPL of the (augmented) pose and betas, minus its own
    Human3.6M-regressed pelvis; samples without SMPL labels are masked out by ``has_smpl``.
    """
    with torch.no_grad():
        vertices = body(batch["pose"].float(), batch["betas"].float()).vertices
        vertices = vertices - body.h36m_joints(vertices)[:, :1]
        mid, coarse = down(vertices)
    j3d, j2d = batch["joints3d"].float(), batch["joints2d"].float()
    return {"joints3d": j3d[..., :3], "joints3d_conf": j3d[..., 3], "vertices": vertices, "vertices_mid": mid,
            "vertices_coarse": coarse, "joints2d": j2d[..., :2], "joints2d_conf": j2d[..., 2],
            "has_3d": batch["has_3d"].float(), "has_smpl": batch["has_smpl"].float(),
            "has_2d": batch["has_2d"].float()}  # fmt: skip
