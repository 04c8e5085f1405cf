"""Mesh coarsening levels SMPL 6890 -> 1723 -> 431: down/up-sampling matrices, loaded or computed, cached.

What: ``MeshLevels`` holds, per level, the vertex count and faces, and between levels the sparse downsampling
matrices D[i] (n[i+1], n[i]) and upsampling matrices U[i] (n[i], n[i+1]).

Why two sources: METRO (microsoft/MeshTransformer metro/modeling/data/mesh_downsampling.npz, from GraphCMR/COMA)
ships the matrices for SMPL; ``load_mesh_downsampling`` reads that file. Without it, ``compute_mesh_levels``
builds the levels from the body mesh itself, COMA-style (anuragranj/coma mesh_sampling.py): quadric decimation
(``fast_simplification``) to the target vertex count, D = selection of one distinct fine vertex per coarse vertex
(the nearest one; the coarse vertex is moved onto it so that D @ fine is exactly the coarse mesh), and U = the
barycentric coordinates of each fine vertex's closest point on the coarse surface. ``load_or_compute_mesh_levels``
caches the result in an npz keyed by a hash of the template, written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import fast_simplification
import numpy as np
import scipy.sparse as sp
import trimesh
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from mpt.atomic import atomic_path

log = logging.getLogger(__name__)

# SMPL level sizes used by METRO/GraphCMR (metro/modeling/data/mesh_downsampling.npz: D[0] (1723, 6890), D[1] (431, 1723)).
SMPL_LEVEL_SIZES: tuple[int, ...] = (6890, 1723, 431)
# Bump when the algorithm changes so stale caches are recomputed.
_ALGORITHM_VERSION = "mesh-levels-v1"


@dataclass(frozen=True, eq=False)  # eq=False: sparse matrices have no boolean ==
class MeshLevels:
    """Vertex counts n[0] > n[1] > ..., D[i]: (n[i+1], n[i]), U[i]: (n[i], n[i+1]), faces per level (or None)."""

    num_vertices: tuple[int, ...]
    down: tuple[sp.csr_matrix, ...]
    up: tuple[sp.csr_matrix, ...]
    faces: tuple[np.ndarray | None, ...]

    def __post_init__(self) -> None:
        n = self.num_vertices
        if len(self.down) != len(n) - 1 or len(self.up) != len(n) - 1 or len(self.faces) != len(n):
            raise ValueError(f"MeshLevels with {len(n)} levels needs {len(n) - 1} D and U matrices and "
                             f"{len(n)} face entries")
        for i in range(len(n) - 1):
            if self.down[i].shape != (n[i + 1], n[i]) or self.up[i].shape != (n[i], n[i + 1]):
                raise ValueError(f"level {i}: D {self.down[i].shape} / U {self.up[i].shape} do not match the vertex "
                                 f"counts {n[i]} -> {n[i + 1]}")

    def downsample(self, vertices: np.ndarray, to_level: int) -> np.ndarray:
        """Apply D[0], ..., D[to_level - 1] to (n[0], K) vertices -> (n[to_level], K)."""
        x = np.asarray(vertices, dtype=np.float64)
        for i in range(to_level):
            x = self.down[i] @ x
        return x

    def upsample(self, vertices: np.ndarray, from_level: int) -> np.ndarray:
        """Apply U[from_level - 1], ..., U[0] to (n[from_level], K) vertices -> (n[0], K)."""
        x = np.asarray(vertices, dtype=np.float64)
        for i in reversed(range(from_level)):
            x = self.up[i] @ x
        return x


def load_mesh_downsampling(path: str | Path) -> MeshLevels:
    """Read GraphCMR/METRO ``mesh_downsampling.npz`` (keys A, U, D: object arrays of scipy sparse matrices).

    Only A/U/D are read: the file's M and F entries pickle a custom mesh class that cannot be unpickled here.
    Faces are not in A/U/D, so every level's faces are None.
    """
    path = Path(path)
    fix = "pass the mesh_downsampling.npz from METRO (metro/modeling/data) or GraphCMR, or omit it to compute levels"
    if not path.is_file():
        raise FileNotFoundError(f"mesh downsampling file {path} does not exist: {fix}")
    try:
        with np.load(path, allow_pickle=True, encoding="latin1") as data:
            files = list(data.files)
            raw = {key: data[key] for key in ("U", "D") if key in files}
    except Exception as err:  # not a zip, truncated, or a pickle that needs unknown classes
        raise ValueError(f"{path} is not a readable npz ({type(err).__name__}: {err}): {fix}") from err
    if len(raw) != 2:
        raise ValueError(f"{path} lacks key(s) {sorted({'U', 'D'} - set(raw))} (has {files}): {fix}")
    ups = [sp.csr_matrix(m, dtype=np.float64) for m in _sparse_list(raw["U"], "U", path)]
    downs = [sp.csr_matrix(m, dtype=np.float64) for m in _sparse_list(raw["D"], "D", path)]
    if len(ups) != len(downs) or not downs:
        raise ValueError(f"{path}: {len(downs)} D and {len(ups)} U matrices; expected equal non-zero counts: {fix}")
    counts = [downs[0].shape[1]] + [d.shape[0] for d in downs]
    try:
        return MeshLevels(tuple(counts), tuple(downs), tuple(ups), (None,) * len(counts))
    except ValueError as err:
        raise ValueError(f"{path}: inconsistent matrix shapes ({err}): {fix}") from err


def _sparse_list(entry: np.ndarray, key: str, path: Path) -> list[sp.spmatrix]:
    """The sparse matrices stored in an object array entry, with a clear error for anything else."""
    items = list(entry.reshape(-1)) if isinstance(entry, np.ndarray) else list(entry)
    for item in items:
        if not sp.issparse(item):
            raise ValueError(f"{path}: key {key} holds {type(item).__name__}, expected scipy sparse matrices")
    return items


def _check_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert (V, 3) float vertices and (F, 3) int faces."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ValueError(f"template vertices must be a finite (V, 3) array, got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must be an integer (F, 3) array, got {f.dtype} {f.shape}")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"faces index vertices outside [0, {len(v)})")
    return v, f.astype(np.int64)


def _decimate(vertices: np.ndarray, faces: np.ndarray, target_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation to exactly ``target_vertices`` referenced vertices.

    A closed manifold genus-0 mesh has F = 2V - 4, so the face target starts there; if the result misses, the
    face target moves by twice the vertex miss and decimation is retried from the input mesh.
    """
    target_faces = 2 * target_vertices - 4
    for _ in range(8):
        pts, tris = fast_simplification.simplify(vertices, faces, target_count=min(target_faces, len(faces) - 1))
        used = np.unique(tris)
        if len(used) == target_vertices:
            remap = np.full(len(pts), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            return pts[used], remap[tris]
        target_faces += 2 * (target_vertices - len(used))
    raise ValueError(f"quadric decimation did not reach exactly {target_vertices} vertices (last: {len(used)}); "
                     "the mesh is probably not a closed manifold: pass a mesh_downsampling.npz instead")


def _select_nearest(fine: np.ndarray, coarse: np.ndarray, candidates: int = 8) -> np.ndarray:
    """For each coarse vertex, one distinct fine vertex index, minimising the total distance.

    The ``candidates`` nearest fine vertices per coarse vertex form a sparse bipartite graph; a minimum-weight
    full matching makes the choice one-to-one (two coarse vertices never collapse onto the same fine vertex).
    """
    candidates = min(candidates, len(fine))
    dist, idx = cKDTree(fine).query(coarse, k=candidates)  # (M, k)
    dist, idx = dist.reshape(len(coarse), candidates), idx.reshape(len(coarse), candidates)
    rows = np.repeat(np.arange(len(coarse)), candidates)
    # +1e-9: an exact zero distance would otherwise be dropped as a missing edge of the sparse graph.
    graph = sp.csr_matrix((dist.ravel() + 1e-9, (rows, idx.ravel())), shape=(len(coarse), len(fine)))
    try:
        rows_matched, cols = min_weight_full_bipartite_matching(graph)
    except ValueError:
        if candidates >= min(64, len(fine)):
            raise ValueError("could not give every coarse vertex its own fine vertex (the coarse level has "
                             "vertices far from the fine mesh): pass a mesh_downsampling.npz instead") from None
        return _select_nearest(fine, coarse, candidates * 2)
    picked = np.empty(len(coarse), dtype=np.int64)
    picked[rows_matched] = cols
    return picked  # (M,) fine index per coarse vertex


def _closest_point_on_mesh(points: np.ndarray, tris: np.ndarray, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Exact closest point of each point (n, 3) on a triangle soup (F, 3, 3): (face (n,), point (n, 3)).

    Vectorised in two passes: the k triangles with the nearest centroids give an upper bound on each point's
    distance; then every triangle whose bounding-sphere lower bound (centroid distance - corner radius) is below
    that bound is tested too, so no triangle that could be closer is skipped.
    """
    centroids = tris.mean(axis=1)  # (F, 3)
    radius = np.linalg.norm(tris - centroids[:, None], axis=2).max(axis=1)  # (F,)
    k = min(k, len(tris))
    _, cand = cKDTree(centroids).query(points, k=k)
    cand = cand.reshape(len(points), k)
    rows = np.repeat(np.arange(len(points)), k)
    face, point = _closest_among_pairs(points, tris, rows, cand.ravel(), len(points))
    best = np.linalg.norm(point - points, axis=1)
    for chunk in np.array_split(np.arange(len(points)), max(1, len(points) * len(tris) // 4_000_000)):
        lower = cdist(points[chunk], centroids) - radius  # (c, F) lower bounds on the distances
        r, f = np.nonzero(lower < best[chunk, None])
        if len(r):
            f_new, p_new = _closest_among_pairs(points[chunk], tris, r, f, len(chunk))
            better = np.linalg.norm(p_new - points[chunk], axis=1) < best[chunk]
            face[chunk[better]], point[chunk[better]] = f_new[better], p_new[better]
    return face, point


def _closest_among_pairs(points: np.ndarray, tris: np.ndarray, rows: np.ndarray, faces: np.ndarray,
                         n: int) -> tuple[np.ndarray, np.ndarray]:
    """For (point row, face) pairs, the nearest face per row and its closest point; rows with no pair get inf."""
    closest = trimesh.triangles.closest_point(tris[faces], points[rows])  # (P, 3)
    dist = np.linalg.norm(closest - points[rows], axis=1)
    order = np.lexsort((dist, rows))
    first = order[np.unique(rows[order], return_index=True)[1]]  # nearest pair of each row present
    face = np.full(n, -1, dtype=np.int64)
    point = np.full((n, 3), np.inf)
    face[rows[first]], point[rows[first]] = faces[first], closest[first]
    return face, point


def _barycentric_upsampling(fine: np.ndarray, coarse: np.ndarray, coarse_faces: np.ndarray) -> sp.csr_matrix:
    """U (n_fine, n_coarse): barycentric weights of each fine vertex's closest point on the coarse surface.

    Weights are clipped to >= 0 and renormalised (round-off only); on a degenerate (zero-area) triangle the
    point gets weight 1 on the triangle's corner nearest to it.
    """
    tris = coarse[coarse_faces]  # (F, 3, 3)
    face, point = _closest_point_on_mesh(fine, tris)
    with np.errstate(divide="ignore", invalid="ignore"):
        bary = trimesh.triangles.points_to_barycentric(tris[face], point)
        bary = np.clip(bary, 0.0, None)
        bary /= bary.sum(axis=1, keepdims=True)
    bad = ~np.isfinite(bary).all(axis=1)
    if bad.any():
        corner = np.argmin(np.linalg.norm(tris[face[bad]] - point[bad, None], axis=2), axis=1)
        bary[bad] = np.eye(3)[corner]
    rows = np.repeat(np.arange(len(fine)), 3)
    u = sp.coo_matrix((bary.ravel(), (rows, coarse_faces[face].ravel())), shape=(len(fine), len(coarse)))
    return u.tocsr()


def compute_mesh_levels(vertices: np.ndarray, faces: np.ndarray,
                        sizes: tuple[int, ...] = SMPL_LEVEL_SIZES[1:]) -> MeshLevels:
    """Coarsen a closed body mesh (V, 3) / (F, 3) into levels of exactly ``sizes`` vertices (COMA-style)."""
    v, f = _check_mesh(vertices, faces)
    level_vertices, level_faces = [v], [f]
    downs, ups = [], []
    for n in sizes:
        fine, fine_faces = level_vertices[-1], level_faces[-1]
        if n >= len(fine):
            raise ValueError(f"level size {n} must be below the previous level's {len(fine)} vertices")
        coarse, coarse_faces = _decimate(fine, fine_faces, n)
        picked = _select_nearest(fine, coarse)
        coarse = fine[picked]  # snap: D @ fine reproduces the coarse mesh exactly
        downs.append(sp.csr_matrix((np.ones(n), (np.arange(n), picked)), shape=(n, len(fine))))
        ups.append(_barycentric_upsampling(fine, coarse, coarse_faces))
        level_vertices.append(coarse)
        level_faces.append(coarse_faces)
    return MeshLevels(tuple(len(x) for x in level_vertices), tuple(downs), tuple(ups), tuple(level_faces))


def template_hash(vertices: np.ndarray, faces: np.ndarray, sizes: tuple[int, ...]) -> str:
    """sha256 over the template's float64 vertices, int64 faces, the level sizes and the algorithm version."""
    v, f = _check_mesh(vertices, faces)
    h = hashlib.sha256(_ALGORITHM_VERSION.encode())
    h.update(np.ascontiguousarray(v).tobytes())
    h.update(np.ascontiguousarray(f).tobytes())
    h.update(np.asarray(sizes, dtype=np.int64).tobytes())
    return h.hexdigest()


def save_mesh_levels(levels: MeshLevels, path: str | Path, key: str) -> None:
    """Write levels to an npz (no pickles) atomically: a temp file in the same folder, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"key": np.array(key), "num_vertices": np.asarray(levels.num_vertices)}
    for name, mats in (("down", levels.down), ("up", levels.up)):
        for i, m in enumerate(mats):
            m = sp.csr_matrix(m)
            arrays[f"{name}{i}_data"], arrays[f"{name}{i}_indices"] = m.data, m.indices
            arrays[f"{name}{i}_indptr"] = m.indptr
    for i, fc in enumerate(levels.faces):
        if fc is not None:
            arrays[f"faces{i}"] = fc
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _read_cache(path: Path) -> tuple[str, MeshLevels]:
    """Read a cache written by ``save_mesh_levels``; returns (key, levels)."""
    with np.load(path, allow_pickle=False) as data:
        n = tuple(int(x) for x in data["num_vertices"])

        def mat(name: str, i: int, shape: tuple[int, int]) -> sp.csr_matrix:
            parts = (data[f"{name}{i}_data"], data[f"{name}{i}_indices"], data[f"{name}{i}_indptr"])
            return sp.csr_matrix(parts, shape=shape)

        downs = tuple(mat("down", i, (n[i + 1], n[i])) for i in range(len(n) - 1))
        ups = tuple(mat("up", i, (n[i], n[i + 1])) for i in range(len(n) - 1))
        faces = tuple(data[f"faces{i}"] if f"faces{i}" in data.files else None for i in range(len(n)))
        return str(data["key"]), MeshLevels(n, downs, ups, faces)


def load_or_compute_mesh_levels(vertices: np.ndarray, faces: np.ndarray, cache_path: str | Path,
                                downsampling_file: str | Path | None = None,
                                sizes: tuple[int, ...] = SMPL_LEVEL_SIZES[1:]) -> MeshLevels:
    """Levels from ``downsampling_file`` when given; otherwise from the cache at ``cache_path`` if its key
    matches this template, else computed and cached there (a stale or unreadable cache is recomputed)."""
    if downsampling_file is not None:
        levels = load_mesh_downsampling(downsampling_file)
        if levels.num_vertices[0] != len(vertices):
            raise ValueError(f"{downsampling_file} is for a {levels.num_vertices[0]}-vertex mesh, the template has "
                             f"{len(vertices)}: use the matching file or omit it to compute levels")
        return MeshLevels(levels.num_vertices, levels.down, levels.up,
                          (np.asarray(faces, dtype=np.int64),) + levels.faces[1:])
    cache_path = Path(cache_path)
    key = template_hash(vertices, faces, tuple(sizes))
    if cache_path.is_file():
        try:
            cached_key, levels = _read_cache(cache_path)
            if cached_key == key:
                return levels
            log.info("mesh-level cache %s is for another template; recomputing", cache_path)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as err:
            log.warning("mesh-level cache %s is unreadable (%s); recomputing", cache_path, err)
    levels = compute_mesh_levels(vertices, faces, tuple(sizes))
    save_mesh_levels(levels, cache_path, key)
    return levels
