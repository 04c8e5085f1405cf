"""Correctness checks for a GPU (scripts/bench/gpu.sh runs them first): one PASS / FAIL / SKIP line per check.

    python scripts/bench/gpu_checks.py --assets DEMO [--device cuda|cpu] [--model mpt] [--input heatmap]
                                       [--batch 32] [--steps 20] [--work DIR] [--cache DIR] [--motion-cache DIR]
                                       [--tests-root DIR]

DEMO is a folder made by tools/standin/make_assets.py with the motion cache of tools/prepare_amass.py in
DEMO/amass_cache (scripts/demo.sh and gpu.sh make both).

1. synthesis: heatmaps synthesised on the device equal the CPU's for the same bodies and random draws: maps and 3D
   targets (joints, vertices, metres) within 1e-4, the tolerance of the CPU suite's test of the same comparison
   (float32 GEMMs sum in another order on a GPU; 1e-6 m would be one float32 step at 5 m).
2. pretrain fp32: the model's loss and gradients on one synthesised batch on the device against the CPU's (same
   weights, same batch, TF32 as training uses it), then ``--steps`` steps of mpt-pretrain lower the loss.
   pretrain bf16 / fp16: the same steps follow the fp32 run (tolerances and reasons at BF16_RTOL / FP16_RTOL).
   fp16 is the precision the CPU test suite cannot train (DeepSpeed's CPU accelerator refuses it without oneDNN
   fp16 kernels).
3. resume: the fp32 run's mid-way checkpoint, written on the device, resumes (the resumed run's log starts after
   the checkpoint's step) and ends where the uninterrupted run ended, within RESUME_ATOL (GPU kernels are not
   bitwise deterministic). A run that started over instead of resuming is a FAIL.
4. fused Adam: an optimizer step of the engine, in fp32 and in bf16, calls torch's fused Adam kernel.
5. CUDA tests: tests/inference/test_images.py::test_gpu_matches_cpu and
   tests/synthesis/test_pipeline.py::test_cuda_matches_cpu (run with pytest from the checkout, without pytest-xdist:
   the project's addopts are replaced).

``--device cpu`` runs every check as far as a CPU allows, as a smoke test of this script: the synthesis compares two
CPU copies, a precision DeepSpeed refuses here is skipped (after checking that it refuses it), fused Adam is skipped
and the CUDA tests report their skips. Exit status 1 when a check fails. The pre-training runs also print their
samples/s and peak GPU memory (the speed figures of gpu.sh).
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
# Device against CPU, as tests/synthesis/test_pipeline.py::test_cuda_matches_cpu: float32 SMPL and projections whose
# sums run in another order (1e-6 m would be a single float32 step at 5 m).
MAP_ATOL = 1e-4  # heatmaps in [0, 1]
TARGET_ATOL_M = 1e-4  # metres
# One batch through the model on the device (TF32 matmuls, as training runs) against the CPU (IEEE fp32): TF32 keeps
# 10 mantissa bits, ~5e-4 relative per product, averaged over the sums of a forward and backward pass.
BATCH_LOSS_RTOL = 1e-2
BATCH_GRAD_COSINE = 0.999
# bf16 keeps 8 significant bits in the forward and backward: the CPU suite measures 1.7e-2 relative after 4 steps
# of the tiny model (tests/engine/test_precision_runs.py); over 20 Adam steps the two runs drift further apart.
BF16_RTOL = 0.10
# fp16 keeps 11 bits, but DeepSpeed's dynamic loss scale starts at 2^8 (configs/deepspeed/fp16.yaml) and skips the steps whose gradients
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

    overrides = [f"paths.data_root={args.assets}", f"paths.motion_cache={args.motion_cache}",
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


def _steps(run: Path) -> list[int]:
    """The steps of the train lines of a run's metrics.jsonl, in order."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if r["kind"] == "train"]


def _rate(run: Path, batch: int) -> str:
    """samples/s between the first logged step after warm-up and the last (the speed figure of this run)."""
    rows = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]
    first = next((r for r in rows if r["step"] >= min(5, rows[-1]["step"] - 1)), rows[0])
    last = rows[-1]
    peak = last.get("peak_gpu_memory_gib")
    memory = "" if peak is None else f", peak GPU memory {peak:.2f} GiB"
    if last["step"] <= first["step"]:
        return "n/a" + memory
    return f"{(last['step'] - first['step']) * batch / (last['time'] - first['time']):.4g} samples/s{memory}"


def _pretrain(args: argparse.Namespace, group: str, out: Path, *extra: str, fresh: bool = True) -> None:
    """``--steps`` steps of mpt-pretrain into ``out``; ``fresh``: delete ``out`` first (not when resuming it)."""
    from mpt.engine.pretrain import pretrain

    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    pretrain(_cfg(args, out, f"deepspeed={group}", f"train.max_steps={args.steps}", "train.log_every=1",
                  f"train.ckpt_every={max(1, args.steps // 2)}", "train.val_every=1000000",
                  "train.max_val_samples=32", *extra))  # fmt: skip
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def fresh_model_and_batch(cfg, size: int) -> tuple[torch.nn.Module, torch.nn.Module, dict, dict]:
    """(body, freshly initialised model, one synthesised training batch, its targets), all on the CPU: the batch is
    the motion cache's first ``size`` bodies with a fixed generator, so every caller sees the same one."""
    from mpt.data.motion_cache import MotionCache
    from mpt.engine.builders import build_body_model, build_cameras, build_model, build_synthesizer
    from mpt.engine.targets import VertexDownsampler, synthesis_targets

    body = build_body_model(cfg, genders_from_cache=True)
    model, levels = build_model(cfg, body)
    synth = build_synthesizer(cfg, body, build_cameras(cfg))
    with torch.no_grad():
        batch = MotionCache(cfg.data.cache, "train").batch(np.arange(size))
        syn = synth(batch, generator=torch.Generator().manual_seed(0), train=True)
        target = synthesis_targets(syn, VertexDownsampler(levels))
    return body, model, syn, target


def _batch_loss(args: argparse.Namespace) -> dict[str, tuple[float, torch.Tensor]]:
    """Loss and flattened gradient of the model on one synthesised training batch, on the CPU and on the device:
    the same initial weights (build_model seeds them), the same batch (synthesised once on the CPU), eval mode
    (no random masking or dropout, BatchNorm's initial statistics), TF32 on the device as training sets it."""
    import copy

    from mpt.engine.builders import loss_weights
    from mpt.engine.precision import use_tf32_for_the_model
    from mpt.engine.targets import mesh_predictions
    from mpt.losses import mesh_losses

    cfg = _cfg(args)
    body, model, syn, target = fresh_model_and_batch(cfg, args.batch)
    out = {}
    for device in dict.fromkeys(("cpu", args.device)):
        dev = torch.device(device)
        use_tf32_for_the_model(dev, cfg.train.tf32)
        net, body_d = copy.deepcopy(model).to(dev).eval(), copy.deepcopy(body).to(dev)
        loss = mesh_losses(mesh_predictions(net(syn["inputs"].to(dev)), body_d),
                           {k: v.to(dev) for k, v in target.items()}, loss_weights(cfg))["loss"]  # fmt: skip
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None]).double().cpu()
        out["cpu" if dev.type == "cpu" else "device"] = (float(loss.detach()), grad)
    return out


def pretrain_fp32(args: argparse.Namespace) -> tuple[str, str]:
    one = _batch_loss(args)
    (cpu_loss, cpu_grad), (dev_loss, dev_grad) = one["cpu"], one.get("device", one["cpu"])
    loss_rel = abs(dev_loss / cpu_loss - 1)
    cosine = float(torch.nn.functional.cosine_similarity(dev_grad, cpu_grad, dim=0))
    agree = loss_rel <= BATCH_LOSS_RTOL and cosine >= BATCH_GRAD_COSINE
    run = args.work / "pretrain_zero0"
    _pretrain(args, "zero0", run)
    losses = _losses(run)
    w = max(1, len(losses) // 4)
    falls = losses[-w:].mean() < losses[:w].mean()
    detail = (f"one batch on {args.device} vs cpu: loss {dev_loss:.4g} vs {cpu_loss:.4g} ({loss_rel:.1e} relative, "
              f"<= {BATCH_LOSS_RTOL}), gradient cosine {cosine:.6f} (>= {BATCH_GRAD_COSINE}); {len(losses)} steps, "
              f"loss {losses[:w].mean():.2f} -> {losses[-w:].mean():.2f} (means of the first and last {w}); "
              f"{_rate(run, args.batch)}")  # fmt: skip
    return ("PASS" if agree and falls and np.isfinite(losses).all() else "FAIL"), detail


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
    logged = len(_steps(run))
    _pretrain(args, "zero0", run, "train.resume=true", fresh=False)
    steps = _steps(run)[logged:]  # what the resumed run logged after the copied log
    resumed = bool(steps) and steps[0] == half + 1 and steps[-1] == args.steps
    a, b = load_file(full / "model.safetensors"), load_file(run / "model.safetensors")
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    la, lb = _losses(full)[-(args.steps - half):], _losses(run)[-(args.steps - half):]
    detail = (f"checkpoint of step {half}/{args.steps} written on {args.device}: the resumed run logged steps "
              f"{steps[0] if steps else '-'}..{steps[-1] if steps else '-'} (expected {half + 1}..{args.steps}); "
              f"weights max |diff| {diff:.2e} (<= {RESUME_ATOL}), losses of the resumed steps max relative diff "
              f"{float(np.abs(lb / la - 1).max()):.2e}")  # fmt: skip
    return ("PASS" if resumed and diff <= RESUME_ATOL and a.keys() == b.keys() else "FAIL"), detail


def fused_adam(args: argparse.Namespace) -> tuple[str, str]:
    """One optimizer step of the engine (fp32, bf16) with torch's fused Adam kernel counted as it runs."""
    if not args.device.startswith("cuda"):
        return "SKIP", "torch's fused Adam is used on CUDA devices only"
    from mpt.engine.distributed import setup_distributed
    from mpt.engine.trainer import setup_engine

    dist = setup_distributed(args.device)
    real, calls = torch._fused_adam_, []

    def counting(*a, **kw):  # torch.optim.adam._fused_adam looks the kernel up on torch at every step
        calls.append(1)
        return real(*a, **kw)

    found = []
    torch._fused_adam_ = counting
    try:
        for group in ("zero0", "bf16"):
            engine, _, dtype = setup_engine(_cfg(args, None, f"deepspeed={group}"), dist,
                                            torch.nn.Linear(4, 4), total_steps=10)  # fmt: skip
            before = len(calls)
            engine.train()
            loss = engine(torch.randn(args.batch, 4, device=dist.device, dtype=dtype)).float().square().mean()
            engine.backward(loss)
            engine.step()
            found.append((group, type(engine.optimizer).__name__, len(calls) - before))
    finally:
        torch._fused_adam_ = real
    detail = "; ".join(f"{g}: {name}, fused Adam kernel calls in one step: {n}" for g, name, n in found)
    return ("PASS" if all(n > 0 for *_, n in found) else "FAIL"), detail


def cuda_tests(args: argparse.Namespace) -> tuple[str, str]:
    tests = ["tests/inference/test_images.py::test_gpu_matches_cpu",
             "tests/synthesis/test_pipeline.py::test_cuda_matches_cpu"]
    # The project's addopts ask for pytest-xdist (-n auto), which the device image lacks: replace them.
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:xdist",
                          "-o", "addopts=", *tests],
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
    parser.add_argument("--motion-cache", type=Path, default=None, help="default ASSETS/amass_cache")
    parser.add_argument("--tests-root", type=Path, default=REPO, help="where to run pytest (a checkout with tests/)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("FAIL environment: --device cuda but torch sees no GPU")
        return 1
    args.work.mkdir(parents=True, exist_ok=True)
    args.cache = args.cache or args.work / "cache"
    args.motion_cache = args.motion_cache or Path(args.assets) / "amass_cache"
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
