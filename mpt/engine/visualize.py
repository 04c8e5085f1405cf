"""``mpt-eval vis=N``: the first N evaluation crops with the predicted mesh (and lifted 2D keypoints) over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpt.data.image_dataset import IMAGENET_MEAN, IMAGENET_STD
from mpt.inference.outputs import render_people, write_png
from mpt.vis import draw_keypoints


def crop_overlay(image: torch.Tensor, vertices: torch.Tensor, camera: torch.Tensor, faces: torch.Tensor,
                 keypoints: np.ndarray | None = None, used: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """An evaluation crop (3, S, S) normalised, and the mesh (1, V, 3) with its camera (1, 3) predicted for it ->
    (S, 2S, 3) uint8: the crop | the mesh over it, with 2D keypoints (1, 17, 2) crop pixels drawn when given."""
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    size = image.shape[-1]
    crop = ((image.permute(1, 2, 0).numpy() * std + mean) * 255).clip(0, 255).astype(np.uint8)
    # The crop is its own image: centre (size - 1) / 2 and side size make the inverse crop the identity.
    center, side = torch.full((1, 2), (size - 1) / 2), torch.full((1,), float(size))
    overlay = render_people(crop, vertices.float().cpu(), camera.float().cpu(), center, side, faces.cpu())
    if keypoints is not None:
        overlay = draw_keypoints(overlay, keypoints, used)
    return np.concatenate([crop, overlay], axis=1)


@torch.no_grad()
def write_overlays(model: torch.nn.Module, dataset: Any, body: Any, out_dir: Path, n: int,
                   device: torch.device) -> list[Path]:  # fmt: skip
    """Render the predicted mesh over the first ``n`` crops of ``dataset`` (crop | overlay); PNG paths written."""
    written = []
    model.eval()
    for i in range(min(n, len(dataset))):
        item = dataset[i]
        pred = model(item["image"][None].to(device))
        path = out_dir / f"{i:04d}_{Path(dataset.image_name(i)).stem}.png"
        write_png(path, crop_overlay(item["image"], pred["vertices"], pred["camera"], body.faces))
        written.append(path)
    return written
