"""Lifting's boxes and maps: bit-identical to pre-training's maps, blanking by score, boxes by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from mpt.errors import MptError
from mpt.geometry import virtual_cameras
from mpt.inference.maps import LiftOptions, keypoint_boxes, keypoint_maps
from mpt.synthesis import SynthesisOptions, Synthesizer
from tests.synthesis.test_heatmaps import full_grid_gaussian
from tests.synthesis.test_pipeline import cache_batch


@pytest.mark.parametrize("size,sigma", [(56, 2.0), (224, 8.0)])
def test_maps_equal_pretraining_maps_bit_for_bit(demo_body, size, sigma) -> None:
    """Pre-training's maps of 8 bodies (training draws: jittered boxes, masked heatmap modeling) against lifting's
    maps of the same keypoints in the same boxes, each keypoint scored 1 where pre-training drew it, else 0."""
    options = SynthesisOptions(size=size, sigma=sigma, mask_joint_ratio=0.2, mask_joint_count="exact")
    synth = Synthesizer(demo_body, virtual_cameras(8), options)
    out = synth(cache_batch(8, seed=3), torch.Generator().manual_seed(1), train=True)
    drawn = out["visible"] & out["kept"]
    assert (~out["kept"]).sum() == 8 * 3  # round(0.2 * 17) maps removed per body
    keypoints = torch.cat([out["keypoints_px"], drawn[..., None].float()], dim=-1)  # (8, 17, 3)
    opt = LiftOptions(size=size, sigma=sigma, crop_scale=1.2, min_score=0.5)
    maps = keypoint_maps(keypoints, out["box_center"], out["box_size"], opt)
    assert maps.dtype == out["inputs"].dtype and torch.equal(maps, out["inputs"])
    assert (maps.flatten(2).amax(-1) > 0.5).sum() == drawn.sum()  # the drawn maps are not blank


def test_scores_below_the_threshold_blank_exactly_those_maps() -> None:
    gen = torch.Generator().manual_seed(0)
    xy = 40 + 100 * torch.rand(5, 17, 2, generator=gen)  # image pixels inside the box below
    score = torch.rand(5, 17, 1, generator=gen)
    center, side = torch.full((5, 2), 90.0), torch.full((5,), 140.0)
    opt = LiftOptions(size=56, sigma=2.0, crop_scale=1.0, min_score=0.4)
    maps = keypoint_maps(torch.cat([xy, score], -1), center, side, opt)
    every = keypoint_maps(torch.cat([xy, torch.ones_like(score)], -1), center, side, opt)
    low = score[..., 0] < 0.4
    assert low.any() and (~low).any()
    assert not maps[low].any()  # all-zero maps, exactly those
    assert torch.equal(maps[~low], every[~low])
    # an independent reference for one map: the crop by hand (pixel centres at integers, box edges at the map's
    # outer edges), then the Gaussian on the full grid
    b, k = (~low).nonzero()[0].tolist()
    x, y = (56 / 140.0 * (xy[b, k] - 90.0) + 27.5).tolist()
    np.testing.assert_allclose(maps[b, k].numpy(), full_grid_gaussian(x, y, 56, 2.0), atol=1e-6)


def test_boxes_from_the_given_box_or_the_confident_keypoints() -> None:
    kp = torch.zeros(2, 17, 3)
    kp[:, :, :2] = torch.tensor([100.0, 200.0])
    kp[:, 0, :2] = torch.tensor([60.0, 120.0])  # the extent: x 60..100 (40), y 120..200 (80)
    kp[:, :, 2] = 0.9
    kp[:, 1] = torch.tensor([900.0, 900.0, 0.1])  # below min_score: not in the extent
    bbox = torch.tensor([[10.0, 20.0, 30.0, 50.0], [float("nan")] * 4])
    opt = LiftOptions(size=56, sigma=2.0, crop_scale=1.2, min_score=0.3, box_factor=1.1)
    center, side = keypoint_boxes(kp, bbox, opt)
    # COCO box [x, y, w, h] (pixel i covers [i, i + 1)): centre x + w / 2 - 0.5, side crop_scale x longer side
    np.testing.assert_allclose(center[0].numpy(), [24.5, 44.5], rtol=1e-6)
    assert float(side[0]) == pytest.approx(1.2 * 50)
    # no box: the confident keypoints' extent, its middle, box_factor x crop_scale x its longer side
    np.testing.assert_allclose(center[1].numpy(), [80.0, 160.0], rtol=1e-6)
    assert float(side[1]) == pytest.approx(1.1 * 1.2 * 80)


def test_options_come_from_the_export_and_are_checked() -> None:
    model = OmegaConf.create({"input": {"kind": "heatmap", "size": 112, "sigma": 4.0, "crop_scale": 1.0}})
    cmd = OmegaConf.create({"min_keypoint_score": 0.2, "min_keypoints": 10, "keypoint_box_factor": 1.11})
    opt = LiftOptions.from_configs(cmd, model, "the model m")
    assert (opt.size, opt.sigma, opt.crop_scale, opt.min_score, opt.min_keypoints, opt.box_factor) == (
        112, 4.0, 1.0, 0.2, 10, 1.11)  # fmt: skip
    model.input.kind = "mask"
    with pytest.raises(MptError, match="the model m reads mask maps"):
        LiftOptions.from_configs(cmd, model, "the model m")
    for bad in ({"min_score": -0.1}, {"min_keypoints": 0}, {"min_keypoints": 18}, {"box_factor": 0.0}):
        with pytest.raises(MptError):
            LiftOptions(size=56, sigma=2.0, crop_scale=1.0, **bad)
