"""Mesh levels: counts, D/U structure, closest-point U vs brute force, round-trip error, cache, GraphCMR npz."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import trimesh

from mpt.models.mesh_levels import (
    MeshLevels,
    compute_mesh_levels,
    load_mesh_downsampling,
    load_or_compute_mesh_levels,
)
from mpt.models.upsampler import MeshUpsampler


def body_like_mesh(rings: int = 82, segments: int = 84) -> tuple[np.ndarray, np.ndarray]:
    """Closed genus-0 latitude-longitude mesh, 1.7 m tall with torso-like lumps.

    The defaults give SMPL's sizes: rings * segments + 2 poles = 6890 vertices, 2 * rings * segments = 13776 faces.
    """
    phi = np.pi * np.arange(1, rings + 1) / (rings + 1)
    theta = 2 * np.pi * np.arange(segments) / segments
    p, t = np.meshgrid(phi, theta, indexing="ij")
    ring = np.stack([np.sin(p) * np.cos(t), np.sin(p) * np.sin(t), np.cos(p)], -1).reshape(-1, 3)
    v = np.concatenate([[[0.0, 0.0, 1.0]], ring, [[0.0, 0.0, -1.0]]])
    idx = 1 + np.arange(rings * segments).reshape(rings, segments)
    nxt = np.roll(idx, -1, axis=1)
    a, b, c, d = idx[:-1], nxt[:-1], idx[1:], nxt[1:]
    f = np.concatenate([
        np.stack([np.zeros(segments, dtype=int), idx[0], nxt[0]], 1),
        np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3),
        np.stack([np.full(segments, len(v) - 1), nxt[-1], idx[-1]], 1),
    ])
    z, azimuth = v[:, 2], np.arctan2(v[:, 1], v[:, 0])
    radial = (1 + 0.35 * np.sin(1.5 * np.pi * (z + 1))) * (1 + 0.12 * np.cos(2 * azimuth) + 0.05 * np.cos(6 * azimuth))
    return v * np.stack([0.2 * radial, 0.11 * radial, np.full_like(z, 0.85)], -1), f


def test_body_like_mesh_is_closed() -> None:
    v, f = body_like_mesh()
    mesh = trimesh.Trimesh(v, f, process=False)
    assert v.shape == (6890, 3) and f.shape == (13776, 3)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.euler_number == 2


@pytest.fixture(scope="module")
def mesh() -> tuple[np.ndarray, np.ndarray]:
    return body_like_mesh()


@pytest.fixture(scope="module")
def levels(mesh: tuple[np.ndarray, np.ndarray]) -> MeshLevels:
    return compute_mesh_levels(*mesh)


def test_counts_and_faces(levels: MeshLevels) -> None:
    assert levels.num_vertices == (6890, 1723, 431)
    # closed genus-0 meshes: F = 2V - 4
    assert [f.shape for f in levels.faces] == [(13776, 3), (3442, 3), (858, 3)]
    for i, f in enumerate(levels.faces):
        assert len(np.unique(f)) == levels.num_vertices[i]


def test_down_is_a_distinct_selection_and_up_is_barycentric(levels: MeshLevels) -> None:
    for d in levels.down:
        dense = d.toarray()
        assert set(np.unique(dense)) <= {0.0, 1.0}
        assert (dense.sum(axis=1) == 1).all() and dense.sum(axis=0).max() == 1  # one-hot rows, distinct columns
    for u in levels.up:
        assert u.min() >= 0 and np.allclose(np.asarray(u.sum(axis=1)).ravel(), 1.0)
        assert np.diff(u.indptr).max() <= 3


def test_up_rows_give_the_closest_point_on_the_coarse_surface(mesh, levels: MeshLevels) -> None:
    fine = mesh[0]
    coarse = levels.downsample(fine, 1)
    tris = coarse[levels.faces[1]]  # (F, 3, 3)
    rng = np.random.default_rng(0)
    sample = rng.choice(len(fine), 150, replace=False)
    # brute force: closest point of each sampled vertex against every coarse triangle
    pts = np.repeat(fine[sample], len(tris), axis=0)
    cand = trimesh.triangles.closest_point(np.tile(tris, (len(sample), 1, 1)), pts).reshape(len(sample), -1, 3)
    best = np.linalg.norm(cand - fine[sample][:, None], axis=2).min(axis=1)
    got = np.linalg.norm(levels.up[0][sample] @ coarse - fine[sample], axis=1)
    np.testing.assert_allclose(got, best, atol=1e-6)


def test_upsample_of_downsample_reproduces_template(mesh, levels: MeshLevels) -> None:
    v = mesh[0]
    err_mid = np.linalg.norm(levels.upsample(levels.downsample(v, 1), 1) - v, axis=1) * 1000  # mm
    err_coarse = np.linalg.norm(levels.upsample(levels.downsample(v, 2), 2) - v, axis=1) * 1000
    # measured on this mesh: 1723 -> 6890 mean 0.67 mm (max 4.2); 431 -> 6890 mean 2.2 mm (max 13.7)
    assert err_mid.mean() < 1.0 and err_mid.max() < 6.0
    assert err_coarse.mean() < 3.0 and err_coarse.max() < 20.0


def test_upsampler_initialised_from_u(mesh, levels: MeshLevels) -> None:
    v = mesh[0]
    coarse = torch.tensor(levels.downsample(v, 2), dtype=torch.float32)[None]
    _, mid, full = MeshUpsampler(init=levels)(coarse)
    np.testing.assert_allclose(mid[0].detach().numpy(), levels.up[1] @ coarse[0].double().numpy(), atol=1e-5)
    err_u = np.abs(full[0].detach().numpy() - v).max()
    torch.manual_seed(0)
    _, _, random_full = MeshUpsampler()(coarse)  # METRO's default random init
    err_random = np.linalg.norm(random_full[0].detach().numpy() - v, axis=1).mean()
    assert err_u < 0.03 and err_random > 0.1  # metres: a few mm vs a useless start


def test_cache_is_reused_and_keyed_by_template(tmp_path: Path, monkeypatch) -> None:
    import mpt.models.mesh_levels as mesh_levels

    v, f = body_like_mesh(rings=30, segments=32)  # 962 vertices: keeps the three computations fast
    sizes = (241, 61)
    cache = tmp_path / "levels.npz"
    first = load_or_compute_mesh_levels(v, f, cache, sizes=sizes)
    assert first.num_vertices == (962, 241, 61)
    assert cache.is_file() and [p.name for p in tmp_path.iterdir()] == ["levels.npz"]  # no temp file left
    stamp = cache.stat().st_mtime_ns
    real_compute, computed = mesh_levels.compute_mesh_levels, []

    def counting_compute(*args, **kwargs):
        computed.append(args)
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(mesh_levels, "compute_mesh_levels", counting_compute)
    second = load_or_compute_mesh_levels(v, f, cache, sizes=sizes)
    assert computed == [] and cache.stat().st_mtime_ns == stamp  # read back, neither computed nor rewritten
    for a, b in zip(first.up + first.down, second.up + second.down, strict=True):
        assert (a != b).nnz == 0
    assert all(np.array_equal(a, b) for a, b in zip(first.faces, second.faces, strict=True))
    moved = v + np.array([0.0, 0.0, 0.01])
    load_or_compute_mesh_levels(moved, f, cache, sizes=sizes)  # another template: recomputed and rewritten
    assert len(computed) == 1 and cache.stat().st_mtime_ns != stamp
    cache.write_bytes(b"not an npz")  # unreadable cache: recomputed
    assert load_or_compute_mesh_levels(v, f, cache, sizes=sizes).num_vertices == (962, 241, 61)
    assert len(computed) == 2


def _explode() -> None:
    raise AssertionError("the loader must not unpickle the M/F entries")


class _MyMesh:
    """Stands in for GraphCMR's pickled mesh class: unpickling it fails."""

    def __reduce__(self):
        return (_explode, ())


def _object_array(items: list) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    arr[:] = items
    return arr


def test_load_graphcmr_layout(tmp_path: Path, levels: MeshLevels) -> None:
    path = tmp_path / "mesh_downsampling.npz"
    adjacency = [sp.identity(n, format="csc") for n in levels.num_vertices]
    np.savez(path, A=_object_array(adjacency), U=_object_array([sp.csc_matrix(u) for u in levels.up]),
             D=_object_array([sp.csc_matrix(d) for d in levels.down]), M=_object_array([_MyMesh()]))
    with pytest.raises(AssertionError):  # the M entry really cannot be unpickled
        pickle.loads(pickle.dumps(_MyMesh()))
    loaded = load_mesh_downsampling(path)
    assert loaded.num_vertices == (6890, 1723, 431)
    assert [d.shape for d in loaded.down] == [(1723, 6890), (431, 1723)]
    assert [u.shape for u in loaded.up] == [(6890, 1723), (1723, 431)]
    assert (loaded.up[0] != levels.up[0]).nnz == 0 and loaded.faces == (None, None, None)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_mesh_downsampling(missing)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="broken.npz"):
        load_mesh_downsampling(broken)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, U=_object_array([sp.csc_matrix((5, 3))]), D=_object_array([sp.csc_matrix((2, 5))]))
    with pytest.raises(ValueError, match="wrong.npz"):
        load_mesh_downsampling(wrong)


def test_levels_of_the_demo_body(demo_assets) -> None:
    """The SMPL-format demo body (tools/standin/body.py): thin limbs next to the torso."""
    from mpt.body import find_smpl_file, load_smpl_file

    body = load_smpl_file(find_smpl_file(demo_assets.smpl_dir, "neutral"))
    v, f = body["v_template"], body["f"]
    levels = compute_mesh_levels(v, f)
    assert levels.num_vertices == (6890, 1723, 431)
    err_mid = np.linalg.norm(levels.upsample(levels.downsample(v, 1), 1) - v, axis=1) * 1000  # mm
    err_coarse = np.linalg.norm(levels.upsample(levels.downsample(v, 2), 2) - v, axis=1) * 1000
    # measured: 1723 -> 6890 mean 1.2 mm (max 8.5); 431 -> 6890 mean 4.0 mm (max 16.4) on a 1.70 m body
    assert err_mid.mean() < 2.0 and err_coarse.mean() < 6.0 and err_coarse.max() < 30.0
