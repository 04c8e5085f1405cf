"""Loss targets and mesh-derived predictions (mpt.engine.targets) against dense numpy products and hand formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mpt.body.joints import H36M_TO_J14
from mpt.engine.targets import VertexDownsampler, image_targets, mesh_predictions, synthesis_targets
from mpt.models.mesh_levels import MeshLevels


def random_levels(n: tuple[int, int, int], density: float) -> MeshLevels:
    """Random sparse levels n[0] -> n[1] -> n[2] (only the D matrices matter here)."""
    rng = np.random.default_rng(0)
    down = tuple(sp.random(n[i + 1], n[i], density=density, random_state=rng, format="csr") for i in range(2))
    up = tuple(sp.random(n[i], n[i + 1], density=density, random_state=rng, format="csr") for i in range(2))
    return MeshLevels(n, down, up, (None, None, None))


@pytest.fixture(scope="module")
def levels() -> MeshLevels:
    return random_levels((12, 5, 3), 0.5)


def test_vertex_downsampler_equals_the_dense_matrix_product(levels):
    v = torch.randn(4, 12, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mid, coarse = VertexDownsampler(levels)(v)
    d0, d1 = (d.toarray() for d in levels.down)
    want_mid = np.einsum("mv,bvc->bmc", d0, v.numpy())  # (4, 5, 3)
    want_coarse = np.einsum("cm,bmk->bck", d1, want_mid)  # (4, 3, 3)
    assert mid.dtype == torch.float64 and mid.shape == (4, 5, 3) and coarse.shape == (4, 3, 3)
    np.testing.assert_allclose(mid.numpy(), want_mid, rtol=1e-5, atol=1e-6)  # computed in float32
    np.testing.assert_allclose(coarse.numpy(), want_coarse, rtol=1e-5, atol=1e-6)


def test_synthesis_targets_label_every_sample(levels):
    syn = {"vertices": torch.randn(2, 12, 3), "joints3d": torch.randn(2, 14, 3), "joints2d": torch.randn(2, 14, 2)}
    t = synthesis_targets(syn, VertexDownsampler(levels))
    for key in ("has_3d", "has_smpl", "has_2d"):
        assert torch.equal(t[key], torch.ones(2)), key
    assert torch.equal(t["joints3d_conf"], torch.ones(2, 14)) and torch.equal(t["joints2d_conf"], torch.ones(2, 14))
    assert t["joints3d"] is syn["joints3d"] and t["joints2d"] is syn["joints2d"] and t["vertices"] is syn["vertices"]
    want_mid = np.einsum("mv,bvc->bmc", levels.down[0].toarray(), syn["vertices"].numpy())
    np.testing.assert_allclose(t["vertices_mid"].numpy(), want_mid, rtol=1e-5, atol=1e-6)


def test_image_targets_subtract_the_regressed_pelvis_of_the_smpl_mesh(demo_body, demo_assets):
    """METRO: the ground-truth mesh is SMPL(pose, betas) minus its own Human3.6M-regressed pelvis (regressor row 0)."""
    down = VertexDownsampler(random_levels((6890, 1723, 431), 1e-3))
    g = torch.Generator().manual_seed(3)
    b = 2
    batch = {"pose": 0.3 * torch.randn(b, 72, generator=g), "betas": torch.randn(b, 10, generator=g),
             "joints3d": torch.randn(b, 14, 4, generator=g), "joints2d": torch.randn(b, 14, 3, generator=g),
             "has_3d": torch.tensor([1, 0]), "has_smpl": torch.tensor([1, 0]), "has_2d": torch.tensor([1, 1])}  # fmt: skip
    t = image_targets(batch, demo_body, down)
    posed = demo_body(batch["pose"], batch["betas"]).vertices.numpy()  # the body model is tested against smplx
    regressor = np.load(demo_assets.h36m_regressor)  # (17, 6890), the file itself
    pelvis = np.einsum("v,bvc->bc", regressor[0], posed)
    np.testing.assert_allclose(t["vertices"].numpy(), posed - pelvis[:, None], atol=1e-5)
    assert np.abs(pelvis).max() > 0.05  # the demo body's pelvis is off the origin, so the subtraction is seen
    np.testing.assert_array_equal(t["joints3d"].numpy(), batch["joints3d"][..., :3].numpy())
    np.testing.assert_array_equal(t["joints3d_conf"].numpy(), batch["joints3d"][..., 3].numpy())
    np.testing.assert_array_equal(t["joints2d"].numpy(), batch["joints2d"][..., :2].numpy())
    np.testing.assert_array_equal(t["joints2d_conf"].numpy(), batch["joints2d"][..., 2].numpy())
    for key in ("has_3d", "has_smpl", "has_2d"):
        assert t[key].dtype == torch.float32 and t[key].tolist() == batch[key].float().tolist(), key
    assert t["vertices_mid"].shape == (b, 1723, 3) and t["vertices_coarse"].shape == (b, 431, 3)


def test_mesh_predictions_regress_and_project_the_mesh_joints(demo_body, demo_assets):
    g = torch.Generator().manual_seed(4)
    vertices = 0.3 * torch.randn(2, 6890, 3, generator=g)
    camera = torch.tensor([[0.8, 0.1, -0.2], [1.5, -0.3, 0.05]])
    pred = {"vertices": vertices.to(torch.bfloat16), "camera": camera, "mvm_mask": torch.zeros(2, 445, dtype=torch.bool)}
    out = mesh_predictions(pred, demo_body)
    assert "mvm_mask" not in out and out["vertices"].dtype == torch.float32  # float tensors only, as float32
    regressor = np.load(demo_assets.h36m_regressor)
    h36m = np.einsum("jv,bvc->bjc", regressor, pred["vertices"].float().numpy())
    want = h36m[:, list(H36M_TO_J14)]
    np.testing.assert_allclose(out["joints_from_mesh"].numpy(), want, atol=1e-5)
    s, t = camera[:, None, :1].numpy(), camera[:, None, 1:].numpy()
    np.testing.assert_allclose(out["joints_from_mesh_2d"].numpy(), s * (want[..., :2] + t), atol=1e-5)
