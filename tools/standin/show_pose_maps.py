"""The paper's Figure 2 (supplement, "visualization of pose feature maps"): the pose network's 17 keypoint maps
before fine-tuning (its COCO keypoint weights) and after (the backbone of the fine-tuned model), one PNG per image.

    python -m tools.standin.show_pose_maps --checkpoint outputs/demo/finetune --tsv data/demo/tsv/human3.6m \
        --split valid_protocol2 --out outputs/demo/pose_maps [--images 4] [--before <COCO weights .pth>]

``--checkpoint`` is an export of mpt-finetune (its ``backbone.*`` weights are the fine-tuned network); ``--before``
defaults to the ``backbone.weights`` the run was initialised from (recorded in the export's config.yaml) and is
loaded strictly, as fine-tuning loaded it. The images are ``--images`` crops spread evenly over the set, cut as
evaluation cuts them (no augmentation).

Each PNG has two blocks, before (top) and after (bottom), of 3 x 6 panels: the crop, then each COCO keypoint's map
(``heatmaps(x, crop)``: the maps MPT reads, at the crop's resolution) over the grey crop. Within a block the colours
share one scale, 0 to the largest value of the block's 17 maps (negative values are shown as 0), so the panels
compare within a network. The supplement observes that fine-tuned maps come to respond to several joints each: the
lower block of a fine-tuned model shows whether that happens in one's own run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import OmegaConf
from torch import nn

from mpt.body.joints import COCO_KEYPOINT_NAMES
from mpt.data.image_dataset import IMAGENET_MEAN, IMAGENET_STD, MeshTSVDataset
from mpt.engine.builders import build_backbone
from mpt.engine.checkpoint import Export, load_exported
from mpt.errors import MptError
from mpt.inference.inputs import CROP_SIZE
from mpt.inference.outputs import write_png

__all__ = ["main", "pose_map_figure", "show_pose_maps"]

PANEL = 128  # side of one panel in pixels
COLUMNS = 6
TITLE_H = 26
_PREFIX = "backbone."


def _backbones(export: Export, before: str | Path | None) -> tuple[nn.Module, nn.Module, Path]:
    """(network with the COCO weights, fine-tuned network, the COCO weights file) of an export, in eval mode."""
    cfg = export.config
    if cfg.backbone.name == "none" or not any(k.startswith(_PREFIX) for k in export.state):
        raise MptError(f"{export.folder} holds no pose network (a pre-training export?); give an export of "
                       "mpt-finetune")  # fmt: skip
    weights = before if before is not None else cfg.backbone.get("weights")
    if weights is None:
        raise MptError(f"{export.folder / 'config.yaml'} records no backbone.weights (the run started from random "
                       "pose-network weights); give the weights to compare with: --before <COCO weights .pth>")
    if not Path(weights).is_file():
        raise MptError(f"pose-network weights {weights} not found (from {'--before' if before else 'the export'}"
                       "); give the file with --before")  # fmt: skip
    first = build_backbone(OmegaConf.merge(cfg, {"backbone": {"weights": str(weights)}}))  # strictly, as fine-tuning
    tuned = build_backbone(OmegaConf.merge(cfg, {"backbone": {"weights": None}}))
    tuned.load_state_dict({k[len(_PREFIX):]: v for k, v in export.state.items() if k.startswith(_PREFIX)})
    return first.eval(), tuned.eval(), Path(weights)


def _crop_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, S, S) ImageNet-normalised -> (S, S, 3) uint8 RGB."""
    rgb = image.permute(1, 2, 0).numpy() * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN)
    return np.clip(rgb * 255, 0, 255).astype(np.uint8)


def _block(crop: np.ndarray, maps: np.ndarray, title: str) -> np.ndarray:
    """One network's panels: the crop and its 17 maps (J, S, S) over the grey crop, on one colour scale."""
    grey = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    grey = cv2.resize(grey, (PANEL, PANEL), interpolation=cv2.INTER_AREA)
    top = max(float(maps.max()), 1e-12)
    panels = [cv2.resize(crop, (PANEL, PANEL), interpolation=cv2.INTER_AREA)]
    for name, m in zip(COCO_KEYPOINT_NAMES, maps, strict=True):
        level = np.clip(cv2.resize(m, (PANEL, PANEL), interpolation=cv2.INTER_AREA) / top, 0, 1)
        colour = cv2.cvtColor(cv2.applyColorMap(np.rint(level * 255).astype(np.uint8), cv2.COLORMAP_JET),
                              cv2.COLOR_BGR2RGB)  # fmt: skip
        alpha = (0.25 + 0.75 * level)[..., None]
        panel = np.rint(alpha * colour + (1 - alpha) * grey).astype(np.uint8)
        cv2.putText(panel, name, (3, PANEL - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(panel)
    rows = [np.concatenate(panels[r : r + COLUMNS], axis=1) for r in range(0, len(panels), COLUMNS)]
    grid = np.concatenate(rows, axis=0)
    header = np.full((TITLE_H, grid.shape[1], 3), 255, np.uint8)
    cv2.putText(header, title, (4, TITLE_H - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header, grid], axis=0)


@torch.no_grad()
def pose_map_figure(image: torch.Tensor, before: nn.Module, after: nn.Module, labels: tuple[str, str]) -> np.ndarray:
    """(H, W, 3) uint8 figure of one normalised crop (3, S, S): the maps of ``before`` above those of ``after``."""
    crop = _crop_rgb(image)
    size = image.shape[-1]
    blocks = [_block(crop, net.heatmaps(image[None], size)[0].float().numpy(), label)
              for net, label in zip((before, after), labels, strict=True)]  # fmt: skip
    return np.concatenate(blocks, axis=0)


def show_pose_maps(checkpoint: str | Path, tsv: str | Path, split: str, out: str | Path, images: int = 4,
                   before: str | Path | None = None) -> list[Path]:  # fmt: skip
    """Write one PNG per image into ``out`` (module docstring); returns their paths."""
    export = load_exported(checkpoint)
    first, tuned, weights = _backbones(export, before)
    dataset = MeshTSVDataset(tsv, split, train=False, img_size=CROP_SIZE)
    picks = sorted({round(float(i)) for i in np.linspace(0, len(dataset) - 1, max(1, min(images, len(dataset))))})
    labels = (f"before fine-tuning: {weights.name} (the pose network's COCO keypoint weights)",
              f"after fine-tuning: the backbone of {export.folder}")  # fmt: skip
    written = []
    for i in picks:
        path = Path(out) / f"{i:04d}_{Path(dataset.image_name(i)).stem}_pose_maps.png"
        write_png(path, pose_map_figure(dataset[i]["image"], first, tuned, labels))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="export folder of mpt-finetune")
    parser.add_argument("--tsv", required=True, help="folder of a METRO TSV image set")
    parser.add_argument("--split", default="valid_protocol2")
    parser.add_argument("--out", required=True, help="folder for the PNGs")
    parser.add_argument("--images", type=int, default=4, help="how many images, spread evenly over the set")
    parser.add_argument("--before", default=None, help="pose-network weights before fine-tuning (default: the "
                        "backbone.weights recorded in the export's config.yaml)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        written = show_pose_maps(args.checkpoint, args.tsv, args.split, args.out, args.images, args.before)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} pose-map figures to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
