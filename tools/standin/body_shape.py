"""The demo body's design (tools/standin/body.py, step 1): the SMPL-like T-pose skeleton, smplx's landmark vertex
ids, and the smooth implicit surface (a smooth union of ellipsoids and round cones laid on that skeleton)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpt.body.joints import SMPL_JOINT_NAMES
from mpt.body.smpl_file import NUM_JOINTS  # NUM_FACES = 2V - 4: closed, genus 0
from mpt.data.joints24 import SMPL_FLIP_PERM

NUM_BETAS = 10

# smplx vertex_ids['smplh'] (smplx/vertex_ids.py; valid for SMPL's topology).
LANDMARK_VERTEX_IDS: dict[str, int] = {
    "nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583,
    "LBigToe": 3216, "LSmallToe": 3226, "LHeel": 3387, "RBigToe": 6617, "RSmallToe": 6624, "RHeel": 6787,
    "lthumb": 2746, "lindex": 2319, "lmiddle": 2445, "lring": 2556, "lpinky": 2673,
    "rthumb": 6191, "rindex": 5782, "rmiddle": 5905, "rring": 6016, "rpinky": 6133,
}  # fmt: skip

# Left/right partner of each SMPL joint (mirror in x).
MIRROR_JOINT = np.array(SMPL_FLIP_PERM)

# T-pose joint centres of the demo body (our design, SMPL-like placement; metres, y up, +z forward, left = +x).
_LEFT_JOINTS: dict[str, tuple[float, float, float]] = {
    "left_hip": (0.072, -0.310, 0.020), "left_knee": (0.102, -0.690, 0.012),
    "left_ankle": (0.088, -1.085, -0.025), "left_foot": (0.118, -1.132, 0.095),
    "left_collar": (0.075, 0.200, -0.005), "left_shoulder": (0.170, 0.228, -0.018),
    "left_elbow": (0.430, 0.220, -0.040), "left_wrist": (0.690, 0.222, -0.045), "left_hand": (0.775, 0.214, -0.045),
}  # fmt: skip
_CENTRE_JOINTS: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, -0.220, 0.028), "spine1": (0.0, -0.110, 0.005), "spine2": (0.0, 0.030, 0.012),
    "spine3": (0.0, 0.090, 0.018), "neck": (0.0, 0.290, -0.012), "head": (0.0, 0.370, 0.040),
}  # fmt: skip


def _design_joints() -> np.ndarray:
    """(24, 3) T-pose joints in SMPL order, right side mirrored from the left."""
    out = np.zeros((NUM_JOINTS, 3))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        if name in _CENTRE_JOINTS:
            out[j] = _CENTRE_JOINTS[name]
        elif name in _LEFT_JOINTS:
            out[j] = _LEFT_JOINTS[name]
        else:
            x, y, z = _LEFT_JOINTS[name.replace("right_", "left_")]
            out[j] = (-x, y, z)
    return out


DESIGN_JOINTS = _design_joints()

# Ends of the leaf bones (head top, toe tip, fingertip), used to give leaf joints a direction.
_LEAF_ENDS = {15: (0.0, 0.52, 0.03), 10: (0.118, -1.128, 0.17), 11: (-0.118, -1.128, 0.17),
              22: (0.86, 0.212, -0.045), 23: (-0.86, 0.212, -0.045)}  # fmt: skip


def bone_ends(joints: np.ndarray) -> np.ndarray:
    """(24, 3) the far end of each joint's bone: its child (spine child for pelvis/spine3) or a leaf end point.

    Leaf ends follow the joints: they are moved with the leaf joint, so they can be used for shaped skeletons.
    """
    child = {0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12, 12: 15, 13: 16, 14: 17, 16: 18, 17: 19,
             18: 20, 19: 21, 20: 22, 21: 23}  # fmt: skip
    ends = np.empty_like(joints)
    for j in range(NUM_JOINTS):
        if j in child:
            ends[j] = joints[child[j]]
        else:
            ends[j] = joints[j] + (np.asarray(_LEAF_ENDS[j]) - DESIGN_JOINTS[j])
    return ends


# ----------------------------------------------------------------------------------------------------------------
# 1. The implicit surface


@dataclass(frozen=True)
class Primitive:
    """One shape of the body: an ellipsoid (centre ``p0``, radii ``p1``) or a round cone (axis ``p0``->``p1``,
    radii ``r0``->``r1``), attached to an SMPL ``joint`` (its skinning part) and smooth-unioned with everything
    before it with blend radius ``blend`` (metres)."""

    kind: str
    joint: int
    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    r0: float = 0.0
    r1: float = 0.0
    blend: float = 0.0

    def mirrored(self) -> Primitive:
        """The same shape on the other side of the body (x -> -x), attached to the partner joint."""
        p0 = (-self.p0[0], self.p0[1], self.p0[2])
        p1 = self.p1 if self.kind == "ellipsoid" else (-self.p1[0], self.p1[1], self.p1[2])
        return Primitive(self.kind, int(MIRROR_JOINT[self.joint]), p0, p1, self.r0, self.r1, self.blend)


def _ell(joint: int, c: tuple, r: tuple, blend: float) -> Primitive:
    return Primitive("ellipsoid", joint, c, r, 0.0, 0.0, blend)


def _cone(joint: int, a: tuple, b: tuple, ra: float, rb: float, blend: float) -> Primitive:
    return Primitive("cone", joint, a, b, ra, rb, blend)


# Proportions of an adult of about 1.7 m (head top y = +0.55, soles y = -1.15). Order matters: each shape is blended
# into the union of those before it.
_CENTRE_SHAPES = (
    _ell(0, (0.0, -0.27, 0.005), (0.160, 0.120, 0.105), 0.0),  # pelvis block
    _ell(3, (0.0, -0.10, 0.020), (0.140, 0.140, 0.100), 0.07),  # abdomen
    _ell(6, (0.0, 0.05, 0.015), (0.150, 0.130, 0.105), 0.07),  # lower chest
    _ell(9, (0.0, 0.15, 0.000), (0.160, 0.110, 0.100), 0.07),  # upper chest
    _cone(12, (0.0, 0.22, -0.015), (0.0, 0.37, 0.020), 0.058, 0.050, 0.04),  # neck
    _ell(15, (0.0, 0.45, 0.025), (0.078, 0.100, 0.097), 0.03),  # skull
    _ell(15, (0.0, 0.39, 0.050), (0.060, 0.055, 0.070), 0.03),  # jaw
    _ell(15, (0.0, 0.435, 0.118), (0.013, 0.022, 0.022), 0.01),  # nose
)
_LEFT_SHAPES = (
    _ell(0, (0.065, -0.31, -0.045), (0.085, 0.095, 0.070), 0.04),  # buttock
    _ell(9, (0.070, 0.13, 0.050), (0.075, 0.060, 0.055), 0.04),  # chest muscle
    _cone(13, (0.0, 0.215, -0.015), (0.15, 0.215, -0.015), 0.055, 0.055, 0.04),  # shoulder girdle
    _ell(15, (0.077, 0.44, 0.015), (0.014, 0.030, 0.020), 0.01),  # ear
    _cone(16, (0.17, 0.228, -0.018), (0.43, 0.220, -0.040), 0.050, 0.038, 0.03),  # upper arm
    _ell(16, (0.19, 0.225, -0.018), (0.075, 0.058, 0.058), 0.03),  # deltoid
    _cone(18, (0.43, 0.220, -0.040), (0.69, 0.222, -0.045), 0.038, 0.027, 0.02),  # forearm
    _ell(18, (0.50, 0.220, -0.042), (0.080, 0.040, 0.043), 0.02),  # forearm muscle
    _ell(20, (0.745, 0.218, -0.045), (0.060, 0.022, 0.045), 0.02),  # palm
    _cone(22, (0.775, 0.214, -0.027), (0.852, 0.211, -0.027), 0.0165, 0.015, 0.012),  # index + middle fingers
    _cone(22, (0.775, 0.214, -0.063), (0.842, 0.211, -0.066), 0.0160, 0.014, 0.012),  # ring + little fingers
    _cone(20, (0.715, 0.210, -0.010), (0.770, 0.205, 0.030), 0.0150, 0.012, 0.01),  # thumb
    _cone(1, (0.08, -0.31, 0.020), (0.102, -0.69, 0.012), 0.088, 0.055, 0.04),  # thigh
    _ell(1, (0.095, -0.47, 0.025), (0.075, 0.170, 0.080), 0.04),  # thigh muscle
    _cone(4, (0.102, -0.69, 0.012), (0.088, -1.085, -0.025), 0.052, 0.034, 0.03),  # shin
    _ell(4, (0.098, -0.82, -0.020), (0.050, 0.110, 0.055), 0.03),  # calf
    _cone(7, (0.088, -1.115, -0.050), (0.118, -1.125, 0.080), 0.036, 0.028, 0.02),  # heel to ball of the foot
    _ell(10, (0.115, -1.128, 0.120), (0.045, 0.025, 0.055), 0.02),  # toes
)
PRIMITIVES: tuple[Primitive, ...] = _CENTRE_SHAPES + tuple(q for p in _LEFT_SHAPES for q in (p, p.mirrored()))


class BodyShape:
    """Batched evaluation of the body's implicit function (negative inside) and its analytic gradient.

    Ellipsoids use the usual first-order distance bound k0 (k0 - 1) / k1 (k0 = |q/r|, k1 = |q/r^2|); round cones the
    distance to the axis segment minus the interpolated radius; shapes are merged by the polynomial smooth minimum
    s = b + (a - b) h - k h (1 - h), h = clamp(1/2 + (b - a) / 2k), whose gradient is h grad a + (1 - h) grad b.
    """

    def __init__(self, primitives: tuple[Primitive, ...] = PRIMITIVES) -> None:
        self.primitives = primitives
        is_ell = np.array([p.kind == "ellipsoid" for p in primitives])
        self._ie, self._ic = np.nonzero(is_ell)[0], np.nonzero(~is_ell)[0]
        self._ec = np.array([primitives[i].p0 for i in self._ie], float).reshape(-1, 3)
        self._er = np.array([primitives[i].p1 for i in self._ie], float).reshape(-1, 3)
        self._ca = np.array([primitives[i].p0 for i in self._ic], float).reshape(-1, 3)
        self._cb = np.array([primitives[i].p1 for i in self._ic], float).reshape(-1, 3)
        self._cra = np.array([primitives[i].r0 for i in self._ic], float)
        self._crb = np.array([primitives[i].r1 for i in self._ic], float)
        self.blend = np.array([p.blend for p in primitives])
        self.joint = np.array([p.joint for p in primitives])

    def each(self, p: np.ndarray, grad: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-shape values (N, P) and, if asked, gradients (N, P, 3) at points p (N, 3)."""
        n, num = len(p), len(self.primitives)
        values = np.empty((n, num))
        grads = np.empty((n, num, 3)) if grad else None
        if len(self._ie):
            q = p[:, None, :] - self._ec  # (N, E, 3)
            u, w = q / self._er, q / self._er**2
            k0 = np.sqrt(np.einsum("nek,nek->ne", u, u))
            k1 = np.maximum(np.sqrt(np.einsum("nek,nek->ne", w, w)), 1e-12)
            values[:, self._ie] = k0 * (k0 - 1.0) / k1
            if grads is not None:
                g_k0 = w / np.maximum(k0, 1e-12)[..., None]
                g_k1 = (q / self._er**4) / k1[..., None]
                grads[:, self._ie] = ((2.0 * k0 - 1.0) / k1)[..., None] * g_k0 - (k0 * (k0 - 1.0) / k1**2)[
                    ..., None
                ] * g_k1
        if len(self._ic):
            ba = self._cb - self._ca  # (C, 3)
            bb = (ba * ba).sum(-1)
            pa = p[:, None, :] - self._ca  # (N, C, 3)
            t_raw = np.einsum("nck,ck->nc", pa, ba) / bb
            t = np.clip(t_raw, 0.0, 1.0)
            r = pa - t[..., None] * ba
            dist = np.maximum(np.sqrt(np.einsum("nck,nck->nc", r, r)), 1e-12)
            values[:, self._ic] = dist - (self._cra + t * (self._crb - self._cra))
            if grads is not None:
                inner = ((t_raw > 0.0) & (t_raw < 1.0))[..., None]
                slope = ((self._crb - self._cra) / bb)[:, None] * ba  # (C, 3)
                grads[:, self._ic] = r / dist[..., None] - inner * slope
        return values, grads

    def __call__(self, p: np.ndarray, grad: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Smooth-union value (N,) and, if asked, gradient (N, 3)."""
        values, grads = self.each(p, grad)
        d = values[:, 0].copy()
        g = grads[:, 0].copy() if grads is not None else None
        for i in range(1, values.shape[1]):
            d, h = _smooth_min(d, values[:, i], self.blend[i])
            if g is not None and grads is not None:
                g = h[:, None] * g + (1.0 - h)[:, None] * grads[:, i]
        return d, g

    def on_grid(self, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
        """Values on the grid xs x ys x zs, evaluating each shape only inside its bounding box plus a margin.

        Outside that margin a shape cannot change the smooth union near the surface (|value| < 3 grid steps), and
        far from it the sign stays positive, so the zero level set is exact.
        """
        step = float(xs[1] - xs[0])
        out = np.ones((len(xs), len(ys), len(zs)))
        for prim in self.primitives:
            if prim.kind == "ellipsoid":
                lo, hi = np.subtract(prim.p0, prim.p1), np.add(prim.p0, prim.p1)
            else:
                r = max(prim.r0, prim.r1)
                lo, hi = np.minimum(prim.p0, prim.p1) - r, np.maximum(prim.p0, prim.p1) + r
            margin = prim.blend + 3.0 * step
            block = tuple(
                slice(int(np.searchsorted(ax, a - margin)), int(np.searchsorted(ax, b + margin, side="right")))
                for ax, a, b in zip((xs, ys, zs), lo, hi)
            )
            pts = np.stack(np.meshgrid(xs[block[0]], ys[block[1]], zs[block[2]], indexing="ij"), -1)
            vals = BodyShape((prim,)).each(pts.reshape(-1, 3))[0][:, 0].reshape(pts.shape[:3])
            out[block] = _smooth_min(out[block], vals, prim.blend)[0]
        return out

    def project(self, p: np.ndarray, steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Newton steps p <- p - f grad f / |grad f|^2 onto the zero set; returns points and unit normals."""
        g = np.zeros_like(p)
        for _ in range(steps):
            d, g = self(p, grad=True)
            assert g is not None
            p = p - (d / np.maximum((g * g).sum(1), 1e-12))[:, None] * g
        return p, g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)


def _smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial smooth minimum of a and b with blend radius k (k = 0: plain min); also returns the weight h of a."""
    if k <= 0.0:
        h = (a <= b).astype(float)
        return np.minimum(a, b), h
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h), h
