"""Square person crops: boxes from points, jitter, and one mapping shared by points and images.

Conventions (used everywhere in mpt):
  - pixel coordinates have pixel centres at integers (OpenCV's convention), x right, y down;
  - a box is (center (2,), size) in source pixels, its edges at center +- size / 2;
  - the box maps onto an ``out_size`` crop whose outer pixel edges are -0.5 and out_size - 0.5, so
    crop pixel = out_size / size * Rot(rot_deg) @ (p - center) + (out_size - 1) / 2;
  - normalised crop coordinates are in [-1, 1] at the crop's outer edges (torch grid_sample with
    align_corners=False): n = 2 * Rot @ (p - center) / size, independent of out_size, so a 224 crop
    and a 56 heatmap of the same box share normalised coordinates;
  - Rot(a) = [[cos a, sin a], [-sin a, cos a]]: positive angles turn the image content
    counter-clockwise on screen, as cv2.getRotationMatrix2D does.
crop_affine / crop_image use the same matrix, so a pixel drawn at p lands where points_to_crop says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

__all__ = [
    "bbox_from_points",
    "square_box",
    "jitter_boxes",
    "points_to_crop",
    "points_from_crop",
    "crop_to_normalized",
    "normalized_to_crop",
    "crop_affine",
    "crop_image",
]


def square_box(lo: torch.Tensor, hi: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The square box of an extent (..., 2) corners ``lo``, ``hi``: its middle and ``scale`` x its longer side."""
    return (lo + hi) / 2, scale * (hi - lo).amax(dim=-1)


def bbox_from_points(
    p2d: torch.Tensor, valid: torch.Tensor | None = None, scale: float = 1.2, min_size: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square boxes around 2D points: (center (B,2), size (B,)).

    center = middle of the valid points' bounding rectangle, size = scale * its longer side
    (at least ``min_size`` pixels, so a single point still gives a usable box). Every sample
    needs at least one valid, finite point.
    """
    if p2d.dim() != 3 or p2d.shape[-1] != 2:
        raise ValueError(f"p2d must have shape (B, N, 2), got {tuple(p2d.shape)}")
    if valid is None:
        valid = torch.ones(p2d.shape[:2], dtype=torch.bool, device=p2d.device)
    elif valid.shape != p2d.shape[:2]:
        raise ValueError(f"valid must have shape {tuple(p2d.shape[:2])} (B, N), got {tuple(valid.shape)}")
    valid = valid.bool()
    bad = ~valid.any(dim=1) | (valid & ~torch.isfinite(p2d).all(dim=-1)).any(dim=1)  # (B,)
    if bool(bad.any()):
        rows = torch.nonzero(bad).flatten().tolist()
        raise ValueError(f"bbox_from_points: samples {rows} have no valid points or NaN/inf valid points; "
                         "mark such points invalid or drop the samples")
    mask = valid.unsqueeze(-1)  # (B, N, 1)
    lo = torch.where(mask, p2d, torch.full_like(p2d, math.inf)).amin(dim=1)  # (B, 2)
    hi = torch.where(mask, p2d, torch.full_like(p2d, -math.inf)).amax(dim=1)
    center, size = square_box(lo, hi, scale)
    return center, size.clamp_min(min_size)


def jitter_boxes(
    center: torch.Tensor,
    size: torch.Tensor,
    scale_range: tuple[float, float],
    shift: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random training jitter of boxes (B,2), (B,): size * U(scale_range), centre + U(-shift, shift) * size.

    The shift is relative to the original size, per axis. ``generator`` must live on center's device.
    """
    lo, hi = float(scale_range[0]), float(scale_range[1])
    if not (0 < lo <= hi):
        raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
    if shift < 0:
        raise ValueError(f"shift must be >= 0, got {shift}")
    if center.dim() != 2 or center.shape[-1] != 2 or size.shape != center.shape[:1]:
        raise ValueError(f"center must be (B, 2) and size (B,), got {tuple(center.shape)} and {tuple(size.shape)}")
    u = torch.rand((center.shape[0], 3), generator=generator, device=center.device, dtype=center.dtype)
    factor = lo + (hi - lo) * u[:, 0]
    offset = (2 * u[:, 1:] - 1) * shift * size.unsqueeze(-1)
    return center + offset, size * factor


def _rotation_2d(rot_deg: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(..., 2, 2) matrices [[cos, sin], [-sin, cos]] for angles in degrees, on like's device/dtype."""
    a = torch.deg2rad(torch.as_tensor(rot_deg, dtype=like.dtype, device=like.device))
    c, s = torch.cos(a), torch.sin(a)
    return torch.stack((torch.stack((c, s), -1), torch.stack((-s, c), -1)), -2)


def _check_boxes(p: torch.Tensor, center: torch.Tensor, size: torch.Tensor) -> None:
    if p.dim() != 3 or p.shape[-1] != 2:
        raise ValueError(f"points must have shape (B, N, 2), got {tuple(p.shape)}")
    if center.shape != (p.shape[0], 2) or size.shape != (p.shape[0],):
        raise ValueError(
            f"center must be (B, 2) and size (B,) with B={p.shape[0]}, "
            f"got {tuple(center.shape)} and {tuple(size.shape)}"
        )


def points_to_crop(
    p2d: torch.Tensor, center: torch.Tensor, size: torch.Tensor, out_size: int, rot_deg: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """Source pixels (B,N,2) -> pixels of the out_size crop of each box (B,N,2); rot_deg scalar or (B,)."""
    _check_boxes(p2d, center, size)
    rot = _rotation_2d(rot_deg, p2d)  # (2, 2) or (B, 2, 2)
    if rot.dim() == 3:
        rot = rot.unsqueeze(1)  # (B, 1, 2, 2)
    rel = (p2d - center.unsqueeze(1)).unsqueeze(-1)  # (B, N, 2, 1)
    scale = (out_size / size).view(-1, 1, 1)
    return scale * (rot @ rel).squeeze(-1) + (out_size - 1) / 2


def points_from_crop(
    p_crop: torch.Tensor, center: torch.Tensor, size: torch.Tensor, out_size: int, rot_deg: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """Inverse of points_to_crop: crop pixels (B,N,2) -> source image pixels (B,N,2)."""
    _check_boxes(p_crop, center, size)
    rot_t = _rotation_2d(rot_deg, p_crop).transpose(-1, -2)  # inverse rotation
    if rot_t.dim() == 3:
        rot_t = rot_t.unsqueeze(1)
    rel = ((p_crop - (out_size - 1) / 2) * (size / out_size).view(-1, 1, 1)).unsqueeze(-1)
    return (rot_t @ rel).squeeze(-1) + center.unsqueeze(1)


def crop_to_normalized(p: torch.Tensor, out_size: int) -> torch.Tensor:
    """Crop pixels -> [-1, 1] at the crop's outer edges: (2p + 1) / out_size - 1."""
    return (2 * p + 1) / out_size - 1


def normalized_to_crop(p: torch.Tensor, out_size: int) -> torch.Tensor:
    """[-1, 1] normalised crop coordinates -> crop pixels (inverse of crop_to_normalized)."""
    return ((p + 1) * out_size - 1) / 2


def _as_center(center: Sequence[float] | np.ndarray | torch.Tensor) -> np.ndarray:
    c = center.detach().cpu().numpy() if isinstance(center, torch.Tensor) else np.asarray(center)
    c = c.astype(np.float64).reshape(-1)
    if c.shape != (2,) or not np.isfinite(c).all():
        raise ValueError(f"center must be 2 finite numbers (x, y), got {center!r}")
    return c


def crop_affine(
    center: Sequence[float] | np.ndarray | torch.Tensor, size: float, out_size: int, rot_deg: float = 0.0
) -> np.ndarray:
    """(2, 3) float64 matrix mapping source pixels to crop pixels, for cv2.warpAffine (one box)."""
    c = _as_center(center)
    size = float(size)
    if not (math.isfinite(size) and size > 0):
        raise ValueError(f"box size must be a positive finite number of pixels, got {size}")
    a = math.radians(float(rot_deg))
    k = out_size / size
    lin = k * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    offset = (out_size - 1) / 2 - lin @ c
    return np.concatenate([lin, offset[:, None]], axis=1)


def crop_image(
    img: np.ndarray,
    center: Sequence[float] | np.ndarray | torch.Tensor,
    size: float,
    out_size: int,
    rot_deg: float = 0.0,
    border_value: int = 0,
) -> np.ndarray:
    """Crop (and rotate) an (H, W, 3) uint8 image to (out_size, out_size, 3) with cv2.warpAffine.

    Bilinear sampling; pixels outside the source get ``border_value``.
    """
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"crop_image expects an (H, W, 3) uint8 array (decode with cv2.imdecode), got {desc}")
    M = crop_affine(center, size, out_size, rot_deg)
    return cv2.warpAffine(
        img, M, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value,) * 3,
    )
