"""``mpt-eval keypoints=labels|<file>``: an image set's rows as 2D keypoints to lift, with their 3D targets.

Each row of the set (mpt.data.image_dataset.MeshTSVDataset, read without decoding its image) gives its 3D targets
as image evaluation reads them, and the crop box image evaluation uses: ``center`` and ``scale * 200`` pixels. The
keypoints are the row's own 2D labels (``keypoints=labels``: the 17 COCO slots of METRO's J24 ``2d_joints``,
mpt.data.joints24.J24_COCO17, their conf as score) or the person of a keypoints file whose entry names the row's
image (matched as mpt-infer matches images: relative path, base name, stem); with several people on one image, the
one the detector is surest of (its score, else its keypoints' mean score).

Rows without keypoints (no entry for the image; ``has_2d_joints`` 0 for labels), with fewer than ``min_keypoints``
confident keypoints, or with a malformed label are left out and counted by reason. A set none of whose rows has 2D
labels (METRO's own Human3.6M valid.protocol2 TSV has none) gives ``keypoints=labels`` a clear error, and so does
a keypoints file entry naming an image that is not in the set.

Known gap of the oracle row: pre-training draws the COCO hips from SMPL's hip joints (mpt.body.BodyModel
.coco_keypoints), while a set's 2D labels carry its annotated or regressed hips (Human3.6M's from its own
skeleton), which sit elsewhere on the body.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from mpt.data.image_dataset import ImageSetError, MeshTSVDataset
from mpt.data.joints24 import J24_COCO17
from mpt.errors import MptError
from mpt.inference.inputs import image_keys, match_image
from mpt.inference.keypoints import PersonKeypoints, read_keypoints
from mpt.inference.maps import LiftOptions, confident, keypoint_maps

__all__ = ["LABELS", "KeypointRows", "LiftedRows", "keypoint_rows"]

log = logging.getLogger("mpt.eval")

LABELS = "labels"  # keypoints=labels: the set's own 2D labels


class KeypointRows(Dataset):
    """Rows ready to lift: per item ``keypoints`` (17, 3) float32 image pixels + score, ``center`` (2,) and
    ``side`` () float32, the crop box, and the 3D targets of an image-set item (``joints3d``, ``pose``, ``betas``,
    ``has_3d``, ``has_smpl``, ...)."""

    def __init__(self, items: list[dict[str, torch.Tensor]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.items[index]


def _file_people(path: Path, dataset: MeshTSVDataset) -> list[PersonKeypoints | None]:
    """Per row of ``dataset``, the person of the keypoints file on its image (the surest one), or None."""
    names = [Path(dataset.image_name(i)) for i in range(len(dataset))]
    by_key = image_keys(names, Path())
    best: dict[Path, PersonKeypoints] = {}
    for person in read_keypoints(path):
        name = match_image(person.image, by_key)
        if name is None:
            raise MptError(f"{path}, entry {person.entry}: names image {person.image!r}, which is not in the "
                           f"evaluation set {dataset.name} ({dataset.folder}, split '{dataset.split}'); keep only "
                           "the set's images in the keypoints file")  # fmt: skip
        if name not in best or person.rank > best[name].rank:
            best[name] = person
    return [best.get(name) for name in names]


def keypoint_rows(dataset: MeshTSVDataset, source: str, opt: LiftOptions) -> tuple[KeypointRows, dict[str, Any]]:
    """The rows of ``dataset`` with keypoints from ``source`` ("labels" or a keypoints file); also a summary:
    {"source", "rows" (kept), "skipped" {reason: count}} (module docstring)."""
    people = None if source == LABELS else _file_people(Path(source), dataset)
    items, skipped = [], Counter()
    for i in range(len(dataset)):
        try:
            labels = dataset.labels(i)
        except ImageSetError as exc:
            log.warning("skipping: %s", exc)
            skipped["malformed label"] += 1
            continue
        if people is None:
            if not labels["has_2d"]:
                skipped["no 2D labels"] += 1
                continue
            kp = labels["joints2d_px"][list(J24_COCO17)].float()
        elif people[i] is None:
            skipped["no keypoints for the image"] += 1
            continue
        else:
            kp = torch.from_numpy(people[i].keypoints)
        if int(confident(kp, opt.min_score).sum()) < opt.min_keypoints:
            skipped[f"fewer than {opt.min_keypoints} keypoints scoring >= {opt.min_score:g}"] += 1
            continue
        targets = {k: v for k, v in labels.items() if k not in ("joints2d_px", "center", "box_size")}
        items.append({**targets, "keypoints": kp, "center": labels["center"].float(),
                      "side": labels["box_size"].float(), "index": torch.tensor(i)})  # fmt: skip
    where = f"{dataset.name} ({dataset.folder}, split '{dataset.split}')"
    if people is None and skipped["no 2D labels"] == len(dataset):
        raise MptError(f"keypoints=labels: no row of {where} has 2D labels (has_2d_joints is 0 in every row, as in "
                       "METRO's Human3.6M valid.protocol2 TSV); give a detector's keypoints instead, "
                       "keypoints=<COCO keypoint results file>")  # fmt: skip
    if not items:
        raise MptError(f"no row of {where} can be lifted from {source}: {dict(skipped)}")
    return KeypointRows(items), {"source": source, "rows": len(items), "skipped": dict(skipped)}


class LiftedRows:
    """What ``mpt-eval keypoints=...`` evaluates: the rows (:func:`keypoint_rows`), a ``predict(batch)`` for
    mpt.engine.evaluate.mesh_errors that draws the batch's maps on ``device`` and runs the model from them, the
    summary for eval.json, and the ``vis=N`` pictures."""

    def __init__(self, cfg: Any, model_cfg: Any, model: Any, dataset: MeshTSVDataset, device: torch.device) -> None:
        self.opt = LiftOptions.from_configs(cfg, model_cfg, f"the model {cfg.checkpoint}")
        self.model, self.images, self.device = model, dataset, device
        self.rows, self.summary = keypoint_rows(dataset, str(cfg.keypoints), self.opt)

    def predict(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        maps = keypoint_maps(batch["keypoints"], batch["center"], batch["side"], self.opt)  # on the batch's device
        return self.model.from_maps(maps)

    @torch.no_grad()
    def write_overlays(self, body: Any, out_dir: Path, n: int) -> list[Path]:
        """The first ``n`` rows' image crops (as image evaluation crops them) | the lifted mesh over the crop, with
        the keypoints it was lifted from."""
        from torch.utils.data import default_collate

        from mpt.engine.visualize import crop_overlay
        from mpt.geometry.crop import points_to_crop
        from mpt.inference.outputs import write_png

        written = []
        self.model.eval()
        for k in range(min(n, len(self.rows))):
            row = self.rows[k]
            index = int(row["index"])
            image = self.images[index]["image"]  # (3, S, S), the evaluation crop (no augmentation)
            pred = self.predict({key: v.to(self.device) for key, v in default_collate([row]).items()})
            kp = points_to_crop(row["keypoints"][None, :, :2], row["center"][None], row["side"][None],
                                image.shape[-1])  # fmt: skip
            used = confident(row["keypoints"][None], self.opt.min_score)
            path = out_dir / f"{k:04d}_{Path(self.images.image_name(index)).stem}.png"
            write_png(path, crop_overlay(image, pred["vertices"], pred["camera"], body.faces, kp.numpy(),
                                         used.numpy()))  # fmt: skip
            written.append(path)
        return written
