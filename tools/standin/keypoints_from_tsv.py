"""A COCO keypoint results file (and the images) from a METRO TSV set's 2D labels, as a 2D detector would write.

    python -m tools.standin.keypoints_from_tsv --tsv data/demo/tsv/human3.6m --split valid_protocol2 \\
        --out outputs/demo/lift/keypoints.json --images outputs/demo/lift/images --count 3 --every 20 --noise 2

Each row's first person gives one entry ``{"file_name", "keypoints": [x, y, score] x 17, "score"}``: its COCO-17
keypoints (the J24 slots of mpt.data.joints24.J24_COCO17), moved by Gaussian noise of ``--noise`` pixels per axis
(a detector's error; 0 keeps the labels), score 1 where the label's conf is positive and 0 elsewhere, person score 1.
``--bbox`` adds the row's box (``center``, ``scale * 200``) as ``bbox``. ``--images`` also writes the rows' images
as JPEG files named like the entries (their base names), so ``mpt-infer keypoints=... images=...`` draws overlays.
For the demo (scripts/demo.sh) and for trying ``mpt-infer keypoints=`` / ``mpt-eval keypoints=`` on a labelled set.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

import numpy as np

from mpt.atomic import write_bytes_atomic, write_text_atomic
from mpt.data.image_dataset import MeshTSVDataset
from mpt.data.joints24 import J24_COCO17

__all__ = ["keypoints_from_tsv", "main"]


def keypoints_from_tsv(tsv: str | Path, split: str, out: str | Path, images: str | Path | None = None,
                       count: int | None = None, noise: float = 0.0, bbox: bool = False, seed: int = 0,
                       every: int = 1) -> list[dict]:  # fmt: skip
    """Write the keypoints file ``out`` (and the images into ``images``) for every ``every``-th row, the first
    ``count`` of them with 2D labels (all when None); returns the entries (module docstring)."""
    dataset = MeshTSVDataset(tsv, split)
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(0, len(dataset), every):
        if count is not None and len(entries) >= count:
            break
        labels = dataset.labels(i)
        if not labels["has_2d"]:
            continue
        kp = labels["joints2d_px"][list(J24_COCO17)].numpy().copy()  # (17, 3) x, y, conf
        kp[:, :2] += rng.normal(0.0, noise, (len(kp), 2)) if noise > 0 else 0.0
        kp[:, 2] = (kp[:, 2] > 0).astype(np.float64)
        name = dataset.image_name(i)
        entry = {"file_name": Path(name).name, "keypoints": np.round(kp, 3).ravel().tolist(), "score": 1.0}
        if bbox:
            c, side = labels["center"].numpy(), float(labels["box_size"])
            entry["bbox"] = [round(float(c[0]) + 0.5 - side / 2, 3), round(float(c[1]) + 0.5 - side / 2, 3),
                             round(side, 3), round(side, 3)]  # COCO [x, y, w, h]: pixel i covers [i, i + 1)
        entries.append(entry)
        if images is not None:
            b64 = dataset.img_tsv[int(dataset.rows[i])][-1]
            write_bytes_atomic(Path(images) / Path(name).name, base64.b64decode(b64))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(out), "[\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]\n")  # a person a line
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsv", required=True, help="the set's folder (<split>.img.tsv, <split>.label.tsv)")
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", required=True, help="the keypoints JSON file to write")
    parser.add_argument("--images", help="also write the rows' images into this folder")
    parser.add_argument("--count", type=int, help="only the first N rows with 2D labels")
    parser.add_argument("--every", type=int, default=1, help="take every N-th row")
    parser.add_argument("--noise", type=float, default=0.0, help="Gaussian noise, pixels per axis")
    parser.add_argument("--bbox", action="store_true", help="add the row's box as 'bbox'")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.images:
        Path(args.images).mkdir(parents=True, exist_ok=True)
    entries = keypoints_from_tsv(args.tsv, args.split, args.out, args.images, args.count, args.noise, args.bbox,
                                 args.seed, args.every)  # fmt: skip
    print(f"wrote {len(entries)} people to {args.out}" + (f" and their images to {args.images}" if args.images else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
