"""Weak-perspective camera head and projection.

What: METRO's camera regressor (microsoft/MeshTransformer metro/modeling/bert/modeling_metro.py,
``cam_param_fc`` 3 -> 1 per token, then ``cam_param_fc2`` tokens -> 250, ``cam_param_fc3`` 250 -> 3) predicting
(s, tx, ty) from the regressed coordinates, and the weak-perspective projection x2d = s * (X[..., :2] + t)
(METRO ``orthographic_projection``).

Which tokens: METRO's body network feeds only the 431 vertex tokens (fc2 = Linear(431, 250)) while its hand
network feeds joints + vertices; the MPT model feeds all 445 regressed tokens by default (joints carry the limb
ends) and METRO's 431 with ``model.camera_tokens=vertices`` (mpt.models.mpt). ``num_tokens`` sets the width.
"""

from __future__ import annotations

from torch import Tensor, nn


class CameraHead(nn.Module):
    """(B, N, 3) regressed coordinates -> (B, 3) camera (s, tx, ty)."""

    def __init__(self, num_tokens: int = 445, hidden: int = 250, coord_dim: int = 3) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.per_token = nn.Linear(coord_dim, 1)
        self.fc1 = nn.Linear(num_tokens, hidden)
        self.fc2 = nn.Linear(hidden, 3)

    def forward(self, coords: Tensor) -> Tensor:
        """Linear chain as in METRO (no activations): (B, N, 3) -> (B, N) -> (B, hidden) -> (B, 3)."""
        if coords.ndim != 3 or coords.shape[1] != self.num_tokens:
            raise ValueError(f"camera head expects (B, {self.num_tokens}, 3) coordinates, got {tuple(coords.shape)}")
        return self.fc2(self.fc1(self.per_token(coords).squeeze(-1)))


def weak_perspective_project(points: Tensor, camera: Tensor) -> Tensor:
    """x2d = s * (X[..., :2] + (tx, ty)): points (B, N, 3), camera (B, 3) = (s, tx, ty) -> (B, N, 2)."""
    if points.ndim != 3 or points.shape[-1] < 2 or camera.shape != (points.shape[0], 3):
        raise ValueError(f"expected points (B, N, 3) and camera (B, 3), got {tuple(points.shape)} and "
                         f"{tuple(camera.shape)}")
    return camera[:, None, :1] * (points[..., :2] + camera[:, None, 1:])
