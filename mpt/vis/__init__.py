"""Visualisation: headless mesh rendering over images (no OpenGL / OpenDR)."""

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
    "render_side_view", "vertex_normals",
]  # fmt: skip
