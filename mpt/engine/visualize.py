"""``mpt-eval vis=N``: the first N evaluation crops with the predicted mesh drawn over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpt.data.image_dataset import IMAGENET_MEAN, IMAGENET_STD
from mpt.inference import render_people, write_png


@torch.no_grad()
def write_overlays(model: torch.nn.Module, dataset: Any, body: Any, out_dir: Path, n: int,
                   device: torch.device) -> list[Path]:  # fmt: skip
    """Render the predicted mesh over the first ``n`` crops of ``dataset`` (crop | overlay); PNG paths written."""
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    faces = body.faces.cpu()
    written = []
    model.eval()
    for i in range(min(n, len(dataset))):
        item = dataset[i]
        pred = model(item["image"][None].to(device))
        size = item["image"].shape[-1]
        crop = ((item["image"].permute(1, 2, 0).numpy() * std + mean) * 255).clip(0, 255).astype(np.uint8)
        # The crop is its own image: centre (size - 1) / 2 and side size make the inverse crop the identity.
        center, side = torch.full((1, 2), (size - 1) / 2), torch.full((1,), float(size))
        overlay = render_people(crop, pred["vertices"].float().cpu(), pred["camera"].float().cpu(), center, side,
                                faces)  # fmt: skip
        path = out_dir / f"{i:04d}_{Path(dataset.image_name(i)).stem}.png"
        write_png(path, np.concatenate([crop, overlay], axis=1))
        written.append(path)
    return written
