"""Person boxes and pose maps from 2D keypoints, drawn exactly as pre-training draws them.

Pre-training (mpt.synthesis.Synthesizer.render) frames a body with the square box around its projected vertices'
extent, ``input.crop_scale`` times the extent's longer side, and draws each seen keypoint's Gaussian with
mpt.synthesis.heatmaps.person_heatmaps at ``input.size`` with ``input.sigma``; a keypoint that is not seen, or
whose map masked heatmap modeling removed, gets an all-zero map. Lifting does the same with a detector's
keypoints (all on the keypoints' device, batched):

- box: with a person box ``[x, y, w, h]`` (a tight box, about the silhouette's): its centre, ``crop_scale`` x its
  longer side (mpt.inference.inputs.crop_boxes, the image crop's rule). Without one: the silhouette is larger than the
  keypoints' extent (head top, feet and hands reach beyond them), so the square box around the confident
  keypoints' extent is ``box_factor`` x its longer side (the measured silhouette / keypoint ratio, see
  ``keypoint_box_factor`` in mpt.config.schema.InferConfig), then x ``crop_scale``;
- maps: keypoints scoring at least ``min_score`` get their Gaussian, the others a blank map (as masked heatmap
  modeling blanks a removed keypoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from mpt.errors import MptError
from mpt.geometry.crop import bbox_from_points
from mpt.inference.inputs import crop_boxes
from mpt.inference.keypoints import NUM_KEYPOINTS
from mpt.synthesis.heatmaps import person_heatmaps

__all__ = ["LiftOptions", "confident", "keypoint_boxes", "keypoint_maps"]


@dataclass(frozen=True)
class LiftOptions:
    """How keypoints become maps: the export's map geometry (size, sigma, crop_scale) and the lifting thresholds."""

    size: int  # map side, pixels (input.size)
    sigma: float  # Gaussian sigma at that size (input.sigma)
    crop_scale: float  # box side / silhouette extent (input.crop_scale)
    min_score: float = 0.3  # keypoints scoring below get a blank map
    min_keypoints: int = 12  # people with fewer confident keypoints are skipped
    box_factor: float = 1.0  # silhouette extent / keypoint extent, for people without a box

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_score) and self.min_score >= 0):
            raise MptError(f"min_keypoint_score must be a number >= 0, got {self.min_score}")
        if not 1 <= self.min_keypoints <= NUM_KEYPOINTS:
            raise MptError(f"min_keypoints must be in 1..{NUM_KEYPOINTS}, got {self.min_keypoints}")
        if not (math.isfinite(self.box_factor) and self.box_factor > 0):
            raise MptError(f"keypoint_box_factor must be > 0, got {self.box_factor}")

    @classmethod
    def from_configs(cls, cfg: Any, model_cfg: Any, source: str) -> LiftOptions:
        """Map geometry from the model's ``input`` node (the export's), thresholds from the command's config;
        ``source`` names the export in the error for a model that does not read keypoint heatmaps."""
        inp = model_cfg.input
        if inp.kind != "heatmap":
            raise MptError(f"{source} reads {inp.kind} maps (input.kind={inp.kind}); lifting 2D keypoints draws "
                           "keypoint heatmaps, so it needs a model trained on them (input=heatmap)")  # fmt: skip
        return cls(size=int(inp.size), sigma=float(inp.sigma), crop_scale=float(inp.crop_scale),
                   min_score=float(cfg.min_keypoint_score), min_keypoints=int(cfg.min_keypoints),
                   box_factor=float(cfg.get("keypoint_box_factor", 1.0)))  # fmt: skip


def confident(keypoints: torch.Tensor, min_score: float) -> torch.Tensor:
    """(B, 17, 3) [x, y, score] -> (B, 17) bool: score >= min_score (the keypoints whose maps are drawn)."""
    return keypoints[..., 2] >= min_score


def keypoint_boxes(keypoints: torch.Tensor, bbox: torch.Tensor, opt: LiftOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop boxes (module docstring): (B, 17, 3) keypoints and (B, 4) COCO boxes, NaN rows for people without one
    -> centres (B, 2) and sides (B,) in image pixels. Every person needs a confident keypoint."""
    from_points = bbox_from_points(keypoints[..., :2], confident(keypoints, opt.min_score),
                                   scale=opt.box_factor * opt.crop_scale)  # fmt: skip
    given = torch.isfinite(bbox).all(dim=-1)  # (B,)
    from_box = crop_boxes(torch.where(given[:, None], bbox, torch.ones_like(bbox)), opt.crop_scale)
    center = torch.where(given[:, None], from_box[0], from_points[0])
    return center, torch.where(given, from_box[1], from_points[1])


def keypoint_maps(keypoints: torch.Tensor, center: torch.Tensor, side: torch.Tensor, opt: LiftOptions,
                  out: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Pre-training's heatmaps of (B, 17, 3) keypoints in boxes (B, 2), (B,): (B, 17, size, size), blank where the
    score is below ``min_score`` (person_heatmaps, the function pre-training draws with)."""
    drawn = confident(keypoints, opt.min_score)
    return person_heatmaps(keypoints[..., :2], center, side, drawn, opt.size, opt.sigma, out=out)[0]
