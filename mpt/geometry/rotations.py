"""Batched rotation conversions in torch (differentiable, any device).

Conventions: rotation matrices act on column vectors (``y = R @ x``); quaternions are laid out
``[w, x, y, z]`` (scalar first, as in VideoPose3D common/quaternion.py); axis-angle vectors are
``angle * unit_axis`` in radians (SMPL's pose parameterisation).
"""

from __future__ import annotations

import torch
from smplx.lbs import batch_rodrigues

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rotation_about_axis",
    "rotation_angle",
]

_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def _check_last_dims(x: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    """Raise a ValueError naming the argument when its trailing dimensions are not ``shape``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if tuple(x.shape[x.dim() - len(shape):]) != shape or x.dim() < len(shape):
        raise ValueError(f"{name} must have shape (..., {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3), via smplx's Rodrigues formula.

    smplx.lbs.batch_rodrigues is what SMPL itself uses, so poses round-trip identically
    through the body model and this module.
    """
    _check_last_dims(axis_angle, (3,), "axis_angle")
    batch_shape = axis_angle.shape[:-1]
    mats = batch_rodrigues(axis_angle.reshape(-1, 3))  # (M, 3, 3)
    return mats.reshape(*batch_shape, 3, 3)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """Quaternions [w, x, y, z] (..., 4) -> rotation matrices (..., 3, 3).

    The quaternion is normalised first, so slightly non-unit inputs (e.g. float32 values read from
    a file) still give orthonormal matrices.
    """
    _check_last_dims(quaternion, (4,), "quaternion")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(quaternion.dtype).tiny)
    w, x, y, z = q.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = (
        1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy),
    )
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> unit quaternions [w, x, y, z] (..., 4) with w >= 0.

    Each of the four components can be recovered from the diagonal; dividing by the largest one
    keeps the conversion well conditioned for every angle (including rotations by ~pi).
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4w^2, 4x^2, 4y^2, 4z^2
    sq = torch.stack(
        (1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1
    )
    two_abs = torch.sqrt(sq.clamp_min(1e-12))  # (..., 4) = 2|w|, 2|x|, 2|y|, 2|z| (floor: finite sqrt gradient)
    d_w = (m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1])  # 4w(x, y, z)
    s_xy, s_xz, s_yz = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    # Row i = 4 * q_i * [w, x, y, z]; dividing by 4 q_i = 2 * two_abs_i recovers q (up to sign).
    candidates = torch.stack(
        (
            torch.stack((sq[..., 0], d_w[0], d_w[1], d_w[2]), dim=-1),
            torch.stack((d_w[0], sq[..., 1], s_xy, s_xz), dim=-1),
            torch.stack((d_w[1], s_xy, sq[..., 2], s_yz), dim=-1),
            torch.stack((d_w[2], s_xz, s_yz, sq[..., 3]), dim=-1),
        ),
        dim=-2,
    )  # (..., 4, 4)
    candidates = candidates / (2.0 * two_abs.clamp_min(0.1)).unsqueeze(-1)
    best = two_abs.argmax(dim=-1)  # the largest component is at least 1/2, so the division is safe
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """Quaternions [w, x, y, z] (..., 4) -> axis-angle (..., 3) with angle in [0, pi]."""
    _check_last_dims(quaternion, (4,), "quaternion")
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, v = q[..., :1], q[..., 1:]
    s = v.norm(dim=-1, keepdim=True)  # sin(angle / 2)
    angle = 2.0 * torch.atan2(s, w)
    small = s < 1e-6
    # angle / s -> 2 / w * (1 - s^2 / (3 w^2)) as s -> 0 (Taylor series of 2 atan(s / w) / s).
    # Both branches are evaluated by torch.where, so each gets safe inputs (no inf/NaN gradients).
    ones = torch.ones_like(s)
    w_small = torch.where(small, w, ones)
    series = 2.0 / w_small * (1.0 - s * s / (3.0 * w_small * w_small))
    ratio = torch.where(small, series, angle / torch.where(small, ones, s))
    return v * ratio


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3), angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_about_axis(angle: torch.Tensor | float, axis: str | torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) by ``angle`` radians (...,) about ``axis``.

    ``axis`` is "x", "y", "z" or a 3-vector (normalised here). Positive angles turn
    counter-clockwise when looking down the axis towards the origin (right-hand rule).
    """
    angle_t = torch.as_tensor(angle, dtype=torch.get_default_dtype()) if not isinstance(angle, torch.Tensor) else angle
    if isinstance(axis, str):
        if axis.lower() not in _AXES:
            raise ValueError(f"axis must be 'x', 'y', 'z' or a 3-vector, got {axis!r}")
        axis_t = torch.tensor(_AXES[axis.lower()], dtype=angle_t.dtype, device=angle_t.device)
    else:
        axis_t = torch.as_tensor(axis, dtype=angle_t.dtype, device=angle_t.device)
        if axis_t.shape != (3,):
            raise ValueError(f"axis vector must have shape (3,), got {tuple(axis_t.shape)}")
        norm = axis_t.norm()
        if not torch.isfinite(norm) or norm <= 0:
            raise ValueError(f"axis vector must be finite and non-zero, got {axis_t.tolist()}")
        axis_t = axis_t / norm
    return axis_angle_to_matrix(angle_t.unsqueeze(-1) * axis_t)


def rotation_angle(matrix: torch.Tensor) -> torch.Tensor:
    """The angle (...,) in radians, in [0, pi], of rotation matrices (..., 3, 3).

    atan2(sin, cos) with sin = |vee(R - R^T)| / 2 and cos = (trace R - 1) / 2: accurate at every angle, where
    arccos of the trace alone loses precision near 0 and pi.
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    skew = matrix - matrix.transpose(-1, -2)
    vee = torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], dim=-1)  # 2 sin(angle) * axis
    trace = matrix.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.atan2(vee.norm(dim=-1) / 2, (trace - 1) / 2)
