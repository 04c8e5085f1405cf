"""One METRO-style TSV image set as a torch Dataset: decode, crop 224x224 around the person, augment, normalise.

Follows microsoft/MeshTransformer metro/datasets/human_mesh_tsv.py (MeshTSVDataset / MeshTSVYamlDataset):
the first person dict of each label row is used; the crop box is ``scale * 200`` pixels square around ``center``
(SPIN's convention); 3D joints are made relative to the J24 pelvis; augmentation as in :mod:`mpt.data.transforms`;
ImageNet mean/std normalisation. Pixel geometry follows mpt.geometry.crop (one affine map for image and joints).

Set layout (METRO's): a folder holding ``<split>.img.tsv`` and ``<split>.label.tsv`` (optionally
``<split>.hw.tsv`` and ``<split>.linelist.tsv``), each TSV with its ``.lineidx``; or a ``<split>.yaml`` naming
those files (keys ``img``, ``label``, ``hw``, ``linelist``, paths relative to the folder), as METRO's downloads
ship (e.g. ``human3.6m/valid.protocol2.yaml``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import yaml
from torch.utils.data import Dataset

from mpt.body.joints import GENDER_ALIASES, GENDER_CODES
from mpt.data.joints24 import J24_COCO17, J24_FLIP_PERM, J24_PELVIS, J24_TO_J14
from mpt.data.transforms import (
    AugParams,
    apply_pixel_noise,
    flip_image,
    flip_joints,
    flip_smpl_pose,
    rotate_global_orient,
    rotate_joints3d,
    sample_aug_params,
)
from mpt.data.tsv import TSVError, TSVFile
from mpt.errors import MptError
from mpt.geometry.crop import crop_image, crop_to_normalized, points_to_crop

__all__ = [
    "BOX_PIXELS_PER_SCALE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageSetError",
    "MeshTSVDataset",
    "gender_code",
    "resolve_set_files",
]

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision / METRO transforms.Normalize
IMAGENET_STD = (0.229, 0.224, 0.225)
BOX_PIXELS_PER_SCALE = 200.0  # SPIN/METRO: person box side = scale * 200 px

_LAYOUT = (
    "expected a METRO-style set: <folder>/<split>.img.tsv and <split>.label.tsv (optional <split>.hw.tsv, "
    "<split>.linelist.tsv), each with its .lineidx, or a <folder>/<split>.yaml naming them (keys img, label, "
    "hw, linelist)"
)

_GENDER_NAMES = {**GENDER_ALIASES, "none": "neutral", "": "neutral"}  # METRO labels also write none / nothing


class ImageSetError(MptError):
    """A TSV image set is missing, laid out wrongly, or has no usable row."""


class _BadRow(Exception):
    """One row cannot be used (corrupt JPEG, malformed label); carries the reason."""


def gender_code(value: Any) -> int:
    """METRO/3DPW gender strings ('m', 'male', 'f', 'female', 'n', 'neutral', 'none', missing) -> 0/1/2 code."""
    if value is None:
        return GENDER_CODES["neutral"]
    name = _GENDER_NAMES.get(str(value).strip().lower())
    if name is None:
        raise _BadRow(f"unknown gender {value!r}")
    return GENDER_CODES[name]


def resolve_set_files(folder: str | os.PathLike[str], split: str) -> dict[str, Path | None]:
    """Paths of the img / label / hw / linelist files of one set (hw and linelist None when absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageSetError(f"image set folder {folder} does not exist; {_LAYOUT}")
    cfg_file = folder / f"{split}.yaml"
    if cfg_file.is_file():
        try:
            cfg = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ImageSetError(f"{cfg_file} is not valid YAML ({e}); {_LAYOUT}") from None
        if not isinstance(cfg, dict):
            raise ImageSetError(f"{cfg_file} must be a mapping with keys img, label (hw, linelist); {_LAYOUT}")
        if cfg.get("composite", False):
            raise ImageSetError(
                f"{cfg_file} describes a METRO composite set; list each source set in the "
                "config's data.sets instead (mixing is done by mpt.data.mixed)"
            )
        files = {k: (folder / str(cfg[k]) if cfg.get(k) else None) for k in ("img", "label", "hw", "linelist")}
        source = str(cfg_file)
    else:
        files = {"img": folder / f"{split}.img.tsv", "label": folder / f"{split}.label.tsv",
                 "hw": folder / f"{split}.hw.tsv", "linelist": folder / f"{split}.linelist.tsv"}  # fmt: skip
        files["hw"] = files["hw"] if files["hw"].is_file() else None
        files["linelist"] = files["linelist"] if files["linelist"].is_file() else None
        source = f"{folder}/{split}.*"
    for key in ("img", "label"):
        if files[key] is None or not files[key].is_file():
            raise ImageSetError(
                f"split '{split}' of {folder}: the {key} file {files[key]} (from {source}) does not exist; {_LAYOUT}"
            )
    for key in ("hw", "linelist"):
        if files[key] is not None and not files[key].is_file():
            raise ImageSetError(f"{source} names {key} file {files[key]}, which does not exist")
    return files


def _read_linelist(path: Path, n_rows: int) -> np.ndarray:
    """Row numbers listed one per line (METRO ``<split>.linelist.tsv``), checked against the label TSV."""
    try:
        rows = np.array([int(line.split("\t")[0]) for line in path.read_text(encoding="utf-8").split("\n")
                         if line.strip()], dtype=np.int64)  # fmt: skip
    except ValueError as e:
        raise ImageSetError(f"{path} must list one row number per line ({e})") from None
    if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
        raise ImageSetError(f"{path} lists rows outside 0..{n_rows - 1} of the set's TSVs")
    return rows


def _array(ann: dict, key: str, shape: tuple[int, ...], required: bool) -> np.ndarray:
    """ann[key] as float64 with the given shape (a leading singleton axis, as METRO's H36M rows have, is dropped)."""
    if key not in ann:
        if required:
            raise _BadRow(f"missing key '{key}'")
        return np.zeros(shape)
    try:
        a = np.asarray(ann[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise _BadRow(f"'{key}' is not numeric") from None
    if a.ndim == len(shape) + 1 and a.shape[0] == 1:
        a = a[0]
    if a.shape != shape:
        raise _BadRow(f"'{key}' has shape {a.shape}, expected {shape}")
    if not np.isfinite(a).all():
        raise _BadRow(f"'{key}' contains NaN or inf")
    return a


def _flag(ann: dict, key: str) -> float:
    try:
        return float(bool(int(ann.get(key, 0))))
    except (TypeError, ValueError):
        raise _BadRow(f"'{key}' is not 0/1") from None


@dataclass(frozen=True)
class _Label:
    """One person dict of a label row, checked: box (center, scale), flags, J24 2D / 3D joints, SMPL, gender."""

    center: np.ndarray  # (2,) pixels
    scale: float  # box side / 200
    has_2d: float
    has_3d: float
    has_smpl: float
    j2d: np.ndarray  # (24, 3) x, y pixels, conf
    j3d: np.ndarray  # (24, 4) camera frame, metres, conf
    pose: np.ndarray  # (72,)
    betas: np.ndarray  # (10,)
    gender: int

    @classmethod
    def parse(cls, ann: dict) -> _Label:
        center = _array(ann, "center", (2,), required=True)
        try:
            scale = float(ann["scale"])
        except (KeyError, TypeError, ValueError):
            raise _BadRow("missing or non-numeric 'scale'") from None
        if not (np.isfinite(scale) and scale > 0):
            raise _BadRow(f"'scale' must be a positive number, got {scale}")
        has_2d, has_3d, has_smpl = _flag(ann, "has_2d_joints"), _flag(ann, "has_3d_joints"), _flag(ann, "has_smpl")
        return cls(center, scale, has_2d, has_3d, has_smpl,
                   j2d=_array(ann, "2d_joints", (24, 3), required=bool(has_2d)),
                   j3d=_array(ann, "3d_joints", (24, 4), required=bool(has_3d)),
                   pose=_array(ann, "pose", (72,), required=bool(has_smpl)),
                   betas=_array(ann, "betas", (10,), required=bool(has_smpl)),
                   gender=gender_code(ann.get("gender")))  # fmt: skip


class MeshTSVDataset(Dataset):
    """Samples of one METRO TSV set; see the module docstring for the layout.

    Args:
        folder: the set's folder; split: file prefix (or the ``<split>.yaml`` naming the files).
        name: set name used in messages (defaults to the folder name).
        train: apply METRO's random augmentation; otherwise crop only.
        img_size: crop side in pixels.
        dataset_index: value returned as ``dataset`` (MixedDataset overrides it with the set's position).
        seed: with a seed, sample k's augmentation is a function of (seed, epoch, k) (see :meth:`set_epoch`);
            without one each call draws fresh randomness.
        aug: keyword overrides of :func:`mpt.data.transforms.sample_aug_params` (e.g. ``rot_factor``).

    Each item is a dict of tensors: ``image`` (3, S, S) float32 normalised; ``joints2d`` (14, 3) J14 x, y in
    [-1, 1] of the crop and conf; ``keypoints`` (17, 3) the same for the COCO-17 keypoints (what a pose network
    learns from); ``joints3d`` (14, 4) camera-frame metres minus the J24 pelvis, and conf;
    ``pose`` (72,), ``betas`` (10,); float flags ``has_2d``, ``has_3d``, ``has_smpl``; ``gender`` (0 neutral,
    1 male, 2 female); ``dataset``; ``index`` (the item index asked for). A row with a corrupt image or label is
    logged once and replaced by the next good row.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        split: str,
        name: str | None = None,
        train: bool = False,
        img_size: int = 224,
        dataset_index: int = 0,
        seed: int | None = None,
        aug: dict[str, float] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.split = split
        self.name = name or self.folder.name
        self.train = train
        self.img_size = int(img_size)
        self.dataset_index = int(dataset_index)
        self.seed = seed
        self.epoch = 0
        self.aug = dict(aug or {})
        files = resolve_set_files(self.folder, split)
        try:
            self.img_tsv = TSVFile(files["img"])
            self.label_tsv = TSVFile(files["label"])
        except TSVError as e:
            raise ImageSetError(f"image set '{self.name}': {e}") from None
        if len(self.img_tsv) != len(self.label_tsv):
            raise ImageSetError(
                f"image set '{self.name}': {files['img']} has {len(self.img_tsv)} rows but "
                f"{files['label']} has {len(self.label_tsv)}; row k of both must describe image k"
            )
        n = len(self.label_tsv)
        self.rows = _read_linelist(files["linelist"], n) if files["linelist"] else np.arange(n, dtype=np.int64)
        if len(self.rows) == 0:
            raise ImageSetError(f"image set '{self.name}' ({self.folder}, split '{split}') has no rows")
        self._bad: set[int] = set()  # row numbers found unusable in this process
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation a seeded dataset draws (call before each epoch's iteration)."""
        self.epoch = int(epoch)

    def image_name(self, index: int) -> str:
        """The name (first column) of item ``index``'s label row."""
        return self.label_tsv.key(int(self.rows[index]))

    def aug_params(self, index: int, epoch: int | None = None) -> AugParams:
        """Augmentation of item ``index`` in ``epoch`` (default: the current one); identity when not training."""
        if not self.train:
            return AugParams()
        epoch = self.epoch if epoch is None else int(epoch)
        key = [self.seed, epoch, int(index) % len(self)] if self.seed is not None else None
        rng = np.random.default_rng(key)  # unseeded: fresh OS entropy, so DataLoader workers never repeat
        return sample_aug_params(rng, **self.aug)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.load(index, self.aug_params(index))

    def load(self, index: int, params: AugParams) -> dict[str, torch.Tensor]:
        """Item ``index`` with the given augmentation; bad rows are skipped forward (cyclically)."""
        n = len(self.rows)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for image set '{self.name}' ({n} items)")
        index %= n
        for step in range(n):
            row = int(self.rows[(index + step) % n])
            if row in self._bad:
                continue
            try:
                sample = self._sample(row, params)
            except _BadRow as e:
                self._bad.add(row)
                log.warning(
                    "image set '%s' (%s, split '%s'): skipping row %d (image %s): %s",
                    self.name,
                    self.folder,
                    self.split,
                    row,
                    self._safe_key(row),
                    e,
                )
                continue
            sample["dataset"] = torch.tensor(self.dataset_index, dtype=torch.long)
            sample["index"] = torch.tensor(index, dtype=torch.long)
            return sample
        raise ImageSetError(
            f"image set '{self.name}' ({self.folder}, split '{self.split}'): all {n} rows are "
            "unusable (see the warnings above); regenerate the set's TSV files"
        )

    def _safe_key(self, row: int) -> str:
        try:
            return repr(self.label_tsv.key(row))
        except (TSVError, OSError):
            return "<unreadable>"

    def _read_label(self, row: int) -> tuple[str, dict]:
        """The image name and the first person dict of ``row``'s label."""
        try:
            label_cols = self.label_tsv[row]
        except TSVError as e:
            raise _BadRow(str(e)) from None
        if len(label_cols) < 2:
            raise _BadRow("label row has fewer than 2 tab-separated columns")
        try:
            people = json.loads(label_cols[1])
        except json.JSONDecodeError as e:
            raise _BadRow(f"label is not valid JSON ({e})") from None
        if not isinstance(people, list) or not people or not isinstance(people[0], dict):
            raise _BadRow("label must be a non-empty JSON list of person dicts")
        return label_cols[0], people[0]

    def _read_row(self, row: int) -> tuple[np.ndarray, dict]:
        """Decoded RGB image (H, W, 3) uint8 and the first person dict of ``row``."""
        name, ann = self._read_label(row)
        try:
            img_cols = self.img_tsv[row]
        except TSVError as e:
            raise _BadRow(str(e)) from None
        if len(img_cols) < 2:
            raise _BadRow("image row has fewer than 2 tab-separated columns")
        if img_cols[0] != name:
            raise _BadRow(f"img.tsv names it {img_cols[0]!r} but label.tsv {name!r}")
        try:
            data = base64.b64decode(img_cols[-1], validate=True)  # METRO reads the last column
        except (binascii.Error, ValueError) as e:
            raise _BadRow(f"image column is not base64 ({e})") from None
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if img is None:
            raise _BadRow("image bytes do not decode as JPEG/PNG")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), ann

    def _sample(self, row: int, p: AugParams) -> dict[str, torch.Tensor]:
        img, ann = self._read_row(row)
        label = _Label.parse(ann)
        size = label.scale * BOX_PIXELS_PER_SCALE * p.scale
        # Image: crop (+ rotation), flip, pixel noise, [0, 1], ImageNet normalisation.
        crop = crop_image(img, label.center, size, self.img_size, p.rot_deg)
        if p.flip:
            crop = flip_image(crop)
        pixels = apply_pixel_noise(crop, p.pixel_noise)  # (S, S, 3) float32 in [0, 255]
        image = (torch.from_numpy(pixels).permute(2, 0, 1) / 255.0 - self._mean) / self._std
        return {"image": image.float().contiguous(), **self._targets(label, size, p)}

    def _targets(self, label: _Label, size: float, p: AugParams) -> dict[str, torch.Tensor]:
        """The label tensors of an item whose crop is ``size`` pixels wide (module docstring), augmented by ``p``."""
        S = self.img_size
        # 2D joints: the same affine map as the image, then [-1, 1] of the crop; flip mirrors x.
        xy = points_to_crop(torch.from_numpy(label.j2d[None, :, :2]), torch.from_numpy(label.center[None]),
                            torch.tensor([size], dtype=torch.float64), S, p.rot_deg)[0]  # fmt: skip
        joints2d = torch.cat([crop_to_normalized(xy, S), torch.from_numpy(label.j2d[:, 2:])], dim=1)  # (24, 3)
        # 3D joints: relative to the pelvis, rotated about the camera z axis like the image.
        joints3d = torch.from_numpy(label.j3d.copy())
        joints3d[:, :3] -= joints3d[J24_PELVIS, :3].clone()
        joints3d = rotate_joints3d(joints3d, p.rot_deg)
        pose_t = torch.from_numpy(label.pose)
        pose_t = rotate_global_orient(pose_t, p.rot_deg) if p.rot_deg else pose_t
        if p.flip:
            joints2d = flip_joints(joints2d, J24_FLIP_PERM)
            joints3d = flip_joints(joints3d, J24_FLIP_PERM)
            pose_t = flip_smpl_pose(pose_t)
        j14 = list(J24_TO_J14)
        return {
            "joints2d": joints2d[j14].float(),
            "keypoints": joints2d[list(J24_COCO17)].float(),
            "joints3d": joints3d[j14].float(),
            "pose": pose_t.float(),
            "betas": torch.from_numpy(label.betas).float(),
            "has_2d": torch.tensor(label.has_2d, dtype=torch.float32),
            "has_3d": torch.tensor(label.has_3d, dtype=torch.float32),
            "has_smpl": torch.tensor(label.has_smpl, dtype=torch.float32),
            "gender": torch.tensor(label.gender, dtype=torch.long),
        }

    def labels(self, index: int) -> dict[str, torch.Tensor]:
        """Item ``index``'s labels, read without its image and never augmented: the keys of an item except
        ``image``, plus the raw 2D labels ``joints2d_px`` (24, 3) (J24 x, y in image pixels, conf) and the crop
        box, ``center`` (2,) and ``box_size`` () = scale * 200 pixels (float64).

        For lifting 2D keypoints (mpt.inference.rows), where the image is not needed. A malformed label is an
        :class:`ImageSetError` naming the row.
        """
        row = int(self.rows[index])
        try:
            _, ann = self._read_label(row)
            label = _Label.parse(ann)
        except _BadRow as e:
            raise ImageSetError(f"image set '{self.name}' ({self.folder}, split '{self.split}'): row {row} (image "
                                f"{self._safe_key(row)}): {e}") from None  # fmt: skip
        size = label.scale * BOX_PIXELS_PER_SCALE
        return {**self._targets(label, size, AugParams()), "joints2d_px": torch.from_numpy(label.j2d),
                "center": torch.from_numpy(label.center), "box_size": torch.tensor(size, dtype=torch.float64)}

    def __repr__(self) -> str:
        return f"MeshTSVDataset(name='{self.name}', folder='{self.folder}', split='{self.split}', items={len(self)})"
