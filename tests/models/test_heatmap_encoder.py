"""Heatmap encoder: shapes per size and for masks, cross-size resizing vs cv2, cost vs the transformer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mpt.models.heatmap_encoder import HeatmapEncoder


@pytest.mark.parametrize("size", [56, 112, 224])
def test_shapes_for_each_heatmap_size(size: int) -> None:
    enc = HeatmapEncoder(in_channels=17, in_size=size, feature_dim=512, grid_size=7)
    feature, grid = enc(torch.rand(2, 17, size, size))
    assert feature.shape == (2, 512)
    assert grid.shape == (2, 49, 256) and enc.num_grid_tokens == 49 and enc.grid_dim == 256


def test_binary_mask_input_flatten_pool_and_no_grid() -> None:
    enc = HeatmapEncoder(in_channels=1, in_size=112, feature_dim=2048, grid_size=0, pool="flatten", norm="group")
    mask = (torch.rand(2, 1, 112, 112) > 0.5).float()
    feature, grid = enc(mask)
    assert feature.shape == (2, 2048) and grid is None and enc.num_grid_tokens == 0


def test_grid_size_other_than_final_map() -> None:
    enc = HeatmapEncoder(in_size=56, grid_size=4, feature_dim=64)
    _, grid = enc(torch.rand(1, 17, 56, 56))
    assert grid.shape == (1, 16, 256)


def _cv2_resize(x: torch.Tensor, size: int, interpolation: int) -> torch.Tensor:
    """Resize each (H, W) channel with OpenCV (independent of torch's interpolate)."""
    arr = x.numpy()
    out = np.stack([np.stack([cv2.resize(c, (size, size), interpolation=interpolation) for c in s]) for s in arr])
    return torch.from_numpy(out)


@pytest.mark.parametrize("size, interpolation", [(112, cv2.INTER_LINEAR), (448, cv2.INTER_AREA)])
def test_other_sizes_are_resized_to_the_model_size(size: int, interpolation: int) -> None:
    torch.manual_seed(0)
    enc = HeatmapEncoder(in_size=224, feature_dim=32).eval()
    x = torch.rand(1, 17, size, size)
    feature, grid = enc(x)
    ref_feature, ref_grid = enc(_cv2_resize(x, 224, interpolation))
    torch.testing.assert_close(feature, ref_feature, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(grid, ref_grid, atol=1e-4, rtol=1e-4)


def test_cheap_relative_to_the_transformer_at_224() -> None:
    enc = HeatmapEncoder(in_size=224, feature_dim=2048).eval()
    with FlopCounterMode(display=False) as counter:
        enc(torch.rand(1, 17, 224, 224))
    encoder_flops = counter.get_total_flops()
    # Default mesh transformer forward, by hand: per layer 2*N*12*d^2 (QKV, out, 4x MLP) + 4*N^2*d (attention).
    n = 445
    transformer_flops = sum(4 * (2 * n * 12 * d * d + 4 * n * n * d) for d in (1024, 256, 64))
    assert transformer_flops > 45e9  # ~52 GFLOPs by this formula
    assert encoder_flops < 0.05 * transformer_flops, (encoder_flops, transformer_flops)


def test_bad_input_raises() -> None:
    enc = HeatmapEncoder(in_size=56)
    with pytest.raises(ValueError, match="expects square"):
        enc(torch.rand(2, 3, 56, 56))
    with pytest.raises(ValueError, match="power of two"):
        HeatmapEncoder(in_size=100)
