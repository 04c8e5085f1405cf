"""Metrics in mm: hand examples, PA-MPJPE against a numpy SVD Procrustes written here, METRO's H36M P2 recipe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt.metrics import center_on_hips, h36m_p2_errors, h36m_pve, mpjpe, pa_mpjpe, procrustes_errors, pve


def numpy_pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Orthogonal Procrustes with scale (Gower / Kabsch form): mean aligned distance in the inputs' unit."""
    p = pred - pred.mean(0)
    g = gt - gt.mean(0)
    u, s, vt = np.linalg.svd(p.T @ g)  # p.T @ g = U S V^T; best rotation for row vectors: p @ R with R = U D V^T
    d = np.sign(np.linalg.det(u @ vt))
    D = np.diag([1.0, 1.0, d])
    R = u @ D @ vt
    scale = np.trace(D @ np.diag(s)) / np.sum(p * p)
    aligned = scale * p @ R + gt.mean(0)
    return float(np.linalg.norm(aligned - gt, axis=1).mean())


def test_mpjpe_hand_example() -> None:
    gt = torch.zeros(2, 4, 3)
    pred = gt.clone()
    pred[0, 0] = torch.tensor([0.003, 0.004, 0.0])  # 5 mm
    pred[0, 1] = torch.tensor([0.0, 0.0, 0.011])  # 11 mm
    pred[1] += torch.tensor([0.0, 0.002, 0.0])  # 2 mm everywhere
    torch.testing.assert_close(mpjpe(pred, gt), torch.tensor([4.0, 2.0]))
    valid = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])
    out = mpjpe(pred, gt, valid)
    assert out[0].item() == pytest.approx(8.0) and math.isnan(out[1].item())
    with pytest.raises(ValueError, match="valid must be"):
        mpjpe(pred, gt, valid[:, :3])
    with pytest.raises(ValueError, match="pred and gt"):
        mpjpe(pred, gt[:, :3])


def test_pa_mpjpe_against_numpy_procrustes() -> None:
    rng = np.random.default_rng(0)
    gt = rng.normal(scale=0.3, size=(5, 14, 3))
    pred = gt + rng.normal(scale=0.03, size=gt.shape)
    got = pa_mpjpe(torch.from_numpy(pred), torch.from_numpy(gt))
    ref = [1000 * numpy_pa_mpjpe(pred[i], gt[i]) for i in range(5)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)
    assert (got.numpy() < mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()).all()


def test_pa_mpjpe_is_zero_for_a_similar_copy() -> None:
    rng = np.random.default_rng(1)
    gt = rng.normal(scale=0.3, size=(3, 14, 3))
    rots = Rotation.random(3, random_state=2).as_matrix()
    pred = 1.7 * np.einsum("bij,bnj->bni", rots, gt) + np.array([0.5, -2.0, 4.0])
    got = pa_mpjpe(torch.from_numpy(pred).float(), torch.from_numpy(gt).float())
    assert got.dtype == torch.float32 and got.abs().max().item() < 1e-3  # mm
    assert mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)).min().item() > 100


def test_pve_and_center_on_hips() -> None:
    gt = torch.zeros(1, 10, 3)
    pred = gt + torch.tensor([0.0, 0.0, 0.006])
    assert pve(pred, gt).item() == pytest.approx(6.0)
    j = torch.arange(14 * 3, dtype=torch.float64).reshape(14, 3)
    c = center_on_hips(j)
    np.testing.assert_allclose(c[2].numpy() + c[3].numpy(), 0.0)
    np.testing.assert_allclose((c - j).numpy(), np.broadcast_to(-(j[2] + j[3]).numpy() / 2, (14, 3)))


def h36m_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """A mesh whose vertex k (k < 17) is H36M joint k (one-hot regressor), and J24 labels holding the same joints.

    The J24 labels are the H36M joints re-ordered by name, shifted by an arbitrary offset, with their pelvis
    (J24 14) placed away from the hips' midpoint, so each centring step matters.
    """
    rng = np.random.default_rng(4)
    h36m = rng.normal(scale=0.3, size=(17, 3)) + [0.1, 0.2, 4.0]  # camera-frame metres
    vertices = rng.normal(size=(1, 40, 3))
    vertices[0, :17] = h36m
    regressor = np.zeros((17, 40))
    regressor[np.arange(17), np.arange(17)] = 1.0
    # J24 slot <- H36M-17 index, by joint name (R_Ankle=3, R_Knee=2, R_Hip=1, L_Hip=4, L_Knee=5, L_Ankle=6,
    # R_Wrist=16, R_Elbow=15, R_Shoulder=14, L_Shoulder=11, L_Elbow=12, L_Wrist=13, Neck=8, Head=10).
    slots = {0: 3, 1: 2, 2: 1, 3: 4, 4: 5, 5: 6, 6: 16, 7: 15, 8: 14, 9: 11, 10: 12, 11: 13, 12: 8, 18: 10}
    j24 = np.zeros((1, 24, 4))
    j24[..., 3] = 1.0
    for slot, h in slots.items():
        j24[0, slot, :3] = h36m[h] + [1.0, -2.0, 0.5]
    j24[0, 14, :3] = [9.0, 9.0, 9.0]  # a pelvis label far from everything: subtracting it must not matter
    return (torch.from_numpy(vertices), torch.from_numpy(j24), torch.from_numpy(regressor),
            h36m)  # fmt: skip


def test_h36m_p2_errors_hand_case() -> None:
    vertices, j24, regressor, h36m = h36m_case()
    out = h36m_p2_errors(vertices, j24, regressor)
    assert set(out) == {"mpjpe", "pa_mpjpe", "rotation_error_deg"} and out["mpjpe"].shape == (1,)
    assert out["mpjpe"].item() < 1e-9 and out["pa_mpjpe"].item() < 1e-6
    # Move the predicted right ankle (H36M 3) by 14 mm: the hips are untouched, so MPJPE = 14 / 14 = 1 mm.
    moved = vertices.clone()
    moved[0, 3, 0] += 0.014
    assert h36m_p2_errors(moved, j24, regressor)["mpjpe"].item() == pytest.approx(1.0)
    # Move the predicted right hip (H36M 1) by 28 mm in x: re-centring on the hips' midpoint shifts every other
    # joint by -14 mm and the two hips by +14 / -14 mm: MPJPE = 14 mm exactly.
    hip = vertices.clone()
    hip[0, 1, 0] += 0.028
    assert h36m_p2_errors(hip, j24, regressor)["mpjpe"].item() == pytest.approx(14.0)
    # A uniformly scaled and shifted mesh: MPJPE sees the scale, PA-MPJPE does not.
    scaled = vertices * 1.1 + 0.3
    res = h36m_p2_errors(scaled, j24, regressor)
    assert res["pa_mpjpe"].item() < 1e-6
    j14_names_to_h36m = [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]
    centred = h36m[j14_names_to_h36m] - (h36m[1] + h36m[4]) / 2
    assert res["mpjpe"].item() == pytest.approx(1000 * 0.1 * np.linalg.norm(centred, axis=1).mean())
    # J14 labels as MeshTSVDataset returns them (already pelvis-relative) give the same numbers.
    j14 = j24[:, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18]] - j24[:, 14:15]
    res14 = h36m_p2_errors(hip, j14, regressor)
    assert res14["mpjpe"].item() == pytest.approx(14.0)
    with pytest.raises(ValueError, match="h36m_regressor"):
        h36m_p2_errors(vertices, j24, regressor[:, :30])


def test_h36m_pve_centres_each_mesh_on_its_pelvis() -> None:
    vertices, _, regressor, _ = h36m_case()
    shifted = vertices + torch.tensor([0.2, 0.0, -1.0], dtype=torch.float64)
    assert h36m_pve(shifted, vertices, regressor).item() < 1e-9
    bumped = vertices.clone()
    bumped[0, 30] += torch.tensor([0.0, 0.04, 0.0], dtype=torch.float64)  # not a regressor vertex
    assert h36m_pve(bumped, vertices, regressor).item() == pytest.approx(40.0 / 40)


def test_rotation_error_is_the_angle_procrustes_removes() -> None:
    """A joint set turned by 37 degrees about a random axis (scipy builds the rotation), then scaled and moved:
    the rotation error is 37.0 whatever the scale and shift, PA-MPJPE 0; an unturned copy gives 0 degrees."""
    rng = np.random.default_rng(7)
    gt = rng.normal(size=(14, 3)) * 0.3
    axis = rng.normal(size=3)
    turn = Rotation.from_rotvec(np.deg2rad(37.0) * axis / np.linalg.norm(axis)).as_matrix()
    pred = np.stack([0.8 * gt @ turn.T + [0.1, -0.4, 2.0], gt + 0.5])  # turned copy; shifted, unturned copy
    pa, rotation = procrustes_errors(torch.from_numpy(pred), torch.from_numpy(np.stack([gt, gt])))
    np.testing.assert_allclose(rotation.numpy(), [37.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(pa.numpy(), [0.0, 0.0], atol=1e-6)
    # Near the ends of [0, 180], where the arccos of the trace loses precision, the angle stays exact.
    for degrees in (1e-3, 179.999):
        turned = torch.from_numpy(gt @ Rotation.from_rotvec(np.deg2rad(degrees) * np.array([0.0, 0.6, 0.8])
                                                            ).as_matrix().T)[None]  # fmt: skip
        assert procrustes_errors(turned, torch.from_numpy(gt)[None])[1].item() == pytest.approx(degrees, abs=1e-6)


def test_h36m_p2_errors_report_the_rotation_error() -> None:
    """mpt-eval's per-sample errors carry the rotation error of the same Procrustes as PA-MPJPE."""
    rng = np.random.default_rng(8)
    reg = rng.uniform(size=(17, 40))
    reg /= reg.sum(1, keepdims=True)
    verts = rng.normal(size=(1, 40, 3))
    h36m = reg @ verts[0]
    gt = (h36m[[3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]] - h36m[0])[None]  # METRO H36M_J17_TO_J14
    turn = Rotation.from_rotvec([0.0, np.deg2rad(90.0), 0.0]).as_matrix()  # the body turned a quarter about y
    out = h36m_p2_errors(torch.from_numpy(verts @ turn.T), torch.from_numpy(gt), torch.from_numpy(reg))
    assert out["rotation_error_deg"].item() == pytest.approx(90.0, abs=1e-6)
    assert out["pa_mpjpe"].item() == pytest.approx(0.0, abs=1e-6)
