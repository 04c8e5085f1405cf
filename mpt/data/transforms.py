"""Training augmentation of image samples, as small pure functions: sample parameters, flip, rotate, pixel noise.

The recipe is METRO's (microsoft/MeshTransformer metro/datasets/human_mesh_tsv.py ``augm_params`` and
metro/utils/image_ops.py, inherited from SPIN): flip with probability 0.5; per-channel pixel
noise U[0.6, 1.4]; in-plane rotation clip(N(0, 30), +-60) degrees, set to 0 with probability 0.6; box scale
clip(N(1, 0.25), [0.75, 1.25]).

One in-plane rotation matrix serves the image, the 2D joints, the 3D joints and the SMPL global orientation:
with mpt.geometry.crop's convention a crop rotated by ``rot_deg`` maps a camera-frame direction (x right, y down)
through ``Rz = [[cos a, sin a, 0], [-sin a, cos a, 0], [0, 0, 1]]`` (METRO's j3d_processing and rot_aa use the same
matrix). Flipping happens after rotation, mirrors x (x -> -x in normalised crop coordinates and in the camera
frame) and swaps left/right joints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from mpt.data.joints24 import SMPL_FLIP_PERM
from mpt.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle, rotation_about_axis

__all__ = [
    "AugParams",
    "apply_pixel_noise",
    "flip_image",
    "flip_joints",
    "flip_smpl_pose",
    "in_plane_rotation",
    "rotate_global_orient",
    "rotate_joints3d",
    "sample_aug_params",
]


@dataclass(frozen=True)
class AugParams:
    """One sample's augmentation: horizontal flip, rotation (degrees), box scale factor, per-channel RGB gains."""

    flip: bool = False
    rot_deg: float = 0.0
    scale: float = 1.0
    pixel_noise: tuple[float, float, float] = field(default=(1.0, 1.0, 1.0))


def sample_aug_params(
    rng: np.random.Generator,
    flip_prob: float = 0.5,
    noise_factor: float = 0.4,
    rot_factor: float = 30.0,
    scale_factor: float = 0.25,
    rot_zero_prob: float = 0.6,
) -> AugParams:
    """Draw METRO's augmentation for one sample (defaults from metro/datasets/human_mesh_tsv.py)."""
    flip = bool(rng.uniform() < flip_prob)
    noise = rng.uniform(1.0 - noise_factor, 1.0 + noise_factor, size=3)
    rot = float(np.clip(rng.standard_normal() * rot_factor, -2.0 * rot_factor, 2.0 * rot_factor))
    scale = float(np.clip(rng.standard_normal() * scale_factor + 1.0, 1.0 - scale_factor, 1.0 + scale_factor))
    if rng.uniform() < rot_zero_prob:
        rot = 0.0
    return AugParams(flip=flip, rot_deg=rot, scale=scale, pixel_noise=tuple(float(v) for v in noise))


def flip_image(img: np.ndarray) -> np.ndarray:
    """Mirror an (H, W, C) image left-right (contiguous copy)."""
    return np.ascontiguousarray(img[:, ::-1])


def apply_pixel_noise(img: np.ndarray, gains: Sequence[float]) -> np.ndarray:
    """(H, W, 3) image times per-channel gains, clipped to [0, 255], as float32."""
    out = img.astype(np.float32) * np.asarray(gains, dtype=np.float32)
    return np.clip(out, 0.0, 255.0, out=out)


def flip_joints(joints: torch.Tensor, perm: Sequence[int]) -> torch.Tensor:
    """Mirror joints (..., J, C>=2): swap left/right by ``perm`` and negate x (column 0); other columns kept.

    x must be centred on the mirror axis: normalised crop coordinates, or camera-frame 3D coordinates.
    """
    if joints.shape[-2] != len(perm) or joints.shape[-1] < 2:
        raise ValueError(
            f"joints must be (..., {len(perm)}, C>=2) to match the flip permutation, got {tuple(joints.shape)}"
        )
    out = joints[..., list(perm), :].clone()
    out[..., 0] = -out[..., 0]
    return out


def flip_smpl_pose(pose: torch.Tensor) -> torch.Tensor:
    """Mirror SMPL poses (..., 72): swap left/right joints' axis-angles and negate their y and z components.

    Mirroring x maps a rotation R to M R M with M = diag(-1, 1, 1), i.e. axis-angle (a, b, c) -> (a, -b, -c)
    (SPIN/METRO flip_pose). Applying it twice is the identity.
    """
    if pose.shape[-1] != 72:
        raise ValueError(f"pose must be (..., 72) SMPL axis-angle, got {tuple(pose.shape)}")
    aa = pose.reshape(*pose.shape[:-1], 24, 3)[..., list(SMPL_FLIP_PERM), :]
    sign = aa.new_tensor([1.0, -1.0, -1.0])
    return (aa * sign).reshape(pose.shape)


def in_plane_rotation(
    rot_deg: float | torch.Tensor, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """(..., 3, 3) camera-frame rotation matching a crop rotated by ``rot_deg`` (scalar or (...,)) degrees.

    Equals [[cos a, sin a, 0], [-sin a, cos a, 0], [0, 0, 1]]: a right-handed rotation by -a about z, which on
    screen (y down) turns content counter-clockwise, as the crop does.
    """
    a = torch.as_tensor(rot_deg, dtype=dtype, device=device) * (math.pi / 180.0)
    return rotation_about_axis(-a, "z")


def rotate_joints3d(joints: torch.Tensor, rot_deg: float | torch.Tensor) -> torch.Tensor:
    """Rotate camera-frame joints (..., J, C>=3) about the camera's z axis; extra columns (conf) kept.

    ``rot_deg`` is a scalar or one angle per leading batch element (B,) for joints (B, J, C).
    """
    if joints.shape[-1] < 3:
        raise ValueError(f"joints must be (..., J, C>=3), got {tuple(joints.shape)}")
    rot = in_plane_rotation(rot_deg, joints.dtype, joints.device)  # (3, 3) or (B, 3, 3)
    if rot.dim() == 3:
        rot = rot.unsqueeze(-3)  # (B, 1, 3, 3): one matrix per sample, shared by its joints
    xyz = (rot @ joints[..., :3].unsqueeze(-1)).squeeze(-1)
    return torch.cat([xyz, joints[..., 3:]], dim=-1)


def rotate_global_orient(pose: torch.Tensor, rot_deg: float | torch.Tensor) -> torch.Tensor:
    """Pre-multiply the SMPL global orientation (pose[..., :3]) by the in-plane rotation; body pose unchanged."""
    if pose.shape[-1] != 72:
        raise ValueError(f"pose must be (..., 72) SMPL axis-angle, got {tuple(pose.shape)}")
    rot = in_plane_rotation(rot_deg, pose.dtype, pose.device)
    root = matrix_to_axis_angle(rot @ axis_angle_to_matrix(pose[..., :3]))
    return torch.cat([root, pose[..., 3:]], dim=-1)
