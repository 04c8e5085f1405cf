"""Benchmark: batched torch heatmap synthesis vs a straightforward per-sample numpy reference of the same maps.

    python scripts/bench/bench_synthesis.py                        # demo body, batch 256, 224x224 maps, CPU
    python scripts/bench/bench_synthesis.py --device cuda
    python scripts/bench/bench_synthesis.py --smpl data/body_models/smpl \
        --regressor data/body_models/J_regressor_h36m_correct.npy

Two comparisons on the same random draws (camera, heading, box jitter, masked joints):
  * SMPL forward excluded: both start from posed bodies (vertices, joints); the torch side is Synthesizer.render,
    the reference loops over samples and joints (numpy, cv2.projectPoints, np.exp over the full map grid);
  * SMPL forward included: both start from a motion-cache batch; the torch side runs one batched SMPL forward
    (mpt.body.SmplSkinning), the reference poses each sample on its own with smplx's SMPL layer (the per-item work
    of a plain dataset) before its numpy maps.
The torch side is timed twice: drawing into a reused map buffer (what the pre-training loop does) and into a fresh
tensor each call (on CPU its page faults cost about as much as the drawing). Every time is the best of several runs
(torch: --repeats after a warm-up; reference: --ref-repeats). On CPU the torch side is timed with its default
intra-op threads and with 1 thread (the reference is single-threaded numpy, as a plain loop is, so the 1-thread row
compares equal compute).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Large CPU tensors: ask PyTorch's CPU allocator for transparent huge pages (env var read once, at the first
# allocation; pytorch/pytorch PR #115990, PyTorch >= 2.2). A fresh 873 MB map tensor otherwise costs ~213k 4 KiB
# page faults, several times the Gaussians' own cost; numpy already advises huge pages for arrays >= 4 MB.
if "--no-thp" not in sys.argv:
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from timing import best_ms  # noqa: E402  (scripts/bench/timing.py)

from mpt.geometry import matrix_to_axis_angle, rotation_about_axis, virtual_cameras  # noqa: E402
from mpt.synthesis import SynthesisOptions, Synthesizer  # noqa: E402
from tests.synthesis.reference import reference_smpl_layers, synthesize_reference_numpy  # noqa: E402


def upright_batch(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Motion-cache-like batch: random headings, mild random poses, bodies standing anywhere near the volume."""
    gen = torch.Generator().manual_seed(seed)
    pose = torch.randn(n, 72, generator=gen) * 0.2
    heading = torch.rand(n, generator=gen) * 2 * torch.pi
    # root orientation R_z(heading) @ R_x(90 deg): SMPL's y-up body stood up in the z-up world
    stand = rotation_about_axis(torch.full((n,), torch.pi / 2), "x")
    pose[:, :3] = matrix_to_axis_angle(rotation_about_axis(heading, "z") @ stand)
    pose[:, 66:] = 0
    trans = torch.cat([torch.rand(n, 2, generator=gen) * 3 - 1.5, 0.9 + 0.1 * torch.rand(n, 1, generator=gen)], 1)
    return {"pose": pose, "betas": torch.randn(n, 10, generator=gen) * 0.5, "trans": trans,
            "gender": torch.zeros(n, dtype=torch.long)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=224, help="map side in pixels (crop 224)")
    ap.add_argument("--sigma", type=float, default=None, help="Gaussian sigma at --size (default: 8 * size / 224)")
    ap.add_argument("--views", type=int, default=8, choices=(1, 2, 4, 8))
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each torch variant (best is reported)")
    ap.add_argument("--ref-repeats", type=int, default=2, help="timed runs of the reference (best is reported)")
    ap.add_argument("--assets", default=None, help="folder for the generated demo assets (default: a temp folder)")
    ap.add_argument("--smpl", default=None, help="real SMPL folder instead of the demo body")
    ap.add_argument("--regressor", default=None, help="Human3.6M J-regressor with --smpl")
    ap.add_argument("--no-thp", action="store_true", help="keep PyTorch's default 4 KiB pages for CPU tensors")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but torch sees no CUDA device")

    sigma = args.sigma if args.sigma is not None else 8.0 * args.size / 224
    from tools.standin.make_assets import body_model

    assets = args.assets or tempfile.mkdtemp(prefix="mpt_bench_assets_")
    body = body_model(args.smpl, args.regressor, assets).to(device)
    synth = Synthesizer(body, virtual_cameras(args.views), SynthesisOptions(size=args.size, sigma=sigma))
    gen = torch.Generator(device=device).manual_seed(0)
    batch = {k: v.to(device) for k, v in upright_batch(args.batch, seed=0).items()}
    threads = torch.get_num_threads()
    with torch.no_grad():
        verts, joints = synth.pose_bodies(batch)
        params = synth.sample_params(args.batch, gen, train=True)
        maps = synth.render(verts, joints, params)["inputs"].cpu().numpy()
        buffer = torch.empty(maps.shape, device=device)
        runs = {
            "excluded": (lambda: synth.render(verts, joints, params, out=buffer),
                         lambda: synth.render(verts, joints, params)),
            "included": (lambda: synth.render(*synth.pose_bodies(batch), params, out=buffer),
                         lambda: synth.render(*synth.pose_bodies(batch), params)),
        }  # fmt: skip
        rows = {"excluded": {}, "included": {}}
        thread_counts = [threads] if device.type == "cuda" or threads == 1 else [threads, 1]
        for n in thread_counts:
            # 1 thread: the same compute as the single-threaded reference, so the ratio measures batching alone
            torch.set_num_threads(n)
            for key, (reused, fresh) in runs.items():
                rows[key][n] = (best_ms(reused, device, args.repeats), best_ms(fresh, device, args.repeats))
        # One intra-op thread while the reference runs: its batch-1 SMPL calls gain nothing from threads, and idle
        # OpenMP workers spinning between the tiny calls steal the core the numpy loop runs on (measured on a
        # shared 2-core machine, 64 samples: 3.9-5.4 s with 2 threads, 0.36-0.77 s with 1). A DataLoader worker,
        # where such per-item code runs, uses one thread too. This favours the reference: conservative ratios.
        torch.set_num_threads(1)
        diffs = {}
        ref_ms = {}
        layers = reference_smpl_layers(synth.body)  # built once, outside the timing
        for key, kwargs in (("excluded", {"vertices": verts, "joints": joints}),
                            ("included", {"batch": batch, "smpl_layers": layers})):  # fmt: skip
            ref_ms[key] = float("inf")
            for _ in range(args.ref_repeats):
                start = time.perf_counter()
                ref = synthesize_reference_numpy(synth, params, **kwargs)
                ref_ms[key] = min(ref_ms[key], (time.perf_counter() - start) * 1000)
            diffs[key] = float(np.abs(ref - maps).max())
            del ref
        torch.set_num_threads(threads)

    thp = os.environ.get("THP_MEM_ALLOC_ENABLE", "0") not in ("", "0")
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU ({os.cpu_count()} cores), THP_MEM_ALLOC_ENABLE={int(thp)}")  # fmt: skip
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch}, {args.size}x{args.size} heatmaps "
          f"(sigma {sigma:g}), 17 joints, {args.views} views, body {tuple(verts.shape[1:])}")  # fmt: skip
    print(f"{'SMPL forward':13s}{'threads':>8s}{'torch, reused maps':>20s}{'torch, fresh maps':>19s}"
          f"{'numpy per-sample':>18s}{'ratio reused':>14s}{'ratio fresh':>13s}{'max |diff|':>12s}")  # fmt: skip
    for key, by_threads in rows.items():
        for n, (reused, fresh) in by_threads.items():
            label = "cuda" if device.type == "cuda" else str(n)
            print(f"{key:13s}{label:>8s}{reused:17.1f} ms{fresh:16.1f} ms{ref_ms[key]:15.1f} ms"
                  f"{ref_ms[key] / reused:13.1f}x{ref_ms[key] / fresh:12.1f}x{diffs[key]:12.2e}")  # fmt: skip
    print(f"target: ratio >= 20x. Times: best of {args.repeats} runs (torch), best of {args.ref_repeats} (reference: "
          "numpy single-threaded; its per-sample smplx SMPL forward with 1 torch thread).")

if __name__ == "__main__":
    main()
