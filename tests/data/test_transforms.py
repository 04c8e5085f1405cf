"""Augmentation pieces: METRO's flip permutations, mirrored SMPL bodies, in-plane rotations, parameter statistics."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from scipy.stats import norm

from mpt.body import BodyModel
from mpt.body.joints import COCO_FLIP_INDEX
from mpt.body.smpl_file import save_smpl_pickle
from mpt.data.joints24 import J14_FLIP_PERM, J24_COCO17, J24_FLIP_PERM, J24_NAMES, J24_TO_J14, SMPL_FLIP_PERM
from mpt.data.transforms import (
    AugParams,
    apply_pixel_noise,
    flip_image,
    flip_joints,
    flip_smpl_pose,
    in_plane_rotation,
    rotate_global_orient,
    rotate_joints3d,
    sample_aug_params,
)
from mpt.geometry.crop import points_to_crop
from tests.body.smpl_fixtures import random_smpl_dict

# Typed from microsoft/MeshTransformer metro/utils/image_ops.py (flip_kp and flip_pose).
METRO_J24_FLIP = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 15, 16, 17, 18, 19, 21, 20, 23, 22]
METRO_POSE_FLIP = [0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11, 15, 16, 17, 12, 13, 14, 18, 19, 20, 24, 25, 26, 21, 22, 23,
                   27, 28, 29, 33, 34, 35, 30, 31, 32, 36, 37, 38, 42, 43, 44, 39, 40, 41, 45, 46, 47, 51, 52, 53, 48,
                   49, 50, 57, 58, 59, 54, 55, 56, 63, 64, 65, 60, 61, 62, 69, 70, 71, 66, 67, 68]  # fmt: skip


def test_permutations_match_metro() -> None:
    assert list(J24_FLIP_PERM) == METRO_J24_FLIP
    assert [3 * j for j in SMPL_FLIP_PERM] == METRO_POSE_FLIP[::3]
    assert list(J14_FLIP_PERM) == [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13]
    assert [J24_NAMES[i] for i in J24_TO_J14][-2:] == ["Neck", "Head"] and J24_NAMES[14] == "Pelvis"
    # HigherHRNet lib/dataset/transforms/transforms.py FLIP_CONFIG['COCO']
    assert list(COCO_FLIP_INDEX) == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    # SPIN datasets/preprocess/coco.py joints_idx: where COCO's 17 keypoints go in J24
    assert list(J24_COCO17) == [19, 20, 21, 22, 23, 9, 8, 10, 7, 11, 6, 3, 2, 4, 1, 5, 0]


def test_flip_joints_hand_example() -> None:
    j = torch.zeros(24, 3)
    l_wrist, r_wrist = J24_NAMES.index("L_Wrist"), J24_NAMES.index("R_Wrist")
    j[l_wrist] = torch.tensor([0.4, -0.2, 1.0])  # left wrist on the right of the image (+x)
    j[J24_NAMES.index("Neck")] = torch.tensor([0.1, -0.5, 0.7])
    out = flip_joints(j, J24_FLIP_PERM)
    assert out[r_wrist].tolist() == pytest.approx([-0.4, -0.2, 1.0])  # becomes the right wrist at -x, conf kept
    assert out[l_wrist].tolist() == [0.0, 0.0, 0.0]
    assert out[J24_NAMES.index("Neck")].tolist() == pytest.approx([-0.1, -0.5, 0.7])
    assert torch.equal(flip_joints(out, J24_FLIP_PERM), j)
    with pytest.raises(ValueError, match="flip permutation"):
        flip_joints(torch.zeros(14, 3), J24_FLIP_PERM)


def test_flip_pose_matches_metro_and_is_an_involution() -> None:
    pose = torch.randn(4, 72, dtype=torch.float64)
    ref = pose[:, METRO_POSE_FLIP].clone()
    ref[:, 1::3] *= -1
    ref[:, 2::3] *= -1
    torch.testing.assert_close(flip_smpl_pose(pose), ref)
    torch.testing.assert_close(flip_smpl_pose(flip_smpl_pose(pose)), pose)


def _mirrored_model(data: dict) -> dict:
    """The same SMPL model reflected through the x = 0 plane, with left and right joints exchanged.

    Vertex v of the mirror is vertex v of the original with x negated; joint j of the mirror is joint perm[j].
    Pose blend shapes are reflected too: the mirror's rotations are M R M (M = diag(-1, 1, 1)), so each
    coefficient of (R - I)[a, b] for output coordinate c picks up the sign s_c s_a s_b.
    """
    s = np.array([-1.0, 1.0, 1.0])
    perm = np.array(SMPL_FLIP_PERM)
    out = dict(data)
    out["v_template"] = data["v_template"] * s
    out["shapedirs"] = data["shapedirs"] * s[None, :, None]
    out["J_regressor"] = data["J_regressor"].tocsr()[perm].tocsc()
    out["weights"] = data["weights"][:, perm]
    pd = data["posedirs"].reshape(6890, 3, 23, 3, 3)[:, :, perm[1:] - 1]
    out["posedirs"] = (pd * s[None, :, None, None, None] * s[None, None, None, :, None] * s).reshape(6890, 3, 207)
    return out


@pytest.fixture(scope="module")
def bodies(tmp_path_factory) -> tuple[BodyModel, BodyModel]:
    root = tmp_path_factory.mktemp("mirror")
    data = random_smpl_dict(3)
    save_smpl_pickle(data, root / "orig" / "SMPL_NEUTRAL.pkl")
    save_smpl_pickle(_mirrored_model(data), root / "mirror" / "SMPL_NEUTRAL.pkl")
    return BodyModel(root / "orig"), BodyModel(root / "mirror")


def test_flipped_pose_mirrors_the_body(bodies) -> None:
    orig, mirror = bodies
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(3, 72, generator=g) * 0.5
    betas = torch.randn(3, 10, generator=g)
    a = orig(pose, betas)
    b = mirror(flip_smpl_pose(pose), betas)
    s = torch.tensor([-1.0, 1.0, 1.0])
    # The mirrored body's joint j is the original's mirror-image joint with x negated.
    torch.testing.assert_close(b.joints, a.joints[:, list(SMPL_FLIP_PERM)] * s, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.vertices, a.vertices * s, atol=1e-5, rtol=1e-5)
    # And the flip is not trivially satisfied: the unflipped pose gives a different body.
    assert (mirror(pose, betas).joints - b.joints).abs().max() > 1e-2


def test_in_plane_rotation_matches_the_crop_and_cv2() -> None:
    rot = 25.0
    m = cv2.getRotationMatrix2D((0.0, 0.0), rot, 1.0)[:, :2]  # OpenCV: content turns counter-clockwise on screen
    R = in_plane_rotation(rot, torch.float64)
    np.testing.assert_allclose(R[:2, :2].numpy(), m, atol=1e-12)
    np.testing.assert_allclose(R[2].numpy(), [0, 0, 1], atol=1e-12)
    # Same direction as the crop: a point offset from the box centre moves like the (x, y) of a 3D point.
    c = torch.tensor([[50.0, 60.0]], dtype=torch.float64)
    p = torch.tensor([[[70.0, 40.0]]], dtype=torch.float64)
    crop = points_to_crop(p, c, torch.tensor([100.0], dtype=torch.float64), 100, rot)
    np.testing.assert_allclose((crop[0, 0] - 49.5).numpy(), m @ (p[0, 0] - c[0]).numpy(), atol=1e-9)
    batched = in_plane_rotation(torch.tensor([rot, -rot]), torch.float64)
    torch.testing.assert_close(batched[0], R)
    torch.testing.assert_close(batched[1], R.T)


def test_rotate_joints3d_against_scipy() -> None:
    j = torch.randn(2, 24, 4, dtype=torch.float64)
    rot = torch.tensor([30.0, -50.0], dtype=torch.float64)
    out = rotate_joints3d(j, rot)
    for i in range(2):  # Rz(-angle) in scipy's right-handed convention
        ref = Rotation.from_euler("z", -rot[i].item(), degrees=True).apply(j[i, :, :3].numpy())
        np.testing.assert_allclose(out[i, :, :3].numpy(), ref, atol=1e-7)  # smplx's Rodrigues adds 1e-8 to angles
    torch.testing.assert_close(out[..., 3], j[..., 3])
    torch.testing.assert_close(rotate_joints3d(j[0], 30.0), out[0])


def test_rotated_global_orient_rotates_the_body_like_the_joints(bodies) -> None:
    orig, _ = bodies
    pose = torch.randn(2, 72, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).float() * 0.5
    rot = 35.0
    new = rotate_global_orient(pose, rot)
    ref = Rotation.from_euler("z", -rot, degrees=True) * Rotation.from_rotvec(pose[:, :3].double().numpy())
    np.testing.assert_allclose(Rotation.from_rotvec(new[:, :3].double().numpy()).as_matrix(), ref.as_matrix(),
                               atol=1e-5)  # fmt: skip
    assert torch.equal(new[:, 3:], pose[:, 3:])
    a, b = orig(pose).joints, orig(new).joints
    root_a, root_b = a - a[:, :1], b - b[:, :1]  # SMPL rotates the body about its root joint
    torch.testing.assert_close(root_b, rotate_joints3d(root_a, rot), atol=1e-5, rtol=1e-5)


def test_sample_aug_params_distribution() -> None:
    rng = np.random.default_rng(0)
    draws = [sample_aug_params(rng) for _ in range(20000)]
    flips = np.array([d.flip for d in draws])
    rots = np.array([d.rot_deg for d in draws])
    scales = np.array([d.scale for d in draws])
    noise = np.array([d.pixel_noise for d in draws])
    assert abs(flips.mean() - 0.5) < 0.02
    assert abs((rots == 0).mean() - 0.6) < 0.02
    assert np.abs(rots).max() <= 60.0 and (np.abs(rots) == 60.0).any()  # clipped at 2 sigma
    nz = rots[rots != 0]
    # sd of N(0, 30) clipped at +-60: E[X^2] = P(|Z|<2) - 4 phi(2) + 4 P(|Z|>2) for a standard normal Z
    tail, phi2 = norm.sf(2.0), norm.pdf(2.0)
    assert abs(nz.std() - 30 * math.sqrt(1 - 2 * tail - 4 * phi2 + 4 * 2 * tail)) < 0.6
    assert scales.min() == 0.75 and scales.max() == 1.25 and abs(scales.mean() - 1.0) < 0.01
    assert noise.min() >= 0.6 and noise.max() <= 1.4 and abs(noise.mean() - 1.0) < 0.01
    a, b = sample_aug_params(np.random.default_rng(5)), sample_aug_params(np.random.default_rng(5))
    assert a == b


def test_image_ops() -> None:
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 14
    np.testing.assert_array_equal(flip_image(img)[:, 0], img[:, 2])
    noisy = apply_pixel_noise(img, (0.5, 1.0, 2.0))
    assert noisy.dtype == np.float32
    np.testing.assert_allclose(noisy[..., 0], img[..., 0] * 0.5)
    np.testing.assert_allclose(noisy[..., 2], np.minimum(img[..., 2] * 2.0, 255.0))
    assert AugParams() == AugParams(False, 0.0, 1.0, (1.0, 1.0, 1.0))
