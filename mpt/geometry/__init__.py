"""Geometry: virtual cameras (Human3.6M S1 + interpolated), projection, crops, rotations, Procrustes."""

from .cameras import (
    H36M_CAMERA_IDS,
    CameraSet,
    capture_volume_center,
    h36m_s1_cameras,
    interpolate_cameras,
    virtual_cameras,
)
from .crop import (
    bbox_from_points,
    crop_affine,
    crop_image,
    crop_to_normalized,
    jitter_boxes,
    normalized_to_crop,
    points_from_crop,
    points_to_crop,
    square_box,
)
from .procrustes import apply_similarity, procrustes_transform, similarity_procrustes
from .projection import project_points, project_world_points, world_to_camera
from .rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_about_axis,
    rotation_angle,
)

__all__ = [
    "H36M_CAMERA_IDS",
    "CameraSet",
    "capture_volume_center",
    "h36m_s1_cameras",
    "interpolate_cameras",
    "virtual_cameras",
    "bbox_from_points",
    "crop_affine",
    "crop_image",
    "crop_to_normalized",
    "jitter_boxes",
    "normalized_to_crop",
    "points_from_crop",
    "points_to_crop",
    "square_box",
    "apply_similarity",
    "procrustes_transform",
    "similarity_procrustes",
    "project_points",
    "project_world_points",
    "world_to_camera",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rotation_about_axis",
    "rotation_angle",
]
