"""The keypoints file of ``mpt-infer keypoints=`` / ``mpt-eval keypoints=``: COCO keypoint results, checked.

Format: what every COCO-keypoint detector writes (MMPose, RTMPose, ViTPose, OpenPose converted to COCO-17, the COCO
keypoint results format of cocodataset.org): a JSON list of person entries
``{"image_id" | "file_name", "keypoints": [x1, y1, s1, ..., x17, y17, s17], "bbox"?: [x, y, w, h], "score"?}``,
keypoints in COCO's order (mpt.body.joints.COCO_KEYPOINT_NAMES) in image pixels, ``s`` a detector score (or, in
a COCO annotations file ``{"images", "annotations"}``, the visibility flag 0 / 1 / 2). Entries are matched to
images as person boxes are (mpt.inference.inputs: ``file_name`` by relative path or base name, ``image_id`` by file stem);
``category_id`` other than 1 (person) and ``iscrowd`` regions are left out.

Every problem is one :class:`mpt.errors.MptError` naming the file and the entry: not JSON, an entry without
keypoints or with another number of values than 51, non-numeric values, a NaN / inf / negative score, a non-finite
position for a keypoint with a positive score (a keypoint a detector did not find is written with score 0, and its
position is then ignored), a malformed ``bbox`` or ``score``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpt.body.joints import COCO_KEYPOINT_NAMES
from mpt.errors import MptError
from mpt.inference.inputs import entry_bbox, read_entries

__all__ = ["NUM_KEYPOINTS", "PersonKeypoints", "read_keypoints"]

NUM_KEYPOINTS = len(COCO_KEYPOINT_NAMES)  # 17


@dataclass(frozen=True)
class PersonKeypoints:
    """One person of a keypoints file: its entry number, the image it names, keypoints (17, 3) float32
    [x, y, score] in image pixels, and the optional box [x, y, w, h] and detection score."""

    entry: int
    image: str
    keypoints: np.ndarray
    bbox: tuple[float, float, float, float] | None = None
    score: float | None = None

    @property
    def rank(self) -> float:
        """How sure the detector is of the person: its score, else its keypoints' mean score."""
        return self.score if self.score is not None else float(self.keypoints[:, 2].mean())


def _names(mask: np.ndarray) -> str:
    return ", ".join(COCO_KEYPOINT_NAMES[k] for k in np.flatnonzero(mask))


def _keypoints(entry: dict, path: Path, index: int) -> np.ndarray:
    """The entry's keypoints as (17, 3) float32, checked (module docstring)."""
    where = f"{path}, entry {index}"
    if "keypoints" not in entry:
        raise MptError(f"{where}: needs 'keypoints': [x, y, score] x {NUM_KEYPOINTS} in COCO order")
    try:
        values = np.asarray(entry["keypoints"], dtype=np.float64)
    except (TypeError, ValueError):
        raise MptError(f"{where}: 'keypoints' must be a list of numbers (x, y, score per keypoint)") from None
    if values.size != 3 * NUM_KEYPOINTS or values.ndim not in (1, 2):
        raise MptError(f"{where}: 'keypoints' has {values.size} values; a COCO-17 person has {3 * NUM_KEYPOINTS} "
                       f"({NUM_KEYPOINTS} keypoints x (x, y, score), in COCO order)")  # fmt: skip
    kp = values.reshape(NUM_KEYPOINTS, 3)
    score = kp[:, 2]
    if not np.isfinite(score).all():
        raise MptError(f"{where}: keypoint scores must be finite numbers; NaN or inf at {_names(~np.isfinite(score))}")
    if (score < 0).any():
        raise MptError(f"{where}: keypoint scores must be >= 0; negative at {_names(score < 0)} (a keypoint that "
                       "was not found has score 0)")  # fmt: skip
    lost = (score > 0) & ~np.isfinite(kp[:, :2]).all(axis=1)
    if lost.any():
        raise MptError(f"{where}: keypoints with a positive score need finite x, y; not at {_names(lost)}")
    return kp.astype(np.float32)


def read_keypoints(path: str | Path) -> list[PersonKeypoints]:
    """Every person of a COCO keypoint results file (module docstring), in file order; errors name the entry."""
    path = Path(path)
    people = []
    for i, entry, name in read_entries(path, "keypoints", "'keypoints'"):
        bbox = entry_bbox(entry, path, i) if entry.get("bbox") is not None else None
        score = entry.get("score")
        if score is not None:
            try:
                score = float(score)
            except (TypeError, ValueError):
                score = math.nan
            if not math.isfinite(score):
                raise MptError(f"{path}, entry {i}: 'score' must be a finite number, got {entry['score']!r}")
        people.append(PersonKeypoints(i, name, _keypoints(entry, path, i), bbox, score))
    if not people:
        raise MptError(f"keypoints file {path} holds no person entries (category_id 1, keypoints)")
    return people
