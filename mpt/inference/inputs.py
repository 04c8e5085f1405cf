"""Reading the inputs of inference: image files, person boxes and the person entries of COCO-style JSON files
(boxes here; keypoints in mpt.inference.keypoints), and the image crop of a person box.

Formats of the boxes file, and the box and pixel conventions: mpt/inference/images.py's docstring.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from mpt.errors import MptError
from mpt.geometry.crop import crop_image

log = logging.getLogger("mpt.infer")

CROP_SIZE = 224  # the image crop of fine-tuning and evaluation (mpt.engine.image_batches.build_image_set)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
COCO_PERSON = 1  # COCO's category_id of a person


@dataclass(frozen=True)
class PersonBox:
    """A person box ``[x, y, w, h]`` in COCO's continuous pixel coordinates, with the detector score if given, and
    for keypoint lifting the person's 17 COCO keypoints (17, 3) [x, y, score] in image pixels."""

    xywh: tuple[float, float, float, float] | None
    score: float | None = None
    keypoints: np.ndarray | None = None


def list_images(path: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The image files named by ``path`` (a file, or a folder's files, sorted) and the skipped ones with why.

    Folders are not descended into. Whether an image decodes is checked when it is read.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise MptError(f"{path} is not an image file (expected one of {sorted(IMAGE_SUFFIXES)})")
        return [path], []
    if not path.is_dir():
        raise MptError(f"images={path} does not exist: give an image file or a folder of images")
    images, skipped = [], []
    for p in sorted(q for q in path.iterdir() if q.is_file()):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        else:
            skipped.append((p, f"not an image file (suffix {p.suffix or 'none'!r})"))
    if not images:
        raise MptError(f"no image files in {path} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return images, skipped


def read_image(path: Path) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB (EXIF orientation applied, grey and 16-bit converted), or None if it does not decode."""
    data = np.fromfile(path, dtype=np.uint8)  # imdecode, not imread: non-ASCII paths work everywhere
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def entry_bbox(entry: dict[str, Any], path: Path, index: int) -> tuple[float, float, float, float]:
    box = entry.get("bbox")
    try:
        x, y, w, h = (float(v) for v in box)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise MptError(f"{path}, entry {index}: 'bbox' must be [x, y, w, h], got {box!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise MptError(f"{path}, entry {index}: 'bbox' [x, y, w, h] needs finite values and w, h > 0, got {box!r}")
    return x, y, w, h


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to the images folder ``root`` (POSIX), or its file name when it lies elsewhere."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


def read_entries(path: str | Path, what: str, keys: str) -> list[tuple[int, dict[str, Any], str]]:
    """The person entries of a COCO-style JSON file: ``(index, entry, image name)`` for each person entry.

    The file is a results list or a COCO annotations file (formats: mpt/inference/images.py's docstring); ``what`` names the file in messages
    ("boxes", "keypoints") and ``keys`` the per-entry keys it needs. Entries of another category than person, and
    crowd regions, are left out. The image name is the entry's ``file_name``, or its ``image_id`` (resolved through
    an annotations file's ``images``). An unreadable file or an entry that is not an object or names no image is an
    error naming the file and the entry.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MptError(f"{what} file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MptError(f"{what} file {path} is not readable JSON ({exc})") from None
    id_to_name: dict[str, str] = {}
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        for img in data.get("images") or []:
            if isinstance(img, dict) and "id" in img and "file_name" in img:
                id_to_name[str(img["id"])] = str(img["file_name"])
        entries = data["annotations"]
    elif isinstance(data, list):
        entries = data
    else:
        raise MptError(f"{what} file {path}: expected a JSON list of {{'file_name' or 'image_id', {keys}}} entries "
                       "or a COCO annotations file (keys 'images', 'annotations')")  # fmt: skip
    people = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise MptError(f"{path}, entry {i}: expected an object with {keys}, got {type(entry).__name__}")
        if entry.get("category_id", COCO_PERSON) != COCO_PERSON or entry.get("iscrowd", 0):
            continue
        if "file_name" in entry:
            name = str(entry["file_name"])
        elif "image_id" in entry:
            name = id_to_name.get(str(entry["image_id"]), str(entry["image_id"]))
        else:
            raise MptError(f"{path}, entry {i}: needs 'file_name' or 'image_id' to say which image the person is in")
        people.append((i, entry, name))
    return people


def image_keys(images: Sequence[Path], root: Path) -> dict[str, Path]:
    """The names an entry may use for each image: its path relative to ``root``, its base name, its stem, and its
    stem as an integer when it is one (COCO's ``000000397133.jpg`` is image_id 397133)."""
    by_key: dict[str, Path] = {}
    for img in images:
        for key in (relative_name(img, root), img.name, img.stem):
            by_key.setdefault(key, img)
        if img.stem.isdigit():
            by_key.setdefault(str(int(img.stem)), img)
    return by_key


def match_image(name: str, by_key: dict[str, Path]) -> Path | None:
    """The image an entry's name refers to (see :func:`image_keys`), or None."""
    return by_key.get(name) or by_key.get(Path(name).name) or by_key.get(Path(name).stem)


def read_boxes(path: str | Path, images: Sequence[Path], root: Path, min_score: float = 0.0
               ) -> dict[Path, list[PersonBox]]:  # fmt: skip
    """Person boxes per image from a boxes JSON file (formats: mpt/inference/images.py's docstring).

    ``root`` is the images folder (file names are matched relative to it). Entries naming no listed image are
    reported in one message; a malformed file or entry is an error naming the file and the entry.
    """
    path = Path(path)
    by_key = image_keys(images, root)
    boxes: dict[Path, list[PersonBox]] = {img: [] for img in images}
    unmatched: list[str] = []
    for i, entry, name in read_entries(path, "boxes", "'bbox'"):
        score = entry.get("score")
        if score is not None and float(score) < min_score:
            continue
        xywh = entry_bbox(entry, path, i)
        img = match_image(name, by_key)
        if img is None:
            unmatched.append(name)
            continue
        boxes[img].append(PersonBox(xywh, None if score is None else float(score)))
    if unmatched:
        log.warning("%s: %d boxes name images that are not among the inputs (e.g. %s); they are ignored",
                    path, len(unmatched), ", ".join(sorted(set(unmatched))[:3]))  # fmt: skip
    return boxes


def crop_boxes(xywh: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """COCO boxes (N, 4) -> crop centres (N, 2) in mpt's pixel-centre convention and square crop sides (N,)."""
    center = xywh[:, :2] + xywh[:, 2:] / 2 - 0.5
    return center, scale * xywh[:, 2:].amax(dim=1)


def crop_people(image: np.ndarray, center: torch.Tensor, size: torch.Tensor, crop_size: int = CROP_SIZE
                ) -> torch.Tensor:  # fmt: skip
    """(N, S, S, 3) uint8 crops of an RGB image, made by the training crop (mpt.geometry.crop.crop_image)."""
    crops = [crop_image(image, c, float(s), crop_size) for c, s in zip(center.tolist(), size.tolist(), strict=True)]
    return torch.from_numpy(np.stack(crops))


def images_and_root(images_arg: Path, out: str) -> tuple[list[Path], list[tuple[Path, str]], Path]:
    """The images named by ``images=`` (:func:`list_images`), the skipped files, and the folder names are relative
    to; ``out`` must be another folder."""
    images, skipped = list_images(images_arg)
    root = images_arg if images_arg.is_dir() else images_arg.parent
    if Path(out).resolve() == root.resolve():
        raise MptError(f"out={out} is the images folder: write the outputs to another folder (a rerun would "
                       "read them as inputs)")  # fmt: skip
    return images, skipped, root
