"""Masked heatmap modeling (MPT): random joints' maps removed during pre-training, batched.

Like a 2D pose network missing a joint (occlusion, truncation), the mesh transformer must then infer the
joint from the rest of the body. Every sample loses exactly ``round(ratio * J)`` maps, chosen independently
per sample by ranking uniform random numbers (one argsort for the batch).
"""

from __future__ import annotations

import torch

__all__ = ["count_masked", "keep_masks", "mask_joints", "random_uniform"]


def random_uniform(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | str,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """U[0, 1) numbers of ``shape`` on ``device``, drawn on the generator's own device (any device works)."""
    if generator is None:
        return torch.rand(shape, device=device, dtype=dtype)
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def count_masked(ratio: float, num_joints: int) -> int:
    """How many of ``num_joints`` maps a sample loses: Python's round(ratio * num_joints)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"mask ratio must be in [0, 1], got {ratio}")
    return round(ratio * num_joints)


def keep_masks(batch: int, num_joints: int, ratio: float, generator: torch.Generator | None,
               device: torch.device | str) -> torch.Tensor:
    """(B, J) bool: False at exactly count_masked(ratio, J) random joints per sample."""
    k = count_masked(ratio, num_joints)
    kept = torch.ones(batch, num_joints, dtype=torch.bool, device=device)
    if k:
        order = random_uniform((batch, num_joints), generator, device).argsort(dim=1)  # a random permutation
        kept.scatter_(1, order[:, :k], False)
    return kept


def mask_joints(
    maps: torch.Tensor, ratio: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero round(ratio * J) random maps per sample: (B, J, S, S) -> (maps, kept (B, J) bool).

    Returns a new tensor (the input is not modified).
    """
    if maps.dim() != 4:
        raise ValueError(f"maps must have shape (B, J, S, S), got {tuple(maps.shape)}")
    kept = keep_masks(maps.shape[0], maps.shape[1], ratio, generator, maps.device)
    return maps * kept[:, :, None, None].to(maps.dtype), kept
