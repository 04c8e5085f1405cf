"""``mpt-eval vis=N``: the first N evaluation crops with the predicted mesh drawn over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from mpt.data.image_dataset import IMAGENET_MEAN, IMAGENET_STD
from mpt.geometry.crop import normalized_to_crop
from mpt.vis import render_mesh


def crop_mesh_pixels(vertices: torch.Tensor, camera: torch.Tensor, crop_size: int) -> torch.Tensor:
    """(V, 3) predicted vertices + weak-perspective (s, tx, ty) -> (V, 3) crop pixels x, y and depth in pixels."""
    s = camera[0]
    xy = normalized_to_crop(s * (vertices[:, :2] + camera[1:]), crop_size)
    z = vertices[:, 2] * s * crop_size / 2  # the renderer wants depth in the same pixel units as x, y
    return torch.cat([xy, z[:, None]], dim=1)


@torch.no_grad()
def write_overlays(model: torch.nn.Module, dataset: Any, body: Any, out_dir: Path, n: int,
                   device: torch.device) -> list[Path]:  # fmt: skip
    """Render the predicted mesh over the first ``n`` crops of ``dataset``; PNG paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    faces = body.faces.cpu().numpy()
    written = []
    model.eval()
    for i in range(min(n, len(dataset))):
        item = dataset[i]
        pred = model(item["image"][None].to(device))
        size = item["image"].shape[-1]
        crop = ((item["image"].permute(1, 2, 0).numpy() * std + mean) * 255).clip(0, 255).astype(np.uint8)
        verts = crop_mesh_pixels(pred["vertices"][0].float().cpu(), pred["camera"][0].float().cpu(), size)
        overlay = render_mesh(crop, verts.numpy(), faces)
        path = out_dir / f"{i:04d}_{Path(dataset.image_name(i)).stem}.png"
        cv2.imwrite(str(path), np.concatenate([crop, overlay], axis=1)[:, :, ::-1])
        written.append(path)
    return written
