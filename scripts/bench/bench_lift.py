"""Benchmark: people per second of mesh-from-keypoints lifting beside image inference, same model, this CPU.

What is timed (fp32, eval mode, the default MPT model = hidden 1024/256/64, 4 layers x 4 heads, 224 heatmaps with
sigma 8, HigherHRNet-w48 in front for images; random weights: speed does not depend on them):
  1. image inference, mpt-infer's path: ``Predictor`` on uint8 person crops (normalisation, pose backbone, heatmap
     encoder, transformer, upsampler, camera; H36M / COCO joints, pelvis-relative);
  2. lifting, ``mpt-infer keypoints=``'s path: COCO-17 keypoints [x, y, score] in image pixels -> crop boxes from the
     keypoints' extent (mpt.inference.maps.keypoint_boxes) -> the 17 heatmaps drawn as pre-training draws them
     (keypoint_maps) -> ``Predictor.from_maps`` (the same model without its pose network);
  3. the heatmap drawing of (2) alone, to show its share.
People per second at each ``--batches`` size (default 1 and 64). Each variant gets one untimed warm-up call, then
the variants take turns for ``--iters`` rounds and each keeps its fastest call (scripts/bench/timing.py
best_times): on a shared machine, load from other processes then falls on all variants alike; read the ratios.

Run: python scripts/bench/bench_lift.py [--iters 3] [--batches 1 64] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from timing import best_times  # noqa: E402  (scripts/bench/timing.py)

from mpt.config import compose_config  # noqa: E402
from mpt.engine.builders import build_body_model, build_model  # noqa: E402
from mpt.inference.inputs import CROP_SIZE  # noqa: E402
from mpt.inference.maps import LiftOptions, keypoint_boxes, keypoint_maps  # noqa: E402
from mpt.inference.predictor import Predictor  # noqa: E402


def random_people(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n people's keypoints (n, 17, 3) spread over a 640 x 480 image, scores in [0.5, 1), and no boxes (n, 4)."""
    centre = rng.uniform([150, 150], [490, 330], (n, 1, 2))
    xy = centre + rng.normal(0, 60, (n, 17, 2))
    kp = np.concatenate([xy, rng.uniform(0.5, 1.0, (n, 17, 1))], axis=-1)
    return torch.from_numpy(kp).float(), torch.full((n, 4), float("nan"))


def lift(predictor: Predictor, opt: LiftOptions, keypoints: torch.Tensor, bbox: torch.Tensor) -> object:
    """mpt-infer keypoints='s work for a batch of people: boxes, maps, the model from maps."""
    center, side = keypoint_boxes(keypoints, bbox, opt)
    return predictor.from_maps(keypoint_maps(keypoints, center, side, opt))


def draw(opt: LiftOptions, keypoints: torch.Tensor, bbox: torch.Tensor) -> torch.Tensor:
    center, side = keypoint_boxes(keypoints, bbox, opt)
    return keypoint_maps(keypoints, center, side, opt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--backbone", default="higherhrnet_w48")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from tools.standin.make_assets import make_demo_assets

    with tempfile.TemporaryDirectory(prefix="mpt_bench_lift_") as tmp:
        assets = make_demo_assets(Path(tmp) / "assets", seed=0)
        cfg = compose_config("finetune", [f"backbone={args.backbone}", f"paths.smpl={assets.smpl_dir}",
                                          f"paths.h36m_regressor={assets.h36m_regressor}",
                                          f"paths.cache={Path(tmp) / 'cache'}"])  # fmt: skip
        body = build_body_model(cfg)
        torch.manual_seed(0)
        model, _ = build_model(cfg, body, with_backbone=True)
    predictor = Predictor(model.eval(), body, torch.device("cpu"))
    opt = LiftOptions(size=cfg.input.size, sigma=cfg.input.sigma, crop_scale=cfg.input.crop_scale,
                      min_score=0.3, box_factor=1.11)  # fmt: skip
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads); default MPT model, {args.backbone} for "
          f"images, {opt.size} x {opt.size} maps (sigma {opt.sigma}); best of {args.iters} round-robin calls after "
          "one warm-up", flush=True)  # fmt: skip
    rng = np.random.default_rng(0)
    rates: dict[tuple[str, int], float] = {}
    names = {"image": f"image inference ({args.backbone})", "lift": "lifting (boxes + maps + model)",
             "maps": "  of which boxes + maps"}  # fmt: skip
    for b in args.batches:
        crops = torch.from_numpy(rng.integers(0, 256, (b, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8))
        keypoints, bbox = random_people(b, rng)
        fns: dict[str, Callable[[], object]] = {"image": partial(predictor, crops),
                                                "lift": partial(lift, predictor, opt, keypoints, bbox),
                                                "maps": partial(draw, opt, keypoints, bbox)}  # fmt: skip
        with torch.inference_mode():
            for name, seconds in best_times(fns, args.iters).items():
                rates[name, b] = b / seconds
                print(f"  batch {b:3d}  {names[name]:32s} {rates[name, b]:8.2f} people/s", flush=True)
    print("\nSummary (people per second; ratios from this one run)")
    print("  batch | image inference | lifting | lifting / image | boxes + maps share of lifting")
    for b in args.batches:
        share = rates["lift", b] / rates["maps", b]
        print(f"  {b:5d} | {rates['image', b]:15.2f} | {rates['lift', b]:7.2f} | "
              f"{rates['lift', b] / rates['image', b]:14.1f}x | {share:.0%}")


if __name__ == "__main__":
    main()
