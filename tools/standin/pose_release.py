"""The released stand-in COCO keypoint weights of the demo's pose network, installed where ``backbone=demo_pose``
reads them, as a user puts downloaded COCO weights under their data root.

    python -m tools.standin.pose_release --data-root data/demo

The paper's pose network starts from COCO keypoint weights that a user downloads. The demo cannot download them, so
this repository releases its own: SimpleBaseline ResNet-18 (backbone config ``demo_pose``) trained once by
tools/standin/train_pose.py on the rendered keypoint set, with the command, seed, data fingerprint and time in
``manifest.json`` beside the file (:data:`RELEASE`), its PCK on the protocol-2 images and on the selection set in
``keypoints.json``, and how often its maps tell a person's left from right (``left_right``). The weights are
stored as float16 (half the file; loaded into float32 parameters, and measured as stored). This copies the files
to ``<data root>/pose/`` after checking the file's sha256 against the manifest; a copy already there with the right
sha256 is left as it is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from mpt.atomic import atomic_path
from mpt.engine.checkpoint import sha256_of
from mpt.errors import MptError

__all__ = ["RELEASE", "WEIGHTS_NAME", "install_demo_pose", "main", "release_manifest"]

RELEASE = Path(__file__).resolve().parent / "weights" / "demo_pose"
WEIGHTS_NAME = "simplebaseline_r18_demo.pth"  # configs/backbone/demo_pose.yaml: ${paths.data_root}/pose/<this>
FILES = (WEIGHTS_NAME, "keypoints.json", "manifest.json", "train_log.jsonl")


def release_manifest(release: Path = RELEASE) -> dict:
    """The release's manifest.json (command, options, data fingerprint, sha256, time)."""
    try:
        return json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MptError(f"{release / 'manifest.json'} is missing or unreadable ({exc}); restore it with git "
                       f"checkout -- {release}") from None  # fmt: skip


def install_demo_pose(data_root: str | Path, release: Path = RELEASE) -> Path:
    """Copy the released weights and their records to ``<data_root>/pose/``; returns the weights' path there.
    Weights already there with the right sha256 are kept; records that differ from the release's are replaced.

    Raises MptError when the released file does not match its recorded sha256 (a partial checkout, or a Git LFS
    pointer instead of the file).
    """
    want = release_manifest(release)["sha256"]
    src = release / WEIGHTS_NAME
    if not src.is_file() or sha256_of(src) != want:
        raise MptError(f"{src} is missing or does not match the sha256 in {release / 'manifest.json'} ({want}); "
                       f"restore it with git checkout -- {src}")  # fmt: skip
    out = Path(data_root) / "pose"
    out.mkdir(parents=True, exist_ok=True)
    dest = out / WEIGHTS_NAME
    for name in FILES[1:]:  # the records, also beside weights installed earlier (a later measure, e.g. left_right)
        if not (out / name).is_file() or (out / name).read_bytes() != (release / name).read_bytes():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(release / name, tmp)
    if dest.is_file() and sha256_of(dest) == want:
        return dest
    with atomic_path(dest) as tmp:  # the weights last: their presence means the copy is whole
        shutil.copyfile(src, tmp)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="paths.data_root (the weights go to its pose/ folder)")
    args = parser.parse_args(argv)
    try:
        dest = install_demo_pose(args.data_root)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kp = json.loads((dest.parent / "keypoints.json").read_text(encoding="utf-8"))
    from tools.standin.train_pose import left_right_text

    print(f"{dest}: released stand-in weights (sha256 checked); PCK@0.1 {kp['pck@0.1']:.3f}{left_right_text(kp)} "
          f"on {kp['set']} at {kp['crop']} px crops; made by: {release_manifest()['command']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
