"""Pieces both pose backbones share: the input check and the official from-scratch initialisation."""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn


def check_images(x: Tensor, multiple: int, owner: str) -> None:
    """Raise a ValueError unless ``x`` is a float (B, 3, H, W) batch with H, W multiples of ``multiple``."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{owner} expects images of shape (B, 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{owner} expects a floating-point image batch (ImageNet-normalised), got {x.dtype}")
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"{owner} needs H and W divisible by {multiple}, got {h}x{w}; resize or pad the crop (e.g. 224, 256, 512)"
        )


def official_init_(modules: Iterable[nn.Module]) -> None:
    """The official repos' init: conv / deconv weights N(0, 0.001), biases 0, BatchNorm weight 1 and bias 0."""
    for m in modules:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
