"""METRO's loss terms (mpt.losses) against values computed by hand on small tensors.

References: microsoft/MeshTransformer metro/tools/run_metro_bodymesh.py (``keypoint_3d_loss`` centres both skeletons
on the hip midpoint and weights squared errors by confidence; ``vertices_loss`` is L1 on samples with SMPL;
``keypoint_2d_loss`` is a confidence-weighted squared error; the vertex loss sums the three resolutions with
``vloss_w_sub2`` / ``vloss_w_sub`` / ``vloss_w_full``). Every expected number below is written out by hand.
"""

from __future__ import annotations

import pytest
import torch

from mpt.losses import LossWeights, joints2d_loss, joints3d_loss, mesh_losses, vertices_loss

J14 = 14
R_HIP, L_HIP = 2, 3  # J14 order (METRO H36M_J17_TO_J14): R_Ankle, R_Knee, R_Hip, L_Hip, ...


def test_joints3d_error_is_taken_after_hip_midpoint_centring():
    gt = torch.zeros(3, J14, 3)
    pred = torch.zeros(3, J14, 3)
    pred[0] += torch.tensor([5.0, -2.0, 7.0])  # a translated skeleton: no error once both are centred
    pred[1, R_HIP, 0] = 2.0  # moving the right hip moves the midpoint by (1, 0, 0): every joint is 1 off in x
    pred[2, 0, 0] = 1.0  # one joint 1 off in x, the hips untouched: 1 / (14 * 3)
    ones = torch.ones(3)
    per_sample = [joints3d_loss(pred[i : i + 1], gt[i : i + 1], torch.ones(1, J14), ones[:1]).item()
                  for i in range(3)]  # fmt: skip
    assert per_sample == pytest.approx([0.0, 14 / 42, 1 / 42], abs=1e-7)
    # the batch value is the mean over the samples that have 3D joints
    assert joints3d_loss(pred, gt, torch.ones(3, J14), ones).item() == pytest.approx((14 / 42 + 1 / 42) / 3)


def test_joints3d_confidence_weights_each_joint():
    gt = torch.zeros(1, J14, 3)
    pred = torch.zeros(1, J14, 3)
    pred[0, 0] = torch.tensor([1.0, 0.0, 0.0])  # squared error 1 on joint 0
    pred[0, 12] = torch.tensor([0.0, 3.0, 0.0])  # squared error 9 on joint 12
    conf = torch.ones(1, J14)
    conf[0, 0], conf[0, 12] = 0.5, 0.0  # an unlabelled joint (confidence 0) costs nothing
    assert joints3d_loss(pred, gt, conf, torch.ones(1)).item() == pytest.approx(0.5 / 42)


def test_vertices_loss_is_masked_l1():
    gt = torch.zeros(3, 4, 3)
    pred = torch.zeros(3, 4, 3)
    pred[0, 0] = torch.tensor([1.0, -2.0, 0.0])  # |1| + |-2| = 3 over 12 values
    pred[1] = -0.5  # 0.5 everywhere
    pred[2] = 100.0  # no SMPL for this sample: ignored
    has_smpl = torch.tensor([1.0, 1.0, 0.0])
    assert vertices_loss(pred, gt, has_smpl).item() == pytest.approx((3 / 12 + 0.5) / 2)


def test_joints2d_loss_weights_confidence_and_masks_samples():
    gt = torch.zeros(2, J14, 2)
    pred = torch.zeros(2, J14, 2)
    pred[0, 5] = torch.tensor([0.3, 0.4])  # squared error 0.09 + 0.16 = 0.25
    pred[0, 6] = torch.tensor([1.0, 1.0])  # confidence 0: not counted
    pred[1] = 9.0  # has_2d = 0: not counted
    conf = torch.ones(2, J14)
    conf[0, 6] = 0.0
    conf[0, 5] = 2.0
    got = joints2d_loss(pred, gt, conf, torch.tensor([1.0, 0.0])).item()
    assert got == pytest.approx(2.0 * 0.25 / (J14 * 2))


def _targets(b: int, sizes: tuple[int, int, int]) -> dict[str, torch.Tensor]:
    n_coarse, n_mid, n_full = sizes
    return {"joints3d": torch.zeros(b, J14, 3), "joints3d_conf": torch.ones(b, J14),
            "vertices_coarse": torch.zeros(b, n_coarse, 3), "vertices_mid": torch.zeros(b, n_mid, 3),
            "vertices": torch.zeros(b, n_full, 3), "joints2d": torch.zeros(b, J14, 2),
            "joints2d_conf": torch.ones(b, J14), "has_3d": torch.ones(b), "has_smpl": torch.ones(b),
            "has_2d": torch.ones(b)}  # fmt: skip


def _predictions(b: int, sizes: tuple[int, int, int], requires_grad: bool = False) -> dict[str, torch.Tensor]:
    n_coarse, n_mid, n_full = sizes
    shapes = {"joints": (J14, 3), "joints_from_mesh": (J14, 3), "vertices_coarse": (n_coarse, 3),
              "vertices_mid": (n_mid, 3), "vertices": (n_full, 3), "joints_2d": (J14, 2),
              "joints_from_mesh_2d": (J14, 2)}  # fmt: skip
    return {k: torch.zeros(b, *s, requires_grad=requires_grad) for k, s in shapes.items()}


SIZES = (3, 5, 8)  # stand-ins for 431, 1723, 6890


def test_vertex_levels_weight_coarse_mid_and_full_in_that_order():
    pred, target = _predictions(1, SIZES), _targets(1, SIZES)
    pred["vertices_coarse"] += 1.0  # L1 error 1 at the coarse level
    pred["vertices_mid"] += 2.0
    pred["vertices"] += 3.0
    weights = LossWeights(joints3d=0.0, vertices=1.0, joints2d=0.0, vertex_levels=(1.0, 10.0, 100.0))
    out = mesh_losses(pred, target, weights)
    assert out["loss_vertices"].item() == pytest.approx(1 * 1 + 10 * 2 + 100 * 3)
    assert out["loss"].item() == pytest.approx(321.0)


def test_total_is_the_weighted_sum_and_both_joint_sets_count():
    pred, target = _predictions(1, SIZES), _targets(1, SIZES)
    pred["joints"][0, 0, 0] = 1.0  # 1/42
    pred["joints_from_mesh"][0, 1, 1] = 2.0  # 4/42: the mesh-regressed joints have their own term
    pred["joints_2d"][0, 0] = torch.tensor([1.0, 0.0])  # 1/28
    pred["joints_from_mesh_2d"][0, 0] = torch.tensor([0.0, 1.0])  # 1/28
    pred["vertices"] += 0.5
    out = mesh_losses(pred, target, LossWeights(joints3d=1000.0, vertices=100.0, joints2d=10.0,
                                                vertex_levels=(0.33, 0.33, 0.33)))  # fmt: skip
    assert out["loss_joints3d"].item() == pytest.approx(5 / 42)
    assert out["loss_joints2d"].item() == pytest.approx(2 / 28)
    assert out["loss_vertices"].item() == pytest.approx(0.33 * 0.5)
    assert out["loss"].item() == pytest.approx(1000 * 5 / 42 + 100 * 0.33 * 0.5 + 10 * 2 / 28)


def test_a_2d_only_row_adds_nothing_to_the_3d_and_vertex_terms():
    """A COCO row (2D joints only) next to a fully labelled row: its 3D and mesh values do not matter at all."""
    pred, target = _predictions(2, SIZES), _targets(2, SIZES)
    target["has_3d"][1] = target["has_smpl"][1] = 0.0
    pred["joints"][0, 0, 0] = 1.0
    pred["vertices"][0] += 0.25
    pred["joints_2d"][1, 0, 0] = 1.0  # the COCO row does have a 2D error
    weights = LossWeights()
    base = mesh_losses(pred, target, weights)
    for key in ("joints", "joints_from_mesh", "vertices_coarse", "vertices_mid", "vertices"):
        pred[key][1] = 1e3 * torch.randn_like(pred[key][1])  # whatever the model says for the COCO row in 3D
    for key in ("joints3d", "vertices_coarse", "vertices_mid", "vertices"):
        target[key][1] = 1e3 * torch.randn_like(target[key][1])  # and whatever its (absent) 3D labels hold
    changed = mesh_losses(pred, target, weights)
    for key in ("loss_joints3d", "loss_vertices", "loss_joints2d", "loss"):
        assert changed[key].item() == base[key].item(), key
    # the 3D terms are means over the one labelled row; the 2D term over both rows
    assert base["loss_joints3d"].item() == pytest.approx(1 / 42)
    assert base["loss_vertices"].item() == pytest.approx(0.33 * 0.25)
    assert base["loss_joints2d"].item() == pytest.approx((0 + 1 / 28) / 2)


def test_a_batch_without_3d_labels_gives_exact_zeros_with_a_graph():
    pred, target = _predictions(2, SIZES, requires_grad=True), _targets(2, SIZES)
    target["has_3d"].zero_()
    target["has_smpl"].zero_()
    with torch.no_grad():
        for key in ("joints", "vertices"):
            pred[key] += 1.0  # large 3D errors that must not count
    out = mesh_losses(pred, target, LossWeights())
    assert out["loss_joints3d"].item() == 0.0 and out["loss_vertices"].item() == 0.0
    assert out["loss_joints3d"].requires_grad and out["loss_vertices"].requires_grad
    out["loss"].backward()  # the zero terms take part in backward without NaNs
    for key in ("joints", "joints_from_mesh", "vertices_coarse", "vertices_mid", "vertices"):
        assert torch.equal(pred[key].grad, torch.zeros_like(pred[key])), key
