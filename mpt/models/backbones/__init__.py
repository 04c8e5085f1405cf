"""2D pose backbones whose keypoint heatmaps feed MPT: HigherHRNet-W32/W48 and SimpleBaseline ResNet-101 / -18."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from .higherhrnet import COCO_FLIP_INDEX, HigherHRNet, StageSpec, higherhrnet_stages
from .simplebaseline import PoseResNet
from .weights import PoseWeightsError, PoseWeightsNotFound, count_parameters, load_pose_weights, read_state_dict

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "higherhrnet_w32": lambda **kw: HigherHRNet(width=32, **kw),
    "higherhrnet_w48": lambda **kw: HigherHRNet(width=48, **kw),
    "simplebaseline_r101": lambda **kw: PoseResNet(num_layers=101, **kw),
    "simplebaseline_r18": lambda **kw: PoseResNet(num_layers=18, **kw),
}
BACKBONES: tuple[str, ...] = tuple(_BUILDERS)

# ``backbone.weights`` value that asks for a randomly initialised pose network by name (never the silent default).
RANDOM_WEIGHTS = "random"

# The official COCO keypoint checkpoint of each paper backbone, as its model zoo names it: HigherHRNet's
# (HRNet/HigherHRNet-Human-Pose-Estimation README, models/pytorch/pose_coco/) and SimpleBaseline's
# (microsoft/human-pose-estimation.pytorch README, models/pytorch/pose_coco/). The stand-in ResNet-18 has none.
OFFICIAL_WEIGHTS: dict[str, str] = {
    "higherhrnet_w48": "pose_higher_hrnet_w48_640.pth.tar",
    "higherhrnet_w32": "pose_higher_hrnet_w32_512.pth",
    "simplebaseline_r101": "pose_resnet_101_256x192.pth.tar",
}


def build_backbone(name: str, weights: str | Path | None = None, **kw: object) -> nn.Module:
    """Build a pose backbone by config name and, if ``weights`` is given, load that official checkpoint strictly
    (``weights="random"``: keep the random initialisation, asked for by name).

    ``kw`` go to the constructor (e.g. ``num_joints``, or ``deconv_filters`` for SimpleBaseline); every backbone has
    ``heatmaps(x, out_size)``.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown pose backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    model = _BUILDERS[name](**kw)
    if weights is not None and str(weights) != RANDOM_WEIGHTS:
        load_pose_weights(model, weights)
    return model


__all__ = [
    "BACKBONES",
    "COCO_FLIP_INDEX",
    "HigherHRNet",
    "OFFICIAL_WEIGHTS",
    "PoseResNet",
    "PoseWeightsError",
    "PoseWeightsNotFound",
    "RANDOM_WEIGHTS",
    "StageSpec",
    "build_backbone",
    "count_parameters",
    "higherhrnet_stages",
    "load_pose_weights",
    "read_state_dict",
]
