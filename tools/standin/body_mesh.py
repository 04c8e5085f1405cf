"""The demo body's mesh (tools/standin/body.py, steps 2-5): marching tetrahedra on the implicit surface, quadric
decimation to SMPL's vertex count, relaxation on the surface, and smplx's landmark vertices put at SMPL's ids."""

from __future__ import annotations

import itertools

import fast_simplification
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from mpt.body.smpl_file import NUM_FACES, NUM_VERTICES  # NUM_FACES = 2V - 4: closed, genus 0
from tools.standin.body_shape import LANDMARK_VERTEX_IDS, BodyShape

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
