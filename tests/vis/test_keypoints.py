"""draw_keypoints: dots where keypoints are used, rings where not, skeleton edges only between used ones."""

from __future__ import annotations

import numpy as np
import pytest

from mpt.vis import draw_keypoints
from mpt.vis.keypoints import KEYPOINT_COLOR, LIMB_COLOR, UNUSED_COLOR


def test_dots_rings_and_edges() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    points = np.full((1, 17, 2), np.nan)
    points[0, 13] = [40.0, 60.0]  # left knee
    points[0, 15] = [40.0, 100.0]  # left ankle: edge (15, 13) is in COCO's skeleton
    points[0, 11] = [100.0, 30.0]  # left hip, not used
    used = np.zeros((1, 17), bool)
    used[0, [13, 15]] = True
    out = draw_keypoints(image, points, used, radius=3)
    assert not image.any()  # drawn on a copy
    np.testing.assert_array_equal(out[60, 40], KEYPOINT_COLOR)
    np.testing.assert_array_equal(out[100, 40], KEYPOINT_COLOR)
    np.testing.assert_array_equal(out[80, 40], LIMB_COLOR)  # half-way along the knee-ankle edge
    assert out[30, 100].max() < 30  # a ring: its centre stays dark ...
    assert (out[25:36, 95:106] == UNUSED_COLOR).all(axis=-1).sum() >= 8  # ... around it the grey ring
    assert not out[:, 50:90].any() and not out[40:50, :].any()  # no edge to the unused hip, NaNs not drawn
    with pytest.raises(ValueError, match="need points"):
        draw_keypoints(image, points[:, :5], used[:, :5])
