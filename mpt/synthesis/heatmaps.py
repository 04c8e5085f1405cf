"""Gaussian keypoint heatmaps drawn for a whole batch at once, and keypoints read back from heatmaps.

Pixel convention (the one of :mod:`mpt.geometry.crop`): pixel centres sit at integer coordinates, x right, y down,
and a map of side S covers [-0.5, S - 0.5] in both axes. A keypoint at (x, y) gives the map
``exp(-((u - x)^2 + (v - y)^2) / (2 sigma^2))`` sampled at the pixel centres (u, v), which is the outer product of
two 1-D Gaussians: B*J*2*S exponentials instead of B*J*S*S, the rest is one broadcast multiply.
"""

from __future__ import annotations

import torch

from mpt.geometry.crop import points_to_crop

__all__ = ["crop_to_map", "gaussian_heatmaps", "heatmap_peaks", "inside_map", "person_heatmaps"]


def crop_to_map(points: torch.Tensor, crop_size: int, size: int) -> torch.Tensor:
    """Crop pixels (..., 2) of a ``crop_size`` crop -> pixels of a ``size`` map of the same box.

    Both share the outer edges (-0.5 and side - 0.5), so p_map = (p_crop + 0.5) * size / crop_size - 0.5.
    """
    if crop_size <= 0 or size <= 0:
        raise ValueError(f"crop_size and size must be positive, got {crop_size} and {size}")
    return (points + 0.5) * (size / crop_size) - 0.5


def inside_map(points: torch.Tensor, size: int) -> torch.Tensor:
    """(..., 2) map pixels -> (...) bool: finite and within the map's outer edges [-0.5, size - 0.5)."""
    finite = torch.isfinite(points).all(dim=-1)
    within = ((points >= -0.5) & (points < size - 0.5)).all(dim=-1)
    return finite & within


def gaussian_heatmaps(
    points: torch.Tensor, visible: torch.Tensor, size: int, sigma: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Draw one Gaussian per keypoint: (B, J, 2) map pixels, (B, J) bool -> (B, J, size, size).

    The value is 1 at the keypoint (exactly, when it lies on a pixel centre). Keypoints that are not visible,
    outside the map or not finite give all-zero maps. The maps have the dtype and device of ``points``
    (floating point). ``out``: an optional (B, J, size, size) tensor to write them into (see
    :meth:`mpt.synthesis.Synthesizer.render`).
    """
    if points.dim() != 3 or points.shape[-1] != 2 or not points.is_floating_point():
        raise ValueError(f"points must be floating (B, J, 2) map pixels, got {points.dtype} {tuple(points.shape)}")
    if visible.shape != points.shape[:2]:
        raise ValueError(f"visible must have shape {tuple(points.shape[:2])} (B, J), got {tuple(visible.shape)}")
    if size <= 0:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    on = visible.bool() & inside_map(points, size)  # (B, J)
    safe = torch.where(on.unsqueeze(-1), points, torch.zeros_like(points))  # keeps NaNs out of the products
    grid = torch.arange(size, device=points.device, dtype=points.dtype)  # (S,) pixel centres
    # (B, J, 2, S): the 1-D Gaussians along x (row 0) and y (row 1); the x factor carries the on/off switch.
    g = torch.exp((grid - safe.unsqueeze(-1)).square_().mul_(-0.5 / (sigma * sigma)))
    gx = g[:, :, 0] * on.unsqueeze(-1).to(g.dtype)  # (B, J, S)
    gy = g[:, :, 1]
    return torch.mul(gy.unsqueeze(-1), gx.unsqueeze(-2), out=out)  # (B, J, S_y, S_x)


def person_heatmaps(
    points: torch.Tensor, center: torch.Tensor, side: torch.Tensor, drawn: torch.Tensor, size: int, sigma: float,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The keypoint heatmaps of people in their square boxes: what pre-training feeds the model.

    points (B, J, 2) image pixels, center (B, 2) and side (B,) the boxes in the same pixels (mpt.geometry.crop),
    drawn (B, J) bool: whether a keypoint gets its Gaussian (False: an all-zero map, as for a keypoint that is not
    seen or that masked heatmap modeling removed). Returns the maps (B, J, size, size) and the keypoints in map
    pixels (B, J, 2). Pre-training (:meth:`mpt.synthesis.Synthesizer.render`) and lifting a detector's keypoints
    (mpt.inference.maps) both draw through this function, so the same keypoints in the same box give the same maps.
    """
    map_points = points_to_crop(points, center, side, size)  # (B, J, 2)
    return gaussian_heatmaps(map_points, drawn, size, sigma, out=out), map_points


def heatmap_peaks(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each map's maximum: (B, J, H, W) -> (B, J, 2) its pixel (x, y) in this module's convention, (B, J) its value.

    A pose network's keypoint is the argmax of its map (SimpleBaseline / HigherHRNet inference); ties go to the first
    pixel in row-major order.
    """
    if maps.dim() != 4:
        raise ValueError(f"maps must be (B, J, H, W), got {tuple(maps.shape)}")
    values, flat = maps.flatten(2).max(dim=-1)  # (B, J)
    width = maps.shape[-1]
    xy = torch.stack([flat % width, torch.div(flat, width, rounding_mode="floor")], dim=-1)
    return xy.to(maps.dtype if maps.is_floating_point() else torch.float32), values
