"""HigherHRNet (Cheng et al., CVPR 2020): the bottom-up 2D pose network MPT reads its heatmaps from.

Module names and nesting follow the official implementation so that the public COCO checkpoints
(pose_higher_hrnet_w32_512.pth, pose_higher_hrnet_w48_640.pth) load with ``strict=True``:
conv1/bn1/conv2/bn2 stem, layer1, transition1..3, stage2..4 (``branches`` + ``fuse_layers``),
final_layers.{0,1}, deconv_layers.0.{0: ConvTranspose2d+BN+ReLU, 1..4: BasicBlock}.
Source of names and numbers: HRNet/HigherHRNet-Human-Pose-Estimation, lib/models/pose_higher_hrnet.py and
experiments/coco/higher_hrnet/{w32_512,w48_640}_adam_lr1e-3.yaml; inference aggregation from lib/core/inference.py
(get_multi_stage_outputs + aggregate_results with TEST.PROJECT2IMAGE True).

Inputs are RGB images normalised with the ImageNet mean/std (tools/valid.py of the same repository).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from mpt.body.joints import COCO_FLIP_INDEX

from .common import check_images, official_init_

# Stem output channels (STEM_INPLANES 64) and layer1 = 4 Bottlenecks of 64 planes -> 256 channels.
_STEM_CHANNELS = 64
_LAYER1_BLOCKS = 4
# The deepest branch runs at 1/32 of the input, so H and W must be multiples of 32 for the fuse sums to line up.
INPUT_MULTIPLE = 32


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage: ``num_modules`` HighResolutionModules with one branch per entry of ``channels``."""

    num_modules: int
    num_blocks: tuple[int, ...]  # BasicBlocks per branch
    channels: tuple[int, ...]  # channels per branch, highest resolution first


def higherhrnet_stages(width: int) -> tuple[StageSpec, StageSpec, StageSpec]:
    """Stages 2-4 of HRNet-W``width`` (EXTRA.STAGE2..4 of the official w32/w48 configs; BASIC blocks, FUSE SUM)."""
    if width <= 0:
        raise ValueError(f"HRNet width must be positive (32 or 48 for the public checkpoints), got {width}")
    w = width
    return (
        StageSpec(1, (4, 4), (w, 2 * w)),
        StageSpec(4, (4, 4, 4), (w, 2 * w, 4 * w)),
        StageSpec(3, (4, 4, 4, 4), (w, 2 * w, 4 * w, 8 * w)),
    )


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    """Conv (no bias) + BN (+ ReLU), the unit of HRNet transitions and fuse layers."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by the all-to-all fusion (sum) of HRNet."""

    def __init__(self, num_blocks: tuple[int, ...], channels: tuple[int, ...], multi_scale_output: bool) -> None:
        super().__init__()
        if len(num_blocks) != len(channels) or len(channels) < 2:
            raise ValueError(f"need >= 2 branches with one block count each, got {num_blocks} / {channels}")
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, c) for _ in range(n))) for n, c in zip(num_blocks, channels)
        )
        num_out = len(channels) if multi_scale_output else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fuse(channels, j, i) for j in range(len(channels))) for i in range(num_out)
        )
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fuse(channels: tuple[int, ...], j: int, i: int) -> nn.Module | None:
        """Map branch j onto branch i: 1x1 conv + nearest upsample (j > i), identity (None), or 3x3 s2 convs."""
        if j == i:
            return None
        if j > i:
            return nn.Sequential(
                nn.Conv2d(channels[j], channels[i], 1, 1, 0, bias=False),
                nn.BatchNorm2d(channels[i]),
                nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
            )
        steps = i - j  # each 3x3 stride-2 conv halves the resolution; only the last one changes channels
        return nn.Sequential(
            *(
                _conv_bn(channels[j], channels[i] if k == steps - 1 else channels[j], 3, 2, relu=k < steps - 1)
                for k in range(steps)
            )
        )

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, fuse in enumerate(self.fuse_layers):
            y = xs[i]
            for j, layer in enumerate(fuse):
                if j != i:
                    y = y + layer(xs[j])
            out.append(self.relu(y))
        return out


def _transition(prev: tuple[int, ...], cur: tuple[int, ...]) -> nn.ModuleList:
    """Channel adapters between stages; a new (lower-resolution) branch comes from the last previous branch."""
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(prev):
            layers.append(_conv_bn(prev[i], c, 3, 1, relu=True) if prev[i] != c else None)
        else:
            extra = i + 1 - len(prev)
            layers.append(
                nn.Sequential(
                    *(_conv_bn(prev[-1], c if k == extra - 1 else prev[-1], 3, 2, relu=True) for k in range(extra))
                )
            )
    return nn.ModuleList(layers)


class HigherHRNet(nn.Module):
    """HigherHRNet-W``width``: 1/4-res heatmaps + tag maps, and 1/2-res heatmaps from one deconv stage.

    ``forward(x)`` returns ``[y0 (B, J + T, H/4, W/4), y1 (B, J, H/2, W/2)]`` with T = J tag maps when
    ``tag_per_joint`` (else 1). ``heatmaps(x, out_size)`` gives the J keypoint maps at ``out_size`` the way the
    official inference does.
    """

    def __init__(self, width: int = 48, num_joints: int = 17, tag_per_joint: bool = True) -> None:
        super().__init__()
        if num_joints <= 0:
            raise ValueError(f"num_joints must be positive (17 for COCO checkpoints), got {num_joints}")
        self.width = width
        self.num_joints = num_joints
        stages = higherhrnet_stages(width)

        # Stem: two 3x3 stride-2 convs -> 1/4 resolution, then layer1 (64 planes x expansion 4 = 256 channels).
        self.conv1 = nn.Conv2d(3, _STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(_STEM_CHANNELS)
        self.conv2 = nn.Conv2d(_STEM_CHANNELS, _STEM_CHANNELS, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(_STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        layer1_out = _STEM_CHANNELS * Bottleneck.expansion
        downsample = nn.Sequential(
            nn.Conv2d(_STEM_CHANNELS, layer1_out, 1, bias=False), nn.BatchNorm2d(layer1_out)
        )
        self.layer1 = nn.Sequential(
            Bottleneck(_STEM_CHANNELS, _STEM_CHANNELS, downsample=downsample),
            *(Bottleneck(layer1_out, _STEM_CHANNELS) for _ in range(_LAYER1_BLOCKS - 1)),
        )

        prev: tuple[int, ...] = (layer1_out,)
        for k, spec in enumerate(stages, start=2):
            last = k == 4  # stage 4 ends with a module that outputs only the highest-resolution branch
            setattr(self, f"transition{k - 1}", _transition(prev, spec.channels))
            modules = [
                HighResolutionModule(spec.num_blocks, spec.channels, not (last and m == spec.num_modules - 1))
                for m in range(spec.num_modules)
            ]
            setattr(self, f"stage{k}", nn.Sequential(*modules))
            prev = spec.channels

        # Head (EXTRA.DECONV: 1 deconv, CAT_OUTPUT True, kernel 4 / padding 1 / output_padding 0, 4 BasicBlocks).
        c = width
        tag_channels = num_joints if tag_per_joint else 1
        out0 = num_joints + tag_channels  # WITH_AE_LOSS [True, False]
        self.final_layers = nn.ModuleList([nn.Conv2d(c, out0, 1), nn.Conv2d(c, num_joints, 1)])
        deconv = nn.Sequential(
            nn.ConvTranspose2d(c + out0, c, 4, stride=2, padding=1, output_padding=0, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        self.deconv_layers = nn.ModuleList(
            [nn.Sequential(deconv, *(nn.Sequential(BasicBlock(c, c)) for _ in range(4)))]
        )
        official_init_(self.modules())  # official from-scratch init (pose_higher_hrnet.py)

    @staticmethod
    def _run_stage(transition: nn.ModuleList, stage: nn.Sequential, ys: list[Tensor]) -> list[Tensor]:
        """Apply a transition (new branches from the last, lowest-resolution input) and then the stage."""
        xs = [
            ys[i] if t is None else t(ys[i] if i < len(ys) else ys[-1])
            for i, t in enumerate(transition)
        ]
        return stage(xs)

    def forward(self, x: Tensor) -> list[Tensor]:
        check_images(x, INPUT_MULTIPLE, "HigherHRNet")
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]  # (B, 256, H/4, W/4)
        ys = self._run_stage(self.transition1, self.stage2, ys)
        ys = self._run_stage(self.transition2, self.stage3, ys)
        ys = self._run_stage(self.transition3, self.stage4, ys)
        feat = ys[0]  # (B, C, H/4, W/4)
        y0 = self.final_layers[0](feat)  # (B, J + T, H/4, W/4)
        feat = self.deconv_layers[0](torch.cat((feat, y0), dim=1))  # (B, C, H/2, W/2)
        y1 = self.final_layers[1](feat)  # (B, J, H/2, W/2)
        return [y0, y1]

    def heatmaps(self, x: Tensor, out_size: int, flip: bool = False) -> Tensor:
        """Keypoint heatmaps (B, J, out_size, out_size) aggregated as HigherHRNet's inference does.

        The J heatmap channels of the 1/4 output are resized bilinearly (align_corners=False) to the 1/2 output's
        size and averaged with it; the average is then resized bilinearly to ``out_size`` (PROJECT2IMAGE).
        With ``flip`` the same is done for the mirrored image, whose maps are mirrored back, their left/right
        joints swapped (COCO order) and averaged with the first (TEST.FLIP_TEST).
        """
        if out_size <= 0:
            raise ValueError(f"out_size must be positive, got {out_size}")
        maps = self._aggregate(self(x))
        if flip:
            if self.num_joints != len(COCO_FLIP_INDEX):
                raise ValueError(f"flip test needs the 17 COCO joints, this model has {self.num_joints}")
            flipped = self._aggregate(self(torch.flip(x, dims=[3])))
            flipped = torch.flip(flipped, dims=[3])[:, list(COCO_FLIP_INDEX)]
            maps = 0.5 * (maps + flipped)
        return F.interpolate(maps, size=(out_size, out_size), mode="bilinear", align_corners=False)

    def _aggregate(self, outputs: list[Tensor]) -> Tensor:
        """Average of the 1/4 heatmaps (upsampled) and the 1/2 heatmaps: (B, J, H/2, W/2)."""
        y0, y1 = outputs
        up = F.interpolate(y0[:, : self.num_joints], size=y1.shape[-2:], mode="bilinear", align_corners=False)
        return 0.5 * (up + y1)
