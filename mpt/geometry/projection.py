"""Rigid transforms and perspective projection with OpenCV's lens model (batched, differentiable).

Conventions: ``X_cam = R @ X_world + t`` (world->camera), camera looks along +z with x right and y
down, pixel coordinates with pixel centres at integers (OpenCV's convention). Distortion
coefficients are in OpenCV order ``(k1, k2, p1, p2, k3)`` and applied exactly as
``cv2.projectPoints`` does (OpenCV docs, "Camera Calibration and 3D Reconstruction").
"""

from __future__ import annotations

import torch

__all__ = ["MIN_DEPTH", "MAX_TAN", "world_to_camera", "project_points", "project_world_points"]

MIN_DEPTH = 1e-4
"""Depths are clamped to at least this (metres) before the division, so points behind the camera
project to finite (meaningless) pixels instead of inf/NaN; mask them with ``depth > 0``."""

MAX_TAN = 100.0
"""Normalised image coordinates x/z, y/z are clamped to +-MAX_TAN (89.4 degrees off axis) so the
distortion polynomial stays finite in float32; no real lens sees that far, so points inside any
field of view are projected exactly as cv2.projectPoints does."""


def world_to_camera(X: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """World points X (..., N, 3) -> camera frame (..., N, 3) with ``R @ X + t``.

    R is (..., 3, 3) and t (..., 3); leading dimensions broadcast (one camera for many
    samples, or one camera per sample).
    """
    if X.shape[-1] != 3 or X.dim() < 2:
        raise ValueError(f"X must have shape (..., N, 3), got {tuple(X.shape)}")
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"R must have shape (..., 3, 3), got {tuple(R.shape)}")
    if t.shape[-1] != 3:
        raise ValueError(f"t must have shape (..., 3), got {tuple(t.shape)}")
    return torch.matmul(X, R.transpose(-1, -2)) + t.unsqueeze(-2)


def project_points(
    X_cam: torch.Tensor,
    K: torch.Tensor,
    dist: torch.Tensor | None = None,
    min_depth: float = MIN_DEPTH,
) -> torch.Tensor:
    """Camera-frame points (..., N, 3) -> pixels (..., N, 2).

    K (..., 3, 3) are intrinsics (skew K[0,1] honoured; cv2 assumes it is 0), dist (..., 5) OpenCV
    coefficients (k1, k2, p1, p2, k3) or None for a pure pinhole. Depths below ``min_depth`` are
    clamped (see MIN_DEPTH), so points behind the camera stay finite; their pixels are not
    meaningful and callers mask them by depth.
    """
    if X_cam.shape[-1] != 3 or X_cam.dim() < 2:
        raise ValueError(f"X_cam must have shape (..., N, 3), got {tuple(X_cam.shape)}")
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"K must have shape (..., 3, 3), got {tuple(K.shape)}")
    z = X_cam[..., 2:].clamp_min(min_depth)
    xy = (X_cam[..., :2] / z).clamp(-MAX_TAN, MAX_TAN)  # (..., N, 2) normalised coordinates
    if dist is not None:
        if dist.shape[-1] != 5:
            raise ValueError(
                f"dist must have shape (..., 5) in OpenCV order (k1, k2, p1, p2, k3), got {tuple(dist.shape)}"
            )
        d = dist.unsqueeze(-2)  # (..., 1, 5) broadcasts over points
        k1, k2, p1, p2, k3 = d.unbind(-1)  # each (..., 1)
        x, y = xy.unbind(-1)  # each (..., N)
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        xy = torch.stack((xd, yd), dim=-1)
    Kt = K.unsqueeze(-3)  # (..., 1, 3, 3)
    u = Kt[..., 0, 0] * xy[..., 0] + Kt[..., 0, 1] * xy[..., 1] + Kt[..., 0, 2]
    v = Kt[..., 1, 1] * xy[..., 1] + Kt[..., 1, 2]
    return torch.stack((u, v), dim=-1)


def project_world_points(
    X: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    K: torch.Tensor,
    dist: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """World points (..., N, 3) -> (pixels (..., N, 2), camera depth (..., N)).

    The depth is returned so callers can mark points behind the camera (depth <= 0) invalid.
    """
    X_cam = world_to_camera(X, R, t)
    return project_points(X_cam, K, dist), X_cam[..., 2]
