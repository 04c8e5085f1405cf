"""Rendering the rows of a stand-in TSV set (tools/standin/make_tsv.py, whose docstring gives the label fields):
each shot's body posed, placed and clothed over a random background as the camera's window sees it, its JPEG, and
its METRO-style label (box, J24 2D / 3D joints, SMPL parameters, camera)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from mpt.body import BodyModel
from mpt.body.joints import COCO_KEYPOINT_NAMES, H36M_JOINT_NAMES
from mpt.data.joints24 import J24_COCO17, J24_NAMES, J24_PELVIS
from mpt.errors import MptError
from mpt.geometry import CameraSet, axis_angle_to_matrix, matrix_to_axis_angle, project_points, world_to_camera
from mpt.vis.render import project_for_render, render_mesh
from tools.standin.appearance import albedo, garment_weights, sample_palette

BOX_PIXELS_PER_SCALE = 200.0
WINDOW_PX = 600.0  # side of the H36M camera window each image shows (the person is ~60-75% of its height)
LOOK_AT_WORLD = (0.0, 0.0, 0.9)  # world point (m, z up) the window is centred on: a standing person's middle

AMBIENT = 0.5
RENDER_CHUNK = 256  # bodies posed at once while rendering (~20 MB of vertices each in the camera frame and world)

# Where each J24 joint comes from: ("h36m", name), ("coco", name), ("thorax", ...), ("top", ...).
_J24_SOURCE: dict[str, tuple[str, str]] = {
    "R_Ankle": ("h36m", "right_ankle"), "R_Knee": ("h36m", "right_knee"), "R_Hip": ("h36m", "right_hip"),
    "L_Hip": ("h36m", "left_hip"), "L_Knee": ("h36m", "left_knee"), "L_Ankle": ("h36m", "left_ankle"),
    "R_Wrist": ("h36m", "right_wrist"), "R_Elbow": ("h36m", "right_elbow"), "R_Shoulder": ("h36m", "right_shoulder"),
    "L_Shoulder": ("h36m", "left_shoulder"), "L_Elbow": ("h36m", "left_elbow"), "L_Wrist": ("h36m", "left_wrist"),
    "Neck": ("h36m", "neck"), "Top_of_Head": ("top", ""), "Pelvis": ("h36m", "pelvis"), "Thorax": ("thorax", ""),
    "Spine": ("h36m", "torso"), "Jaw": ("h36m", "nose"), "Head": ("h36m", "head"), "Nose": ("coco", "nose"),
    "L_Eye": ("coco", "left_eye"), "R_Eye": ("coco", "right_eye"), "L_Ear": ("coco", "left_ear"),
    "R_Ear": ("coco", "right_ear"),
}  # fmt: skip

class DemoTsvError(MptError):
    """The demo assets needed to render the sets are missing or unusable."""

# ---------------------------------------------------------------------------------------------------------------
# J24 joints


def _j24_index() -> tuple[list[int], int]:
    """Gather index (24,) into the pool cat(H36M 17, COCO 17, thorax, top of head), and the pool size."""
    n_h36m, n_coco = len(H36M_JOINT_NAMES), len(COCO_KEYPOINT_NAMES)
    index = []
    for name in J24_NAMES:
        kind, src = _J24_SOURCE[name]
        if kind == "h36m":
            index.append(H36M_JOINT_NAMES.index(src))
        elif kind == "coco":
            index.append(n_h36m + COCO_KEYPOINT_NAMES.index(src))
        elif kind == "thorax":
            index.append(n_h36m + n_coco)
        else:
            index.append(n_h36m + n_coco + 1)
    return index, n_h36m + n_coco + 2


def top_of_head_vertex(body: BodyModel) -> int:
    """The template's highest vertex (SMPL templates are y-up): the crown of the head."""
    return int(torch.argmax(body.template[:, 1]))


def j24_from_body(body: BodyModel, vertices: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """(B, 6890, 3) vertices and (B, 24, 3) SMPL joints -> (B, 24, 3) METRO J24 joints (tools/standin/make_tsv.py's docstring)."""
    h36m = body.h36m_joints(vertices)  # (B, 17, 3)
    coco = body.coco_keypoints(vertices, joints)  # (B, 17, 3)
    shoulders = [H36M_JOINT_NAMES.index("left_shoulder"), H36M_JOINT_NAMES.index("right_shoulder")]
    thorax = h36m[:, shoulders].mean(dim=1, keepdim=True)
    top = vertices[:, top_of_head_vertex(body)][:, None]
    index, _ = _j24_index()
    return torch.cat([h36m, coco, thorax, top], dim=1)[:, index]

@dataclass(frozen=True)
class _Shot:
    """One image to render: a motion frame, its placement, a camera, the image name and size."""

    name: str
    seq: int
    frame: int
    yaw: float  # extra rotation of the body about the world vertical (rad)
    offset: tuple[float, float]  # horizontal placement of the pelvis (m)
    camera: int  # index into the set's CameraSet
    width: int
    height: int

def _image_intrinsics(cameras: CameraSet, index: int, width: int, height: int) -> np.ndarray:
    """K (3, 3) of a ``width`` x ``height`` image showing the camera's window around LOOK_AT_WORLD.

    The window is WINDOW_PX pixels high in the original camera, with the image's aspect; both focal lengths are
    scaled by the same factor, so the aspect of the scene is kept.
    """
    cam = cameras.select(index).to(dtype=torch.float64)
    look = world_to_camera(torch.tensor([[LOOK_AT_WORLD]], dtype=torch.float64), cam.R, cam.t)
    centre = project_points(look, cam.K)[0, 0].numpy()  # (2,) pixels in the original camera
    s = height / WINDOW_PX
    window_w = width / s
    K = cam.K[0].numpy().copy()
    x0, y0 = centre[0] - window_w / 2, centre[1] - WINDOW_PX / 2
    return np.array([[K[0, 0] * s, K[0, 1] * s, (K[0, 2] - x0) * s],
                     [0.0, K[1, 1] * s, (K[1, 2] - y0) * s],
                     [0.0, 0.0, 1.0]])  # fmt: skip

# ---------------------------------------------------------------------------------------------------------------
# Images


def _background(rng: np.random.Generator, height: int, width: int, kinds: Sequence[str],
                body_colors: np.ndarray) -> np.ndarray:
    """A random (H, W, 3) uint8 background of one of ``kinds``: plain, noise or smooth.

    Plain colours are drawn until, for each of the body's colours (G, 3), some channel lies at least 60 levels
    outside its shaded range [AMBIENT * colour, colour], so every part of the person stands out from them.
    """
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "plain":
        lo, hi = AMBIENT * body_colors - 60, body_colors + 60  # (G, 3)
        while True:
            c = rng.uniform(0, 255, 3)
            if ((c < lo) | (c > hi)).any(axis=1).all():
                break
        return np.broadcast_to(np.rint(c).astype(np.uint8), (height, width, 3)).copy()
    if kind == "noise":
        c = rng.uniform(40, 215, 3)
        img = c + rng.normal(0, rng.uniform(8, 40), (height, width, 3))
    elif kind == "smooth":  # low-frequency random field: a few random blobs of colour
        grid = rng.uniform(0, 255, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3)).astype(np.float32)
        img = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    else:
        raise ValueError(f"unknown background kind {kind!r}; use plain, noise or smooth")
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _jpeg_base64(rgb: np.ndarray, quality: int) -> str:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a JPEG")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _round(a: np.ndarray, digits: int) -> list:
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


def _render_set(shots: list[_Shot], motions: list, cameras: CameraSet, body: BodyModel, labels_3d: bool,
                box_factor: float, coco_only_2d: bool, backgrounds: Sequence[str], jpeg_quality: int,
                rng: np.random.Generator) -> tuple[list, list, list]:
    """Rows (img, label, hw) of one set, posing RENDER_CHUNK bodies at a time (bounded memory)."""
    rows: tuple[list, list, list] = ([], [], [])
    clothes = garment_weights(body)  # (V, garments)
    for start in range(0, len(shots), RENDER_CHUNK):
        chunk = _render_chunk(shots[start : start + RENDER_CHUNK], motions, cameras, body, clothes, labels_3d,
                              box_factor, coco_only_2d, backgrounds, jpeg_quality, rng)  # fmt: skip
        for all_rows, new in zip(rows, chunk, strict=True):
            all_rows.extend(new)
    return rows


def _render_chunk(shots: list[_Shot], motions: list, cameras: CameraSet, body: BodyModel, clothes: np.ndarray,
                  labels_3d: bool, box_factor: float, coco_only_2d: bool, backgrounds: Sequence[str],
                  jpeg_quality: int, rng: np.random.Generator) -> tuple[list, list, list]:
    """Rows (img, label, hw) of ``shots``; ``clothes`` (V, garments) from :func:`garment_weights`."""
    # Poses in the world: the motion's pose with its root turned by the shot's yaw about the world vertical (z).
    poses = torch.tensor(np.stack([motions[s.seq][1][s.frame] for s in shots]), dtype=torch.float32)  # (B, 72)
    betas = torch.tensor(np.stack([motions[s.seq][2] for s in shots]), dtype=torch.float32)  # (B, 10)
    yaw = torch.tensor([s.yaw for s in shots], dtype=torch.float32)
    rz = axis_angle_to_matrix(torch.stack([torch.zeros_like(yaw), torch.zeros_like(yaw), yaw], dim=1))
    poses[:, :3] = matrix_to_axis_angle(rz @ axis_angle_to_matrix(poses[:, :3]))
    with torch.no_grad():
        out = body(poses, betas)
        j24 = j24_from_body(body, out.vertices, out.joints)  # (B, 24, 3)
    # Placement: pelvis at the shot's horizontal offset, lowest vertex on the floor (z = 0).
    shift = torch.zeros(len(shots), 3)
    shift[:, :2] = torch.tensor([s.offset for s in shots]) - j24[:, J24_PELVIS, :2]
    shift[:, 2] = -out.vertices[..., 2].amin(dim=1)
    verts_w, j24_w = out.vertices + shift[:, None], j24 + shift[:, None]
    cam_idx = torch.tensor([s.camera for s in shots])
    R, t = cameras.R[cam_idx], cameras.t[cam_idx]  # (B, 3, 3), (B, 3)
    verts_c, j24_c = world_to_camera(verts_w, R, t), world_to_camera(j24_w, R, t)
    # SMPL global orientation in the camera frame (METRO's get_norm_smpl_mesh: root_pose = R @ root_pose).
    pose_c = poses.clone()
    pose_c[:, :3] = matrix_to_axis_angle(R @ axis_angle_to_matrix(poses[:, :3]))
    faces = body.faces
    coco_slots = np.isin(np.arange(len(J24_NAMES)), J24_COCO17)  # J24 slots labelled in COCO

    img_rows, label_rows, hw_rows = [], [], []
    for b, shot in enumerate(shots):
        w, h = shot.width, shot.height
        K = _image_intrinsics(cameras, shot.camera, w, h)
        if bool((verts_c[b, :, 2] <= 0.1).any()):
            raise DemoTsvError(f"{shot.name}: the body reaches behind camera {cameras.names[shot.camera]}")
        pv = project_for_render(verts_c[b], K)  # (V, 3) render space
        palette = sample_palette(rng)  # (garments, 3)
        light = (float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.8, -0.2)), -1.0)
        image = render_mesh(_background(rng, h, w, backgrounds, palette), pv, faces, light_dir=light,
                            ambient=AMBIENT, cull_backfaces=True, vertex_colors=albedo(clothes, palette))
        # Person box: the silhouette's (projected vertices') bounding box, clipped to the image.
        lo = np.maximum(pv[:, :2].amin(dim=0).numpy(), 0.0)
        hi = np.minimum(pv[:, :2].amax(dim=0).numpy(), [w - 1.0, h - 1.0])
        center = (lo + hi) / 2
        scale = box_factor * float((hi - lo).max()) / BOX_PIXELS_PER_SCALE
        uv = project_points(j24_c[b].double(), torch.from_numpy(K)).numpy()  # (24, 2)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)
        conf = inside & coco_slots if coco_only_2d else inside
        joints2d = np.concatenate([uv, conf[:, None].astype(np.float64)], axis=1)
        pelvis = j24_c[b, J24_PELVIS].double().numpy()
        if labels_3d:
            joints3d = np.concatenate([j24_c[b].double().numpy() - pelvis, np.ones((24, 1))], axis=1)
            pose, beta = pose_c[b].double().numpy(), betas[b].double().numpy()
        else:
            joints3d, pose, beta = np.zeros((24, 4)), np.zeros(72), np.zeros(10)
        label = {
            "center": _round(center, 3), "scale": round(scale, 5),
            "2d_joints": _round(joints2d, 3), "has_2d_joints": 1,
            "3d_joints": _round(joints3d, 6), "has_3d_joints": int(labels_3d),
            "pose": _round(pose, 6), "betas": _round(beta, 6), "has_smpl": int(labels_3d),
            "gender": "neutral",
            "pelvis_cam": _round(pelvis, 6),
            "cam_param": {"focal": _round(K[[0, 1], [0, 1]], 4), "princpt": _round(K[:2, 2], 4)},
        }  # fmt: skip
        img_rows.append((shot.name, _jpeg_base64(image, jpeg_quality)))
        label_rows.append((shot.name, json.dumps([label], separators=(",", ":"))))
        hw_rows.append((shot.name, json.dumps([{"height": h, "width": w}])))
    return img_rows, label_rows, hw_rows
