"""Random masks for masked modelling: which of N tokens (queries or heatmaps) a training sample loses.

Two ways to choose how many, per sample (``count``):

- ``"up_to"`` (METRO, microsoft/MeshTransformer metro/datasets/human_mesh_tsv.py): ``int(u * ratio * N)`` with
  ``u ~ U[0, 1)`` drawn per sample, so a sample loses anything from none to just under ``ratio * N`` tokens
  (``ratio * N / 2`` on average);
- ``"exact"``: ``floor(ratio * N + 0.5)`` tokens for every sample (round half up).

Which tokens: a uniformly random subset of that size, independently per sample (one argsort of uniform numbers for
the whole batch).
"""

from __future__ import annotations

import math

import torch

__all__ = ["COUNTS", "masked_counts", "random_mask", "random_uniform"]

COUNTS = ("up_to", "exact")


def random_uniform(
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """U[0, 1) numbers of ``shape`` on ``device``, drawn on the generator's own device (any device works)."""
    if generator is None:
        return torch.rand(shape, device=device, dtype=dtype)
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def _check(ratio: float, count: str) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"mask ratio must be in [0, 1], got {ratio}")
    if count not in COUNTS:
        raise ValueError(f"mask count must be one of {COUNTS}, got {count!r}")


def masked_counts(batch: int, num_tokens: int, ratio: float, count: str, generator: torch.Generator | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:  # fmt: skip
    """(B,) long: how many of ``num_tokens`` each sample loses under ``count`` (module docstring)."""
    _check(ratio, count)
    if count == "exact":
        return torch.full((batch,), math.floor(ratio * num_tokens + 0.5), dtype=torch.long, device=device)
    u = random_uniform((batch,), generator, device, torch.float64)  # float64: int(u * r * N) as METRO's numpy
    return (u * (ratio * num_tokens)).floor().long()


def random_mask(batch: int, num_tokens: int, ratio: float, count: str = "up_to",
                generator: torch.Generator | None = None, device: torch.device | str | None = None
                ) -> torch.Tensor:  # fmt: skip
    """(B, N) bool, True = masked: ``masked_counts`` random tokens per sample, chosen uniformly without repeats."""
    counts = masked_counts(batch, num_tokens, ratio, count, generator, device)  # (B,)
    mask = torch.zeros(batch, num_tokens, dtype=torch.bool, device=device)
    if num_tokens == 0 or not bool((counts > 0).any()):
        return mask
    order = random_uniform((batch, num_tokens), generator, device).argsort(dim=1)  # a random permutation per row
    rank = torch.arange(num_tokens, device=mask.device)  # the first counts[b] of row b's permutation are masked
    return mask.scatter_(1, order, rank[None, :] < counts[:, None])
