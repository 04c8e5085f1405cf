"""Projection against cv2.projectPoints, with and without lens distortion."""

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt.geometry.cameras import h36m_s1_cameras
from mpt.geometry.projection import (
    project_points,
    project_world_points,
    world_to_camera,
)


def _cameras(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """4 H36M S1 cameras + 3 random ones: K (C,3,3), dist (C,5), R (C,3,3), t (C,3), float64."""
    h36m = h36m_s1_cameras(dtype=torch.float64)
    rng = np.random.default_rng(seed)
    K = [k for k in h36m.K.numpy()]
    dist = [d for d in h36m.dist.numpy()]
    R = [r for r in h36m.R.numpy()]
    t = [v for v in h36m.t.numpy()]
    for _ in range(3):
        f = rng.uniform(300, 2000, size=2)
        K.append(np.array([[f[0], 0, rng.uniform(100, 600)], [0, f[1], rng.uniform(100, 600)], [0, 0, 1.0]]))
        dist.append(rng.normal(scale=[0.1, 0.05, 0.002, 0.002, 0.01]))
        R.append(Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix())
        t.append(rng.normal(size=3))
    return np.stack(K), np.stack(dist), np.stack(R), np.stack(t)


def _points_in_front(R: np.ndarray, t: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """World points whose camera-frame depth is 2..6 m and within ~35 degrees of the axis."""
    cam = np.stack([rng.uniform(-0.7, 0.7, n), rng.uniform(-0.7, 0.7, n), np.ones(n)], axis=1)
    cam *= rng.uniform(2.0, 6.0, size=(n, 1))
    return (cam - t) @ R  # X_world = R^T (X_cam - t)


@pytest.mark.parametrize("with_dist", [False, True])
def test_projection_equals_cv2_project_points(with_dist: bool) -> None:
    K, dist, R, t = _cameras(0)
    rng = np.random.default_rng(1)
    X = np.stack([_points_in_front(R[c], t[c], 50, rng) for c in range(len(K))])  # (C, 50, 3)
    ours, depth = project_world_points(
        torch.from_numpy(X), torch.from_numpy(R), torch.from_numpy(t), torch.from_numpy(K),
        torch.from_numpy(dist) if with_dist else None,
    )
    assert (depth > 1.9).all()
    for c in range(len(K)):
        rvec, _ = cv2.Rodrigues(R[c])
        ref, _ = cv2.projectPoints(X[c], rvec, t[c], K[c], dist[c] if with_dist else None)
        np.testing.assert_allclose(ours[c].numpy(), ref[:, 0, :], atol=1e-6)


def test_float32_broadcast_one_camera_many_samples() -> None:
    K, dist, R, t = _cameras(2)
    rng = np.random.default_rng(3)
    X = np.stack([_points_in_front(R[0], t[0], 30, rng) for _ in range(5)])  # (5, 30, 3): 5 samples, camera 0
    ours = project_points(
        world_to_camera(torch.from_numpy(X).float(), torch.from_numpy(R[0]).float(), torch.from_numpy(t[0]).float()),
        torch.from_numpy(K[0]).float(), torch.from_numpy(dist[0]).float(),
    )
    rvec, _ = cv2.Rodrigues(R[0])
    ref, _ = cv2.projectPoints(X.reshape(-1, 3), rvec, t[0], K[0], dist[0])
    np.testing.assert_allclose(ours.reshape(-1, 2).numpy(), ref[:, 0, :], atol=5e-3)  # float32 pixels


def test_behind_camera_is_finite_and_gradients_flow() -> None:
    X = torch.tensor([[[0.1, 0.2, -1.0], [0.3, -0.1, 0.0], [0.05, 0.02, 3.0]]], dtype=torch.float64, requires_grad=True)
    K = torch.tensor([[[1000.0, 0, 500], [0, 1000, 500], [0, 0, 1]]], dtype=torch.float64)
    dist = torch.tensor([[-0.2, 0.25, 0.001, -0.001, -0.003]], dtype=torch.float64)
    uv = project_points(X, K, dist)
    assert torch.isfinite(uv).all()
    uv32 = project_points(X.detach().float(), K.float(), dist.float())
    assert torch.isfinite(uv32).all()
    uv[0, 2].sum().backward()
    assert torch.isfinite(X.grad).all() and X.grad[0, 2].abs().sum() > 0
    front = X.detach()[:, 2:].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: project_points(p, K, dist), (front,))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="OpenCV order"):
        project_points(torch.ones(1, 2, 3), torch.eye(3).expand(1, 3, 3), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="X must have shape"):
        world_to_camera(torch.ones(2, 4), torch.eye(3), torch.zeros(3))
