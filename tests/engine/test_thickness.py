"""Principal extents (mpt.engine.thickness): the measurement behind the demo's "a body, not a sheet" check."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt.engine.thickness import principal_extents


def _box_corners(sides: tuple[float, float, float]) -> torch.Tensor:
    """The 8 corners of an axis-aligned box with the given side lengths, centred anywhere: (8, 3)."""
    grid = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=torch.float64)
    return grid * torch.tensor(sides, dtype=torch.float64) + torch.tensor([3.0, -2.0, 7.0], dtype=torch.float64)


def test_extents_of_a_rotated_box_are_half_its_sides_largest_first() -> None:
    # A box's 8 corners lie at +-side/2 from their centre along each edge (distinct side lengths, so the principal
    # axes are the edges): their standard deviation along each is side / 2, whatever rotation (scipy's) they are
    # seen in.
    sides = (0.3, 1.7, 0.9)
    rots = torch.from_numpy(Rotation.random(4, random_state=0).as_matrix())  # (4, 3, 3)
    points = _box_corners(sides)[None] @ rots.transpose(1, 2)  # (4, 8, 3)
    ext = principal_extents(points)
    assert ext.shape == (4, 3)
    assert torch.allclose(ext, torch.tensor([0.85, 0.45, 0.15], dtype=torch.float64).expand(4, 3), atol=1e-9)


def test_a_flat_sheet_has_no_depth() -> None:
    # A 2 x 0.5 grid of points on a tilted plane: the third extent is 0, the first two the standard deviations of
    # the grid's coordinates (numpy).
    a, b = torch.meshgrid(torch.linspace(0, 2, 21, dtype=torch.float64), torch.linspace(0, 0.5, 6, dtype=torch.float64),
                          indexing="ij")
    plane = torch.stack([a.flatten(), b.flatten(), torch.zeros(a.numel(), dtype=torch.float64)], dim=1)
    rot = torch.from_numpy(Rotation.from_euler("xyz", [30, 50, -20], degrees=True).as_matrix())
    ext = principal_extents((plane @ rot.T)[None])[0]
    assert ext.tolist() == pytest.approx([np.std(a.numpy()), np.std(b.numpy()), 0.0], abs=1e-7)


def test_rejects_points_that_are_not_3d_sets() -> None:
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        principal_extents(torch.zeros(8, 3))
