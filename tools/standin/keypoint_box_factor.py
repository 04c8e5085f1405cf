"""Measure how much larger a person's silhouette is than the extent of its 17 COCO keypoints.

    python -m tools.standin.keypoint_box_factor --assets data/demo                      # the demo body and motions
    python -m tools.standin.keypoint_box_factor --smpl data/body_models/smpl \\
        --regressor data/body_models/J_regressor_h36m_correct.npy --cache data/amass_cache --split val

Lifting a detector's keypoints without a person box (mpt-infer keypoints=..., mpt.inference.maps) frames the person as
pre-training does, around the silhouette; but the head top, the feet and the hands reach beyond the keypoints, so
the keypoints' extent is scaled by ``keypoint_box_factor`` first. This tool measures that factor: every motion
of the cache (both splits' bodies posed as in pre-training, keeping their AMASS orientation) is seen by each of the
4 Human3.6M S1 cameras through the pre-training Synthesizer (eval mode: no jitter, no random heading), and for each
view it divides the longer side of the projected vertices' extent by the longer side of the seen keypoints'
extent. It prints the median and quartiles of that ratio and of the offset between the two extents' centres (in
units of the silhouette's longer side), so the config value can be checked or re-measured on the real SMPL body.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mpt.body import BodyModel
from mpt.data.motion_cache import SPLITS, MotionCache
from mpt.geometry import h36m_s1_cameras
from mpt.geometry.crop import bbox_from_points
from mpt.synthesis import SynthesisOptions, Synthesizer

__all__ = ["box_ratios", "main"]


@torch.no_grad()
def box_ratios(body: BodyModel, caches: list[MotionCache], batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per (sample, camera): silhouette longer side / seen keypoints' longer side (N,), and the keypoint extent's
    centre minus the silhouette's centre in silhouette sides (N, 2)."""
    cameras = h36m_s1_cameras()
    # crop_scale 1: the synthesizer's box side is then the silhouette's longer side, its centre the extent's middle
    synth = Synthesizer(body, cameras, SynthesisOptions(size=56, sigma=2.0, crop_scale=1.0))
    ratios, offsets = [], []
    for cache in caches:
        for start in range(0, len(cache), batch):
            rows = cache.batch(np.arange(start, min(start + batch, len(cache))))
            vertices, joints = synth.pose_bodies(rows)
            for cam in range(len(cameras)):
                camera_idx = torch.full((vertices.shape[0],), cam, dtype=torch.long)
                params = synth.sample_params(vertices.shape[0], None, train=False, camera_idx=camera_idx)
                out = synth.render(vertices, joints, params)
                kp_center, kp_side = bbox_from_points(out["keypoints_px"], out["visible"], scale=1.0)
                ratios.append((out["box_size"] / kp_side).numpy())
                offsets.append(((kp_center - out["box_center"]) / out["box_size"][:, None]).numpy())
    return np.concatenate(ratios), np.concatenate(offsets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", help="demo assets folder (tools/standin/make_assets.py --out; generated there when "
                                         "absent); its motions are prepared into <assets>/amass_cache unless --cache")
    parser.add_argument("--smpl", help="folder with SMPL_NEUTRAL.pkl|npz (default: the demo body)")
    parser.add_argument("--regressor", help="J_regressor_h36m_correct.npy (default: the demo one)")
    parser.add_argument("--cache", help="motion cache folder (tools/prepare_amass.py --out)")
    parser.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    args = parser.parse_args(argv)
    if args.assets:
        from tools.standin.make_assets import MANIFEST_NAME, DemoAssets, make_demo_assets

        root = Path(args.assets)
        assets = DemoAssets.at(root) if (root / MANIFEST_NAME).is_file() else make_demo_assets(root, seed=0)
        smpl, regressor = args.smpl or assets.smpl_dir, args.regressor or assets.h36m_regressor
        cache = args.cache or Path(args.assets) / "amass_cache"
        if not Path(cache, "manifest.json").is_file():
            from mpt.data.prepare_amass import prepare_amass

            prepare_amass(assets.amass_dir, cache, val_datasets=["DemoMocapB"], target_fps=30.0)
    elif args.smpl and args.regressor and args.cache:
        smpl, regressor, cache = args.smpl, args.regressor, args.cache
    else:
        parser.error("give --assets, or --smpl, --regressor and --cache")
    splits = list(SPLITS) if args.split == "all" else [args.split]
    ratio, offset = box_ratios(BodyModel(smpl, regressor), [MotionCache(cache, s) for s in splits])
    q = np.percentile(ratio, [25, 50, 75])
    print(f"{len(ratio)} views ({', '.join(splits)} split of {cache}, 4 Human3.6M S1 cameras)")
    print(f"silhouette / keypoint extent, longer sides: median {q[1]:.3f} (quartiles {q[0]:.3f}, {q[2]:.3f}; "
          f"min {ratio.min():.3f}, max {ratio.max():.3f})")
    med = np.median(offset, axis=0)
    print(f"keypoint extent centre - silhouette centre, in silhouette sides: median x {med[0]:+.3f}, y {med[1]:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
