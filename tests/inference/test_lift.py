"""mpt-infer keypoints=<file>: meshes from 2D keypoints with a pre-training export and with a fine-tuned one.

References: the crop box by hand from the file's numbers, the weak-perspective projection written out in numpy,
the keypoint colour read back from the overlay PNG.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from mpt.config.schema import InferConfig, InputConfig
from mpt.inference.images import infer
from mpt.inference.predictor import build_predictor
from mpt.vis.keypoints import KEYPOINT_COLOR
from tests.helpers import CAMERA, assert_clear_error, infer_config, make_export, run_cli
from tests.inference.test_keypoints import kp_values

CROP_SCALE = InputConfig.crop_scale  # the test exports' (configs/input/heatmap56.yaml keeps the default)
BOX_FACTOR = InferConfig.keypoint_box_factor


@pytest.fixture(scope="module")
def pre_export(demo_assets, demo_body, tmp_path_factory):
    """A pre-training export: tiny MPT without any pose network, camera head fixed to CAMERA."""
    root = tmp_path_factory.mktemp("pre_export")
    return make_export(demo_assets, demo_body, root / "model", root / "cache", backbone="none")


def person(seed: int, scores: float | list[float] = 0.9, **extra) -> dict:
    values = np.reshape(kp_values(seed), (17, 3))
    values[:, :2] = 60 + values[:, :2] * 0.6  # inside the 240 x 320 images
    values[:, 2] = scores
    return {"keypoints": np.round(values, 3).ravel().tolist(), **extra}


FEW = [0.9] * 5 + [0.1] * 12  # 5 confident keypoints: fewer than min_keypoints 12
ENTRIES = [{"image_id": "a", "bbox": [40.0, 30.0, 120.0, 160.0], "score": 0.95, **person(0)},
           {"file_name": "a.jpg", **person(1, [0.9] * 15 + [0.05, 0.2])},  # no box; 2 keypoints left out
           {"file_name": "a.jpg", **person(2, FEW)},  # skipped
           {"image_id": "b", **person(3)}]  # fmt: skip


@pytest.fixture(scope="module")
def keypoints_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lift_inputs")
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    path = folder.parent / f"{folder.name}_keypoints.json"
    path.write_text(json.dumps(ENTRIES))
    return path, folder


@pytest.fixture(scope="module")
def lifted(demo_assets, pre_export, keypoints_file, tmp_path_factory):
    path, images = keypoints_file
    out = tmp_path_factory.mktemp("lift_out")
    cfg = infer_config(demo_assets, pre_export, images, out, pre_export.parent / "cache", f"keypoints={path}",
                       "batch_size=2", "formats=[obj]")  # fmt: skip
    return out, infer(cfg)


def expected_box(entry: dict) -> tuple[np.ndarray, float]:
    kp = np.reshape(entry["keypoints"], (17, 3))
    if "bbox" in entry:
        x, y, w, h = entry["bbox"]
        return np.array([x + w / 2 - 0.5, y + h / 2 - 0.5]), CROP_SCALE * max(w, h)
    xy = kp[kp[:, 2] >= 0.3, :2]
    lo, hi = xy.min(0), xy.max(0)
    return (lo + hi) / 2, BOX_FACTOR * CROP_SCALE * (hi - lo).max()


def test_people_are_lifted_and_the_few_keypoint_one_skipped(lifted) -> None:
    out, summary = lifted
    assert (summary["images"], summary["people"], summary["people_skipped"]) == (2, 3, 1)
    a = json.loads((out / "a.json").read_text())
    assert a["image"] == "a.jpg" and (a["width"], a["height"]) == (320, 240) and len(a["people"]) == 2
    assert a["people"][0]["box"] == ENTRIES[0]["bbox"] and a["people"][0]["score"] == 0.95
    assert a["people"][1]["box"] is None
    assert a["people"][1]["keypoints"]["used"] == [True] * 15 + [False, False]
    for name in ("a", "b"):
        assert (out / f"{name}_overlay.png").is_file() and (out / f"{name}_0.obj").is_file()
    assert not (out / "a_2.obj").exists() and not list(out.glob("*.ply"))


def test_crops_and_projections_by_hand(lifted) -> None:
    out, _ = lifted
    records = {n: json.loads((out / f"{n}.json").read_text())["people"] for n in ("a", "b")}
    for entry, p in ((ENTRIES[0], records["a"][0]), (ENTRIES[1], records["a"][1]), (ENTRIES[3], records["b"][0])):
        center, side = expected_box(entry)
        np.testing.assert_allclose(p["crop"]["center"], center, atol=2e-3)
        assert p["crop"]["size"] == pytest.approx(side, abs=2e-3)
        np.testing.assert_allclose(np.reshape(p["keypoints"]["input"], -1), entry["keypoints"], atol=1e-3)
        assert p["camera"][0] == pytest.approx(CAMERA[0])  # the export's (fixed) camera head ran
        s, tx, ty = p["camera"]
        joints = np.asarray(p["joints3d"]["h36m17"])
        want = np.asarray(p["crop"]["center"]) + p["crop"]["size"] / 2 * s * (joints[:, :2] + [tx, ty])
        np.testing.assert_allclose(p["joints2d"]["h36m17"], want, atol=2e-3)


def test_overlay_shows_the_used_keypoints(lifted) -> None:
    out, _ = lifted
    overlay = cv2.cvtColor(cv2.imread(str(out / "a_overlay.png")), cv2.COLOR_BGR2RGB)
    kp = np.reshape(ENTRIES[0]["keypoints"], (17, 3))
    for x, y, _ in kp:  # a filled dot of the keypoint colour on each (rounded to the pixel under it)
        np.testing.assert_array_equal(overlay[int(round(y)), int(round(x))], KEYPOINT_COLOR)


def test_without_images_and_with_a_finetuned_export(demo_assets, export_dir, keypoints_file, tmp_path) -> None:
    path, _ = keypoints_file
    cfg = infer_config(demo_assets, export_dir, None, tmp_path, export_dir.parent / "cache", f"keypoints={path}",
                       "formats=[]")  # fmt: skip
    summary = infer(cfg)
    # without images, entries are grouped by the name they give: "a" (entry 0), "a.jpg" (1; 2 is skipped), "b"
    assert (summary["images"], summary["people"]) == (3, 3)
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.obj"))
    a = json.loads((tmp_path / "a.json").read_text())
    assert a["image"] == "a" and a["width"] is None and len(a["people"]) == 1
    assert json.loads((tmp_path / "a_jpg.json").read_text())["image"] == "a.jpg"
    assert json.loads((tmp_path / "b.json").read_text())["people"][0]["camera"][0] == pytest.approx(CAMERA[0])
    predictor, _ = build_predictor(cfg, pose_network=False)
    assert predictor.model.backbone is None  # the pose network is neither built nor loaded


def test_a_bad_keypoints_file_is_one_clear_cli_error(demo_assets, pre_export, keypoints_file, tmp_path) -> None:
    _, images = keypoints_file
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([ENTRIES[0], {"image_id": "a", "keypoints": kp_values()[:50]}]))
    res = run_cli(["mpt.cli.infer", f"checkpoint={pre_export}", f"keypoints={bad}", f"images={images}",
                   f"out={tmp_path / 'out'}", "device=cpu", f"paths.smpl={demo_assets.smpl_dir}",
                   f"paths.h36m_regressor={demo_assets.h36m_regressor}"], tmp_path)  # fmt: skip
    assert_clear_error(res, f"{bad}, entry 1: 'keypoints' has 50 values")


def test_maps_go_through_the_model_without_its_pose_network(export_dir, demo_assets) -> None:
    """A fine-tuned model's outputs from maps equal its outputs from the backbone's own maps of an image."""
    from mpt.config import compose_config
    from mpt.engine.builders import load_image_model

    cfg = compose_config("infer", [f"checkpoint={export_dir}", "device=cpu", f"paths.smpl={demo_assets.smpl_dir}",
                                   f"paths.h36m_regressor={demo_assets.h36m_regressor}",
                                   f"paths.cache={export_dir.parent / 'cache'}"])  # fmt: skip
    model, _, _ = load_image_model(cfg, torch.device("cpu"))
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(images)
        lifted = model.from_maps(full["heatmaps"])
    for key in ("vertices", "joints", "camera"):
        torch.testing.assert_close(lifted[key], full[key], rtol=0, atol=0)
    assert "heatmaps" not in lifted
