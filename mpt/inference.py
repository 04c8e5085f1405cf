"""``mpt-infer``: an exported MPT model on your own images -> mesh overlays, mesh files and joints as JSON.

Pipeline (one call of :func:`infer`):
  1. the export folder (model.safetensors + config.yaml + model.sha256) gives the architecture; the weights are
     loaded through :func:`mpt.engine.builders.load_image_model`, which verifies their sha256;
  2. images are listed (a file, or the files of a folder; anything that is not an image, or does not decode, is
     skipped with a message), and each person box is cropped exactly as fine-tuning and evaluation crop
     (mpt.data.image_dataset: cv2 bilinear crop to 224 x 224, RGB / 255, ImageNet mean/std);
  3. crops run through the model in batches of ``batch_size``;
  4. per image: ``<name>_overlay.png`` (the shaded mesh over the image, optionally a side view next to it),
     ``<name>_<k>.obj`` / ``.ply`` per person k, and ``<name>.json`` (joints, 2D projections, camera, box).
With ``keypoints=<file>`` the people come from a detector's 2D keypoints instead of image crops, through the same
batching and outputs (:mod:`mpt.lifting.infer`).

Boxes. A person box is COCO's ``[x, y, w, h]`` in continuous pixel coordinates (the image spans [0, W] x [0, H],
pixel i covers [i, i + 1), as COCO and Detectron2 define it); mpt's pixel centres are at integers
(mpt.geometry.crop), so the crop centre is ``(x + w / 2 - 0.5, y + h / 2 - 0.5)``. The crop side is
``box_scale * max(w, h)`` with METRO's scaleFactor 1.2 (microsoft/MeshTransformer metro/tools/tsv_demo_*.py).
Without a boxes file the whole image is one box ``[0, 0, W, H]``. The boxes file is JSON, one of:
  - a list of ``{"file_name": ..., "bbox": [x, y, w, h]}`` or ``{"image_id": ..., "bbox": [...]}`` entries (a
    COCO *results* file is such a list). ``file_name`` matches the image's path relative to the images folder, or
    its base name; ``image_id`` matches an image whose file stem equals it, also as an integer (COCO's
    ``000000397133.jpg`` is image_id 397133);
  - a COCO *annotations* file: ``{"images": [{"id", "file_name"}, ...], "annotations": [{"image_id", "bbox"},
    ...]}``, image_id resolved through ``images``.
  Optional keys per entry: ``category_id`` (only 1, COCO's person, is used), ``iscrowd`` (1 is skipped),
  ``score`` (entries below ``min_box_score`` are skipped). Images with no box are skipped with a message.

Outputs. 3D joints and meshes are in metres, in the camera's orientation (x right, y down, z away from the
camera, as the training targets), relative to the predicted Human3.6M pelvis (joint 0 of H36M-17). The weak-
perspective camera ``(s, tx, ty)`` written to the JSON applies to these pelvis-relative coordinates:
``u = cx + size / 2 * s * (X + tx)``, ``v = cy + size / 2 * s * (Y + ty)`` with the crop centre ``(cx, cy)`` and
side ``size`` in image pixels (the model's [-1, 1] crop frame mapped back through the inverse crop transform).
COCO-17 keypoints come from BodyModel.coco_keypoints: SMPL's joint regressor on the predicted mesh + face vertices.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from omegaconf import DictConfig

from mpt.atomic import write_bytes_atomic, write_json_atomic
from mpt.body import BodyModel
from mpt.body.joints import COCO_KEYPOINT_NAMES, H36M_JOINT_NAMES, H36M_PELVIS
from mpt.data.image_dataset import IMAGENET_MEAN, IMAGENET_STD
from mpt.errors import MptError
from mpt.geometry.crop import crop_image, normalized_to_crop, points_from_crop
from mpt.models.camera_head import weak_perspective_project

__all__ = [
    "CROP_SIZE",
    "IMAGE_SUFFIXES",
    "Job",
    "PersonBox",
    "Predictor",
    "build_predictor",
    "check_outputs",
    "crop_boxes",
    "crop_people",
    "entry_bbox",
    "image_keys",
    "images_and_root",
    "infer",
    "list_images",
    "match_image",
    "normalize_crops",
    "output_names",
    "read_boxes",
    "read_entries",
    "read_image",
    "relative_name",
    "render_people",
    "run_jobs",
    "to_image_pixels",
    "write_image_outputs",
    "write_mesh",
    "write_png",
]

log = logging.getLogger("mpt.infer")

CROP_SIZE = 224  # the default image crop (input.crop_size) of fine-tuning and evaluation; a model's own is in its config
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
COCO_PERSON = 1  # COCO's category_id of a person
MESH_FORMATS = ("obj", "ply")


# ----------------------------------------------------------------------------------------------- the model


def normalize_crops(crops: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float32 on ``device``: / 255, then ImageNet mean/std, as
    mpt.data.image_dataset does for training and evaluation."""
    x = crops.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class Predictor:
    """An image model and its body model on one device: uint8 crops -> pelvis-relative people.

    ``__call__(crops (B, S, S, 3) uint8 RGB)`` returns tensors on the device: ``vertices`` (B, 6890, 3),
    ``h36m17`` (B, 17, 3), ``coco17`` (B, 17, 3) (metres, relative to the H36M pelvis) and ``camera`` (B, 3),
    the weak-perspective (s, tx, ty) for those pelvis-relative coordinates in the crop's [-1, 1] frame.
    """

    def __init__(self, model: torch.nn.Module, body: BodyModel, device: torch.device) -> None:
        self.model, self.body, self.device = model, body, device
        self.faces = body.faces.to(device)
        self.faces_np = body.faces.cpu().numpy()  # (F, 3) for the mesh files of every image

    @torch.inference_mode()
    def __call__(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.people(self.model(normalize_crops(crops, self.device)))

    @torch.inference_mode()
    def from_maps(self, maps: torch.Tensor) -> dict[str, torch.Tensor]:
        """The same outputs from pose maps (B, 17, S, S) drawn from 2D keypoints (mpt.lifting), no pose network."""
        return self.people(self.model.from_maps(maps.to(self.device)))

    def people(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model's outputs -> pelvis-relative vertices and joints, and the camera for them (class docstring)."""
        vertices = out["vertices"].float()  # (B, 6890, 3), the model's frame
        if not bool(torch.isfinite(vertices).all() and torch.isfinite(out["camera"]).all()):
            raise MptError("the model predicted NaN or inf values: its weights are damaged or training diverged; "
                           "export it again from a good checkpoint")  # fmt: skip
        h36m = self.body.h36m_joints(vertices)  # (B, 17, 3)
        coco = self.body.coco_keypoints(vertices)  # (B, 17, 3): SMPL joints of the mesh + face vertices
        pelvis = h36m[:, H36M_PELVIS]  # (B, 3)
        camera = out["camera"].float().clone()
        camera[:, 1:] += pelvis[:, :2]  # s * (X + t) == s * ((X - p) + (t + p_xy))
        return {"vertices": vertices - pelvis[:, None], "h36m17": h36m - pelvis[:, None],
                "coco17": coco - pelvis[:, None], "camera": camera}  # fmt: skip


def build_predictor(cfg: DictConfig, pose_network: bool = True) -> tuple[Predictor, DictConfig]:
    """:class:`Predictor` for ``cfg.checkpoint`` on ``cfg.device`` (auto | cpu | cuda), and the config merged with
    the export's architecture; ``pose_network=False`` for keypoint lifting (no pose network is built or loaded)."""
    from mpt.engine.builders import load_image_model
    from mpt.engine.distributed import resolve_device

    device = resolve_device(cfg.device)
    model, body, mcfg = load_image_model(cfg, device, pose_network=pose_network)
    return Predictor(model, body, device), mcfg


# ------------------------------------------------------------------------------------------ images and boxes


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

    The file is a results list or a COCO annotations file (module docstring); ``what`` names the file in messages
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
    """Person boxes per image from a boxes JSON file (formats in the module docstring).

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


def to_image_pixels(points: torch.Tensor, camera: torch.Tensor, center: torch.Tensor, size: torch.Tensor,
                    crop_size: int = CROP_SIZE) -> torch.Tensor:  # fmt: skip
    """Weak-perspective projection to original image pixels: (B, N, 3) points, (B, 3) camera -> (B, N, 2).

    s * (X + t) is in the crop's [-1, 1] frame; normalized_to_crop gives crop pixels and points_from_crop (the
    inverse crop transform) image pixels.
    """
    norm = weak_perspective_project(points, camera)  # (B, N, 2)
    return points_from_crop(normalized_to_crop(norm, crop_size), center, size, crop_size)


# ------------------------------------------------------------------------------------------------ outputs


def render_people(image: np.ndarray, vertices: torch.Tensor, camera: torch.Tensor, center: torch.Tensor,
                  size: torch.Tensor, faces: torch.Tensor, side_view: bool = False) -> np.ndarray:  # fmt: skip
    """The K people's meshes shaded over ``image`` (H, W, 3) uint8 in one z-buffer pass; (H, W or 2W, 3) uint8.

    x, y are the weak-perspective image pixels. Depth: with a pinhole of focal f = the image diagonal (CLIFF's
    default, huawei-noah/noah-research CLIFF estimate_focal_length) a person drawn at |a| pixels per metre stands
    at D = f / |a| metres; render space (mpt.vis.render) takes z = (D + Z) * f / mean(D), which for one person is
    |a| * Z plus a constant, and orders several people by their scale. ``side_view`` appends the scene turned by
    90 degrees about the vertical, on white.
    """
    h, w = image.shape[:2]
    k, v = vertices.shape[:2]
    xy = to_image_pixels(vertices, camera, center, size)  # (K, V, 2)
    a = (camera[:, 0] * size / 2).abs().clamp_min(1e-6)  # (K,) pixels per metre
    focal = math.hypot(h, w)
    depth = focal / a  # (K,) metres
    z = (depth[:, None] + vertices[..., 2]) * (focal / depth.mean())  # (K, V) pixels
    verts = torch.cat([xy, z[..., None]], dim=-1).reshape(-1, 3)  # (K * V, 3)
    offsets = torch.arange(k, device=faces.device) * v
    all_faces = (faces[None] + offsets[:, None, None]).reshape(-1, 3)  # (K * F, 3)
    from mpt.vis import render_mesh, render_side_view

    overlay = render_mesh(image, verts, all_faces, alpha=0.9)
    if not side_view:
        return overlay
    return np.concatenate([overlay, render_side_view(verts, all_faces, (h, w))], axis=1)


def write_mesh(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write one mesh with trimesh, in the format of the suffix (.obj or .ply), atomically."""
    import trimesh

    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    data = mesh.export(file_type=path.suffix.lstrip("."))
    write_bytes_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image as PNG, atomically."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MptError(f"could not encode {path} as PNG")
    write_bytes_atomic(path, buf.tobytes())


def output_names(images: Sequence[Path]) -> dict[Path, str]:
    """Output base name per image: its stem, or its file name with '.' -> '_' where two images share a stem."""
    stems: dict[str, int] = {}
    for p in images:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    return {p: p.stem if stems[p.stem] == 1 else p.name.replace(".", "_") for p in images}


_COORDINATES = {
    "joints3d": "metres; camera axes (x right, y down, z away from the camera); relative to the H36M pelvis",
    "joints2d": "pixels of the input image, pixel centres at integers",
    "camera": "weak perspective (s, tx, ty) for the pelvis-relative 3D points: u = crop.center[0] + crop.size / 2 "
              "* s * (X + tx), v = crop.center[1] + crop.size / 2 * s * (Y + ty)",
    "box": "[x, y, w, h], COCO convention (continuous coordinates; the image spans [0, W] x [0, H]); null when "
           "keypoints were lifted without a box (the crop then frames the keypoints)",
    "keypoints": "the input COCO-17 keypoints [x, y, score] (image pixels, as given) and, per keypoint, whether "
                 "its heatmap was drawn (score >= min_keypoint_score)",
    "meshes": "same frame as joints3d; faces of the body model",
}  # fmt: skip


def _rounded(t: torch.Tensor, digits: int) -> list:
    return np.round(t.detach().cpu().double().numpy(), digits).tolist()


@dataclass
class Job:
    """One image (for lifting without images: one image name of the keypoints file) waiting for predictions."""

    path: Path  # the image file, or the image's name in the keypoints file
    name: str  # output base name
    image: np.ndarray | None  # (H, W, 3) uint8 RGB; None: no overlay
    boxes: list[PersonBox]  # its K people
    center: torch.Tensor  # (K, 2) float64 crop centres, image pixels
    size: torch.Tensor  # (K,) float64 crop sides
    inputs: dict[str, torch.Tensor]  # the K people's model inputs (crops, or keypoints), concatenated over jobs
    rel_name: str  # the image as the JSON names it


def run_jobs(jobs: Iterable[Job], predict: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
             batch_size: int, write: Callable[[Job, dict[str, torch.Tensor]], None]) -> None:  # fmt: skip
    """Predict the people of consecutive jobs in batches of ``batch_size`` (a batch spans images), then ``write``
    each job with its own people's predictions, in order."""
    pending: list[Job] = []

    def flush() -> None:
        if not pending:
            return
        inputs = {key: torch.cat([job.inputs[key] for job in pending]) for key in pending[0].inputs}
        n = sum(len(job.boxes) for job in pending)
        chunks = [predict({key: v[i : i + batch_size] for key, v in inputs.items()}) for i in range(0, n, batch_size)]
        pred = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
        first = 0
        for job in pending:
            k = len(job.boxes)
            write(job, {key: value[first : first + k] for key, value in pred.items()})
            first += k
        pending.clear()

    for job in jobs:
        pending.append(job)
        if sum(len(j.boxes) for j in pending) >= batch_size:
            flush()
    flush()


def write_image_outputs(job: Job, pred: dict[str, torch.Tensor], predictor: Predictor, out: Path,
                        formats: Sequence[str], side_view: bool, min_keypoint_score: float = 0.0) -> None:  # fmt: skip
    """The overlay (when the job has its image), mesh files and JSON of one image from its K people's predictions.

    People given with keypoints get them in the JSON and drawn on the overlay (mpt.vis.draw_keypoints), keypoints
    scoring below ``min_keypoint_score`` marked as not used.
    """
    dev = pred["vertices"].device
    center, size = job.center.to(dev, torch.float32), job.size.to(dev, torch.float32)
    keypoints = [box.keypoints for box in job.boxes if box.keypoints is not None]
    if job.image is not None:
        overlay = render_people(job.image, pred["vertices"], pred["camera"], center, size, predictor.faces, side_view)
        if keypoints:
            from mpt.vis import draw_keypoints

            kp = np.stack(keypoints)  # (K, 17, 3)
            w = job.image.shape[1]
            overlay[:, :w] = draw_keypoints(overlay[:, :w], kp[..., :2], kp[..., 2] >= min_keypoint_score)
        write_png(out / f"{job.name}_overlay.png", overlay)
    uv_h36m = to_image_pixels(pred["h36m17"], pred["camera"], center, size)
    uv_coco = to_image_pixels(pred["coco17"], pred["camera"], center, size)
    faces = predictor.faces_np
    vertices = pred["vertices"].cpu().numpy()
    people = []
    for k, box in enumerate(job.boxes):
        meshes = {}
        for fmt in formats:
            meshes[fmt] = f"{job.name}_{k}.{fmt}"
            write_mesh(out / meshes[fmt], vertices[k], faces)
        person = {"box": None if box.xywh is None else [round(v, 3) for v in box.xywh],
                  "crop": {"center": _rounded(job.center[k], 3), "size": round(float(job.size[k]), 3)},
                  "camera": _rounded(pred["camera"][k], 6),
                  "joints3d": {"h36m17": _rounded(pred["h36m17"][k], 6), "coco17": _rounded(pred["coco17"][k], 6)},
                  "joints2d": {"h36m17": _rounded(uv_h36m[k], 3), "coco17": _rounded(uv_coco[k], 3)},
                  "meshes": meshes}  # fmt: skip
        if box.score is not None:
            person["score"] = box.score
        if box.keypoints is not None:
            person["keypoints"] = {"input": box.keypoints.tolist(),
                                   "used": (box.keypoints[:, 2] >= min_keypoint_score).tolist()}  # fmt: skip
        people.append(person)
    h, w = job.image.shape[:2] if job.image is not None else (None, None)
    record = {"image": job.rel_name, "width": w, "height": h, "coordinates": _COORDINATES,
              "joint_names": {"h36m17": list(H36M_JOINT_NAMES), "coco17": list(COCO_KEYPOINT_NAMES)},
              "people": people}  # fmt: skip
    write_json_atomic(out / f"{job.name}.json", record, indent=1)


def check_outputs(cfg: DictConfig) -> list[str]:
    """The checks of the options mpt-infer shares with keypoint lifting; returns the mesh formats."""
    if cfg.batch_size < 1:
        raise MptError(f"batch_size must be >= 1, got {cfg.batch_size}")
    formats = [str(f).lower() for f in cfg.formats]
    bad = [f for f in formats if f not in MESH_FORMATS]
    if bad:
        raise MptError(f"formats: {bad} not supported; choose from {list(MESH_FORMATS)} (or formats=[] for none)")
    return formats


def _check_infer_config(cfg: DictConfig) -> tuple[Path, list[str]]:
    if cfg.images is None:
        raise MptError("give the images: images=<an image file or a folder of images> (or keypoints=<a COCO "
                       "keypoint results file> to lift a detector's 2D keypoints)")  # fmt: skip
    if not cfg.box_scale > 0:
        raise MptError(f"box_scale must be > 0, got {cfg.box_scale}")
    return Path(cfg.images), check_outputs(cfg)


def images_and_root(images_arg: Path, out: str) -> tuple[list[Path], list[tuple[Path, str]], Path]:
    """The images named by ``images=`` (:func:`list_images`), the skipped files, and the folder names are relative
    to; ``out`` must be another folder."""
    images, skipped = list_images(images_arg)
    root = images_arg if images_arg.is_dir() else images_arg.parent
    if Path(out).resolve() == root.resolve():
        raise MptError(f"out={out} is the images folder: write the outputs to another folder (a rerun would "
                       "read them as inputs)")  # fmt: skip
    return images, skipped, root


def infer(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg.checkpoint`` on ``cfg.images`` and write the outputs to ``cfg.out`` (see the module docstring).

    With ``cfg.keypoints`` the people come from a 2D keypoints file instead (:func:`mpt.lifting.infer.lift`).
    Returns {"out", "images" (written), "people", "skipped" [(path, reason)]}.
    """
    if cfg.keypoints is not None:
        from mpt.lifting.infer import lift

        return lift(cfg)
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    images_arg, formats = _check_infer_config(cfg)
    images, skipped, root = images_and_root(images_arg, cfg.out)
    boxes = read_boxes(cfg.boxes, images, root, cfg.min_box_score) if cfg.boxes is not None else None
    predictor, mcfg = build_predictor(cfg)  # after the cheap checks: a typo in images= fails fast
    crop_size = int(mcfg.input.crop_size)  # the crop the model and its pose network were trained on
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(images)
    for p, why in skipped:
        log.warning("skipping %s: %s", p, why)
    summary: dict[str, Any] = {"out": str(out), "images": 0, "people": 0, "skipped": list(skipped)}

    def jobs(bar: Any) -> Iterator[Job]:
        for path in images:
            image = read_image(path)
            person_boxes: list[PersonBox] = []
            why = ""
            if image is None:
                why = "corrupt or unreadable image"
            elif boxes is None:  # the whole image is the person box
                person_boxes = [PersonBox((0.0, 0.0, float(image.shape[1]), float(image.shape[0])))]
            else:
                person_boxes = boxes[path]
                why = f"no person box for it in {cfg.boxes}"
            if not person_boxes:
                log.warning("skipping %s: %s", path, why)
                summary["skipped"].append((path, why))
                bar.update(1)
                continue
            xywh = torch.tensor([b.xywh for b in person_boxes], dtype=torch.float64)
            center, size = crop_boxes(xywh, cfg.box_scale)
            yield Job(path, names[path], image, person_boxes, center, size,
                      {"crops": crop_people(image, center, size, crop_size)}, relative_name(path, root))  # fmt: skip

    def write(job: Job, pred: dict[str, torch.Tensor], bar: Any) -> None:
        write_image_outputs(job, pred, predictor, out, formats, cfg.side_view)
        summary["images"] += 1
        summary["people"] += len(job.boxes)
        bar.update(1)

    with logging_redirect_tqdm(), tqdm(total=len(images), desc="mpt-infer", unit="img") as bar:
        run_jobs(jobs(bar), lambda x: predictor(x["crops"]), cfg.batch_size, lambda j, p: write(j, p, bar))
    print(f"wrote {summary['images']} images ({summary['people']} people) to {out}; skipped {len(summary['skipped'])}")
    return summary
