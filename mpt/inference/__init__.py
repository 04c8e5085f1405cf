"""Mesh from any detector's 2D keypoints: zero-shot lifting with a pre-trained (or fine-tuned) MPT model.

Pre-training feeds the model Gaussian heatmaps drawn from the 17 COCO keypoints of a body seen by a virtual camera,
so the model turns 2D keypoints into a mesh without images. This package draws those heatmaps from the keypoints of
any COCO-17 detector (a COCO keypoint results file) or from an image set's 2D labels, exactly as pre-training draws
them (mpt.synthesis.heatmaps.person_heatmaps: same crop convention, sigma and size, read from the export's
``input`` config), and runs the export's encoder, transformer, upsampler and camera head (MPTModel.from_maps),
skipping any pose network:

  keypoints.py  the keypoints file: format and checks;
  maps.py       person boxes and heatmaps from keypoints, with the options read from the export;
  infer.py      ``mpt-infer keypoints=<file>``: meshes, joints and overlays per image;
  rows.py       ``mpt-eval keypoints=labels|<file>``: an image set's rows as keypoints and 3D targets.
"""

from mpt.lifting.keypoints import PersonKeypoints, read_keypoints
from mpt.lifting.maps import LiftOptions, confident, keypoint_boxes, keypoint_maps

__all__ = ["LiftOptions", "PersonKeypoints", "confident", "keypoint_boxes", "keypoint_maps", "read_keypoints"]
