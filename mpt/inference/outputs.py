"""Writing the outputs of inference: per image the mesh overlay (PNG), a mesh file per person (OBJ / PLY) and the
JSON of joints, 2D projections, camera and box (conventions: mpt/inference/images.py's docstring)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import DictConfig

from mpt.atomic import write_bytes_atomic, write_json_atomic
from mpt.body.joints import COCO_KEYPOINT_NAMES, H36M_JOINT_NAMES
from mpt.errors import MptError
from mpt.geometry.crop import normalized_to_crop, points_from_crop
from mpt.inference.inputs import CROP_SIZE
from mpt.inference.jobs import Job
from mpt.inference.predictor import Predictor
from mpt.models.camera_head import weak_perspective_project

MESH_FORMATS = ("obj", "ply")


def to_image_pixels(points: torch.Tensor, camera: torch.Tensor, center: torch.Tensor, size: torch.Tensor,
                    crop_size: int = CROP_SIZE) -> torch.Tensor:  # fmt: skip
    """Weak-perspective projection to original image pixels: (B, N, 3) points, (B, 3) camera -> (B, N, 2).

    s * (X + t) is in the crop's [-1, 1] frame; normalized_to_crop gives crop pixels and points_from_crop (the
    inverse crop transform) image pixels.
    """
    norm = weak_perspective_project(points, camera)  # (B, N, 2)
    return points_from_crop(normalized_to_crop(norm, crop_size), center, size, crop_size)


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
