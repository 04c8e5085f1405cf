"""Human3.6M S1 cameras against VideoPose3D's numbers, camera sets, and the interpolated virtual views."""

import numpy as np
import pytest
import torch

from mpt.geometry.cameras import (
    H36M_CAMERA_IDS,
    CameraSet,
    capture_volume_center,
    h36m_s1_cameras,
    interpolate_cameras,
    virtual_cameras,
)
from mpt.geometry.projection import project_world_points

# facebookresearch/VideoPose3D common/h36m_dataset.py S1 extrinsics, as world->camera matrices (5 decimals) and
# T_cam = -R t (mm, 0.1 mm); the 3d-pose-baseline cameras.h5 stores the same matrices.
FACTS_R = np.array([
    [[-0.91536, 0.40181, 0.02575], [0.05155, 0.18037, -0.98225], [-0.39932, -0.89778, -0.18582]],
    [[0.92817, 0.37215, 0.00225], [0.08166, -0.19777, -0.97684], [-0.36309, 0.90686, -0.21396]],
    [[-0.91415, -0.40278, -0.04572], [-0.04562, 0.21431, -0.9757], [0.40279, -0.88985, -0.21429]],
    [[0.91416, -0.40061, 0.06191], [-0.05641, -0.27695, -0.95923], [0.40142, 0.87339, -0.27578]],
])
FACTS_T_MM = np.array([[-346.1, 547.0, 5474.5], [251.4, 420.9, 5588.2], [480.5, 253.8, 5704.2], [51.9, 378.4, 4406.1]])
# 3d-pose-baseline-style full-precision camera 54138969 (R world->camera, T = centre in mm).
BASELINE_R0 = np.array([
    [-0.9153617321513369, 0.40180836633680234, 0.02574754463350265],
    [0.051548117060134555, 0.1803735689384521, -0.9822464900705729],
    [-0.399319034032262, -0.8977836111057917, -0.185819527201491],
])
BASELINE_T0_MM = np.array([1841.10702774543, 4955.28462344526, 1563.4453958977])
FACTS_UV_09 = np.array([[443, 443], [563, 411], [611, 371], [545, 368]])  # pinhole pixels of (0, 0, 0.9 m)


def test_s1_extrinsics_equal_facts() -> None:
    cams = h36m_s1_cameras(dtype=torch.float64)
    assert cams.names == H36M_CAMERA_IDS and len(cams) == 4
    np.testing.assert_allclose(cams.R.numpy(), FACTS_R, atol=6e-6)
    np.testing.assert_allclose(cams.t.numpy() * 1000.0, FACTS_T_MM, atol=0.06)
    np.testing.assert_allclose(cams.R[0].numpy(), BASELINE_R0, atol=1e-6)
    np.testing.assert_allclose(cams.centers[0].numpy() * 1000.0, BASELINE_T0_MM, atol=1e-3)
    np.testing.assert_allclose(cams.K[0, 0, 0].item(), 1145.04940458804, atol=1e-4)
    np.testing.assert_allclose(cams.image_size.numpy(), [[1000, 1002], [1000, 1000], [1000, 1000], [1000, 1002]])
    np.testing.assert_allclose(cams.dist[0].numpy(), [-0.20709891617298126, 0.24777518212795258,
                                                      -0.0009756988729350269, -0.00142447161488235,
                                                      -0.0030751503072679043])
    for r in cams.R.numpy():
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
    assert (cams.R[:, 1, 2] < -0.9).all(), "camera y axis must point down in the z-up world"


def test_point_at_09m_projects_near_image_centre() -> None:
    cams = h36m_s1_cameras()
    X = torch.tensor([0.0, 0.0, 0.9]).expand(4, 1, 3)
    uv_pinhole, depth = project_world_points(X, cams.R, cams.t, cams.K)
    np.testing.assert_allclose(uv_pinhole[:, 0].numpy(), FACTS_UV_09, atol=0.7)
    assert ((depth > 4.0) & (depth < 5.7)).all()
    assert (uv_pinhole[:, 0] - cams.K[:, :2, 2]).norm(dim=-1).max() < 200.0  # within a fifth of the image
    uv, _ = project_world_points(X, cams.R, cams.t, cams.K, cams.dist)
    np.testing.assert_allclose(uv[:, 0].numpy(), FACTS_UV_09, atol=3.0)  # lens distortion is small there


def test_opencv_distortion_vs_h36m_model_is_sub_pixel_on_camera_0() -> None:
    """The documented choice: OpenCV's model vs 3d-pose-baseline's H36M formula on 54138969."""
    cams = h36m_s1_cameras(dtype=torch.float64).select(0)
    fx, fy, cx, cy = cams.K[0, 0, 0], cams.K[0, 1, 1], cams.K[0, 0, 2], cams.K[0, 1, 2]
    w, h = cams.image_size[0].tolist()
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    x, y = (u - cx) / fx, (v - cy) / fy
    X_cam = torch.stack((x, y, torch.ones_like(x)), -1).reshape(1, -1, 3)
    eye, zero = torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    ours = project_world_points(X_cam, eye, zero, cams.K, cams.dist)[0]
    k1, k2, pa, pb, k3 = cams.dist[0]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tan = pa * y + pb * x  # 3d-pose-baseline: tan = p[0] y + p[1] x, then + [p[1], p[0]] r2
    xd, yd = x * (radial + tan) + pb * r2, y * (radial + tan) + pa * r2
    ref = torch.stack((fx * xd + cx, fy * yd + cy), -1).reshape(1, -1, 2)
    err = (ours - ref).norm(dim=-1)
    assert 0.7 < err.max() < 0.8 and err.mean() < 0.2


def test_camera_set_select_to_and_validation() -> None:
    cams = h36m_s1_cameras(dtype=torch.float64)
    sub = cams.select([3, 1])
    assert sub.names == ("60457274", "55011271") and len(sub) == 2
    assert torch.equal(sub.R[0], cams.R[3]) and torch.equal(sub.image_size[1], cams.image_size[1])
    assert cams.select(2).names == ("58860488",)
    half = cams.to(dtype=torch.float16)
    assert half.K.dtype == torch.float16 and half.image_size.dtype == torch.long
    with pytest.raises(IndexError, match="out of range"):
        cams.select([4])
    with pytest.raises(ValueError, match=r"CameraSet.dist must have shape \(4, 5\)"):
        CameraSet(K=cams.K, dist=cams.dist[:, :4], R=cams.R, t=cams.t, image_size=cams.image_size, names=cams.names)
    bad_t = cams.t.clone()
    bad_t[0, 0] = float("nan")
    with pytest.raises(ValueError, match="CameraSet.t contains NaN"):
        CameraSet(K=cams.K, dist=cams.dist, R=cams.R, t=bad_t, image_size=cams.image_size, names=cams.names)


def test_capture_volume_center_is_least_squares_closest_point() -> None:
    cams = h36m_s1_cameras(dtype=torch.float64)
    c = cams.centers.numpy()
    d = cams.R[:, 2, :].numpy()
    # Stack the 4 perpendicular-residual systems and solve with lstsq (no normal equations).
    A = np.concatenate([np.eye(3) - np.outer(di, di) for di in d])
    b = np.concatenate([(np.eye(3) - np.outer(di, di)) @ ci for ci, di in zip(c, d)])
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    ours = capture_volume_center(cams).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    assert np.hypot(ours[0], ours[1]) < 0.5 and 0.0 < ours[2] < 1.5  # inside the H36M capture area


def _azimuth_radius_height(centres: np.ndarray, volume: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rel = centres - volume
    return np.degrees(np.arctan2(rel[:, 1], rel[:, 0])) % 360.0, np.hypot(rel[:, 0], rel[:, 1]), rel[:, 2]


def _axis_miss_distance(cams: CameraSet, point: np.ndarray) -> np.ndarray:
    d = cams.R[:, 2, :].double().numpy()
    w = point - cams.centers.double().numpy()
    return np.linalg.norm(w - (w * d).sum(1, keepdims=True) * d, axis=1)


def test_eight_views_keep_originals_and_interpolate_between_neighbours() -> None:
    orig = h36m_s1_cameras()
    cams8 = virtual_cameras(8)
    assert len(cams8) == 8 and cams8.names[:4] == H36M_CAMERA_IDS
    for field in ("K", "dist", "R", "t", "image_size"):
        assert torch.equal(getattr(cams8, field)[:4], getattr(orig, field)), field
    volume = capture_volume_center(orig.to(dtype=torch.float64)).numpy()
    az, radius, height = _azimuth_radius_height(cams8.centers.double().numpy(), volume)
    for k, name in enumerate(cams8.names[4:], start=4):
        left, right = (cams8.names.index(n) for n in name.split("@")[0].split("+"))
        gap = (az[right] - az[left]) % 360.0
        assert 0 < gap < 180.0
        assert ((az[k] - az[left]) % 360.0) == pytest.approx(gap / 2, abs=1e-3)  # halfway, counter-clockwise
        assert min(radius[left], radius[right]) - 1e-4 <= radius[k] <= max(radius[left], radius[right]) + 1e-4
        assert min(height[left], height[right]) - 1e-4 <= height[k] <= max(height[left], height[right]) + 1e-4
        np.testing.assert_allclose(cams8.K[k].numpy(), (cams8.K[left] + cams8.K[right]).numpy() / 2, rtol=1e-6)
    # Every angular gap is split: the 8 azimuths sorted have no gap wider than the widest half-gap.
    assert np.diff(np.sort(np.append(az, az.min() + 360.0))).max() < 75.0
    assert (_axis_miss_distance(cams8.select([4, 5, 6, 7]), volume) < 0.02).all()
    R = cams8.R.double().numpy()
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-6)
    assert np.allclose(np.linalg.det(R), 1.0, atol=1e-6)
    assert (np.abs(R[4:, 0, 2]) < 0.1).all() and (R[4:, 1, 2] < -0.9).all(), "interpolated cameras keep H36M's roll"


def test_interpolation_across_a_gap_wider_than_180_degrees() -> None:
    two = h36m_s1_cameras(dtype=torch.float64).select([0, 3])
    cams = interpolate_cameras(two, n_between=2)
    assert len(cams) == 6
    volume = capture_volume_center(two).numpy()
    az, _, _ = _azimuth_radius_height(cams.centers.numpy(), volume)
    names = cams.names
    for k in range(2, 6):
        left, right = (names.index(n) for n in names[k].split("@")[0].split("+"))
        s = round(float(names[k].split("@")[1]) * 3) / 3  # names carry s to 2 decimals: 1/3, 2/3
        gap = (az[right] - az[left]) % 360.0
        assert ((az[k] - az[left]) % 360.0) == pytest.approx(s * gap, abs=1e-6)
    assert (_axis_miss_distance(cams.select([2, 3, 4, 5]), volume) < 1e-6).all()


def test_virtual_camera_counts_and_errors() -> None:
    for n in (1, 2, 4):
        cams = virtual_cameras(n)
        assert cams.names == H36M_CAMERA_IDS[:n] and cams.K.dtype == torch.float32
    assert virtual_cameras(2, indices=[3, 0]).names == ("60457274", "54138969")
    with pytest.raises(ValueError, match=r"n in \{1, 2, 4, 8\}"):
        virtual_cameras(3)
    with pytest.raises(ValueError, match="distinct camera indices"):
        virtual_cameras(2, indices=[1, 1])
    with pytest.raises(ValueError, match="distinct camera indices"):
        virtual_cameras(1, indices=[5])
    with pytest.raises(ValueError, match="at least 2 cameras"):
        interpolate_cameras(virtual_cameras(1))
    # Each interpolated camera sits between a 1000x1002 and a 1000x1000 camera.
    assert virtual_cameras(8).image_size[4:].tolist() == [[1000, 1001]] * 4
