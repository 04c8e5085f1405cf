"""Pre-training throughput of the full pipeline and the share of time spent synthesising data.

    python scripts/bench/bench_pretrain.py --assets data/demo [--model mpt|tiny] [--batch 32] [--steps 5]
                                            [--device cpu|cuda] [--deepspeed zero0|bf16]

One step = motion-cache rows -> SMPL forward -> virtual camera -> heatmaps (synthesis) and model forward + backward
+ optimizer step through the DeepSpeed engine (model). Both halves are timed separately in the same run (with a
device synchronisation between them), after warm-up steps; the script prints samples/s of the whole step, ms per
step of each half, the synthesis share (target: under 20% of the step) and, on a GPU, peak memory.
Demo assets: ``python -m tools.standin.make_assets --out data/demo`` and ``tools/prepare_amass.py`` (see
scripts/demo.sh); the cache path defaults to <assets>/amass_cache.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", default="data/demo")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--model", default="mpt", choices=["mpt", "tiny", "metro"])
    parser.add_argument("--input", default="heatmap", help="input config: heatmap | heatmap112 | heatmap56 | mask")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--deepspeed", default="zero0", help="deepspeed config group option (zero0, bf16, ...)")
    args = parser.parse_args()

    from mpt.config import compose_config
    from mpt.engine.builders import build_body_model, build_cameras, build_model, build_synthesizer
    from mpt.engine.distributed import setup_distributed
    from mpt.engine.pretrain import PretrainTask, _open_cache
    from mpt.engine.targets import VertexDownsampler, synthesis_targets
    from mpt.engine.trainer import setup_engine

    cfg = compose_config("pretrain", [f"paths.data_root={args.assets}", f"model={args.model}", f"input={args.input}",
                                      f"train.micro_batch={args.batch}", f"device={args.device}",
                                      f"deepspeed={args.deepspeed}"] +
                         ([f"paths.motion_cache={args.cache}"] if args.cache else []))  # fmt: skip
    dist = setup_distributed(cfg.device)
    cache = _open_cache(cfg.data.cache, cfg.data.train_split)
    body = build_body_model(cfg).to(dist.device)
    model, levels = build_model(cfg, body)
    synth = build_synthesizer(cfg, body, build_cameras(cfg).to(dist.device))
    task = PretrainTask(cfg, dist, body, synth, VertexDownsampler(levels).to(dist.device), cache, cache)
    engine, _, task.dtype = setup_engine(cfg, dist, model, total_steps=1000)

    def sync() -> None:
        if dist.device.type == "cuda":
            torch.cuda.synchronize()

    synth_ms, model_ms = [], []
    for step in range(args.warmup + args.steps):
        gen = torch.Generator(device=dist.device).manual_seed(step)
        sync()
        t0 = time.perf_counter()
        syn = task._synthesize(cache, task.sampler.indices(step), gen, train=True)
        target = synthesis_targets(syn, task.down)
        sync()
        t1 = time.perf_counter()
        loss = task.loss(engine, syn, target)["loss"]
        engine.backward(loss)
        engine.step()
        sync()
        t2 = time.perf_counter()
        if step >= args.warmup:
            synth_ms.append(1e3 * (t1 - t0))
            model_ms.append(1e3 * (t2 - t1))
    s, m = statistics.median(synth_ms), statistics.median(model_ms)
    print(f"device {dist.device} ({torch.cuda.get_device_name() if dist.device.type == 'cuda' else 'CPU'}), "
          f"torch threads {torch.get_num_threads()}, model {args.model}, input {args.input} ({cfg.input.size}px), "
          f"batch {args.batch}, {args.deepspeed}, median of {args.steps} steps after {args.warmup} warm-up")
    print(f"synthesis (cache rows + SMPL + cameras + maps): {s:9.1f} ms/step")
    print(f"model (forward + backward + step)            : {m:9.1f} ms/step")
    print(f"whole step                                   : {s + m:9.1f} ms/step = "
          f"{args.batch * 1e3 / (s + m):.1f} samples/s")
    print(f"synthesis share of the step: {100 * s / (s + m):.1f}% (target < 20%)")
    if dist.device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
