"""The batched synthesis pipeline on a demo body: targets checked with the test's own camera math."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mpt.body.joints import H36M_TO_J14
from mpt.geometry import capture_volume_center, h36m_s1_cameras, virtual_cameras
from mpt.synthesis import SynthesisOptions, Synthesizer
from tests.synthesis.reference import synthesize_reference_numpy
from tests.synthesis.test_masks import fillpoly_reference, iou

B = 6


def cache_batch(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A hand-made motion-cache batch: upright bodies (SMPL y-up turned z-up), mild poses, anywhere on the floor."""
    rng = np.random.default_rng(seed)
    pose = rng.normal(scale=0.2, size=(n, 72))
    angles = np.stack([rng.uniform(-np.pi, np.pi, n), np.full(n, np.pi / 2)], axis=1)  # heading, then stand up
    pose[:, :3] = Rotation.from_euler("zx", angles).as_rotvec()
    pose[:, 66:] = 0.0  # SMPL hand joints are zero in the cache
    trans = np.stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-1.5, 1.5, n), rng.uniform(0.8, 1.0, n)], axis=1)
    return {
        "pose": torch.tensor(pose, dtype=torch.float32),
        "betas": torch.tensor(rng.normal(scale=0.5, size=(n, 10)), dtype=torch.float32),
        "trans": torch.tensor(trans, dtype=torch.float32),
        "gender": torch.zeros(n, dtype=torch.long),
    }


@pytest.fixture(scope="module")
def regressor(demo_assets) -> np.ndarray:
    return np.load(demo_assets.h36m_regressor).astype(np.float64)  # (17, 6890)


@pytest.fixture(scope="module")
def cams():
    return virtual_cameras(8, dtype=torch.float64)


def pinhole(P: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) -> pixels (N, 2): u = fx X / Z + cx, v = fy Y / Z + cy."""
    return np.stack([K[0, 0] * P[:, 0] / P[:, 2] + K[0, 2], K[1, 1] * P[:, 1] / P[:, 2] + K[1, 2]], axis=1)


def to_crop(p: np.ndarray, center: np.ndarray, size: float) -> np.ndarray:
    """Camera pixels -> [-1, 1] of the square box (its edges at center +- size / 2)."""
    return 2.0 * (p - center) / size


def test_outputs_and_2d_targets_reproject_3d_targets(demo_body, cams, regressor) -> None:
    synth = Synthesizer(demo_body, virtual_cameras(8), SynthesisOptions(size=56, sigma=2.0))
    out = synth(cache_batch(B), None, train=False)
    shapes = {"inputs": (B, 17, 56, 56), "joints3d": (B, 14, 3), "vertices": (B, 6890, 3), "joints2d": (B, 14, 2),
              "keypoints2d": (B, 17, 2), "visible": (B, 17), "camera_idx": (B,)}  # fmt: skip
    for key, shape in shapes.items():
        assert tuple(out[key].shape) == shape, key
    assert out["inputs"].dtype == torch.float32 and out["visible"].dtype == torch.bool
    assert out["camera_idx"].tolist() == [i % 8 for i in range(B)]  # eval: camera i % n
    assert out["kept"].all()  # no masked heatmap modeling at eval
    for b in range(B):
        c = int(out["camera_idx"][b])
        K = cams.K[c].numpy()
        pelvis = out["pelvis"][b].double().numpy()
        X = out["joints3d"][b].double().numpy() + pelvis  # camera frame, metres
        V = out["vertices"][b].double().numpy() + pelvis
        pv = pinhole(V, K)
        lo, hi = pv.min(0), pv.max(0)
        center, size = (lo + hi) / 2, 1.0 * (hi - lo).max()  # eval: no jitter; default crop = the silhouette box
        np.testing.assert_allclose(out["box_center"][b].numpy(), center, rtol=1e-5)
        np.testing.assert_allclose(float(out["box_size"][b]), size, rtol=1e-5)
        np.testing.assert_allclose(out["joints2d"][b].numpy(), to_crop(pinhole(X, K), center, size), atol=2e-5)
        # pelvis-centred 3D targets, consistent with the vertices through the regressor
        h36m = regressor @ V
        np.testing.assert_allclose(h36m[0], pelvis, atol=1e-5)
        np.testing.assert_allclose(out["joints3d"][b].numpy(), (h36m - h36m[0])[list(H36M_TO_J14)], atol=1e-5)
        assert np.abs(to_crop(pv, center, size)).max() <= 1 + 1e-5  # the body fills the crop edge to edge


def test_placement_heading_and_distorted_projection(demo_body, cams) -> None:
    options = SynthesisOptions(size=56, sigma=2.0, distortion=True, random_heading=True, crop_scale=1.2)
    synth = Synthesizer(demo_body, virtual_cameras(8), options)
    batch = cache_batch(B, seed=1)
    out = synth(batch, torch.Generator().manual_seed(0), train=True)
    posed = demo_body(batch["pose"], batch["betas"], transl=batch["trans"])
    centre = capture_volume_center(h36m_s1_cameras(torch.float64)).numpy()
    headings = []
    for b in range(B):
        c = int(out["camera_idx"][b])
        R, t, K, dist = (x[c].numpy() for x in (cams.R, cams.t, cams.K, cams.dist))
        pelvis = out["pelvis"][b].double().numpy()
        V = out["vertices"][b].double().numpy() + pelvis
        world = (V - t) @ R  # camera -> world: R^T (X - t)
        v0 = posed.vertices[b].double().numpy()
        rot, _ = Rotation.align_vectors(world - world.mean(0), v0 - v0.mean(0))
        m = rot.as_matrix()
        np.testing.assert_allclose(m[2], [0, 0, 1], atol=1e-4)  # turned about the vertical only
        root0 = posed.joints[b, 0].double().numpy()
        root = m @ (root0 - v0.mean(0)) + world.mean(0)
        # the pelvis moved to the capture-volume centre, its height kept
        np.testing.assert_allclose(root, [centre[0], centre[1], root0[2]], atol=1e-4)
        headings.append(rot.as_euler("xyz")[2])
        # distorted projection with OpenCV itself, then the crop
        X = out["joints3d"][b].double().numpy() + pelvis
        px = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K, dist)[0].reshape(-1, 2)
        expected = to_crop(px, out["box_center"][b].double().numpy(), float(out["box_size"][b]))
        np.testing.assert_allclose(out["joints2d"][b].numpy(), expected, atol=5e-5)
        # training jitter stays within the configured ranges
        pv = cv2.projectPoints(V, np.zeros(3), np.zeros(3), K, dist)[0].reshape(-1, 2)
        lo, hi = pv.min(0), pv.max(0)
        size0 = 1.2 * (hi - lo).max()
        assert 0.9 - 1e-5 <= float(out["box_size"][b]) / size0 <= 1.1 + 1e-5
        assert np.abs(out["box_center"][b].numpy() - (lo + hi) / 2).max() <= 0.05 * size0 + 1e-3
    assert np.ptp(np.unwrap(headings)) > 0.5  # random headings differ between samples


def test_native_orientation_opposite_cameras_swap_left_and_right(demo_body) -> None:
    """Without random heading a body keeps its AMASS orientation: camera 0 (54138969) and camera 3 (60457274)
    film it from opposite sides, so its shoulders appear in swapped left/right order, as each camera's x axis
    (row 0 of its world->camera rotation) dotted with the world shoulder line says."""
    synth = Synthesizer(demo_body, virtual_cameras(4), SynthesisOptions(size=56, sigma=2.0))
    assert synth.options.random_heading is False
    n = 24
    batch = cache_batch(n, seed=8)  # random AMASS headings, mild poses
    params = synth.sample_params(n, torch.Generator().manual_seed(0), train=True)
    assert (params.heading == 0).all()
    posed = demo_body(batch["pose"], batch["betas"], transl=batch["trans"])
    shoulders = posed.joints[:, 16] - posed.joints[:, 17]  # SMPL left - right shoulder, AMASS world (z up)
    cams = h36m_s1_cameras(torch.float64)
    order = {}
    for c in (0, 3):
        out = synth(batch, None, train=True, camera_idx=torch.full((n,), c))
        kp = out["keypoints2d"]  # COCO 5 = left shoulder, 6 = right shoulder
        order[c] = torch.sign(kp[:, 5, 0] - kp[:, 6, 0])
        expected = torch.sign(shoulders.double() @ cams.R[c][0])  # image x of left minus right
        side_on = (shoulders.double() @ cams.R[c][0]).abs() < 0.05  # shoulder line nearly along the view ray
        assert torch.equal(order[c][~side_on], expected[~side_on].float())
    facing = (order[0] != 0) & (order[3] != 0)
    assert facing.sum() >= n // 2 and (order[0][facing] == -order[3][facing]).float().mean() > 0.9


def test_batched_maps_equal_per_sample_numpy_reference(demo_body) -> None:
    synth = Synthesizer(demo_body, virtual_cameras(8), SynthesisOptions(size=112, sigma=4.0, mask_joint_ratio=0.3))
    batch = cache_batch(B, seed=2)
    verts, joints = synth.pose_bodies(batch)
    params = synth.sample_params(B, torch.Generator().manual_seed(5), train=True)
    out = synth.render(verts, joints, params)
    ref = synthesize_reference_numpy(synth, params, verts, joints)
    assert ref.shape == (B, 17, 112, 112)
    assert np.abs(out["inputs"].numpy() - ref).max() < 1e-4
    # the same through the reference's own per-sample SMPL forward (smplx's layer, not mpt.body's skinning)
    two = {k: v[:2] for k, v in batch.items()}
    params2 = synth.sample_params(2, torch.Generator().manual_seed(5), train=True)
    ref2 = synthesize_reference_numpy(synth, params2, batch=two)
    assert np.abs(synth.render(verts[:2], joints[:2], params2)["inputs"].numpy() - ref2).max() < 1e-4


def test_maps_drawn_into_a_reused_buffer(demo_body) -> None:
    for kind in ("heatmap", "mask"):
        synth = Synthesizer(demo_body, virtual_cameras(8), SynthesisOptions(kind=kind, size=56, sigma=2.0))
        params = synth.sample_params(B, torch.Generator().manual_seed(4), train=True)
        verts, joints = synth.pose_bodies(cache_batch(B, seed=4))
        fresh = synth.render(verts, joints, params)["inputs"]
        buffer = torch.full((B, synth.options.channels, 56, 56), float("nan"))
        got = synth.render(verts, joints, params, out=buffer)["inputs"]
        assert got.data_ptr() == buffer.data_ptr()
        torch.testing.assert_close(got, fresh, atol=0, rtol=0)
        with pytest.raises(ValueError, match=r"out must be a float32 \(6, "):
            synth.render(verts, joints, params, out=torch.empty(B + 1, synth.options.channels, 56, 56))


def test_masked_heatmap_modeling_and_peaks(demo_body) -> None:
    options = SynthesisOptions(size=56, sigma=2.0, mask_joint_ratio=0.1, mask_joint_count="exact")
    synth = Synthesizer(demo_body, virtual_cameras(4), options)
    batch = cache_batch(B, seed=3)
    gen = torch.Generator().manual_seed(1)
    train = synth(batch, gen, train=True)
    assert ((~train["kept"]).sum(dim=1) == 2).all()  # round(0.1 * 17)
    peak = train["inputs"].flatten(2).amax(dim=-1)  # (B, 17)
    assert (peak[~train["kept"]] == 0).all()
    assert torch.equal(peak > 0, train["visible"] & train["kept"])
    ev = synth(batch, None, train=False)
    assert torch.equal(ev["inputs"].flatten(2).amax(dim=-1) > 0, ev["visible"])
    # argmax of each drawn map = its keypoint, mapped from [-1, 1] of the crop to the 56 map
    flat = ev["inputs"].flatten(2).argmax(dim=-1)
    arg = torch.stack((flat % 56, flat // 56), dim=-1).float()
    kp = ((ev["keypoints2d"] + 1) * 56 - 1) / 2
    vis = ev["visible"]
    assert vis.float().mean() > 0.9
    assert (arg[vis] - kp[vis]).abs().max() <= 0.5 + 1e-3
    in_crop = (ev["keypoints2d"].abs() < 1).all(dim=-1)
    assert torch.equal(vis, in_crop)  # nothing is behind a camera or outside its image here


def test_camera_choice(demo_body) -> None:
    synth = Synthesizer(demo_body, virtual_cameras(8), SynthesisOptions(size=56, sigma=2.0))
    drawn = synth.sample_params(400, torch.Generator().manual_seed(0), train=True).camera_idx
    counts = torch.bincount(drawn, minlength=8)
    assert counts.numel() == 8 and counts.min() > 25  # uniform over the 8 views (expected 50 each)
    out = synth(cache_batch(3), None, train=True, camera_idx=torch.tensor([7, 7, 2]))
    assert out["camera_idx"].tolist() == [7, 7, 2]
    with pytest.raises(ValueError, match="camera_idx"):
        synth.sample_params(2, None, True, camera_idx=torch.tensor([0, 8]))


def test_mask_input_matches_fillpoly(demo_body, cams) -> None:
    size = 112
    synth = Synthesizer(demo_body, virtual_cameras(8), kind="mask", size=size, crop_scale=1.2)  # a margin of pixels
    out = synth(cache_batch(2, seed=4), None, train=False)
    assert out["inputs"].shape == (2, 1, size, size)
    assert set(torch.unique(out["inputs"]).tolist()) == {0.0, 1.0}
    for b in range(2):
        c = int(out["camera_idx"][b])
        K = cams.K[c].numpy()
        V = out["vertices"][b].double().numpy() + out["pelvis"][b].double().numpy()
        pv = pinhole(V, K)
        m = (pv - out["box_center"][b].double().numpy()) / float(out["box_size"][b]) * size + (size - 1) / 2
        ref = fillpoly_reference(m, demo_body.faces.numpy(), size)
        ours = out["inputs"][b, 0].numpy() > 0.5
        assert iou(ours, ref) > 0.95
        pix = np.floor(m + 0.5).astype(int)
        assert ours[pix[:, 1], pix[:, 0]].all()  # every projected vertex is covered


def test_bad_batches_are_rejected(demo_body) -> None:
    synth = Synthesizer(demo_body, virtual_cameras(1), SynthesisOptions(size=56, sigma=2.0))
    batch = cache_batch(2)
    with pytest.raises(KeyError, match="pose"):
        synth({k: v for k, v in batch.items() if k != "pose"}, None, train=False)
    bad = dict(batch, trans=batch["trans"].clone())
    bad["trans"][1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"trans.*samples \[1\]"):
        synth(bad, None, train=False)
    with pytest.raises(ValueError, match="pose"):
        synth(dict(batch, pose=batch["pose"][:, :69]), None, train=False)
    with pytest.raises(ValueError, match="kind"):
        SynthesisOptions(kind="depth")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(demo_body) -> None:
    batch = cache_batch(B, seed=6)
    cpu = Synthesizer(demo_body, virtual_cameras(8), SynthesisOptions(size=56, sigma=2.0))
    params = cpu.sample_params(B, torch.Generator().manual_seed(2), train=True)
    verts, joints = cpu.pose_bodies(batch)
    expected = cpu.render(verts, joints, params)
    demo_body.to("cuda")
    try:
        gpu = Synthesizer(demo_body, virtual_cameras(8), SynthesisOptions(size=56, sigma=2.0))
        got = gpu.render(verts.cuda(), joints.cuda(), params.to("cuda"))
        assert got["inputs"].device.type == "cuda"
        for key in ("inputs", "joints3d", "joints2d", "vertices"):
            assert torch.allclose(got[key].cpu(), expected[key], atol=1e-4), key
        out = gpu(batch, torch.Generator(device="cuda").manual_seed(0), train=True)  # draws on the GPU generator
        assert out["inputs"].is_cuda and out["inputs"].dtype == torch.float32
    finally:
        demo_body.to("cpu")


def test_options_from_config_and_gendered_bodies(demo_assets) -> None:
    from omegaconf import OmegaConf

    from mpt.body import BodyModel
    from mpt.config.schema import InputConfig

    opts = SynthesisOptions.from_config(OmegaConf.structured(InputConfig(size=112, sigma=4.0)), distortion=True)
    assert (opts.size, opts.sigma, opts.distortion, opts.scale_jitter) == (112, 4.0, True, (0.9, 1.1))
    with pytest.raises(ValueError, match="unknown synthesis option"):
        SynthesisOptions.from_config({"size": 56, "sigmaa": 2.0})
    mixed = BodyModel(demo_assets.smpl_dir, demo_assets.h36m_regressor, genders=("neutral", "male", "female"))
    batch = cache_batch(3, seed=7)
    batch["gender"] = torch.tensor([0, 1, 2])
    out = Synthesizer(mixed, virtual_cameras(8), SynthesisOptions(size=56, sigma=2.0))(batch, None, train=False)
    for code, gender in enumerate(("neutral", "male", "female")):
        single = BodyModel(demo_assets.smpl_dir, demo_assets.h36m_regressor, genders=(gender,))
        alone = Synthesizer(single, virtual_cameras(8), SynthesisOptions(size=56, sigma=2.0))(
            {k: v[code : code + 1] for k, v in batch.items()}, None, train=False, camera_idx=torch.tensor([code])
        )
        assert torch.allclose(out["vertices"][code], alone["vertices"][0], atol=1e-5)
