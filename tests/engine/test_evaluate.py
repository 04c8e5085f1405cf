"""mpt-eval's averaging: rows without 3D joints are left out of MPJPE / PA-MPJPE, as METRO's run_validate does."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mpt.body.joints import H36M_TO_J14
from mpt.engine.evaluate import mesh_errors


class FixedMesh(nn.Module):
    """A stand-in model that predicts the same mesh for every image."""

    def __init__(self, vertices: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mesh", vertices)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"vertices": self.mesh.expand(images.shape[0], -1, -1)}


def test_rows_without_3d_joints_are_not_averaged(demo_body) -> None:
    mesh = demo_body.template.float()[None]  # (1, 6890, 3)
    reg = demo_body.h36m_regressor.double().numpy()
    h36m = reg @ mesh[0].double().numpy()
    pred = h36m[list(H36M_TO_J14)] - h36m[0]  # (14, 3) what METRO's evaluation regresses from the mesh
    offsets = np.zeros((14, 3))
    offsets[6:12, 0] = 0.05  # the six arm joints 5 cm off along x: MPJPE = 6 * 50 / 14 mm after hip centring
    rows = [(pred + offsets, 1.0), (pred + 10.0, 0.0), (pred, 1.0), (pred * 40.0, 0.0)]  # has_3d = 0: garbage
    batch = {"image": torch.zeros(4, 3, 8, 8), "joints3d": torch.tensor(np.stack([r[0] for r in rows])).float(),
             "has_3d": torch.tensor([r[1] for r in rows]), "has_smpl": torch.zeros(4)}  # fmt: skip
    out = mesh_errors(FixedMesh(mesh), [batch], demo_body, torch.device("cpu"))
    assert out["count"] == 2
    np.testing.assert_allclose(out["mpjpe"], (6 * 50.0 / 14 + 0.0) / 2, atol=1e-3)
    assert out["pa_mpjpe"] < out["mpjpe"]
    empty = mesh_errors(FixedMesh(mesh), [dict(batch, has_3d=torch.zeros(4))], demo_body, torch.device("cpu"))
    assert empty["count"] == 0 and np.isnan(empty["mpjpe"]) and np.isnan(empty["pa_mpjpe"])
