"""Pre-training crops frame people as the Human3.6M image sets do (METRO's boxes: GraphCMR h36m.py, no margin).

The framing is measured the way the model sees it: the weak-perspective scale s that best maps each sample's
pelvis-relative 3D joints onto its 2D joints in [-1, 1] of the crop (least squares over s and a 2D shift, by hand).
"""

from __future__ import annotations

import numpy as np
import torch

from mpt.data.image_dataset import MeshTSVDataset
from mpt.data.motion_cache import MotionCache
from mpt.geometry import h36m_s1_cameras
from mpt.synthesis import SynthesisOptions, Synthesizer

P2_CAMERA = 3  # 60457274 in the S1 order 54138969, 55011271, 58860488, 60457274
# The demo sets' boxes are the rendered silhouette's, clipped to the image, and the synthesis box is the projected
# vertices'; what remains is the difference between the demo image sets' and the cache's motion frames.
TOLERANCE = 0.05


def weak_perspective_scales(joints3d: np.ndarray, joints2d: np.ndarray) -> np.ndarray:
    """(B, J, 3) metres and (B, J, 2) crop coordinates -> (B,) s minimising |s X_xy + b - x|^2 over s and b."""
    xc = joints3d[..., :2] - joints3d[..., :2].mean(axis=1, keepdims=True)
    yc = joints2d - joints2d.mean(axis=1, keepdims=True)
    return (xc * yc).sum(axis=(1, 2)) / (xc * xc).sum(axis=(1, 2))


def test_synthesis_and_h36m_image_sets_frame_people_alike(demo_body, demo_cache, demo_tsv) -> None:
    val = MotionCache(demo_cache, "val")
    rows = np.linspace(0, len(val) - 1, 64).round().astype(np.int64)
    synth = Synthesizer(demo_body, h36m_s1_cameras(), SynthesisOptions(size=56, sigma=2.0))
    out = synth(val.batch(rows), None, train=False, camera_idx=torch.full((len(rows),), P2_CAMERA))
    s_synth = weak_perspective_scales(out["joints3d"].double().numpy(), out["joints2d"].double().numpy())

    images = MeshTSVDataset(demo_tsv / "human3.6m", "valid_protocol2", train=False)
    items = [images[i] for i in range(len(images))]
    j3d = torch.stack([it["joints3d"][:, :3] for it in items]).double().numpy()
    j2d = torch.stack([it["joints2d"][:, :2] for it in items]).double().numpy()
    s_images = weak_perspective_scales(j3d, j2d)

    ratio = np.median(s_images) / np.median(s_synth)
    assert abs(ratio - 1) < TOLERANCE, (np.median(s_synth), np.median(s_images))
    # the old default (crop 1.2 x the silhouette) framed people a fifth smaller than the image sets
    wide = Synthesizer(demo_body, h36m_s1_cameras(), SynthesisOptions(size=56, sigma=2.0, crop_scale=1.2))
    out = wide(val.batch(rows), None, train=False, camera_idx=torch.full((len(rows),), P2_CAMERA))
    s_wide = weak_perspective_scales(out["joints3d"].double().numpy(), out["joints2d"].double().numpy())
    print(f"median weak-perspective scale: synthesis {np.median(s_synth):.3f}, image set {np.median(s_images):.3f}, "
          f"synthesis with the old 1.2 crop {np.median(s_wide):.3f}")
    assert np.median(s_images) / np.median(s_wide) > 1 + 3 * TOLERANCE
