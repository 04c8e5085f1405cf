"""Does a pre-trained model give a body with depth? Principal extents of its meshes on held-out motions.

    python tools/mesh_thickness.py --checkpoint outputs/demo/pretrain [OVERRIDE ...]
    e.g. python tools/mesh_thickness.py --checkpoint outputs/demo/pretrain experiment=demo_pretrain

Prints the mean principal extents (mm, largest first: standard deviations of the vertices along the principal axes)
of the predicted and the ground-truth meshes over the
validation split of the motion cache (the held-out motions, filmed by the validation cameras as pre-training
validates) and their ratio on the smallest axis (mpt.engine.thickness); ``--min-ratio R`` makes the exit status 1
below R (0.7: the demo's bar for a body rather than a paper-thin sheet). The overrides compose a pre-training
config (paths, data, cameras); the architecture comes from the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mpt.errors import MptError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a pre-training export folder (mpt-pretrain's output)")
    parser.add_argument("--samples", type=int, default=192, help="validation samples, spread over the split")
    parser.add_argument("--min-ratio", type=float, default=None, help="exit 1 when the ratio is below this")
    parser.add_argument("--json", default=None, help="also write the result here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the pre-training config")
    args = parser.parse_args(argv)
    from mpt.atomic import write_json_atomic
    from mpt.config import compose_config
    from mpt.engine.thickness import mesh_thickness

    try:
        result = mesh_thickness(compose_config("pretrain", list(args.overrides)), args.checkpoint, args.samples)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fmt = lambda v: " / ".join(f"{x:.0f}" for x in v)  # noqa: E731
    print(f"{args.checkpoint}: principal extents over {result['samples']} held-out samples of {result['split']}: "
          f"predicted {fmt(result['pred_mm'])} mm, ground truth {fmt(result['gt_mm'])} mm; smallest-axis ratio "
          f"{result['ratio']:.2f}")  # fmt: skip
    if args.json:
        write_json_atomic(Path(args.json), {"checkpoint": args.checkpoint, **result})
    if args.min_ratio is not None and result["ratio"] < args.min_ratio:
        print(f"below {args.min_ratio}: the meshes are thinner than a body; pre-train longer", file=sys.stderr)
        return 1
    print(json.dumps({"ratio": round(result["ratio"], 3)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
