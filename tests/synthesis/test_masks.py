"""Mesh silhouettes against cv2.fillPoly drawing every triangle, and coverage of the projected vertices."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import trimesh

from mpt.synthesis import barycentric_grid, rasterize_mask

SHIFT = 8  # cv2 fixed-point fraction bits: sub-pixel vertex positions, pixel centres at integers


def fillpoly_reference(verts2d: np.ndarray, faces: np.ndarray, size: int) -> np.ndarray:
    """Union of every triangle drawn on its own with cv2.fillPoly (no even-odd interplay between faces)."""
    img = np.zeros((size, size), np.uint8)
    fixed = np.round(verts2d * (1 << SHIFT)).astype(np.int32)
    for tri in faces:
        cv2.fillPoly(img, [fixed[tri]], 1, lineType=cv2.LINE_8, shift=SHIFT)
    return img.astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def sphere_views(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Two orthographic views of an icosphere (5120 faces): one in the middle, one cut by the map corner."""
    mesh = trimesh.creation.icosphere(subdivisions=4)
    v = np.asarray(mesh.vertices)[:, :2]
    squash = np.array([0.35, 0.45]) * size  # an ellipse, sizeable triangles near the rim
    a = v * squash + size / 2
    b = v * squash + np.array([0.05, 0.9]) * size
    return np.stack([a, b]), np.asarray(mesh.faces)


@pytest.mark.parametrize("size", [224, 56])
def test_mask_matches_fillpoly_and_covers_vertices(size: int) -> None:
    verts, faces = sphere_views(size)
    mask = rasterize_mask(torch.tensor(verts, dtype=torch.float32), torch.tensor(faces), size)
    assert mask.shape == (2, 1, size, size) and mask.dtype == torch.float32
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    for b in range(2):
        ours = mask[b, 0].numpy() > 0.5
        ref = fillpoly_reference(verts[b], faces, size)
        assert iou(ours, ref) > 0.95, (b, iou(ours, ref))
        pix = np.floor(verts[b] + 0.5).astype(int)
        inside = ((pix >= 0) & (pix < size)).all(axis=1)
        assert ours[pix[inside, 1], pix[inside, 0]].all()


def test_large_triangles_are_filled() -> None:
    size = 64
    verts = np.array([[[2.0, 3.0], [60.0, 10.0], [20.0, 58.0], [61.0, 61.0]]])
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    mask = rasterize_mask(torch.tensor(verts, dtype=torch.float32), torch.tensor(faces), size)[0, 0].numpy() > 0.5
    assert iou(mask, fillpoly_reference(verts[0], faces, size)) > 0.95


def test_non_finite_vertices_are_ignored_and_bad_faces_rejected() -> None:
    verts = torch.tensor([[[10.0, 10.0], [30.0, 10.0], [10.0, 30.0], [float("nan"), 5.0]]])
    faces = torch.tensor([[0, 1, 2], [1, 2, 3]])
    mask = rasterize_mask(verts, faces, 40)
    ref = fillpoly_reference(verts[0, :3].numpy(), np.array([[0, 1, 2]]), 40)
    assert iou(mask[0, 0].numpy() > 0.5, ref) > 0.9
    with pytest.raises(ValueError, match="outside"):
        rasterize_mask(verts, torch.tensor([[0, 1, 4]]), 40)


def test_barycentric_grid_counts() -> None:
    for n in (1, 2, 5):
        g = barycentric_grid(n)
        assert g.shape == ((n + 1) * (n + 2) // 2, 3)
        assert torch.allclose(g.sum(dim=1), torch.ones(len(g)))
        assert barycentric_grid(n, corners=False).shape[0] == g.shape[0] - 3
