"""The demo body: a human-like, SMPL-format stand-in built deterministically from simple shapes.

The real SMPL model is licence-gated, so the demo ships a body with SMPL's exact format (6890 vertices, 13776 faces,
24 joints in SMPL's tree, 10 shape and 207 pose blend shapes) that smplx and our loaders read unchanged. It is built
in five steps (step 1 in tools/standin/body_shape.py, steps 2-5 in body_mesh.py):

1. a smooth implicit surface: a smooth union of ellipsoids and round cones laid on an SMPL-like T-pose skeleton
   (metres, y up, facing +z, the body's left side at +x);
2. marching tetrahedra on an 8 mm grid (a closed, consistently oriented, genus-0 triangle mesh by construction);
3. quadric decimation (fast_simplification) to exactly 6890 vertices;
4. relaxation on the implicit surface (area-weighted centroid steps re-projected with Newton steps, plus Delaunay
   edge flips), which turns the decimated mesh into well-shaped triangles of a few centimetres;
5. a vertex permutation that puts smplx's landmark vertices (nose, eyes, ears, toes, heels, fingertips) at SMPL's
   vertex ids, so code that picks landmarks by id finds them at the right body places.

Skinning weights, joint regressors and blend shapes are then derived from the same shapes (see
:func:`build_demo_body`; tools/standin/body_rig.py). Nothing here reads a file; the result depends on no seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mpt.body.joints import SMPL_PARENTS
from mpt.body.smpl_file import NUM_JOINTS
from tools.standin.body_mesh import _order_landmarks, _surface_mesh
from tools.standin.body_rig import h36m_regressor, joint_regressor, pose_directions, shape_directions, skinning_weights
from tools.standin.body_shape import DESIGN_JOINTS, NUM_BETAS, BodyShape

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
