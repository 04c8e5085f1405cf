"""SimpleBaseline (Xiao et al., ECCV 2018) pose ResNet: the ablation backbone of MPT.

A torchvision ResNet trunk (no avgpool / fc) followed by three ConvTranspose2d(k4, s2, p1, no bias) + BN + ReLU
layers of 256 channels (EXTRA.NUM_DECONV_FILTERS, a constructor value here as in the official configs) and a 1x1
conv to J heatmaps at 1/4 of the input resolution. Attribute names (conv1, bn1,
layer1..4, deconv_layers.N, final_layer) match leoxiaobin/deep-high-resolution-net.pytorch lib/models/pose_resnet.py
so its COCO checkpoints (e.g. pose_resnet_101_256x192.pth) load strictly; head numbers from
experiments/coco/resnet/res101_256x192_d256x3_adam_lr1e-3.yaml (NUM_DECONV_FILTERS [256,256,256], kernels 4,
DECONV_WITH_BIAS false, FINAL_CONV_KERNEL 1). Inputs are ImageNet-normalised RGB images.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from .common import check_images, official_init_

# Blocks per stage (pose_resnet.py resnet_spec, identical to torchvision's ResNet definitions).
RESNET_SPEC: dict[int, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}
DECONV_CHANNELS = 256  # NUM_DECONV_FILTERS of every official COCO config
NUM_DECONV_LAYERS = 3


class PoseResNet(nn.Module):
    """SimpleBaseline pose network: ``forward(x (B,3,H,W)) -> (B, J, H/4, W/4)`` heatmaps (H, W multiples of 32)."""

    def __init__(self, num_layers: int = 101, num_joints: int = 17, deconv_filters: int = DECONV_CHANNELS) -> None:
        super().__init__()
        if num_layers not in RESNET_SPEC:
            raise ValueError(f"num_layers must be one of {sorted(RESNET_SPEC)}, got {num_layers}")
        if num_joints <= 0:
            raise ValueError(f"num_joints must be positive (17 for COCO checkpoints), got {num_joints}")
        if deconv_filters <= 0:
            raise ValueError(f"deconv_filters must be positive (256 in the official configs), got {deconv_filters}")
        self.num_layers = num_layers
        self.num_joints = num_joints
        self.deconv_filters = deconv_filters
        block, layers = RESNET_SPEC[num_layers]
        trunk = ResNet(block, layers)  # randomly initialised (kaiming); weights come from a checkpoint
        # Keep the trunk's modules under the official names; avgpool and fc are not part of the pose network.
        self.conv1, self.bn1, self.relu, self.maxpool = trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4

        head: list[nn.Module] = []
        cin = 512 * block.expansion
        for _ in range(NUM_DECONV_LAYERS):
            head += [
                nn.ConvTranspose2d(cin, deconv_filters, 4, stride=2, padding=1, output_padding=0, bias=False),
                nn.BatchNorm2d(deconv_filters),
                nn.ReLU(inplace=True),
            ]
            cin = deconv_filters
        self.deconv_layers = nn.Sequential(*head)
        self.final_layer = nn.Conv2d(deconv_filters, num_joints, 1)
        official_init_([*self.deconv_layers, self.final_layer])  # head init of pose_resnet.py init_weights

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, 32, "PoseResNet")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512 * expansion, H/32, W/32)
        return self.final_layer(self.deconv_layers(x))  # (B, J, H/4, W/4)

    def heatmaps(self, x: Tensor, out_size: int) -> Tensor:
        """The 1/4-resolution heatmaps resized bilinearly (align_corners=False) to (B, J, out_size, out_size)."""
        if out_size <= 0:
            raise ValueError(f"out_size must be positive, got {out_size}")
        return F.interpolate(self(x), size=(out_size, out_size), mode="bilinear", align_corners=False)
