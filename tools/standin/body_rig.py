"""The demo body's rig (tools/standin/body.py): skinning weights, the SMPL and Human3.6M joint regressors, and the
shape and pose blend shapes, all derived from the implicit surface's shapes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

from mpt.body.joints import H36M_JOINT_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS
from mpt.body.smpl_file import NUM_JOINTS  # NUM_FACES = 2V - 4: closed, genus 0
from tools.standin.body_shape import _LEAF_ENDS, NUM_BETAS, BodyShape, bone_ends

# ----------------------------------------------------------------------------------------------------------------
# Skinning, regressors and blend shapes


def _adjacency(faces: np.ndarray, n: int) -> sp.csr_matrix:
    """Row-normalised vertex adjacency (uniform Laplacian averaging operator)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    a = ((a + a.T) > 0).astype(np.float64)
    return sp.csr_matrix(a.multiply(1.0 / np.asarray(a.sum(1))))


def skinning_weights(v: np.ndarray, faces: np.ndarray, shape: BodyShape, tau: float = 0.012) -> np.ndarray:
    """(N, 24) smooth LBS weights: a softmax over joints of the distance to each joint's shapes, then smoothed.

    A vertex on a shape's surface is at distance ~0 from it, so it follows that shape's joint; where shapes blend
    (knees, elbows, shoulders, hips) the weights cross-fade over a few centimetres. Rows sum to 1 and hold at
    most 4 joints.
    """
    dist, _ = shape.each(v)
    per_joint = np.full((len(v), NUM_JOINTS), np.inf)
    for j in range(NUM_JOINTS):
        cols = shape.joint == j
        if cols.any():
            per_joint[:, j] = dist[:, cols].min(1)
    w = np.exp(-(per_joint - per_joint.min(1, keepdims=True)) / tau)
    avg = _adjacency(faces, len(v))
    for _ in range(2):
        w = 0.5 * w + 0.5 * (avg @ w)
    w = w / w.sum(1, keepdims=True)
    w[w < 0.02] = 0.0
    keep = np.argsort(-w, axis=1, kind="stable")[:, :4]
    out = np.zeros_like(w)
    np.put_along_axis(out, keep, np.take_along_axis(w, keep, 1), 1)
    return out / out.sum(1, keepdims=True)


def _fit_row(v: np.ndarray, cand: np.ndarray, target: np.ndarray, what: str) -> np.ndarray:
    """Non-negative weights over vertices ``cand`` summing to 1 whose weighted mean is ``target`` (close to even)."""
    k = len(cand)
    lam = 1e3  # constraint rows weigh 1e3 x the evenness rows
    a = np.vstack([lam * v[cand].T, lam * np.ones((1, k)), np.eye(k) / k])
    b = np.concatenate([lam * target, [lam], np.full(k, 1.0 / k**2)])
    w, _ = nnls(a, b, maxiter=50 * k)
    w[w < 1e-6] = 0.0
    w /= w.sum()
    err = np.linalg.norm(w @ v[cand] - target)
    if err > 2e-3:
        raise RuntimeError(f"demo body regressor for {what} misses its target by {err * 1000:.1f} mm")
    return w


def _ring(v: np.ndarray, centre: np.ndarray, axis: np.ndarray, slab: float = 0.02) -> np.ndarray:
    """Ids of the vertices around ``centre`` in a slab across ``axis`` (a ring around a limb or the trunk)."""
    axis = axis / np.linalg.norm(axis)
    rel = v - centre
    dist = np.linalg.norm(rel, axis=1)
    radius = 1.5 * dist.min() + 0.03
    return np.nonzero((np.abs(rel @ axis) < slab) & (dist < radius))[0]


def _spread(v: np.ndarray, cand: np.ndarray, count: int) -> np.ndarray:
    """Farthest-point subset of ``cand`` (deterministic: starts from the lowest id)."""
    if len(cand) <= count:
        return cand
    chosen = [0]
    d = np.linalg.norm(v[cand] - v[cand[0]], axis=1)
    for _ in range(count - 1):
        chosen.append(int(np.argmax(d)))
        d = np.minimum(d, np.linalg.norm(v[cand] - v[cand[chosen[-1]]], axis=1))
    return np.sort(cand[chosen])


def joint_regressor(v: np.ndarray, joints: np.ndarray) -> sp.csc_matrix:
    """(24, N) sparse regressor: each joint as a convex combination of a ring of vertices around it."""
    ends = bone_ends(joints)
    rows, cols, vals = [], [], []
    for j in range(NUM_JOINTS):
        cand = _ring(v, joints[j], ends[j] - joints[j])
        w = _fit_row(v, cand, joints[j], SMPL_JOINT_NAMES[j])
        rows += [j] * int((w > 0).sum())
        cols += cand[w > 0].tolist()
        vals += w[w > 0].tolist()
    return sp.csc_matrix((vals, (rows, cols)), shape=(NUM_JOINTS, len(v)))


# Where the 17 Human3.6M joints sit on the demo body, and the direction their vertex ring goes across. H36M's hips
# are wider and lower than SMPL's; Torso is mid-spine, Neck the thorax, Nose inside the nose, Head near the top.
_H36M_TARGETS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float] | str]] = {
    "pelvis": ((0.0, -0.25, 0.025), (0.0, 1.0, 0.0)),
    "right_hip": ((-0.085, -0.32, 0.02), "right_hip"), "left_hip": ((0.085, -0.32, 0.02), "left_hip"),
    "right_knee": ((-0.102, -0.69, 0.012), "right_knee"), "left_knee": ((0.102, -0.69, 0.012), "left_knee"),
    "right_ankle": ((-0.088, -1.085, -0.025), "right_ankle"), "left_ankle": ((0.088, -1.085, -0.025), "left_ankle"),
    "torso": ((0.0, 0.0, 0.015), (0.0, 1.0, 0.0)), "neck": ((0.0, 0.245, 0.0), (0.0, 1.0, 0.0)),
    "nose": ((0.0, 0.43, 0.105), (0.0, 0.0, 1.0)), "head": ((0.0, 0.505, 0.025), (0.0, 1.0, 0.0)),
    "left_shoulder": ((0.17, 0.228, -0.018), "left_shoulder"), "right_shoulder": ((-0.17, 0.228, -0.018), "right_shoulder"),
    "left_elbow": ((0.43, 0.22, -0.04), "left_elbow"), "right_elbow": ((-0.43, 0.22, -0.04), "right_elbow"),
    "left_wrist": ((0.69, 0.222, -0.045), "left_wrist"), "right_wrist": ((-0.69, 0.222, -0.045), "right_wrist"),
}  # fmt: skip


def h36m_regressor(v: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(17, N) dense regressor in Human3.6M order, 12 (at most 20) vertices per joint, rows summing to 1."""
    ends = bone_ends(joints)
    out = np.zeros((len(H36M_JOINT_NAMES), len(v)))
    for row, name in enumerate(H36M_JOINT_NAMES):
        target, axis_spec = _H36M_TARGETS[name]
        if isinstance(axis_spec, str):
            j = SMPL_JOINT_NAMES.index(axis_spec)
            axis = ends[j] - joints[j]
        else:
            axis = np.asarray(axis_spec)
        ring = _ring(v, np.asarray(target), axis)
        for count in (12, 20):
            cand = _spread(v, ring, count)
            try:
                out[row, cand] = _fit_row(v, cand, np.asarray(target), f"H36M {name}")
                break
            except RuntimeError:
                if count == 20:
                    raise
    return out


def _bone_coords(v: np.ndarray, joints: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per vertex and joint, the position t in [0, 1] along the joint's bone and the nearest bone point (N, 24, 3)."""
    seg = ends - joints  # (24, 3)
    t = np.clip(((v[:, None, :] - joints) * seg).sum(-1) / (seg * seg).sum(-1), 0.0, 1.0)
    return t, joints + t[..., None] * seg


def _skeleton_edit(
    v: np.ndarray, w: np.ndarray, joints: np.ndarray, new_joints: np.ndarray, new_ends: np.ndarray
) -> np.ndarray:
    """Vertex displacement (N, 3) that carries each part along with its bone when the bones move or stretch."""
    ends = bone_ends(joints)
    t, _ = _bone_coords(v, joints, ends)
    moved = (1.0 - t)[..., None] * (new_joints - joints) + t[..., None] * (new_ends - ends)  # (N, 24, 3)
    return np.einsum("nj,njk->nk", w, moved)


def _scaled_skeleton(joints: np.ndarray, scale: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Joints and bone ends after scaling the offset of joint j from its parent by ``scale[j]`` (per axis)."""
    new = joints.copy()
    for j in range(1, NUM_JOINTS):  # parents come first in SMPL's order
        p = SMPL_PARENTS[j]
        new[j] = new[p] + scale.get(j, np.ones(3)) * (joints[j] - joints[p])
    ends = bone_ends(joints)
    new_ends = bone_ends(new)
    for j in _LEAF_ENDS:  # leaf ends follow their joint rigidly
        new_ends[j] = new[j] + (ends[j] - joints[j])
    return new, new_ends


# Girth factors per joint part for the weight direction (trunk and thighs change most, hands and feet least).
_GIRTH = np.array([1.0, 1.0, 1.0, 1.0, 0.6, 0.6, 1.0, 0.1, 0.1, 1.0, 0.1, 0.1, 0.5, 0.8, 0.8, 0.15, 0.8, 0.8, 0.5,
                   0.5, 0.1, 0.1, 0.1, 0.1])  # fmt: skip
_LIMB_PARTS = np.array([1, 2, 4, 5, 16, 17, 18, 19])
_TRUNK_PARTS = np.array([0, 3, 6, 9])


def shape_directions(v: np.ndarray, w: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N, 3, 10) shape blend shapes, one human-meaningful direction each, scaled so beta in [-2, 2] is plausible.

    0 stature (4 % per unit), 1 weight (girth 10 % per unit, trunk and thighs most), 2 leg length (4 %), 3 trunk
    length (5 %), 4 shoulder width, 5 hip width, 6 arm length (5 %), 7 belly (1.5 cm), 8 head size (6 %),
    9 muscularity (limbs +8 %, trunk -3 %).
    """
    ends = bone_ends(joints)
    _, nearest = _bone_coords(v, joints, ends)
    radial = v - np.einsum("nj,njk->nk", w, nearest)  # (N, 3) from the body axis outwards
    x_axis = np.array([1.0, 0.0, 0.0])
    dirs = np.zeros((len(v), 3, NUM_BETAS))
    dirs[:, :, 0] = 0.04 * (v - joints[0] * [0.0, 1.0, 0.0])
    dirs[:, :, 1] = 0.10 * (w @ _GIRTH)[:, None] * radial

    def edit(scale: dict[int, np.ndarray]) -> np.ndarray:
        new, new_ends = _scaled_skeleton(joints, scale)
        return _skeleton_edit(v, w, joints, new, new_ends)

    dirs[:, :, 2] = edit({j: np.full(3, 1.04) for j in (4, 5, 7, 8)})
    dirs[:, :, 3] = edit({j: np.full(3, 1.05) for j in (3, 6, 9, 12)})
    shoulders = edit({16: np.array([1.15, 1.0, 1.0]), 17: np.array([1.15, 1.0, 1.0])})
    chest_gain = 0.15 * (joints[16, 0] - joints[13, 0]) / joints[16, 0]  # widen the upper trunk to match
    dirs[:, :, 4] = shoulders + (w[:, [9, 13, 14]].sum(1) * chest_gain * v[:, 0])[:, None] * x_axis
    hips = edit({1: np.array([1.15, 1.0, 1.0]), 2: np.array([1.15, 1.0, 1.0])})
    dirs[:, :, 5] = hips + (w[:, [0, 3]].sum(1) * 0.15 * v[:, 0])[:, None] * x_axis
    dirs[:, :, 6] = edit({j: np.full(3, 1.05) for j in (18, 19, 20, 21)})
    belly = np.exp(-0.5 * (((v - [0.0, -0.08, 0.12]) / [0.11, 0.10, 0.06]) ** 2).sum(1))
    dirs[:, 2, 7] = 0.015 * belly
    dirs[:, :, 8] = 0.06 * w[:, 15:16] * (v - joints[15])
    dirs[:, :, 9] = (0.08 * w[:, _LIMB_PARTS].sum(1) - 0.03 * w[:, _TRUNK_PARTS].sum(1))[:, None] * radial
    return dirs


def pose_directions(v: np.ndarray, normals: np.ndarray, w: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N, 3, 207) pose blend shapes: per joint, a bulge along the normal that grows with 3 - trace(R) and a
    small counter-rotation -0.1 (R - I)(v - J), both faded in around the joint (Gaussian over the two parts that
    meet there). Feature order as SMPL: joint-major (joints 1..23), then the 3x3 entries of R - I row-major."""
    bulge, counter = 0.004, -0.1  # metres per unit feature; fraction of the rotation
    rel = v[:, None, :] - joints[None, 1:]  # (N, 23, 3)
    dist = np.linalg.norm(rel, axis=-1)
    sigma = np.clip(1.2 * dist.min(0), 0.02, 0.08)  # about the limb radius at the joint
    parents = np.array(SMPL_PARENTS[1:])
    g = np.exp(-0.5 * (dist / sigma) ** 2) * (w[:, 1:] + w[:, parents])  # (N, 23)
    out = np.zeros((len(v), 3, NUM_JOINTS - 1, 3, 3))
    for i in range(3):
        out[:, i, :, i, :] = counter * g[..., None] * rel  # d offset_i / d F_ic = counter g rel_c
    out -= bulge * g[:, None, :, None, None] * normals[:, :, None, None, None] * np.eye(3)
    return out.reshape(len(v), 3, (NUM_JOINTS - 1) * 9)
