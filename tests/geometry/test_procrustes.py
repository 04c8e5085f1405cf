"""Similarity Procrustes against a per-sample numpy reference and scipy's disparity."""

import numpy as np
import pytest
import torch
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from mpt.geometry.procrustes import procrustes_transform, similarity_procrustes


def _numpy_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """One sample, points as columns (3, N): the classic SVD recipe with a reflection check."""
    a, b = src.T, dst.T
    ca, cb = a.mean(axis=1, keepdims=True), b.mean(axis=1, keepdims=True)
    a0, b0 = a - ca, b - cb
    u, s, vt = np.linalg.svd(a0 @ b0.T)
    v = vt.T
    z = np.eye(3)
    z[2, 2] = np.sign(np.linalg.det(v @ u.T))
    rot = v @ z @ u.T
    scale = np.trace(rot @ a0 @ b0.T) / np.trace(a0 @ a0.T)
    return (scale * rot @ a + (cb - scale * rot @ ca)).T


def test_matches_numpy_reference_on_noisy_pairs() -> None:
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(16, 14, 3))
    rots = Rotation.random(16, random_state=1).as_matrix()
    gt = pred @ rots.transpose(0, 2, 1) * 1.3 + rng.normal(size=(16, 14, 3)) * 0.2
    gt[3] = rng.normal(size=(14, 3))  # one unrelated pair, where a reflection would fit better
    ours = similarity_procrustes(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    ref = np.stack([_numpy_similarity(p, g) for p, g in zip(pred, gt)])
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_disparity_equals_scipy_where_rotation_is_proper() -> None:
    # scipy.spatial.procrustes normalises both sets and allows reflections; for a noisy rotated
    # copy the best orthogonal map is a proper rotation, so its disparity is our residual / |gt0|^2.
    rng = np.random.default_rng(3)
    pred = rng.normal(size=(4, 20, 3))
    rots = Rotation.random(4, random_state=4).as_matrix()
    gt = np.einsum("bij,bnj->bni", rots, pred) * 0.7 + 2.0 + rng.normal(size=pred.shape) * 0.05
    aligned = similarity_procrustes(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    for b in range(4):
        _, _, disparity = scipy_procrustes(gt[b], pred[b])
        gt0 = gt[b] - gt[b].mean(axis=0)
        np.testing.assert_allclose(((aligned[b] - gt[b]) ** 2).sum() / (gt0**2).sum(), disparity, rtol=1e-9)


def test_exactly_recovers_scaled_rotated_shifted_copy_in_float32() -> None:
    rng = np.random.default_rng(5)
    pred = rng.normal(size=(8, 17, 3)).astype(np.float32)
    rots = Rotation.random(8, random_state=6).as_matrix()
    scales = rng.uniform(0.5, 2.0, size=8)
    shifts = rng.normal(size=(8, 3))
    gt = scales[:, None, None] * np.einsum("bij,bnj->bni", rots, pred) + shifts[:, None, :]
    pred_t, gt_t = torch.from_numpy(pred), torch.from_numpy(gt.astype(np.float32))
    aligned = similarity_procrustes(pred_t, gt_t)
    assert aligned.dtype == torch.float32
    np.testing.assert_allclose(aligned.numpy(), gt, atol=2e-5)
    s, r, t = procrustes_transform(pred_t, gt_t)
    np.testing.assert_allclose(s.numpy(), scales, rtol=1e-5)
    np.testing.assert_allclose(r.numpy(), rots, atol=1e-5)
    np.testing.assert_allclose(t.numpy(), shifts, atol=1e-5)


def test_mirror_image_is_not_matched_by_a_reflection() -> None:
    rng = np.random.default_rng(7)
    pred = rng.normal(size=(1, 10, 3))
    gt = pred * np.array([1.0, 1.0, -1.0])  # mirror copy: only a reflection would fit exactly
    _, r, _ = procrustes_transform(torch.from_numpy(pred), torch.from_numpy(gt))
    assert np.linalg.det(r.numpy()[0]) == pytest.approx(1.0)
    aligned = similarity_procrustes(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    assert np.abs(aligned - gt).max() > 1e-2


def test_degenerate_and_bad_shapes() -> None:
    pred = torch.zeros(1, 5, 3, dtype=torch.float64)
    gt = torch.randn(1, 5, 3, dtype=torch.float64)
    aligned = similarity_procrustes(pred, gt)
    torch.testing.assert_close(aligned, gt.mean(dim=1, keepdim=True).expand_as(gt))
    with pytest.raises(ValueError, match="equal shapes"):
        similarity_procrustes(torch.zeros(2, 5, 3), torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="at least 3 points"):
        similarity_procrustes(torch.zeros(2, 2, 3), torch.zeros(2, 2, 3))
