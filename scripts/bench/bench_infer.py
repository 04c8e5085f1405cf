"""Benchmark: the mpt-infer path on this machine's CPU, and ONNX Runtime against PyTorch for the same model.

What is timed (all fp32, eval mode, default MPT model = hidden 1024/256/64, 4 layers x 4 heads, 224 heatmaps;
weights random: speed does not depend on them):
  1. ``Predictor`` (mpt.inference.predictor): uint8 crops -> ImageNet normalisation -> pose backbone -> heatmap encoder ->
     transformer -> upsampler + camera -> H36M / COCO joints, pelvis-relative: images/s at each ``--batches`` for
     each ``--backbones`` (HigherHRNet-w48, the paper's default, and w32);
  2. the same model's forward alone in PyTorch and in ONNX Runtime (CPUExecutionProvider) on the graph
     mpt-export writes, same inputs, for the first backbone: images/s and the ratio ORT / PyTorch;
  3. forward GFLOPs per image of each model (exact, independent of the machine's load);
  4. the per-image output cost of mpt-infer (overlay + side view rendering, one OBJ, one PLY, the JSON) for one
     person in a 640 x 480 image, to put the model's share of an end-to-end run in proportion.

How: for each batch size every variant gets one untimed warm-up call (oneDNN / ORT set-up), then the variants
take turns for ``--iters`` rounds and each keeps its fastest call. Taking turns matters on a shared machine: load
from other processes then falls on all variants alike instead of on whichever ran during it. Few iterations on
purpose, to keep the run to a few minutes on a 2-core CPU (a batch-16 w48 call takes ~6 s there): the absolute
numbers are coarse, the ratios printed from one run are what to read. Threads: the libraries' defaults (torch: all
cores, ONNX Runtime: all physical cores) unless ``--threads`` sets both.

Measured on this repository's shared 2-core CPU (torch 2.14.1, onnxruntime 1.32.0, one run of the defaults, about
3.5 minutes; a run under heavy load from other processes gave ratios off by up to 3x, hence the turn-taking):

    batch | Predictor w48 | Predictor w32 (ratio) | w48 forward: PyTorch | ONNX Runtime (ratio)
      1   |  2.24 img/s   |  2.82 img/s (1.26x)   |      2.44 img/s      |  4.71 img/s (1.93x)
     16   |  2.71 img/s   |  3.16 img/s (1.16x)   |      2.70 img/s      |  4.47 img/s (1.65x)

85.9 / 67.0 GFLOPs per image (w48 / w32 with the MPT model: the transformer's ~49 GFLOPs dominate, so w32 gains
~1.2x, near the 1.28x FLOP ratio); mpt-infer's outputs for one person in a 640 x 480 image: 36 ms, 9% of an image's
time at batch 16 with w48.

Run: python scripts/bench/bench_infer.py [--iters 3] [--batches 1 16] [--backbones higherhrnet_w48 higherhrnet_w32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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
from mpt.inference.predictor import Predictor, normalize_crops  # noqa: E402


def gflops(model: torch.nn.Module) -> float:
    """Forward GFLOPs of one 224 x 224 image (torch's FlopCounterMode: 2 per multiply-add): an exact, load-free
    figure to read the measured speeds against."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, 3, CROP_SIZE, CROP_SIZE))
    return counter.get_total_flops() / 1e9


def output_cost(predictor: Predictor, out: Path, iters: int) -> float:
    """Seconds per image of mpt-infer's outputs for one person in a 640 x 480 image (render + files), through the
    same function mpt-infer calls."""
    from mpt.inference.inputs import PersonBox, crop_boxes, crop_people
    from mpt.inference.jobs import Job
    from mpt.inference.outputs import write_image_outputs

    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    box = PersonBox((0.0, 0.0, 640.0, 480.0))
    center, size = crop_boxes(torch.tensor([box.xywh], dtype=torch.float64), 1.2)
    job = Job(Path("x.jpg"), "x", image, [box], center, size, {"crops": crop_people(image, center, size)}, "x.jpg")
    pred = predictor(job.inputs["crops"])
    write = partial(write_image_outputs, job, pred, predictor, out, ["obj", "ply"], True)
    return best_times({"outputs": write}, iters)["outputs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--backbones", nargs="+", default=["higherhrnet_w48", "higherhrnet_w32"])
    parser.add_argument("--threads", type=int, default=None, help="torch and ONNX Runtime intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="mpt_bench_infer_") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    """The measurements of :func:`main`, with demo assets and the ONNX file under ``tmp``."""
    import onnxruntime as ort

    from mpt.export import export_onnx
    from tools.standin.make_assets import make_demo_assets

    assets = make_demo_assets(tmp / "assets", seed=0)
    paths = [f"paths.smpl={assets.smpl_dir}", f"paths.h36m_regressor={assets.h36m_regressor}",
             f"paths.cache={tmp / 'cache'}"]  # fmt: skip
    body = build_body_model(compose_config("infer", paths))
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {ort.__version__}; default MPT "
          f"model; best of {args.iters} round-robin calls after one warm-up")  # fmt: skip
    predictors = {}
    for backbone in args.backbones:
        torch.manual_seed(0)
        model, _ = build_model(compose_config("finetune", [f"backbone={backbone}", *paths]), body, with_backbone=True)
        predictors[backbone] = Predictor(model.eval(), body, torch.device("cpu"))
        print(f"  {backbone}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters with the MPT model, "
              f"{gflops(model):.1f} GFLOPs per image")  # fmt: skip
    first = args.backbones[0]
    model = predictors[first].model
    start = time.perf_counter()
    export_onnx(model, tmp / "model.onnx")
    print(f"  ONNX export ({first}): {time.perf_counter() - start:.0f} s", flush=True)
    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(tmp / "model.onnx"), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    rates: dict[tuple[str, int], float] = {}
    for b in args.batches:
        crops = torch.from_numpy(rng.integers(0, 256, (b, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8))
        images = normalize_crops(crops, torch.device("cpu"))
        fns: dict[str, Callable[[], object]] = {bb: partial(predictors[bb], crops) for bb in args.backbones}
        fns["torch forward"] = partial(torch.inference_mode()(model), images)
        fns["ort forward"] = partial(session.run, None, {"images": images.numpy()})
        for name, seconds in best_times(fns, args.iters).items():
            rates[name, b] = b / seconds
            print(f"  batch {b:3d}  {name:16s} {rates[name, b]:6.2f} images/s", flush=True)
    (tmp / "model.onnx").unlink()
    (tmp / "outputs").mkdir()
    t_out = output_cost(predictors[first], tmp / "outputs", args.iters)
    print("\nSummary (ratios from this one run)")
    for b in args.batches:
        line = f"  batch {b:3d}: Predictor {first} {rates[first, b]:.2f} images/s"
        for other in args.backbones[1:]:
            line += f"; {other} {rates[other, b]:.2f} images/s = {rates[other, b] / rates[first, b]:.2f}x"
        print(line)
        ratio = rates["ort forward", b] / rates["torch forward", b]
        print(f"             {first} forward: ONNX Runtime / PyTorch = {ratio:.2f}x")
    if len(args.batches) > 1:
        lo, hi = args.batches[0], args.batches[-1]
        for bb in args.backbones:
            print(f"  {bb}: batch {hi} gives {rates[bb, hi] / rates[bb, lo]:.2f}x the images/s of batch {lo}")
    model_s = 1 / rates[first, args.batches[-1]]
    print(
        f"  outputs per image (overlay + side view 640x480, OBJ, PLY, JSON): {t_out * 1000:.0f} ms = "
        f"{t_out / (t_out + model_s):.0%} of an end-to-end image at batch {args.batches[-1]} with {first}"
    )


if __name__ == "__main__":
    main()
