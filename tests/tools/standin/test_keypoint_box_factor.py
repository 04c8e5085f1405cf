"""The keypoint_box_factor default is what tools/standin/keypoint_box_factor.py measures on the demo data."""

from __future__ import annotations

import numpy as np
import pytest

from mpt.config.schema import InferConfig
from mpt.data.motion_cache import MotionCache
from tools.standin.keypoint_box_factor import box_ratios


def test_the_default_is_the_measured_median(demo_body, demo_cache) -> None:
    ratio, offset = box_ratios(demo_body, [MotionCache(demo_cache, "train"), MotionCache(demo_cache, "val")])
    assert len(ratio) == 4 * (len(MotionCache(demo_cache, "train")) + len(MotionCache(demo_cache, "val")))
    assert np.median(ratio) == pytest.approx(InferConfig.keypoint_box_factor, abs=0.005)
    assert (ratio > 1).all()  # the silhouette always reaches beyond the keypoints
    assert np.abs(np.median(offset, axis=0)).max() < 0.01  # and about as far on either side

