"""The per-sample numpy reference of pre-training's heatmap synthesis (mpt.synthesis.pipeline.Synthesizer.render),
for the tests and the benchmark (scripts/bench/bench_synthesis.py) only: one sample and one joint at a time, with
numpy, cv2.projectPoints and np.exp over the full grid, on the same random draws (ViewParams) as the batched
synthesis, so the two can be compared."""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import fields
from typing import Any

import cv2
import numpy as np
import smplx
import torch
from smplx.utils import Struct

from mpt.body import BodyModel
from mpt.body import joints as J
from mpt.body.smpl_file import NUM_JOINTS
from mpt.synthesis.pipeline import NUM_KEYPOINTS, SynthesisOptions, Synthesizer, ViewParams, _check_batch


def _reference_constants(synth: Synthesizer) -> dict[str, Any]:
    cams = synth.cameras
    body = synth.body
    coco_reg = getattr(body, "coco_regressor", None)
    return {
        "R": cams.R.double().cpu().numpy(), "t": cams.t.double().cpu().numpy(), "K": cams.K.double().cpu().numpy(),
        "dist": cams.dist.double().cpu().numpy(), "wh": cams.image_size.cpu().numpy(),
        "centre": synth.volume_center.double().cpu().numpy(),
        "coco_reg": None if coco_reg is None else coco_reg.double().cpu().numpy(),
        "coco_sources": J.coco_sources(),
    }  # fmt: skip


def _reference_sample(
    c: dict[str, Any], opt: SynthesisOptions, verts: np.ndarray, joints: np.ndarray,
    cam: int, heading: float, scale: float, shift: np.ndarray, kept: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """One sample's heatmaps (17, S, S), float64, written the plain way."""
    ch, sh = math.cos(heading), math.sin(heading)
    rz = np.array([[ch, -sh, 0.0], [sh, ch, 0.0], [0.0, 0.0, 1.0]])
    root = joints[0]
    target = np.array([c["centre"][0], c["centre"][1], root[2]])
    placed_v = (verts - root) @ rz.T + target
    placed_j = (joints - root) @ rz.T + target
    if c["coco_reg"] is not None:
        kp = c["coco_reg"] @ placed_v
    else:
        from_j, joint_ids, from_v, vertex_ids = c["coco_sources"]
        kp = np.zeros((NUM_KEYPOINTS, 3))
        kp[from_j] = placed_j[joint_ids]
        kp[from_v] = placed_v[vertex_ids]
    rvec, _ = cv2.Rodrigues(c["R"][cam])
    dist = c["dist"][cam] if opt.distortion else np.zeros(5)
    uv_v = cv2.projectPoints(placed_v, rvec, c["t"][cam], c["K"][cam], dist)[0].reshape(-1, 2)
    uv_k = cv2.projectPoints(kp, rvec, c["t"][cam], c["K"][cam], dist)[0].reshape(-1, 2)
    depth = kp @ c["R"][cam][2] + c["t"][cam][2]
    lo, hi = uv_v.min(axis=0), uv_v.max(axis=0)
    side = opt.crop_scale * (hi - lo).max()
    centre = (lo + hi) / 2 + shift * side
    side = side * scale
    s = opt.size
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float64)
    maps = np.zeros((NUM_KEYPOINTS, s, s))
    w, h = c["wh"][cam]
    for j in range(NUM_KEYPOINTS):
        u, v = uv_k[j]
        x = (u - centre[0]) / side * s + (s - 1) / 2  # box edges at centre +- side/2 -> map edges -0.5, s - 0.5
        y = (v - centre[1]) / side * s + (s - 1) / 2
        in_image = -0.5 <= u < w - 0.5 and -0.5 <= v < h - 0.5
        seen = depth[j] > 0 and in_image and -0.5 <= x < s - 0.5 and -0.5 <= y < s - 0.5
        if seen and kept[j]:
            maps[j] = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * opt.sigma**2))
    return maps


def reference_smpl_layers(body: BodyModel) -> dict[str, smplx.SMPL]:
    """smplx's own SMPL layer (CPU) for each gender of ``body``, built from the same model arrays: the plain
    per-sample SMPL forward of :func:`synthesize_reference_numpy`, independent of :class:`mpt.body.SmplSkinning`."""
    layers = {}
    for g in body.genders:
        data = body.layers[g].model_arrays()
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for SMPL's 10 betas
            layers[g] = smplx.SMPL(model_path=".", data_struct=Struct(**data), gender=g, num_betas=body.num_betas)
    return layers


def synthesize_reference_numpy(
    synth: Synthesizer,
    params: ViewParams,
    vertices: np.ndarray | torch.Tensor | None = None,
    joints: np.ndarray | torch.Tensor | None = None,
    batch: dict[str, torch.Tensor] | None = None,
    smpl_layers: dict[str, smplx.SMPL] | None = None,
) -> np.ndarray:
    """The heatmaps of :meth:`Synthesizer.render` computed one sample and one joint at a time (B, 17, S, S).

    A deliberately plain reference (numpy, cv2.projectPoints, np.exp over the full grid) used only by the
    benchmark and the tests. Give either posed bodies (``vertices``, ``joints``: AMASS world) or a motion-cache
    ``batch``, which is then posed one sample at a time with smplx's SMPL layer (the per-sample SMPL forward that a
    plain per-item dataset would run); ``smpl_layers`` are :func:`reference_smpl_layers`, built here when None.
    """
    if synth.options.kind != "heatmap":
        raise ValueError("synthesize_reference_numpy draws heatmaps only (options.kind='heatmap')")
    if (batch is None) == (vertices is None or joints is None):
        raise ValueError("give either vertices and joints, or a batch")
    c = _reference_constants(synth)
    p = {f.name: getattr(params, f.name).detach().cpu().numpy() for f in fields(params)}
    if batch is None:
        as_np = lambda x: x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)  # noqa: E731
        verts_np, joints_np = as_np(vertices), as_np(joints)
    else:
        layers = reference_smpl_layers(synth.body) if smpl_layers is None else smpl_layers
        data = {k: v.detach().cpu() for k, v in _check_batch(batch, synth.device).items()}
        names = {code: name for name, code in J.GENDER_CODES.items()}
    out = np.zeros((len(params), NUM_KEYPOINTS, synth.options.size, synth.options.size), dtype=np.float32)
    for i in range(len(params)):
        if batch is not None:
            gender = names.get(int(data["gender"][i])) if "gender" in data else None
            layer = layers.get(gender, layers[synth.body.genders[0]])
            pose, trans = data["pose"][i : i + 1], data["trans"][i : i + 1]
            betas = data["betas"][i : i + 1, : synth.body.num_betas] if "betas" in data else None
            with torch.no_grad():
                one = layer(betas=betas, global_orient=pose[:, :3], body_pose=pose[:, 3:], transl=trans)
            v_i, j_i = one.vertices[0].double().numpy(), one.joints[0, :NUM_JOINTS].double().numpy()
        else:
            v_i, j_i = verts_np[i].astype(np.float64), joints_np[i].astype(np.float64)
        out[i] = _reference_sample(
            c, synth.options, v_i, j_i, int(p["camera_idx"][i]), float(p["heading"][i]), float(p["box_scale"][i]),
            p["box_shift"][i].astype(np.float64), p["kept"][i],
        )  # fmt: skip
    return out
