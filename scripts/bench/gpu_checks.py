"""Correctness checks for a GPU (scripts/bench/gpu.sh runs them first): one PASS / FAIL / SKIP line per check.

    python scripts/bench/gpu_checks.py --assets DEMO [--device cuda|cpu] [--model mpt] [--input heatmap]
                                       [--batch 32] [--steps 20] [--work DIR] [--cache DIR] [--tests-root DIR]

DEMO is a folder made by tools/standin/make_assets.py with the motion cache of tools/prepare_amass.py in
DEMO/amass_cache (scripts/demo.sh and gpu.sh make both).

1. synthesis: heatmaps synthesised on the device equal the CPU's for the same bodies and random draws: maps within
   1e-5, 3D targets (joints, vertices) within 1e-6 m.
2. pretrain fp32 / bf16 / fp16: ``--steps`` steps of mpt-pretrain in each precision lower the loss; bf16 and fp16
   follow the fp32 run (tolerances and reasons at BF16_RTOL / FP16_RTOL). fp16 is the precision the CPU test suite
   cannot train (DeepSpeed's CPU accelerator refuses it without oneDNN fp16 kernels).
3. resume: the fp32 run's mid-way checkpoint, written on the device, resumes and ends where the uninterrupted run
   ended, within RESUME_ATOL (GPU kernels are not bitwise deterministic).
4. fused Adam: the optimizer DeepSpeed steps is torch's fused Adam, in fp32 and in bf16.
5. CUDA tests: tests/inference/test_images.py::test_gpu_matches_cpu and tests/synthesis/test_pipeline.py::test_cuda_matches_cpu
   (run with pytest from the checkout).

``--device cpu`` runs every check as far as a CPU allows, as a smoke test of this script: the synthesis compares two
CPU copies, a precision DeepSpeed refuses here is skipped (after checking that it refuses it), fused Adam is skipped
and the CUDA tests report their skips. Exit status 1 when a check fails. The pre-training runs also print their
samples/s (the speed figures of gpu.sh).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
MAP_ATOL = 1e-5  # heatmaps in [0, 1]: float32 rounding of exp() and of the projections on two devices
TARGET_ATOL_M = 1e-6  # metres: the SMPL forward in float32 on two devices
# bf16 keeps 8 significant bits in the forward and backward: the CPU suite measures 1.7e-2 relative after 4 steps
# of the tiny model (tests/engine/test_precision_runs.py); over 20 Adam steps the two runs drift further apart.
BF16_RTOL = 0.10
# fp16 keeps 11 bits, but DeepSpeed's dynamic loss scale starts at 2^16 and skips the steps whose gradients
# overflow until the scale fits, so the fp16 run takes fewer optimizer steps than the fp32 one.
FP16_RTOL = 0.25
RESUME_ATOL = 1e-3  # weights after the resumed half: atomics in CUDA backward kernels reorder float sums

RESULTS: list[tuple[str, str]] = []


def report(status: str, name: str, detail: str) -> None:
    RESULTS.append((status, name))
    print(f"{status} {name}: {detail}", flush=True)


def check(name: str, fn: Callable[[], tuple[str, str]]) -> None:
    """Run one check; an exception is a FAIL naming it (the traceback goes to stderr)."""
    try:
        status, detail = fn()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a FAIL line
        traceback.print_exc()
        status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
    report(status, name, detail)


def _cfg(args: argparse.Namespace, out: Path | None = None, *extra: str):
    from mpt.config import compose_config

    overrides = [f"paths.data_root={args.assets}", f"paths.motion_cache={Path(args.assets) / 'amass_cache'}",
                 f"paths.cache={args.cache}", f"model={args.model}", f"input={args.input}",
                 f"train.micro_batch={args.batch}", f"device={args.device}"]  # fmt: skip
    if out is not None:
        overrides.append(f"paths.output_dir={out}")
    return compose_config("pretrain", [*overrides, *extra])


def synthesis(args: argparse.Namespace) -> tuple[str, str]:
    from mpt.data.motion_cache import MotionCache
    from mpt.engine.builders import build_body_model, build_cameras, build_synthesizer

    cfg = _cfg(args)
    batch = MotionCache(cfg.data.cache, "train").batch(np.arange(min(64, 4 * args.batch)))
    out = {}
    params = None
    for device in ("cpu", args.device):
        body = build_body_model(cfg, genders_from_cache=True).to(device)
        synth = build_synthesizer(cfg, body, build_cameras(cfg).to(device))
        with torch.no_grad():
            vertices, joints = synth.pose_bodies({k: v.to(device) for k, v in batch.items()})
            if params is None:  # the random draws of a training batch, made once on the CPU
                params = synth.sample_params(vertices.shape[0], torch.Generator().manual_seed(0), train=True)
            out[device if not out else "device"] = {k: v.cpu() for k, v in
                                                    synth.render(vertices, joints, params.to(device)).items()}
    ref, got = out["cpu"], out["device"]
    maps = float((got["inputs"] - ref["inputs"]).abs().max())
    metres = max(float((got[k] - ref[k]).abs().max()) for k in ("joints3d", "vertices"))
    detail = (f"{args.device} vs cpu on {len(params)} samples: maps max |diff| {maps:.2e} (<= {MAP_ATOL}), "
              f"3D targets {metres:.2e} m (<= {TARGET_ATOL_M})")  # fmt: skip
    return ("PASS" if maps <= MAP_ATOL and metres <= TARGET_ATOL_M else "FAIL"), detail


def _losses(run: Path) -> np.ndarray:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return np.array([r["loss"] for r in rows if r["kind"] == "train"])


def _rate(run: Path, batch: int) -> str:
    """samples/s between the first logged step after warm-up and the last (the speed figure of this run)."""
    rows = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]
    first = next((r for r in rows if r["step"] >= min(5, rows[-1]["step"] - 1)), rows[0])
    last = rows[-1]
    if last["step"] <= first["step"]:
        return "n/a"
    return f"{(last['step'] - first['step']) * batch / (last['time'] - first['time']):.4g} samples/s"


def _pretrain(args: argparse.Namespace, group: str, out: Path, *extra: str) -> None:
    from mpt.engine.pretrain import pretrain

    shutil.rmtree(out, ignore_errors=True)
    pretrain(_cfg(args, out, f"deepspeed={group}", f"train.max_steps={args.steps}", "train.log_every=1",
                  f"train.ckpt_every={max(1, args.steps // 2)}", "train.val_every=1000000",
                  "train.max_val_samples=32", *extra))  # fmt: skip
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def pretrain_fp32(args: argparse.Namespace) -> tuple[str, str]:
    run = args.work / "pretrain_zero0"
    _pretrain(args, "zero0", run)
    losses = _losses(run)
    w = max(1, len(losses) // 4)
    falls = losses[-w:].mean() < losses[:w].mean()
    detail = (f"{len(losses)} steps, loss {losses[:w].mean():.2f} -> {losses[-w:].mean():.2f} (means of the first "
              f"and last {w}); {_rate(run, args.batch)}")  # fmt: skip
    return ("PASS" if falls and np.isfinite(losses).all() else "FAIL"), detail


def pretrain_reduced(args: argparse.Namespace, group: str, rtol: float) -> tuple[str, str]:
    from mpt.errors import MptError

    run, reference = args.work / f"pretrain_{group}", args.work / "pretrain_zero0"
    try:
        _pretrain(args, group, run)
    except MptError as exc:  # mpt's check of what DeepSpeed's accelerator offers on this machine
        if "cannot train in" not in str(exc):
            raise
        return "SKIP", str(exc)
    losses, fp32 = _losses(run), _losses(reference)
    w = max(1, len(losses) // 4)
    falls = losses[-w:].mean() < losses[:w].mean()
    rel = np.abs(losses / fp32 - 1)
    end = abs(losses[-w:].mean() / fp32[-w:].mean() - 1)
    detail = (f"loss {losses[:w].mean():.2f} -> {losses[-w:].mean():.2f}; vs fp32: last-{w} mean {end:.2e} "
              f"relative (<= {rtol}), largest step {rel.max():.2e}; {_rate(run, args.batch)}")  # fmt: skip
    return ("PASS" if falls and np.isfinite(losses).all() and end <= rtol else "FAIL"), detail


def resume(args: argparse.Namespace) -> tuple[str, str]:
    from safetensors.torch import load_file

    full = args.work / "pretrain_zero0"
    half = max(1, args.steps // 2)
    run = args.work / "pretrain_resumed"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(full, run)
    (run / "model.safetensors").unlink()
    (run / "checkpoints" / "latest").write_text(f"step{half:08d}\n")
    _pretrain(args, "zero0", run, "train.resume=true")
    a, b = load_file(full / "model.safetensors"), load_file(run / "model.safetensors")
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    la, lb = _losses(full)[-(args.steps - half):], _losses(run)[-(args.steps - half):]
    detail = (f"resumed at step {half}/{args.steps} from a checkpoint written on {args.device}: weights max |diff| "
              f"{diff:.2e} (<= {RESUME_ATOL}), losses of the resumed steps max relative diff "
              f"{float(np.abs(lb / la - 1).max()):.2e}")  # fmt: skip
    return ("PASS" if diff <= RESUME_ATOL and a.keys() == b.keys() else "FAIL"), detail


def fused_adam(args: argparse.Namespace) -> tuple[str, str]:
    if not args.device.startswith("cuda"):
        return "SKIP", "torch's fused Adam is used on CUDA devices only"
    from mpt.engine.distributed import setup_distributed
    from mpt.engine.trainer import setup_engine

    found = []
    for group in ("zero0", "bf16"):
        engine, _, _ = setup_engine(_cfg(args, None, f"deepspeed={group}"), setup_distributed(args.device),
                                    torch.nn.Linear(4, 4), total_steps=10)  # fmt: skip
        inner = getattr(engine.optimizer, "optimizer", engine.optimizer)  # DeepSpeed's reduced-precision wrapper
        found.append((group, type(engine.optimizer).__name__, type(inner).__name__, inner.defaults.get("fused")))
    detail = "; ".join(f"{g}: {outer} over {inner} fused={fused}" for g, outer, inner, fused in found)
    return ("PASS" if all(f is True for *_, f in found) else "FAIL"), detail


def cuda_tests(args: argparse.Namespace) -> tuple[str, str]:
    tests = ["tests/inference/test_images.py::test_gpu_matches_cpu", "tests/synthesis/test_pipeline.py::test_cuda_matches_cpu"]
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *tests],
                         cwd=args.tests_root, capture_output=True, text=True, timeout=600)  # fmt: skip
    tail = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.stderr[-300:]
    if res.returncode != 0:
        print(res.stdout[-4000:], res.stderr[-2000:], sep="\n")
        return "FAIL", tail
    return ("PASS" if "passed" in tail else "SKIP"), tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", required=True, help="demo assets folder (with amass_cache/)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default="mpt")
    parser.add_argument("--input", default="heatmap")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mpt_gpu_checks"), help="run folders go here")
    parser.add_argument("--cache", type=Path, default=None, help="paths.cache (mesh levels); default WORK/cache")
    parser.add_argument("--tests-root", type=Path, default=REPO, help="where to run pytest (a checkout with tests/)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("FAIL environment: --device cuda but torch sees no GPU")
        return 1
    args.work.mkdir(parents=True, exist_ok=True)
    args.cache = args.cache or args.work / "cache"
    check("synthesis", lambda: synthesis(args))
    check("pretrain fp32", lambda: pretrain_fp32(args))
    check("pretrain bf16", lambda: pretrain_reduced(args, "bf16", BF16_RTOL))
    check("pretrain fp16", lambda: pretrain_reduced(args, "fp16", FP16_RTOL))
    check("resume", lambda: resume(args))
    check("fused adam", lambda: fused_adam(args))
    check("cuda tests", lambda: cuda_tests(args))
    failed = [name for status, name in RESULTS if status == "FAIL"]
    print(f"{len(RESULTS) - len(failed)} of {len(RESULTS)} checks passed or skipped"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
