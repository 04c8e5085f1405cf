"""How large a loss scale fp16 can start with: the largest gradient at initialisation under METRO's loss weights.

    python scripts/bench/fp16_loss_scale.py --assets DEMO [--model mpt] [--batch 8]

DEMO: a folder written by `python -m tools.standin.make_assets`, with its motion cache in DEMO/amass_cache
(gpu.sh and scripts/demo.sh make both). One synthesised training batch (gpu_checks.fresh_model_and_batch) through
the freshly initialised model, loss and backward in fp32; prints the largest |gradient| of any parameter and of
the model's outputs, and 65504 (fp16's largest value) divided by it: the largest
scale whose scaled gradients do not overflow (configs/deepspeed/fp16.yaml's initial_scale_power).
"""

from __future__ import annotations

import argparse
import math

import torch
from gpu_checks import fresh_model_and_batch  # this script's folder, on sys.path when run as a script

from mpt.config import compose_config
from mpt.engine.builders import loss_weights
from mpt.engine.targets import mesh_predictions
from mpt.losses import mesh_losses

FP16_MAX = 65504.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", required=True)
    parser.add_argument("--model", default="mpt")
    parser.add_argument("--input", default="heatmap")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    cfg = compose_config("pretrain", [f"paths.data_root={args.assets}", f"paths.motion_cache={args.assets}/amass_cache",
                                      f"paths.cache={args.assets}/cache", f"model={args.model}", f"input={args.input}",
                                      f"train.micro_batch={args.batch}", "device=cpu"])  # fmt: skip
    body, model, syn, target = fresh_model_and_batch(cfg, args.batch)
    model.train()
    out = model(syn["inputs"])
    outputs: list[float] = []
    for value in out.values():
        if torch.is_tensor(value) and value.requires_grad:
            value.register_hook(lambda g: outputs.append(float(g.abs().max())))
    loss = mesh_losses(mesh_predictions(out, body), target, loss_weights(cfg))["loss"]
    loss.backward()
    params = max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None)
    largest = max(params, *outputs)
    print(f"model={args.model} input={args.input} batch {args.batch}: loss {float(loss.detach()):.1f}; largest |gradient| of a "
          f"parameter {params:.3g}, of an output {max(outputs):.3g}; largest fp16 loss scale without overflow "
          f"{FP16_MAX / largest:.3g} (2^{math.log2(FP16_MAX / largest):.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
