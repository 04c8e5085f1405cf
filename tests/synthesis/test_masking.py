"""Masked heatmap modeling: the maps of the masked joints are zero, the others untouched, per sample."""

from __future__ import annotations

import math

import pytest
import torch

from mpt.synthesis import mask_joints


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.3, 0.5, 1.0])
def test_exact_count_per_sample(ratio: float) -> None:
    maps = torch.rand(64, 17, 8, 8) + 0.1  # no map is zero before masking
    gen = torch.Generator().manual_seed(3)
    out, kept = mask_joints(maps, ratio, gen, count="exact")
    k = math.floor(ratio * 17 + 0.5)  # 0, 2, 5, 9 (8.5 rounds half up), 17
    assert kept.shape == (64, 17) and kept.dtype == torch.bool
    assert ((~kept).sum(dim=1) == k).all()
    zero = out.flatten(2).abs().amax(dim=-1) == 0  # (64, 17) which maps are empty
    assert torch.equal(zero, ~kept)
    assert torch.equal(out[kept], maps[kept])  # the others are untouched
    assert maps.min() > 0  # the input was not modified in place


def test_up_to_count_blanks_exactly_the_masked_maps() -> None:
    maps = torch.rand(4096, 17, 4, 4) + 0.1
    out, kept = mask_joints(maps, 0.3, torch.Generator().manual_seed(4))  # METRO's count: int(u * 5.1) in 0..5
    counts = (~kept).sum(dim=1)
    assert counts.min() == 0 and counts.max() == 5
    assert set(counts.unique().tolist()) == {0, 1, 2, 3, 4, 5}
    zero = out.flatten(2).abs().amax(dim=-1) == 0
    assert torch.equal(zero, ~kept) and torch.equal(out[kept], maps[kept])


def test_random_per_sample_and_reproducible() -> None:
    maps = torch.ones(64, 17, 4, 4)
    _, kept_a = mask_joints(maps, 0.3, torch.Generator().manual_seed(7), count="exact")
    _, kept_b = mask_joints(maps, 0.3, torch.Generator().manual_seed(7), count="exact")
    assert torch.equal(kept_a, kept_b)
    patterns = {tuple(row.tolist()) for row in kept_a}
    assert len(patterns) > 40  # C(17, 5) = 6188 patterns: 64 draws almost never collide much
    assert (~kept_a).float().mean(dim=0).min() > 0  # every joint gets masked somewhere in the batch


def test_bad_ratio_and_shape() -> None:
    with pytest.raises(ValueError, match="ratio"):
        mask_joints(torch.ones(2, 17, 4, 4), 1.5)
    with pytest.raises(ValueError, match=r"\(B, J, S, S\)"):
        mask_joints(torch.ones(17, 4, 4), 0.1)
