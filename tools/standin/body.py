"""The demo body: a human-like, SMPL-format stand-in built deterministically from simple shapes.

The real SMPL model is licence-gated, so the demo ships a body with SMPL's exact format (6890 vertices, 13776 faces,
24 joints in SMPL's tree, 10 shape and 207 pose blend shapes) that smplx and our loaders read unchanged. It is built
in five steps, each one function below:

1. a smooth implicit surface: a smooth union of ellipsoids and round cones laid on an SMPL-like T-pose skeleton
   (metres, y up, facing +z, the body's left side at +x);
2. marching tetrahedra on an 8 mm grid (a closed, consistently oriented, genus-0 triangle mesh by construction);
3. quadric decimation (fast_simplification) to exactly 6890 vertices;
4. relaxation on the implicit surface (area-weighted centroid steps re-projected with Newton steps, plus Delaunay
   edge flips), which turns the decimated mesh into well-shaped triangles of a few centimetres;
5. a vertex permutation that puts smplx's landmark vertices (nose, eyes, ears, toes, heels, fingertips) at SMPL's
   vertex ids, so code that picks landmarks by id finds them at the right body places.

Skinning weights, joint regressors and blend shapes are then derived from the same shapes (see
:func:`build_demo_body`). Nothing here reads a file; the result depends on no seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import fast_simplification
import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls
from scipy.sparse.csgraph import connected_components

from mpt.body.joints import H36M_JOINT_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS
from mpt.body.smpl_file import NUM_FACES, NUM_JOINTS, NUM_VERTICES  # NUM_FACES = 2V - 4: closed, genus 0
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


# ----------------------------------------------------------------------------------------------------------------
# 2. Marching tetrahedra

# Each grid cube is cut into the 6 tetrahedra around its 000-111 diagonal (Kuhn's subdivision: walk from corner 000
# to 111 one axis at a time, in each of the 6 axis orders). Neighbouring cubes then share face diagonals, so the
# surface is closed. Corner index = 4x + 2y + z.
_CUBE_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)))
_AXIS_STEP = (4, 2, 1)  # corner-index increment of a step along x, y, z
_TETS = np.array([[0, _AXIS_STEP[a], _AXIS_STEP[a] + _AXIS_STEP[b], 7] for a, b, _ in itertools.permutations(range(3))])
_TET_EDGES = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])


def _tet_table() -> np.ndarray:
    """(16, 2, 3) for each inside/outside pattern of a tetrahedron's corners, up to two triangles as edge ids."""
    edge_id = {tuple(e): i for i, e in enumerate(_TET_EDGES.tolist())}

    def eid(i: int, j: int) -> int:
        return edge_id[(min(i, j), max(i, j))]

    table = -np.ones((16, 2, 3), dtype=np.int64)
    for code in range(16):
        inside = [i for i in range(4) if code >> i & 1]
        outside = [i for i in range(4) if not code >> i & 1]
        if len(inside) in (1, 3):  # one corner cut off: one triangle
            lone = inside[0] if len(inside) == 1 else outside[0]
            table[code, 0] = [eid(lone, o) for o in range(4) if o != lone]
        elif len(inside) == 2:  # a quad between the two pairs: two triangles
            (a, b), (c, d) = inside, outside
            quad = [eid(a, c), eid(a, d), eid(b, d), eid(b, c)]
            table[code, 0] = quad[:3]
            table[code, 1] = [quad[0], quad[2], quad[3]]
    return table


_TET_TABLE = _tet_table()


def marching_tetrahedra(values: np.ndarray, origin: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate the zero level set of grid values (nx, ny, nz) (negative inside); faces wound outward.

    Vertices sit on grid edges (shared by key, so the mesh is closed and manifold when no value is exactly 0).
    """
    nx, ny, nz = values.shape
    flat = np.where(np.abs(values) < 1e-12, 1e-12, values).reshape(-1)
    inside = (flat < 0).reshape(values.shape)
    count = np.zeros((nx - 1, ny - 1, nz - 1), np.int8)
    for cx, cy, cz in _CUBE_CORNERS:
        count += inside[cx : nx - 1 + cx, cy : ny - 1 + cy, cz : nz - 1 + cz]
    cubes = np.stack(np.nonzero((count > 0) & (count < 8)), -1)  # (M, 3) cubes crossed by the surface
    corners = cubes[:, None, :] + _CUBE_CORNERS  # (M, 8, 3)
    corner_ids = (corners[..., 0] * ny + corners[..., 1]) * nz + corners[..., 2]
    tets = corner_ids[:, _TETS].reshape(-1, 4)  # (6M, 4) grid point ids
    tet_vals = flat[tets]
    code = ((tet_vals < 0) << np.arange(4)).sum(1)
    tri_edges = _TET_TABLE[code]  # (6M, 2, 3)
    tet_of, slot = np.nonzero(tri_edges[:, :, 0] >= 0)
    edges = tri_edges[tet_of, slot]  # (K, 3)
    ga, gb = tets[tet_of[:, None], _TET_EDGES[edges, 0]], tets[tet_of[:, None], _TET_EDGES[edges, 1]]
    key = np.minimum(ga, gb).astype(np.int64) * flat.size + np.maximum(ga, gb)
    ukey, faces = np.unique(key.reshape(-1), return_inverse=True)
    faces = faces.reshape(-1, 3)

    def position(ids: np.ndarray) -> np.ndarray:
        return origin + step * np.stack([ids // (ny * nz), (ids // nz) % ny, ids % nz], -1)

    ia, ib = ukey // flat.size, ukey % flat.size
    t = flat[ia] / (flat[ia] - flat[ib])
    verts = position(ia) + t[:, None] * (position(ib) - position(ia))
    # Orient each triangle away from an inside corner of its tetrahedron (the triangle separates the two sides).
    inner = position(tets[tet_of, np.argmin(tet_vals[tet_of], axis=1)])
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    wrong = (np.cross(b - a, c - a) * (a - inner)).sum(1) < 0
    faces[wrong] = faces[wrong][:, ::-1]
    return verts, faces


# ----------------------------------------------------------------------------------------------------------------
# 3-4. Decimation and relaxation


def _halfedges(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Half-edge arrays of a closed oriented mesh: from, to, opposite corner, twin index (all of length 3F)."""
    start = faces.reshape(-1)
    end = faces[:, [1, 2, 0]].reshape(-1)
    opposite = faces[:, [2, 0, 1]].reshape(-1)
    key = start * num_vertices + end
    order = np.argsort(key)
    pos = np.searchsorted(key[order], end * num_vertices + start)
    if np.any(pos >= len(key)) or np.any(key[order[np.minimum(pos, len(key) - 1)]] != end * num_vertices + start):
        raise RuntimeError("demo body mesh is not closed and consistently oriented")
    return start, end, opposite, order[pos]


def _angle(at: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    u, w = p - at, q - at
    return np.arctan2(np.linalg.norm(np.cross(u, w), axis=1), (u * w).sum(1))


def _flip_edges(v: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int]:
    """One parallel pass of Delaunay edge flips over non-adjacent edges; returns new faces and the flip count.

    Edge (a, b) with faces (a, b, c) and (b, a, d) becomes (c, d) when the angles at c and d sum to more than pi,
    the new edge does not exist yet, a and b keep valence >= 3, and both new faces keep the old orientation.
    """
    n_v = len(v)
    start, end, opposite, twin = _halfedges(faces, n_v)
    sel = np.nonzero(start < end)[0]
    a, b, c, d = start[sel], end[sel], opposite[sel], opposite[twin[sel]]
    score = _angle(v[c], v[a], v[b]) + _angle(v[d], v[a], v[b]) - np.pi
    valence = np.bincount(start, minlength=n_v)
    existing = np.unique(np.minimum(start, end) * n_v + np.maximum(start, end))
    new_key = np.minimum(c, d) * n_v + np.maximum(c, d)
    old_normal = np.cross(v[b] - v[a], v[c] - v[a]) + np.cross(v[a] - v[b], v[d] - v[b])
    n1 = np.cross(v[a] - v[c], v[d] - v[c])
    n2 = np.cross(v[b] - v[d], v[c] - v[d])
    ok = (score > 1e-6) & (valence[a] > 3) & (valence[b] > 3) & (c != d) & ~np.isin(new_key, existing)
    ok &= ((n1 * old_normal).sum(1) > 0) & ((n2 * old_normal).sum(1) > 0)
    cand = np.nonzero(ok)[0]
    f1, f2 = sel[cand] // 3, twin[sel[cand]] // 3
    # Each face keeps only its best candidate; a flip goes ahead when both its faces chose it and no other flip
    # touches them, so all flips of the pass are independent.
    best = np.full(len(faces), -np.inf)
    np.maximum.at(best, f1, score[cand])
    np.maximum.at(best, f2, score[cand])
    chosen = (best[f1] == score[cand]) & (best[f2] == score[cand])
    cand, f1, f2 = cand[chosen], f1[chosen], f2[chosen]
    uses = np.bincount(np.concatenate([f1, f2]), minlength=len(faces))
    alone = (uses[f1] == 1) & (uses[f2] == 1)
    cand, f1, f2 = cand[alone], f1[alone], f2[alone]
    _, first = np.unique(new_key[cand], return_index=True)
    cand, f1, f2 = cand[first], f1[first], f2[first]
    faces = faces.copy()
    faces[f1] = np.stack([c[cand], a[cand], d[cand]], 1)
    faces[f2] = np.stack([d[cand], b[cand], c[cand]], 1)
    return faces, len(cand)


# Small parts (hands, face, feet) get more vertices: the mesh is decimated in a space magnified around them by
# `scale` (Gaussian fall-off `sigma`), and relaxed with a matching extra vertex density.
_DETAIL_BUMPS = (  # (scale, sigma, centre)
    (2.4, 0.065, (0.80, 0.213, -0.04)), (2.4, 0.065, (-0.80, 0.213, -0.04)), (1.35, 0.06, (0.0, 0.43, 0.09)),
    (1.3, 0.07, (0.11, -1.125, 0.07)), (1.3, 0.07, (-0.11, -1.125, 0.07)),
)  # fmt: skip


def _magnify(p: np.ndarray) -> np.ndarray:
    """x -> x + sum (s - 1) g(x) (x - c): a smooth, injective magnification around each detail centre."""
    out = p.copy()
    for scale, sigma, centre in _DETAIL_BUMPS:
        rel = p - np.asarray(centre)
        out += (scale - 1.0) * np.exp(-(rel * rel).sum(1) / (2.0 * sigma * sigma))[:, None] * rel
    return out


def _unmagnify(q: np.ndarray, iterations: int = 80) -> np.ndarray:
    """Inverse of :func:`_magnify` by damped fixed-point iteration.

    Along a bump's radius the map's slope lies in [1 - 0.45 (s - 1), s] (>0 for s < 3.2), so the step 0.7 contracts
    by at most max(|1 - 0.7 min|, |1 - 0.7 max|) < 0.8 per iteration for the scales used here.
    """
    p = q.copy()
    for _ in range(iterations):
        p = p - 0.7 * (_magnify(p) - q)
    return p


def _density(p: np.ndarray) -> np.ndarray:
    """Relative vertex density for the relaxation: the area magnification s^2 of :func:`_magnify`, roughly."""
    out = np.ones(len(p))
    for scale, sigma, centre in _DETAIL_BUMPS:
        out += (scale**2 - 1.0) * np.exp(-((p - np.asarray(centre)) ** 2).sum(1) / (2.0 * sigma * sigma))
    return out


def _relax(v: np.ndarray, faces: np.ndarray, shape: BodyShape, iterations: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Even out the triangles while keeping vertices on the implicit surface.

    Each step moves a vertex part-way to the density- and area-weighted centroid of its incident triangles, in
    the tangent plane, then back onto the surface; Delaunay flips run every other step.
    """
    n_v = len(v)
    v, normals = shape.project(v, steps=3)
    corner = faces.reshape(-1)
    for it in range(iterations):
        if it % 2 == 0:
            for _ in range(2):
                faces, _ = _flip_edges(v, faces)
            corner = faces.reshape(-1)
        tri = v[faces]  # (F, 3, 3)
        centre = tri.mean(1)
        mass = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) * _density(centre)
        w = np.repeat(mass, 3)
        total = np.bincount(corner, w, n_v)
        target = np.stack([np.bincount(corner, w * np.repeat(centre[:, k], 3), n_v) for k in range(3)], 1)
        move = target / total[:, None] - v
        move -= (move * normals).sum(1, keepdims=True) * normals
        v, normals = shape.project(v + 0.8 * move, steps=1)
    v, _ = shape.project(v, steps=2)
    return v, faces


def check_closed_mesh(v: np.ndarray, faces: np.ndarray) -> None:
    """Raise RuntimeError unless (v, faces) is a closed, consistently oriented genus-0 mesh of fair triangles."""
    _halfedges(faces, len(v))  # every directed edge has its reverse exactly once
    edges = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1), axis=0)
    graph = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(v), len(v)))
    parts, _ = connected_components(graph, directed=False)
    if parts != 1:
        raise RuntimeError(f"demo body mesh falls into {parts} pieces")
    if len(v) - len(edges) + len(faces) != 2:
        raise RuntimeError(f"demo body mesh has Euler characteristic {len(v) - len(edges) + len(faces)}, not 2")
    tri = v[faces]
    min_angle = np.min([_angle(tri[:, i], tri[:, (i + 1) % 3], tri[:, (i + 2) % 3]) for i in range(3)])
    if np.degrees(min_angle) < 5.0:
        raise RuntimeError(f"demo body mesh has a degenerate triangle (min angle {np.degrees(min_angle):.2f} deg)")


def _surface_mesh(shape: BodyShape, step: float = 0.008) -> tuple[np.ndarray, np.ndarray]:
    """Marching tetrahedra, decimation to 6890 vertices, relaxation: (6890, 3) vertices, (13776, 3) faces."""
    # Grid symmetric in x (0 is a grid line) so both sides are sampled alike.
    half = np.ceil(0.95 / step) * step
    xs = np.arange(-half, half + step / 2, step)
    ys = np.arange(-1.20, 0.60 + step / 2, step)
    zs = np.arange(-0.20, 0.25 + step / 2, step)
    values = shape.on_grid(xs, ys, zs)
    border = np.concatenate([values[[0, -1]].ravel(), values[:, [0, -1]].ravel(), values[:, :, [0, -1]].ravel()])
    if border.min() <= 0:
        raise RuntimeError("demo body shapes reach the meshing grid's border; enlarge the grid")
    verts, faces = marching_tetrahedra(values, np.array([xs[0], ys[0], zs[0]]), step)
    # agg=4 (default 7) raises the error threshold in finer steps, so collapses follow the error order more
    # closely and the two sides of the body are decimated alike.
    verts, faces = fast_simplification.simplify(_magnify(verts), faces.astype(np.int32), target_count=NUM_FACES, agg=4)
    verts, faces = _unmagnify(np.asarray(verts, dtype=np.float64)), np.asarray(faces, dtype=np.int64)
    if len(verts) != NUM_VERTICES or len(faces) != NUM_FACES:
        raise RuntimeError(f"decimation gave {len(verts)} vertices / {len(faces)} faces, not 6890 / 13776")
    verts, faces = _relax(np.asarray(verts, dtype=np.float64), faces, shape)
    check_closed_mesh(verts, faces)
    return verts, faces


# ----------------------------------------------------------------------------------------------------------------
# 5. Landmark vertex ids

# Where each smplx landmark sits on the demo body (left side; the right side is mirrored).
_LEFT_LANDMARKS: dict[str, tuple[float, float, float]] = {
    "leye": (0.033, 0.458, 0.113), "lear": (0.095, 0.440, 0.015),
    "LBigToe": (0.095, -1.130, 0.175), "LSmallToe": (0.152, -1.135, 0.150), "LHeel": (0.088, -1.145, -0.080),
    "lthumb": (0.780, 0.204, 0.037), "lindex": (0.864, 0.211, -0.017), "lmiddle": (0.864, 0.211, -0.037),
    "lring": (0.853, 0.211, -0.058), "lpinky": (0.850, 0.211, -0.076),
}  # fmt: skip
_RIGHT_NAME = {"leye": "reye", "lear": "rear", "LBigToe": "RBigToe", "LSmallToe": "RSmallToe", "LHeel": "RHeel",
               "lthumb": "rthumb", "lindex": "rindex", "lmiddle": "rmiddle", "lring": "rring", "lpinky": "rpinky"}  # fmt: skip


def landmark_targets() -> dict[str, np.ndarray]:
    """Body places of the smplx landmarks on the demo body (the nose target lies just in front of the nose tip)."""
    out = {"nose": np.array([0.0, 0.435, 0.16])}
    for name, (x, y, z) in _LEFT_LANDMARKS.items():
        out[name] = np.array([x, y, z])
        out[_RIGHT_NAME[name]] = np.array([-x, y, z])
    return out


def _order_landmarks(v: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute vertices so that the vertex nearest each landmark target gets the landmark's SMPL id."""
    taken: set[int] = set()
    src, dst = [], []
    for name, target in landmark_targets().items():
        for idx in np.argsort(np.linalg.norm(v - target, axis=1)):
            if int(idx) not in taken:
                taken.add(int(idx))
                src.append(int(idx))
                dst.append(LANDMARK_VERTEX_IDS[name])
                break
    perm = np.empty(len(v), dtype=np.int64)  # new id -> old id
    free = np.ones(len(v), dtype=bool)
    free[dst] = False
    perm[dst] = src
    perm[free] = np.setdiff1d(np.arange(len(v)), src)  # the rest keep their relative order
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(len(v))
    return v[perm], inverse[faces]


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


# ----------------------------------------------------------------------------------------------------------------
# The assembled model

# Shape coefficients that turn the neutral body into the male / female variants (same topology and rig).
GENDER_BETAS: dict[str, np.ndarray] = {
    "neutral": np.zeros(NUM_BETAS),
    "male": np.array([0.5, 0.2, 0.3, 0.2, 1.2, -0.8, 0.3, 0.0, 0.2, 0.6]),
    "female": np.array([-0.6, 0.3, -0.2, -0.2, -1.0, 1.2, -0.3, 0.0, -0.2, -0.4]),
}


@dataclass(frozen=True)
class DemoBody:
    """The neutral demo body and its rig, in SMPL's array layout (float64)."""

    v_template: np.ndarray  # (6890, 3)
    faces: np.ndarray  # (13776, 3) int64, outward winding
    weights: np.ndarray  # (6890, 24)
    joint_regressor: sp.csc_matrix  # (24, 6890)
    shapedirs: np.ndarray  # (6890, 3, 10)
    posedirs: np.ndarray  # (6890, 3, 207)
    h36m_regressor: np.ndarray  # (17, 6890)

    def smpl_dict(self, gender: str) -> dict[str, object]:
        """The content of ``SMPL_{GENDER}.pkl``: plain numpy / scipy objects with SMPL's keys and dtypes."""
        v = self.v_template + self.shapedirs @ GENDER_BETAS[gender]
        parents = np.array(SMPL_PARENTS, dtype=np.int64)
        parents[0] = 4294967295  # the official files store the root's parent as uint32 max
        return {
            "v_template": v,
            "f": self.faces.astype(np.uint32),
            "J_regressor": self.joint_regressor.copy(),
            "weights": self.weights.copy(),
            "posedirs": self.posedirs,
            "shapedirs": self.shapedirs,
            "kintree_table": np.stack([parents, np.arange(NUM_JOINTS, dtype=np.int64)]),
            "J": np.asarray(self.joint_regressor @ v),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }


def build_demo_body() -> DemoBody:
    """Build the neutral demo body (about 2-3 s on one core); fully deterministic."""
    shape = BodyShape()
    v, faces = _surface_mesh(shape)
    v, faces = _order_landmarks(v, faces)
    _, grads = shape(v, grad=True)
    assert grads is not None
    normals = grads / np.linalg.norm(grads, axis=1, keepdims=True)
    w = skinning_weights(v, faces, shape)
    jreg = joint_regressor(v, DESIGN_JOINTS)
    joints = np.asarray(jreg @ v)
    return DemoBody(
        v_template=v,
        faces=faces,
        weights=w,
        joint_regressor=jreg,
        shapedirs=shape_directions(v, w, joints),
        posedirs=pose_directions(v, normals, w, joints),
        h36m_regressor=h36m_regressor(v, joints),
    )
