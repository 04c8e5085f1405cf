"""SMPL forward against linear blend skinning written out in numpy; joint sets and their orders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt.body import BodyModel, RegressorFileError, h36m_to_j14
from mpt.body.joints import (
    COCO_KEYPOINT_NAMES,
    H36M_JOINT_NAMES,
    J14_JOINT_NAMES,
    SMPL_PARENTS,
)
from mpt.body.smpl_file import save_smpl_pickle
from tests.body.smpl_fixtures import random_smpl_dict


def numpy_lbs(data: dict, pose: np.ndarray, betas: np.ndarray, vertex_ids: np.ndarray) -> np.ndarray:
    """SMPL (Loper et al. 2015, eq. 1-4) for one body, evaluated for the given vertices only."""
    v_shaped = data["v_template"] + data["shapedirs"][:, :, :10] @ betas  # (6890, 3)
    joints = data["J_regressor"].toarray() @ v_shaped  # (24, 3)
    rots = Rotation.from_rotvec(pose.reshape(24, 3)).as_matrix()
    pose_feature = (rots[1:] - np.eye(3)).reshape(-1)  # (207,)
    v_posed = v_shaped + data["posedirs"] @ pose_feature
    world = np.zeros((24, 4, 4))
    for j in range(24):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        parent = SMPL_PARENTS[j]
        local[:3, 3] = joints[j] - (joints[parent] if parent >= 0 else 0)
        world[j] = local if parent < 0 else world[parent] @ local
    skin = world.copy()
    skin[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], joints)  # transforms relative to rest joints
    out = []
    for v in vertex_ids:
        t = np.einsum("j,jab->ab", data["weights"][v], skin)
        out.append(t[:3, :3] @ v_posed[v] + t[:3, 3])
    return np.array(out)


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("smpl")
    for seed, g in enumerate(("NEUTRAL", "MALE", "FEMALE")):
        save_smpl_pickle(random_smpl_dict(seed), root / f"SMPL_{g}.pkl")
    reg = np.random.default_rng(5).random((17, 6890)) * (np.random.default_rng(6).random((17, 6890)) > 0.999)
    reg[:, 0] += 1e-3
    np.save(root / "J_regressor_h36m_correct.npy", reg / reg.sum(axis=1, keepdims=True))
    return root


def test_forward_matches_numpy_lbs(smpl_dir):
    body = BodyModel(smpl_dir, smpl_dir / "J_regressor_h36m_correct.npy")
    rng = np.random.default_rng(0)
    pose = rng.normal(scale=0.4, size=(3, 72))
    betas = rng.normal(size=(3, 10))
    out = body(torch.tensor(pose, dtype=torch.float32), torch.tensor(betas, dtype=torch.float32))
    assert out.vertices.shape == (3, 6890, 3) and out.joints.shape == (3, 24, 3)
    data = random_smpl_dict(0)
    ids = np.array([0, 17, 1234, 3500, 6889])
    for b in range(3):
        expected = numpy_lbs(data, pose[b], betas[b], ids)
        np.testing.assert_allclose(out.vertices[b, ids].numpy(), expected, atol=2e-5)


def test_mixed_gender_batch_equals_per_gender(smpl_dir):
    body = BodyModel(smpl_dir, genders=("neutral", "male", "female"))
    torch.manual_seed(0)
    pose, betas = 0.3 * torch.randn(5, 72), torch.randn(5, 10)
    gender = torch.tensor([2, 0, 1, 1, 2])
    mixed = body(pose, betas, gender=gender)
    for code, g in enumerate(("neutral", "male", "female")):
        single = BodyModel(smpl_dir, genders=(g,))
        sel = gender == code
        torch.testing.assert_close(mixed.vertices[sel], single(pose[sel], betas[sel]).vertices)
    shifted = body(pose, betas, gender=gender, transl=torch.ones(5, 3))
    torch.testing.assert_close(shifted.joints, mixed.joints + 1)


def test_joint_sets_and_orders(smpl_dir):
    body = BodyModel(smpl_dir, smpl_dir / "J_regressor_h36m_correct.npy")
    out = body(0.2 * torch.randn(2, 72))
    reg = np.load(smpl_dir / "J_regressor_h36m_correct.npy")
    h36m = body.h36m_joints(out.vertices)
    assert h36m.shape == (2, 17, 3)
    np.testing.assert_allclose(h36m[1].numpy(), reg @ out.vertices[1].double().numpy(), atol=1e-5)
    j14 = body.j14(out.vertices)
    assert j14.shape == (2, 14, 3)
    # METRO's J14: R_Ankle, R_Knee, R_Hip, L_Hip, L_Knee, L_Ankle, R_Wrist, R_Elbow, R_Shoulder, L_Shoulder,
    # L_Elbow, L_Wrist, Neck, Head.
    names = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
             "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head"]  # fmt: skip
    assert list(J14_JOINT_NAMES) == names
    for k, name in enumerate(names):
        torch.testing.assert_close(j14[:, k], h36m[:, H36M_JOINT_NAMES.index(name)])
    torch.testing.assert_close(h36m_to_j14(h36m), j14)
    coco = body.coco_keypoints(out.vertices, out.joints)
    assert coco.shape == (2, 17, 3)
    smplx_face_ids = {"nose": 332, "right_eye": 6260, "left_eye": 2800, "right_ear": 4071, "left_ear": 583}
    smpl_joint = {"left_shoulder": 16, "right_shoulder": 17, "left_elbow": 18, "right_elbow": 19, "left_wrist": 20,
                  "right_wrist": 21, "left_hip": 1, "right_hip": 2, "left_knee": 4, "right_knee": 5,
                  "left_ankle": 7, "right_ankle": 8}  # fmt: skip
    for k, name in enumerate(COCO_KEYPOINT_NAMES):
        want = out.vertices[:, smplx_face_ids[name]] if name in smplx_face_ids else out.joints[:, smpl_joint[name]]
        torch.testing.assert_close(coco[:, k], want)


def test_bad_inputs(smpl_dir, tmp_path):
    body = BodyModel(smpl_dir)
    with pytest.raises(ValueError, match=r"\(B, 72\)"):
        body(torch.zeros(2, 69))
    with pytest.raises(RuntimeError, match="h36m_regressor"):
        body.h36m_joints(torch.zeros(1, 6890, 3))
    np.save(tmp_path / "reg.npy", np.ones((6890, 17)) / 6890)
    with pytest.raises(RegressorFileError, match=r"reg.npy.*shape \(6890, 17\)"):
        BodyModel(smpl_dir, tmp_path / "reg.npy")
    np.save(tmp_path / "reg2.npy", np.ones((17, 6890)))
    with pytest.raises(RegressorFileError, match="sum to"):
        BodyModel(smpl_dir, tmp_path / "reg2.npy")


def test_demo_assets_load_through_the_real_loaders(demo_assets):
    """The generated stand-ins take the path real files take: find + chumpy-free load + smplx + regressor file."""
    from mpt.body import find_smpl_file, load_joint_regressor, load_smpl_file

    for gender in ("neutral", "male", "female"):
        path = find_smpl_file(demo_assets.smpl_dir.parent, gender)  # smplx layout: <root>/smpl/SMPL_*.pkl
        assert path.name == f"SMPL_{gender.upper()}.pkl"
        assert load_smpl_file(path)["v_template"].shape == (6890, 3)
    assert load_joint_regressor(demo_assets.h36m_regressor, 17).shape == (17, 6890)
    body = BodyModel(demo_assets.smpl_dir, demo_assets.h36m_regressor, genders=("neutral", "male", "female"))
    out = body(torch.zeros(3, 72), gender=torch.tensor([0, 1, 2]))
    heights = out.vertices[:, :, 1].amax(1) - out.vertices[:, :, 1].amin(1)
    assert torch.all((heights > 1.5) & (heights < 1.9))  # human-sized, in metres
    assert heights[1] > heights[2]  # the male variant is taller than the female one
    h36m = body.h36m_joints(out.vertices)
    assert torch.all(h36m[:, 10, 1] > h36m[:, 0, 1])  # head above pelvis (y up in SMPL's frame)
