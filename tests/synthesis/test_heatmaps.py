"""Gaussian heatmaps against a hand-written full-grid formula, their peaks, and the empty cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mpt.synthesis import crop_to_map, gaussian_heatmaps, heatmap_peaks


def full_grid_gaussian(x: float, y: float, size: int, sigma: float) -> np.ndarray:
    """exp(-d^2 / 2 sigma^2) at every pixel centre (integers), written without separability."""
    rows, cols = np.indices((size, size), dtype=np.float64)
    return np.exp(-(np.square(cols - x) + np.square(rows - y)) / (2.0 * sigma * sigma))


@pytest.mark.parametrize("size,sigma", [(224, 8.0), (112, 4.0), (56, 2.0)])
def test_argmax_is_the_keypoint_within_one_pixel(size: int, sigma: float) -> None:
    gen = torch.Generator().manual_seed(size)
    pts = torch.rand(4, 17, 2, generator=gen) * (size - 1)  # anywhere inside the map, sub-pixel
    maps = gaussian_heatmaps(pts, torch.ones(4, 17, dtype=torch.bool), size, sigma)
    assert maps.shape == (4, 17, size, size) and maps.dtype == torch.float32
    flat = maps.flatten(2).argmax(dim=-1)  # (4, 17)
    arg = torch.stack((flat % size, flat // size), dim=-1).float()  # (x, y)
    assert (arg - pts).abs().max() <= 0.5 + 1e-4  # the nearest pixel centre, so within one pixel
    assert float(maps.max()) <= 1.0


def test_matches_full_grid_formula_and_peaks_at_one() -> None:
    pts = torch.tensor([[[10.0, 20.0], [3.3, 40.7]], [[0.0, 55.0], [27.25, 27.75]]])
    maps = gaussian_heatmaps(pts, torch.ones(2, 2, dtype=torch.bool), 56, 2.0)
    for b in range(2):
        for j in range(2):
            x, y = pts[b, j].tolist()
            np.testing.assert_allclose(maps[b, j].numpy(), full_grid_gaussian(x, y, 56, 2.0), atol=1e-6)
    assert maps[0, 0, 20, 10] == 1.0  # on a pixel centre: exactly 1 (row = y, column = x)
    assert math.isclose(float(maps[0, 0, 20, 13]), math.exp(-9 / 8), rel_tol=1e-6)  # 3 px right, sigma 2


def test_invisible_and_out_of_map_keypoints_give_empty_maps() -> None:
    size = 56
    pts = torch.tensor([[[-0.6, 10.0], [10.0, 55.5], [80.0, 80.0], [20.0, 20.0], [float("nan"), 3.0],
                         [-0.5, 55.49]]])  # fmt: skip
    visible = torch.tensor([[True, True, True, False, True, True]])
    maps = gaussian_heatmaps(pts, visible, size, 2.0)
    assert torch.isfinite(maps).all()
    assert maps[0, :5].abs().sum() == 0  # outside left / bottom / far away / not visible / NaN
    assert maps[0, 5].max() > 0.8  # the last one is just inside the map's outer edges


def test_crop_to_map_keeps_outer_edges_and_centre() -> None:
    p = torch.tensor([[-0.5, -0.5], [223.5, 223.5], [111.5, 111.5], [0.0, 0.0]])
    m = crop_to_map(p, 224, 56)
    # hand computation: edges stay edges, centre stays centre, crop pixel 0 (width 1) -> 0.25 - 0.5
    expected = torch.tensor([[-0.5, -0.5], [55.5, 55.5], [27.5, 27.5], [-0.375, -0.375]])
    assert torch.allclose(m, expected)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"\(B, J, 2\)"):
        gaussian_heatmaps(torch.zeros(3, 2), torch.ones(3, dtype=torch.bool), 56, 2.0)
    with pytest.raises(ValueError, match="visible"):
        gaussian_heatmaps(torch.zeros(1, 3, 2), torch.ones(1, 4, dtype=torch.bool), 56, 2.0)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_heatmaps(torch.zeros(1, 3, 2), torch.ones(1, 3, dtype=torch.bool), 56, 0.0)


def test_heatmap_peaks_recover_the_pixel_numpy_finds() -> None:
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(2, 3, 7, 9))
    xy, values = heatmap_peaks(torch.from_numpy(maps))
    for b in range(2):
        for j in range(3):
            y, x = np.unravel_index(np.argmax(maps[b, j]), maps[b, j].shape)
            assert xy[b, j].tolist() == [x, y] and values[b, j].item() == maps[b, j, y, x]
    # A Gaussian drawn on a pixel centre is found there.
    pts = torch.tensor([[[3.0, 5.0], [10.0, 0.0]]])
    xy, values = heatmap_peaks(gaussian_heatmaps(pts, torch.ones(1, 2, dtype=torch.bool), 16, 2.0))
    assert torch.equal(xy, pts) and torch.allclose(values, torch.ones(1, 2))
