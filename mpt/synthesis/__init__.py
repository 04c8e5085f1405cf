"""Pre-training inputs without images: Gaussian keypoint heatmaps or person masks from posed, filmed SMPL bodies."""

from mpt.synthesis.heatmaps import crop_to_map, gaussian_heatmaps, heatmap_peaks, inside_map, person_heatmaps
from mpt.synthesis.masking import keep_masks, mask_joints
from mpt.synthesis.masks import barycentric_grid, rasterize_mask
from mpt.synthesis.pipeline import SynthesisOptions, Synthesizer, ViewParams

__all__ = [
    "SynthesisOptions", "Synthesizer", "ViewParams", "barycentric_grid", "crop_to_map", "gaussian_heatmaps",
    "heatmap_peaks", "inside_map", "keep_masks", "mask_joints", "person_heatmaps", "rasterize_mask",
]  # fmt: skip
