"""Rotation conversions against scipy.spatial.transform.Rotation."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_to_matrix,
    rotation_about_axis,
)


def _random_rotvecs(n: int, seed: int) -> np.ndarray:
    """Random axis-angle vectors with angles over [0, pi), plus tiny and near-pi angles."""
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0.0, np.pi - 1e-3, size=n)
    angles[:4] = [0.0, 1e-9, 1e-4, np.pi - 1e-5]
    return axes * angles[:, None]


def test_axis_angle_to_matrix_matches_scipy() -> None:
    rv = _random_rotvecs(64, 0)
    ours = axis_angle_to_matrix(torch.from_numpy(rv).reshape(8, 8, 3)).reshape(64, 3, 3).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(rv).as_matrix(), atol=1e-7)


def test_matrix_to_axis_angle_matches_scipy() -> None:
    rv = _random_rotvecs(64, 1)
    mats = Rotation.from_rotvec(rv).as_matrix()
    ours = matrix_to_axis_angle(torch.from_numpy(mats)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_matrix(mats).as_rotvec(), atol=1e-6)


def test_matrix_to_axis_angle_at_pi_is_a_valid_rotation() -> None:
    # At exactly pi the axis sign is ambiguous: compare the rotations, not the vectors.
    axes = np.eye(3) + np.array([0.0, 0.3, -0.2])
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    mats = Rotation.from_rotvec(axes * np.pi).as_matrix()
    rv = matrix_to_axis_angle(torch.from_numpy(mats)).numpy()
    np.testing.assert_allclose(np.linalg.norm(rv, axis=1), np.pi, atol=1e-7)
    np.testing.assert_allclose(Rotation.from_rotvec(rv).as_matrix(), mats, atol=1e-7)


def test_quaternion_conversions_match_scipy() -> None:
    rng = np.random.default_rng(2)
    q_xyzw = rng.normal(size=(50, 4))  # unnormalised on purpose
    q_wxyz = q_xyzw[:, [3, 0, 1, 2]]
    ref = Rotation.from_quat(q_xyzw).as_matrix()
    np.testing.assert_allclose(quaternion_to_matrix(torch.from_numpy(q_wxyz)).numpy(), ref, atol=1e-12)
    back = matrix_to_quaternion(torch.from_numpy(ref)).numpy()
    ref_q = Rotation.from_matrix(ref).as_quat()[:, [3, 0, 1, 2]]
    ref_q *= np.sign(ref_q[:, :1])  # canonical w >= 0
    np.testing.assert_allclose(back, ref_q, atol=1e-12)


def test_rotation_about_axis() -> None:
    angles = torch.tensor([0.3, -1.2, 2.5], dtype=torch.float64)
    for name in ("x", "y", "z"):
        ref = Rotation.from_euler(name, angles.numpy()[:, None]).as_matrix()
        np.testing.assert_allclose(rotation_about_axis(angles, name).numpy(), ref, atol=1e-7)
    axis = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64)
    ref = Rotation.from_rotvec(np.outer(angles.numpy(), axis.numpy() / 3.0)).as_matrix()
    np.testing.assert_allclose(rotation_about_axis(angles, axis).numpy(), ref, atol=1e-7)
    with pytest.raises(ValueError, match="axis"):
        rotation_about_axis(0.1, "w")
    with pytest.raises(ValueError, match="non-zero"):
        rotation_about_axis(0.1, torch.zeros(3))


def test_gradients_are_finite_at_identity_and_shape_errors() -> None:
    eye = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1).requires_grad_(True)
    matrix_to_axis_angle(eye).sum().backward()
    assert torch.isfinite(eye.grad).all()
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        matrix_to_axis_angle(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        quaternion_to_matrix(torch.zeros(3))
