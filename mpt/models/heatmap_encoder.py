"""Heatmap encoder: 17 keypoint heatmaps (or a 1-channel binary mask) -> global feature + optional grid tokens.

What: a small ResNet-style CNN. A stem of stride-2 3x3 conv + norm + ReLU layers brings the ``in_size`` input
(56, 112 or 224) down to ``base_size`` (28): log2(in_size / 28) layers, so 3 at 224, 2 at 112, 1 at 56, with
channels doubling towards ``stem_channels``. Then residual stages of torchvision ``BasicBlock`` s (default widths
64 / 128 / 256, strides 1 / 2 / 2, two blocks each) reach a 7x7 map. The global feature (B, feature_dim) is the
average-pooled map through a linear layer (``pool="avg"``), or a 1x1 reduction of the 7x7 map flattened through
a linear layer (``pool="flatten"``, keeps the spatial layout in the vector). Grid tokens (B, grid_size^2,
C_last) are the final map pooled to ``grid_size`` x ``grid_size`` (0 disables them).

Why: the MPT paper does not specify its encoder. Pose heatmaps are smooth, sparse blobs (one per joint) whose
information is where the peaks are; a strided stem removes the empty resolution cheaply while the channels keep
sub-cell position, and a 7x7 grid matches METRO's 49 grid tokens. At 224 this costs 0.76 GFLOPs per sample
(torch FlopCounterMode; 0.66 at 56), about 1.6% of the 48.5 GFLOPs of the default mesh transformer forward
(same counter; a bound is checked in tests/models/test_heatmap_encoder.py), so it never dominates; 3.3M
parameters (6.0M with ``pool="flatten"``). BatchNorm is the default (per-GPU batches of 30+); ``norm="group"``
suits small batches.

Sizes: the stem depth depends on ``in_size``, so a model is built for one heatmap size (the paper's 224-vs-112
comparison trains separate models). The same weights still accept the other sizes: an input of another size is
resized to ``in_size`` first (area averaging down, bilinear up). Gaussians are drawn with sigma proportional to the
map size (configs/input: 8 px at 224, 4 at 112, 2 at 56), so a resized map matches the one drawn at ``in_size``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock


def _norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """Norm constructor taking a channel count: BatchNorm2d or GroupNorm (8 groups, or fewer for thin layers)."""
    if kind == "batch":
        return nn.BatchNorm2d
    if kind == "group":
        return lambda c: nn.GroupNorm(math.gcd(8, c), c)
    raise ValueError(f"norm must be 'batch' or 'group', got {kind!r}")


class HeatmapEncoder(nn.Module):
    """(B, in_channels, S, S) heatmaps/mask -> (feature (B, feature_dim), grid (B, G, grid_dim) or None)."""

    def __init__(
        self, in_channels: int = 17, in_size: int = 224, base_size: int = 28, stem_channels: int = 64,
        stage_channels: Sequence[int] = (64, 128, 256), blocks_per_stage: Sequence[int] = (2, 2, 2),
        feature_dim: int = 2048, grid_size: int = 7, pool: str = "avg", flatten_channels: int = 32,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        ratio = in_size / base_size
        if in_size < base_size or ratio != 2 ** round(math.log2(ratio)):
            raise ValueError(f"in_size {in_size} must be base_size {base_size} times a power of two (e.g. 56/112/224)")
        if len(stage_channels) != len(blocks_per_stage) or not stage_channels:
            raise ValueError("stage_channels and blocks_per_stage need one entry per stage")
        if pool not in ("avg", "flatten"):
            raise ValueError(f"pool must be 'avg' or 'flatten', got {pool!r}")
        self.in_channels, self.in_size = in_channels, in_size
        self.feature_dim, self.grid_size = feature_dim, grid_size
        self.grid_dim = stage_channels[-1] if grid_size else 0
        self.num_grid_tokens = grid_size * grid_size
        norm_layer = _norm_layer(norm)

        n_down = int(round(math.log2(ratio)))
        stem: list[nn.Module] = []
        c_in = in_channels
        for i in range(n_down):  # widths ..., stem/4, stem/2, stem
            c_out = max(stem_channels // 2 ** (n_down - 1 - i), 16)
            stem += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), norm_layer(c_out), nn.ReLU(True)]
            c_in = c_out
        self.stem = nn.Sequential(*stem)

        stages: list[nn.Module] = []
        for i, (c_out, n_blocks) in enumerate(zip(stage_channels, blocks_per_stage, strict=True)):
            stride = 1 if i == 0 else 2
            for j in range(n_blocks):
                s = stride if j == 0 else 1
                down = None
                if s != 1 or c_in != c_out:
                    down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=s, bias=False), norm_layer(c_out))
                stages.append(BasicBlock(c_in, c_out, stride=s, downsample=down, norm_layer=norm_layer))
                c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.final_size = base_size // 2 ** (len(stage_channels) - 1)

        if pool == "avg":
            self.reduce = None
            self.project = nn.Linear(c_in, feature_dim)
        else:
            self.reduce = nn.Sequential(nn.Conv2d(c_in, flatten_channels, 1, bias=False),
                                        norm_layer(flatten_channels), nn.ReLU(True))
            self.project = nn.Linear(flatten_channels * self.final_size ** 2, feature_dim)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _resize(self, x: Tensor) -> Tensor:
        """Bring (B, C, S, S) to ``in_size``: area averaging when shrinking, bilinear when enlarging."""
        s = x.shape[-1]
        if s == self.in_size:
            return x
        if s > self.in_size:
            return F.interpolate(x, size=(self.in_size, self.in_size), mode="area")
        return F.interpolate(x, size=(self.in_size, self.in_size), mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Encode heatmaps; returns the global feature and the grid tokens (None when grid_size == 0)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] != x.shape[3]:
            raise ValueError(f"heatmap encoder expects square (B, {self.in_channels}, S, S) input, "
                             f"got {tuple(x.shape)}")
        fmap = self.stages(self.stem(self._resize(x)))  # (B, C_last, 7, 7) at the defaults
        if self.reduce is None:
            feature = self.project(fmap.mean(dim=(2, 3)))
        else:
            feature = self.project(self.reduce(fmap).flatten(1))
        grid = None
        if self.grid_size:
            g = fmap if fmap.shape[-1] == self.grid_size else F.adaptive_avg_pool2d(fmap, self.grid_size)
            grid = g.flatten(2).transpose(1, 2)  # (B, G, C_last)
        return feature, grid
