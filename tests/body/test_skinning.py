"""SmplSkinning against smplx.SMPL, the library it replaces in the hot path: same vertices, joints and gradients."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import smplx
import torch
from smplx.utils import Struct

import mpt.body.skinning as skinning
from mpt.body.skinning import SmplSkinning
from tests.body.smpl_fixtures import random_smpl_dict


@pytest.fixture(scope="module")
def data():
    return random_smpl_dict(3)


def smplx_layer(data: dict, dtype: torch.dtype = torch.float32) -> smplx.SMPL:
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning for SMPL's 10 betas
        layer = smplx.SMPL(model_path=".", data_struct=Struct(**data), num_betas=10, dtype=dtype)
    return layer


def random_inputs(n: int, seed: int, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(seed)
    pose = torch.randn(n, 72, generator=gen, dtype=dtype) * 0.5
    betas = torch.randn(n, 10, generator=gen, dtype=dtype)
    transl = torch.randn(n, 3, generator=gen, dtype=dtype)
    return pose, betas, transl


def test_matches_smplx_over_many_vertex_blocks(data):
    """Batch 300 on CPU runs in 12 vertex blocks; every block, transl included, equals smplx's forward."""
    pose, betas, transl = random_inputs(300, 0)
    ref = smplx_layer(data)(betas=betas, global_orient=pose[:, :3], body_pose=pose[:, 3:], transl=transl)
    verts, joints = SmplSkinning(data)(pose, betas, transl)
    assert verts.shape == (300, 6890, 3) and joints.shape == (300, 24, 3)
    torch.testing.assert_close(verts, ref.vertices, atol=2e-5, rtol=0)
    torch.testing.assert_close(joints, ref.joints[:, :24], atol=2e-5, rtol=0)


def test_block_size_does_not_change_the_result(data, monkeypatch):
    pose, betas, transl = random_inputs(40, 1)
    layer = SmplSkinning(data)
    blocked, _ = layer(pose, betas, transl)
    monkeypatch.setattr(skinning, "_CPU_BLOCK_ELEMENTS", 1 << 40)  # one block, as on CUDA
    whole, _ = layer(pose, betas, transl)
    torch.testing.assert_close(blocked, whole, atol=1e-6, rtol=0)


def test_float64_and_gradients_match_smplx(data):
    # smplx rounds the model's arrays to float32 before any dtype; give ours the same values to compare in float64
    rounded = {k: v.astype(np.float32) if k in ("v_template", "shapedirs", "posedirs", "weights", "J_regressor")
               else v for k, v in data.items()}  # fmt: skip
    pose, betas, transl = random_inputs(3, 2, torch.float64)
    ours = SmplSkinning(rounded, dtype=torch.float64)
    ref_layer = smplx_layer(data, torch.float64)
    p1, p2 = pose.clone().requires_grad_(), pose.clone().requires_grad_()
    b1, b2 = betas.clone().requires_grad_(), betas.clone().requires_grad_()
    weights = torch.randn(3, 6890, 3, dtype=torch.float64)  # a generic loss: sum(weights * vertices)
    verts, _ = ours(p1, b1, transl)
    ref = ref_layer(betas=b2, global_orient=p2[:, :3], body_pose=p2[:, 3:], transl=transl).vertices
    assert verts.dtype == torch.float64
    torch.testing.assert_close(verts, ref, atol=1e-10, rtol=0)
    (weights * verts).sum().backward()
    (weights * ref).sum().backward()
    torch.testing.assert_close(p1.grad, p2.grad, atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(b1.grad, b2.grad, atol=1e-8, rtol=1e-8)


def test_faces_template_and_parents_come_from_the_file(data):
    layer = SmplSkinning(data)
    back = layer.model_arrays()
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        np.testing.assert_allclose(back[key], data[key][..., : back[key].shape[-1]], atol=1e-6, err_msg=key)
    np.testing.assert_allclose(back["J_regressor"], data["J_regressor"].toarray(), atol=1e-6)
    np.testing.assert_array_equal(back["kintree_table"][0, 1:], data["kintree_table"][0, 1:])
    np.testing.assert_array_equal(layer.faces.numpy(), data["f"].astype(np.int64))
    np.testing.assert_allclose(layer.v_template.numpy(), data["v_template"], atol=1e-6)
    assert layer.parents[0] == -1 and layer.parents[1:].tolist() == data["kintree_table"][0, 1:].tolist()
    with pytest.raises(ValueError, match="num_betas=16"):
        SmplSkinning(data, num_betas=16)


def test_the_kinematic_loop_reads_parents_from_the_host(data, monkeypatch):
    """smplx's loop over the 23 joints indexes a Python list with ``parents[i]``: each index must be a host int, not
    a scalar read back from the model's device (on a GPU, 23 waits per forward). Same vertices as smplx."""
    seen = []
    real = skinning.batch_rigid_transform

    def spy(rot, joints, parents, dtype=torch.float32):
        seen.extend(type(parents[i]) for i in range(1, parents.shape[0]))
        assert torch.is_tensor(parents[1:])  # the gather of parent joints stays one tensor op on the device
        return real(rot, joints, parents, dtype=dtype)

    monkeypatch.setattr(skinning, "batch_rigid_transform", spy)
    pose, betas, transl = random_inputs(4, 1)
    verts, _ = SmplSkinning(data)(pose, betas, transl)
    assert seen == [int] * 23
    ref = smplx_layer(data)(body_pose=pose[:, 3:], global_orient=pose[:, :3], betas=betas, transl=transl).vertices
    torch.testing.assert_close(verts, ref, rtol=0, atol=1e-5)
