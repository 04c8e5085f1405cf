"""Masked heatmap modeling (MPT): random joints' maps removed during pre-training, batched.

Like a 2D pose network missing a joint (occlusion, truncation), the mesh transformer must then infer the
joint from the rest of the body. How many maps a sample loses follows :mod:`mpt.masking`: METRO's random count
``int(u * ratio * J)`` (``count="up_to"``) or exactly ``round(ratio * J)`` (``count="exact"``); which maps is a
uniformly random choice, independently per sample.
"""

from __future__ import annotations

import torch

from mpt.masking import random_mask

__all__ = ["keep_masks", "mask_joints"]


def keep_masks(batch: int, num_joints: int, ratio: float, generator: torch.Generator | None,
               device: torch.device | str, count: str = "up_to") -> torch.Tensor:  # fmt: skip
    """(B, J) bool: False at the joints whose maps a sample loses (see :func:`mpt.masking.random_mask`)."""
    return ~random_mask(batch, num_joints, ratio, count, generator, device)


def mask_joints(
    maps: torch.Tensor, ratio: float, generator: torch.Generator | None = None, count: str = "up_to"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero random maps per sample (``count`` as in :mod:`mpt.masking`): (B, J, S, S) -> (maps, kept (B, J) bool).

    Returns a new tensor (the input is not modified).
    """
    if maps.dim() != 4:
        raise ValueError(f"maps must have shape (B, J, S, S), got {tuple(maps.shape)}")
    kept = keep_masks(maps.shape[0], maps.shape[1], ratio, generator, maps.device, count)
    return maps * kept[:, :, None, None].to(maps.dtype), kept
