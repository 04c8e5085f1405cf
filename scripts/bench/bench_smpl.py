"""Benchmark: mpt.body.SmplSkinning against smplx.SMPL on the same model, poses and device.

    python scripts/bench/bench_smpl.py                       # demo body, batches 1, 32, 256, CPU
    python scripts/bench/bench_smpl.py --device cuda
    python scripts/bench/bench_smpl.py --smpl data/body_models/smpl --batches 64 512

Both run the SMPL forward (shape and pose blend shapes, kinematic chain, skinning, translation) under no_grad; the
table prints each one's best time, their ratio and the largest vertex difference. Each batch size alternates the
two implementations over --repeats rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import smplx
import torch
from smplx.utils import Struct

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from timing import timed_ms  # noqa: E402  (scripts/bench/timing.py)

from mpt.body.skinning import SmplSkinning  # noqa: E402
from mpt.body.smpl_file import find_smpl_file, load_smpl_file  # noqa: E402


def compare(ours: SmplSkinning, theirs: smplx.SMPL, batch: int, device: torch.device, repeats: int,
            gen: torch.Generator) -> tuple[float, float, float]:  # fmt: skip
    """Best ms of smplx and of ours at one batch size, and the largest vertex difference."""
    pose = (torch.randn(batch, 72, generator=gen) * 0.4).to(device)
    betas = torch.randn(batch, 10, generator=gen).to(device)
    transl = torch.randn(batch, 3, generator=gen).to(device)

    def run_ours() -> torch.Tensor:
        return ours(pose, betas, transl)[0]

    def run_theirs() -> torch.Tensor:
        return theirs(betas=betas, global_orient=pose[:, :3], body_pose=pose[:, 3:], transl=transl).vertices

    diff = (run_ours() - run_theirs()).abs().max().item()  # also the warm-up
    best = [float("inf"), float("inf")]
    for _ in range(repeats):  # alternate, so a busy moment of a shared machine hits both
        best[0] = min(best[0], timed_ms(run_theirs, device))
        best[1] = min(best[1], timed_ms(run_ours, device))
    return best[0], best[1], diff


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--repeats", type=int, default=10, help="timed rounds per batch size (best is reported)")
    ap.add_argument("--smpl", default=None, help="real SMPL folder or file instead of the demo body")
    ap.add_argument("--assets", default=None, help="folder for the generated demo assets (default: a temp folder)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but torch sees no CUDA device")
    if args.smpl:
        path = find_smpl_file(args.smpl, "neutral")
    else:
        from tools.standin.make_assets import make_demo_assets

        root = Path(args.assets) if args.assets else Path(tempfile.mkdtemp(prefix="mpt_bench_assets_"))
        path = find_smpl_file(make_demo_assets(root, seed=0).smpl_dir, "neutral")
    data = load_smpl_file(path)
    ours = SmplSkinning(data).to(device)
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for SMPL's 10 betas
        theirs = smplx.SMPL(model_path=".", data_struct=Struct(**data), num_betas=10).to(device)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; smplx {version('smplx')}; model {path}")
    print(f"{'batch':>6s}{'smplx.SMPL':>14s}{'SmplSkinning':>16s}{'speed-up':>10s}{'max |diff|':>13s}")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for b in args.batches:
            theirs_ms, ours_ms, diff = compare(ours, theirs, b, device, args.repeats, gen)
            print(f"{b:6d}{theirs_ms:11.2f} ms{ours_ms:13.2f} ms{theirs_ms / ours_ms:9.2f}x{diff:13.2e}")


if __name__ == "__main__":
    main()
