"""Visualisation: headless mesh rendering over images (no OpenGL / OpenDR), 2D keypoints over images."""

from mpt.vis.keypoints import draw_keypoints
from mpt.vis.render import (
    DEFAULT_COLOR,
    DEFAULT_LIGHT_DIR,
    Rasterized,
    face_normals,
    project_for_render,
    rasterize,
    render_mesh,
    render_side_view,
    vertex_normals,
)

__all__ = [
    "DEFAULT_COLOR", "DEFAULT_LIGHT_DIR", "Rasterized", "face_normals", "project_for_render", "rasterize", "render_mesh",
    "render_side_view", "vertex_normals", "draw_keypoints",
]  # fmt: skip
