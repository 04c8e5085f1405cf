"""Renderer checks against independent references: cv2.fillPoly, matplotlib's point-in-polygon, cv2.projectPoints,
hand-computed Lambert shading and depth planes solved with numpy."""

import cv2
import numpy as np
import pytest
import torch
import trimesh
from matplotlib.path import Path as MplPath

from mpt.vis import project_for_render, rasterize, render_mesh, render_side_view

WHITE = (255, 255, 255)


def _cv2_mask(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixels cv2.fillPoly covers for one polygon with float vertices (8 fractional bits)."""
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.rint(xy * 256).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=8)
    return mask.astype(bool)


def _centres_inside(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixels whose centre (integer coordinates) matplotlib finds inside the polygon."""
    gy, gx = np.mgrid[0:h, 0:w]
    inside = MplPath(xy).contains_points(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64))
    return inside.reshape(h, w)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _covered(out: np.ndarray, background: np.ndarray) -> np.ndarray:
    return (out != background).any(axis=-1)


TRIANGLES = [
    np.array([[20.3, 30.7], [180.2, 50.1], [90.6, 200.4]]),
    np.array([[5.5, 5.5], [210.0, 12.25], [30.1, 150.9]]),  # clockwise in the image: winding must not matter
    np.array([[100.0, -40.0], [260.0, 120.0], [60.0, 230.0]]),  # partly outside the 224 x 224 image
]


@pytest.mark.parametrize("xy", TRIANGLES)
@pytest.mark.parametrize("method", ["zbuffer", "painter"])
def test_single_triangle_covers_the_pixels_cv2_fills(xy, method):
    h = w = 224
    verts = np.concatenate([xy, np.full((3, 1), 100.0)], axis=1)
    black = np.zeros((h, w, 3), np.uint8)
    out = render_mesh(black, verts, np.array([[0, 1, 2]]), color=WHITE, ambient=1.0, shading="flat", method=method)
    mask = _covered(out, black)
    assert _iou(mask, _cv2_mask(xy, h, w)) > 0.98
    if method == "zbuffer":
        # The z-buffer's rule is "pixel centre inside the triangle": it matches the point-in-polygon test up to
        # the pixels whose centre lies on an edge.
        ref = _centres_inside(xy, h, w)
        assert (mask != ref).sum() <= 2


def test_nearer_of_two_overlapping_triangles_wins_in_either_order():
    h = w = 120
    # Two triangles overlapping in the middle, at depths 50 (near) and 80 (far).
    near = np.array([[10.0, 10.0, 50.0], [100.0, 20.0, 50.0], [30.0, 100.0, 50.0]])
    far = np.array([[110.0, 15.0, 80.0], [20.0, 30.0, 80.0], [90.0, 110.0, 80.0]])
    both = _centres_inside(near[:, :2], h, w) & _centres_inside(far[:, :2], h, w)
    assert both.sum() > 500
    for verts, near_face in ((np.concatenate([near, far]), 0), (np.concatenate([far, near]), 1)):
        faces = np.array([[0, 1, 2], [3, 4, 5]])
        face_map = rasterize(verts, faces, h, w).face_map().numpy()
        assert (face_map[both] == near_face).all()
        assert (face_map[_centres_inside(far[:, :2], h, w) & ~both] == 1 - near_face).all()


@pytest.mark.parametrize("method", ["zbuffer", "painter"])
def test_nearer_triangle_wins_in_the_rendered_colour(method):
    h = w = 120
    # The near triangle faces the light (intensity 1); the far one is tilted away (intensity = ambient).
    near = np.array([[10.0, 10.0, 50.0], [100.0, 20.0, 50.0], [30.0, 100.0, 50.0]])
    far = np.array([[110.0, 15.0, 80.0], [20.0, 30.0, 80.0], [90.0, 110.0, 80.0]])
    far[:, 2] += far[:, 0] * 10.0  # steep in x: its normal is almost perpendicular to the light
    verts = np.concatenate([far, near])
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    black = np.zeros((h, w, 3), np.uint8)
    out = render_mesh(black, verts, faces, color=(200, 200, 200), light_dir=(0, 0, -1), ambient=0.2,
                      shading="flat", method=method)
    both = _centres_inside(near[:, :2], h, w) & _centres_inside(far[:, :2], h, w)
    interior = cv2.erode(both.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert (out[interior] == 200).all()


def test_interpenetrating_triangles_are_resolved_per_pixel():
    """Two triangles crossing in depth: each pixel shows the one whose plane is nearer there (numpy solve)."""
    h = w = 100
    a = np.array([[5.0, 5.0, 10.0], [95.0, 5.0, 90.0], [50.0, 95.0, 50.0]])  # depth grows with x
    b = np.array([[5.0, 10.0, 90.0], [95.0, 10.0, 10.0], [50.0, 90.0, 50.0]])  # depth falls with x
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    face_map = rasterize(np.concatenate([a, b]), faces, h, w).face_map().numpy()

    def plane_depth(t):  # z = p0 x + p1 y + p2 through the three vertices
        p = np.linalg.solve(np.c_[t[:, :2], np.ones(3)], t[:, 2])
        gy, gx = np.mgrid[0:h, 0:w]
        return p[0] * gx + p[1] * gy + p[2]

    both = _centres_inside(a[:, :2], h, w) & _centres_inside(b[:, :2], h, w)
    za, zb = plane_depth(a), plane_depth(b)
    clear = both & (np.abs(za - zb) > 0.5)
    assert clear.sum() > 1000
    assert (face_map[clear] == np.where(za[clear] < zb[clear], 0, 1)).all()


def _sphere(radius_px: float, centre: tuple[float, float], depth: float = 500.0) -> tuple[np.ndarray, np.ndarray]:
    m = trimesh.creation.icosphere(subdivisions=3)
    v = np.asarray(m.vertices) * radius_px + np.array([centre[0], centre[1], depth])
    return v.astype(np.float32), np.asarray(m.faces)


@pytest.mark.parametrize("method,shading", [("zbuffer", "smooth"), ("zbuffer", "flat"), ("painter", "flat")])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_pixels_outside_the_projection_are_unchanged(method, shading, alpha):
    rng = np.random.default_rng(0)
    h, w = 160, 200
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    verts, faces = _sphere(50.0, (90.3, 70.6))
    out = render_mesh(image, verts, faces, alpha=alpha, method=method, shading=shading)
    silhouette = np.zeros((h, w), np.uint8)
    for t in verts[faces][:, :, :2]:  # one call per face: a single fillPoly over all faces fills even-odd
        cv2.fillConvexPoly(silhouette, np.rint(t * 256).astype(np.int32), 1, shift=8)
    outside = ~cv2.dilate(silhouette, np.ones((3, 3), np.uint8)).astype(bool)
    inside = cv2.erode(silhouette, np.ones((3, 3), np.uint8)).astype(bool)
    assert np.array_equal(out[outside], image[outside])
    assert (out[inside] != image[inside]).any(axis=-1).mean() > 0.95
    assert out.dtype == np.uint8 and out.shape == image.shape and out is not image


def test_lambert_and_ambient_match_a_hand_computation():
    """A square tilted by 60 degrees about the vertical axis, light along the view axis: cos(60) = 0.5."""
    h = w = 64
    tilt = np.radians(60.0)
    # Square in the plane z = 100 + tan(60) * x: its normal makes 60 degrees with the view axis.
    xy = np.array([[8.0, 8.0], [56.0, 8.0], [56.0, 56.0], [8.0, 56.0]])
    verts = np.c_[xy, 100.0 + np.tan(tilt) * xy[:, 0]]
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    black = np.zeros((h, w, 3), np.uint8)
    color, ambient = (200.0, 100.0, 40.0), 0.3
    for shading in ("flat", "smooth"):
        out = render_mesh(black, verts, faces, color=color, light_dir=(0.0, 0.0, -1.0), ambient=ambient,
                          shading=shading)
        expected = np.rint(np.array(color) * (ambient + (1 - ambient) * 0.5))
        np.testing.assert_array_equal(out[32, 32], expected)
        # Light from behind the surface (two-sided lighting is about the viewer, not the light): ambient only.
        out = render_mesh(black, verts, faces, color=color, light_dir=(0.0, 0.0, 1.0), ambient=ambient,
                          shading=shading)
        np.testing.assert_array_equal(out[32, 32], np.rint(np.array(color) * ambient))


def test_vertex_colours_are_interpolated_with_the_pixels_barycentrics():
    """One triangle facing the viewer, lit along the view axis (intensity 1): each covered pixel shows the vertex
    colours weighted by its barycentric coordinates, solved here with numpy; the painter shows their mean."""
    h = w = 64
    xy = np.array([[6.0, 5.0], [58.0, 12.0], [20.0, 60.0]])
    verts = np.c_[xy, np.full(3, 100.0)]
    colours = np.array([[255.0, 0.0, 0.0], [0.0, 255.0, 0.0], [0.0, 0.0, 255.0]])
    black = np.zeros((h, w, 3), np.uint8)
    out = render_mesh(black, verts, np.array([[0, 1, 2]]), light_dir=(0.0, 0.0, -1.0), ambient=0.2,
                      vertex_colors=colours)
    for x, y in [(20, 20), (30, 15), (22, 45), (40, 20)]:
        # p = a + l1 (b - a) + l2 (c - a)  ->  l0 = 1 - l1 - l2
        l1, l2 = np.linalg.solve(np.stack([xy[1] - xy[0], xy[2] - xy[0]], axis=1), np.array([x, y]) - xy[0])
        lam = np.array([1 - l1 - l2, l1, l2])
        assert (lam > 0).all()
        np.testing.assert_allclose(out[y, x], lam @ colours, atol=1.0)
    painted = render_mesh(black, verts, np.array([[0, 1, 2]]), light_dir=(0.0, 0.0, -1.0), shading="flat",
                          method="painter", vertex_colors=colours)
    np.testing.assert_array_equal(painted[20, 20], np.rint(colours.mean(axis=0)))
    with pytest.raises(ValueError, match="vertex_colors"):
        render_mesh(black, verts, np.array([[0, 1, 2]]), vertex_colors=colours[:2])
    with pytest.raises(ValueError, match="0..255"):
        render_mesh(black, verts, np.array([[0, 1, 2]]), vertex_colors=colours * 2)


def test_smooth_shading_varies_across_a_sphere_and_peaks_facing_the_light():
    h = w = 128
    verts, faces = _sphere(50.0, (64.0, 64.0))
    black = np.zeros((h, w, 3), np.uint8)
    out = render_mesh(black, verts, faces, color=WHITE, light_dir=(0.0, 0.0, -1.0), ambient=0.0)
    g = out[..., 0].astype(int)
    assert g[64, 64] >= 253  # the centre faces the viewer and the light
    assert g[64, 64 + 45] < 120  # near the limb the normal is ~65 degrees off: cos ~0.42
    # No facets: neighbouring pixels along a row change by a few levels only.
    row = g[64, 30:98]
    assert np.abs(np.diff(row)).max() <= 12


def test_backface_culling_keeps_a_closed_mesh_identical():
    h = w = 128
    verts, faces = _sphere(40.0, (60.5, 66.0))
    grey = np.full((h, w, 3), 30, np.uint8)
    plain = render_mesh(grey, verts, faces)
    culled = render_mesh(grey, verts, faces, cull_backfaces=True)
    assert (np.abs(plain.astype(int) - culled).max(axis=-1) > 2).sum() <= 3  # silhouette-edge pixels at most
    assert np.array_equal(_covered(plain, grey), _covered(culled, grey))


def test_project_for_render_matches_cv2_and_scales_depth_to_pixels():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)) * 0.3 + np.array([0.1, -0.2, 4.0])
    K = np.array([[1100.0, 0.0, 500.0], [0.0, 1050.0, 480.0], [0.0, 0.0, 1.0]])
    out = project_for_render(torch.tensor(X, dtype=torch.float64), K).numpy()
    ref, _ = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K, None)
    np.testing.assert_allclose(out[:, :2], ref[:, 0], atol=1e-3)
    # depth: metres times the pixels per metre at the mean depth
    np.testing.assert_allclose(out[:, 2], X[:, 2] * 1075.0 / X[:, 2].mean(), rtol=1e-5)


def test_side_view_shows_the_depth_extent():
    """A slab thin in x and deep in z: narrow from the front, wide from the side."""
    box = trimesh.creation.box(extents=(10.0, 60.0, 100.0))
    verts = np.asarray(box.vertices) + np.array([80.0, 70.0, 300.0])
    faces = np.asarray(box.faces)
    front = render_mesh(np.full((140, 160, 3), 255, np.uint8), verts, faces)
    side = render_side_view(verts, faces, (140, 160))

    def width(img):
        cols = np.flatnonzero((img != 255).any(axis=(0, 2)))
        return cols.max() - cols.min() + 1

    assert 9 <= width(front) <= 11
    assert 99 <= width(side) <= 101
    assert side.shape == (140, 160, 3) and (side[0, 0] == 255).all()


@pytest.mark.parametrize(
    "image,verts,faces,match",
    [
        (np.zeros((8, 8, 3), np.float32), np.zeros((3, 3)), np.array([[0, 1, 2]]), "uint8"),
        (np.zeros((8, 8), np.uint8), np.zeros((3, 3)), np.array([[0, 1, 2]]), r"\(H, W, 3\)"),
        (np.zeros((8, 8, 3), np.uint8), np.full((3, 3), np.nan), np.array([[0, 1, 2]]), "NaN"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((3, 2)), np.array([[0, 1, 2]]), r"\(V, 3\)"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((3, 3)), np.array([[0, 1, 3]]), "index vertices"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((3, 3)), np.array([[0.0, 1.0, 2.0]]), "integer"),
    ],
)
def test_bad_input_raises_a_clear_error(image, verts, faces, match):
    with pytest.raises(ValueError, match=match):
        render_mesh(image, verts, faces)


def test_painter_refuses_smooth_shading():
    with pytest.raises(ValueError, match="flat"):
        render_mesh(np.zeros((8, 8, 3), np.uint8), np.zeros((3, 3)), np.array([[0, 1, 2]]), method="painter")


def test_chunked_rasterisation_equals_a_single_pass(monkeypatch):
    """Large meshes are rasterised in chunks of faces; the result must not depend on the chunk size."""
    from mpt.vis import render

    h = w = 200
    verts, faces = _sphere(80.0, (100.2, 99.7))
    whole = rasterize(verts, faces, h, w)
    monkeypatch.setattr(render, "_MAX_CANDIDATES", 500)  # dozens of chunks
    chunked = rasterize(verts, faces, h, w)
    assert torch.equal(whole.face_map(), chunked.face_map())
    ref = np.zeros((h, w), np.uint8)
    for t in verts[faces][:, :, :2]:
        cv2.fillConvexPoly(ref, np.rint(t * 256).astype(np.int32), 1, shift=8)
    assert _iou(chunked.mask().numpy(), ref.astype(bool)) > 0.98
