"""mpt-infer on synthetic images with a small image model (tiny MPT + HigherHRNet-w32) exported from the demo body.

References are independent of mpt.inference: the crop and projection formulas written out here in numpy, the H36M
regressor file applied to the written OBJ with numpy, torchvision's Normalize, and the pixels of the overlay
compared with the input JPEG decoded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import trimesh

from mpt.config import compose_config
from mpt.errors import MptError
from mpt.inference.images import infer
from mpt.inference.inputs import crop_boxes, list_images, read_boxes
from mpt.inference.outputs import to_image_pixels
from mpt.inference.predictor import normalize_crops
from tests.helpers import CAMERA, infer_config, temp_files

SMPL_NOSE_VERTEX = 332  # smplx vertex_ids.py (SMPL topology): COCO's nose is this vertex



@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """Two noise JPEGs of different shapes, a text file and a corrupt JPEG."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for name, (h, w) in {"a.jpg": (240, 320), "b.jpg": (300, 200)}.items():
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    return folder


BOXES = [{"image_id": "a", "bbox": [60.0, 40.0, 120.0, 160.0], "score": 0.9, "category_id": 1},
         {"image_id": "a", "bbox": [200.0, 20.0, 100.0, 200.0], "score": 0.8, "category_id": 1},
         {"image_id": "a", "bbox": [0.0, 0.0, 50.0, 50.0], "score": 0.1, "category_id": 1},  # below min_box_score
         {"image_id": "a", "bbox": [0.0, 0.0, 50.0, 50.0], "score": 0.9, "category_id": 3},  # not a person
         {"file_name": "images/b.jpg", "bbox": [20.0, 50.0, 150.0, 220.0]}]  # fmt: skip


@pytest.fixture(scope="module")
def run(demo_assets, export_dir, image_dir, tmp_path_factory):
    """One mpt-infer run with a boxes file (two people in a.jpg, one in b.jpg) and the side view."""
    out = tmp_path_factory.mktemp("infer_out")
    boxes = out.parent / "boxes.json"
    boxes.write_text(json.dumps(BOXES))
    cfg = infer_config(demo_assets, export_dir, image_dir, out, export_dir.parent / "cache", f"boxes={boxes}",
                       "min_box_score=0.5", "batch_size=2", "side_view=true")  # fmt: skip
    return out, infer(cfg)


def _expected_pixels(points: np.ndarray, camera: list[float], box: list[float], scale: float = 1.2) -> np.ndarray:
    """Hand formula: COCO box -> crop centre (pixel centres at integers) and side; weak perspective -> pixels."""
    x, y, w, h = box
    centre = np.array([x + w / 2 - 0.5, y + h / 2 - 0.5])
    side = scale * max(w, h)
    s, tx, ty = camera
    return centre + side / 2 * s * (points[:, :2] + np.array([tx, ty]))


def _inside(uv: np.ndarray, box: list[float]) -> bool:
    x, y, w, h = box
    return bool(((uv[:, 0] >= x) & (uv[:, 0] <= x + w) & (uv[:, 1] >= y) & (uv[:, 1] <= y + h)).all())


def test_writes_three_outputs_per_image_and_skips_the_rest(run, image_dir):
    out, summary = run
    assert summary["images"] == 2 and summary["people"] == 3
    skipped = {p.name: why for p, why in summary["skipped"]}
    assert set(skipped) == {"notes.txt", "broken.jpg"}
    assert "not an image" in skipped["notes.txt"] and "corrupt" in skipped["broken.jpg"]
    for name, people in (("a", 2), ("b", 1)):
        assert (out / f"{name}_overlay.png").is_file()
        for k in range(people):
            assert (out / f"{name}_{k}.obj").is_file() and (out / f"{name}_{k}.ply").is_file()
        assert not (out / f"{name}_{people}.obj").exists()
        record = json.loads((out / f"{name}.json").read_text())
        assert record["image"] == f"{name}.jpg" and len(record["people"]) == people
    assert not list(out.glob("broken*")) and not list(out.glob("notes*"))


def test_boxes_are_the_ones_asked_for(run):
    out, _ = run
    a = json.loads((out / "a.json").read_text())
    assert [p["box"] for p in a["people"]] == [BOXES[0]["bbox"], BOXES[1]["bbox"]]
    assert [p["score"] for p in a["people"]] == [0.9, 0.8]
    b = json.loads((out / "b.json").read_text())
    assert b["people"][0]["box"] == BOXES[4]["bbox"] and (b["width"], b["height"]) == (200, 300)


def test_json_geometry_matches_hand_formulas_and_the_mesh(run, demo_assets):
    out, _ = run
    regressor = np.load(demo_assets.h36m_regressor)  # (17, 6890)
    for name in ("a", "b"):
        record = json.loads((out / f"{name}.json").read_text())
        assert record["joint_names"]["h36m17"][0] == "pelvis" and len(record["joint_names"]["coco17"]) == 17
        for k, person in enumerate(record["people"]):
            mesh = trimesh.load(out / f"{name}_{k}.obj", process=False)
            verts = np.asarray(mesh.vertices)
            assert verts.shape == (6890, 3) and np.asarray(mesh.faces).shape == (13776, 3)
            ply = np.asarray(trimesh.load(out / f"{name}_{k}.ply", process=False).vertices)
            np.testing.assert_allclose(ply, verts, atol=1e-6)
            h36m = np.asarray(person["joints3d"]["h36m17"])
            np.testing.assert_allclose(regressor @ verts, h36m, atol=2e-5)  # same frame as the mesh
            np.testing.assert_allclose(h36m[0], 0.0, atol=2e-6)  # pelvis-relative
            coco = np.asarray(person["joints3d"]["coco17"])
            np.testing.assert_allclose(coco[0], verts[SMPL_NOSE_VERTEX], atol=2e-6)
            assert person["camera"][0] == pytest.approx(CAMERA[0])
            box = person["box"]
            assert person["crop"]["size"] == pytest.approx(1.2 * max(box[2:]))
            for joints in ("h36m17", "coco17"):
                uv = np.asarray(person["joints2d"][joints])
                want = _expected_pixels(np.asarray(person["joints3d"][joints]), person["camera"], box)
                np.testing.assert_allclose(uv, want, atol=2e-3)
                assert _inside(uv, box)
            assert _inside(_expected_pixels(verts, person["camera"], box), box)


def test_overlay_changes_only_pixels_inside_the_boxes(run, image_dir):
    out, _ = run
    for name in ("a", "b"):
        record = json.loads((out / f"{name}.json").read_text())
        original = cv2.imread(str(image_dir / f"{name}.jpg"))
        overlay = cv2.imread(str(out / f"{name}_overlay.png"))
        h, w = original.shape[:2]
        assert overlay.shape == (h, 2 * w, 3)  # side view on the right
        changed = np.argwhere((overlay[:, :w] != original).any(axis=2))  # (N, 2) rows, cols
        assert len(changed) > 200
        in_any = np.zeros(len(changed), dtype=bool)
        for person in record["people"]:
            x, y, bw, bh = person["box"]
            in_any |= (
                (changed[:, 1] >= x) & (changed[:, 1] <= x + bw) & (changed[:, 0] >= y) & (changed[:, 0] <= y + bh)
            )
        assert in_any.all()
        side = overlay[:, w:]
        assert (side != 255).any(axis=2).sum() > 100 and (side == 255).all(axis=2).mean() > 0.5


def test_non_image_files_are_reported(caplog, demo_assets, export_dir, image_dir, tmp_path):
    caplog.set_level(logging.WARNING, logger="mpt.infer")
    images, skipped = list_images(image_dir)
    assert [p.name for p in images] == ["a.jpg", "b.jpg", "broken.jpg"]
    assert [p.name for p, _ in skipped] == ["notes.txt"]
    with pytest.raises(MptError, match="not an image file"):
        list_images(image_dir / "notes.txt")
    with pytest.raises(MptError, match="does not exist"):
        list_images(image_dir / "missing")
    # Whole-image box on one image file: the crop is centred on the image, side 1.2 x its longer side.
    cfg = infer_config(demo_assets, export_dir, image_dir / "b.jpg", tmp_path, export_dir.parent / "cache",
                       "side_view=false", "formats=[ply]")  # fmt: skip
    summary = infer(cfg)
    assert summary["images"] == 1 and sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "b.json", "b_0.ply", "b_overlay.png"]  # fmt: skip
    person = json.loads((tmp_path / "b.json").read_text())["people"][0]
    assert person["box"] == [0.0, 0.0, 200.0, 300.0]
    assert person["crop"] == {"center": [99.5, 149.5], "size": 360.0}
    assert cv2.imread(str(tmp_path / "b_overlay.png")).shape == (300, 200, 3)


def test_skip_messages_name_the_files(demo_assets, export_dir, image_dir, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="mpt.infer")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"file_name": "a.jpg", "bbox": [10, 10, 100, 100]}]))
    cfg = infer_config(demo_assets, export_dir, image_dir, tmp_path / "out", export_dir.parent / "cache",
                       f"boxes={boxes}", "side_view=false", "formats=[]")  # fmt: skip
    summary = infer(cfg)
    assert summary["images"] == 1
    text = caplog.text
    assert "notes.txt: not an image file" in text and "broken.jpg: corrupt or unreadable image" in text
    assert "b.jpg: no person box" in text


def test_box_formats(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    images = [folder / "000000397133.jpg", folder / "street.png"]
    coco = {"images": [{"id": 7, "file_name": "val2017/street.png"}, {"id": 397133, "file_name": "000000397133.jpg"}],
            "annotations": [{"image_id": 7, "bbox": [1, 2, 3, 4], "category_id": 1, "iscrowd": 0},
                            {"image_id": 7, "bbox": [1, 2, 3, 4], "category_id": 1, "iscrowd": 1},
                            {"image_id": 397133, "bbox": [5, 6, 7, 8], "category_id": 1},
                            {"image_id": 99, "bbox": [5, 6, 7, 8], "category_id": 1}]}  # fmt: skip
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(coco))
    got = read_boxes(path, images, folder)
    assert [b.xywh for b in got[images[1]]] == [(1, 2, 3, 4)] and [b.xywh for b in got[images[0]]] == [(5, 6, 7, 8)]
    results = [{"image_id": 397133, "bbox": [5, 6, 7, 8], "score": 0.3, "category_id": 1}]  # COCO results file
    path.write_text(json.dumps(results))
    assert got_score(read_boxes(path, images, folder, min_score=0.2)[images[0]]) == [0.3]
    assert read_boxes(path, images, folder, min_score=0.5)[images[0]] == []
    for bad, message in (([{"file_name": "street.png", "bbox": [0, 0, 0, 5]}], "entry 0"),
                         ([{"bbox": [0, 0, 5, 5]}], "needs 'file_name' or 'image_id'"),
                         ({"boxes": []}, "expected a JSON list")):  # fmt: skip
        path.write_text(json.dumps(bad))
        with pytest.raises(MptError, match=message):
            read_boxes(path, images, folder)
    path.write_text("{not json")
    with pytest.raises(MptError, match="not readable JSON"):
        read_boxes(path, images, folder)


def got_score(boxes) -> list[float]:
    return [b.score for b in boxes]


def test_crop_and_projection_conventions():
    xywh = torch.tensor([[0.0, 0.0, 640.0, 480.0], [10.0, 20.0, 30.0, 90.0]], dtype=torch.float64)
    center, size = crop_boxes(xywh, 1.2)
    np.testing.assert_allclose(center.numpy(), [[319.5, 239.5], [24.5, 64.5]])
    np.testing.assert_allclose(size.numpy(), [768.0, 108.0])
    pts = torch.tensor([[[0.1, -0.2, 0.3], [-0.5, 0.4, 0.0]]], dtype=torch.float64)
    cam = torch.tensor([[0.7, 0.02, -0.03]], dtype=torch.float64)
    uv = to_image_pixels(pts, cam, center[1:], size[1:])
    want = _expected_pixels(pts[0].numpy(), cam[0].tolist(), xywh[1].tolist())
    np.testing.assert_allclose(uv[0].numpy(), want, atol=1e-9)


def test_normalisation_matches_torchvision():
    import torchvision.transforms.functional as TF

    crops = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8))
    got = normalize_crops(crops, torch.device("cpu"))
    for k in range(2):
        want = TF.normalize(TF.to_tensor(crops[k].numpy()), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        torch.testing.assert_close(got[k], want, atol=1e-6, rtol=0)


def _copy_export(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_damaged_weights_are_rejected(demo_assets, export_dir, image_dir, tmp_path):
    cache = export_dir.parent / "cache"
    flipped = _copy_export(export_dir, tmp_path / "flipped")
    weights = flipped / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same length, one byte changed
    weights.write_bytes(bytes(data))
    assert hashlib.sha256(data).hexdigest() not in (flipped / "model.sha256").read_text()
    with pytest.raises(MptError, match="sha256 .* does not match"):
        infer(infer_config(demo_assets, flipped, image_dir, tmp_path / "o1", cache))
    truncated = _copy_export(export_dir, tmp_path / "truncated")
    (truncated / "model.safetensors").write_bytes((export_dir / "model.safetensors").read_bytes()[:4096])
    with pytest.raises(MptError, match="truncated"):
        infer(infer_config(demo_assets, truncated, image_dir, tmp_path / "o2", cache))
    unchecked = _copy_export(export_dir, tmp_path / "unchecked")
    (unchecked / "model.sha256").unlink()
    with pytest.raises(MptError, match="model.sha256 not found"):
        infer(infer_config(demo_assets, unchecked, image_dir, tmp_path / "o3", cache))
    assert not (tmp_path / "o1").exists()  # nothing written before the weights are trusted


def test_pretraining_export_needs_pose_weights(demo_assets, image_dir, tmp_path):
    from mpt.engine.builders import build_body_model, build_model
    from mpt.engine.checkpoint import export_model

    cfg = compose_config("pretrain", ["model=tiny", "input=heatmap56", f"paths.smpl={demo_assets.smpl_dir}",
                                      f"paths.h36m_regressor={demo_assets.h36m_regressor}",
                                      f"paths.cache={tmp_path / 'cache'}"])  # fmt: skip
    model, _ = build_model(cfg, build_body_model(cfg))
    export_model(model, cfg, tmp_path / "pretrained")
    with pytest.raises(MptError, match="backbone.weights"):
        infer(infer_config(demo_assets, tmp_path / "pretrained", image_dir, tmp_path / "out", tmp_path / "cache"))
    with pytest.raises(MptError, match="is the images folder"):
        infer(infer_config(demo_assets, tmp_path / "pretrained", image_dir, image_dir, tmp_path / "cache"))


def test_two_images_with_one_stem_get_their_own_outputs(demo_assets, export_dir, image_dir, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(image_dir / "a.jpg", images / "a.jpg")
    cv2.imwrite(str(images / "a.png"), cv2.imread(str(image_dir / "b.jpg")))
    out = tmp_path / "out"
    summary = infer(infer_config(demo_assets, export_dir, images, out, export_dir.parent / "cache", "formats=[obj]"))
    assert summary["images"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["a_jpg.json", "a_jpg_0.obj", "a_jpg_overlay.png",
                                                      "a_png.json", "a_png_0.obj", "a_png_overlay.png"]  # fmt: skip
    for name, image, size in (("a_jpg", "a.jpg", (320, 240)), ("a_png", "a.png", (200, 300))):
        record = json.loads((out / f"{name}.json").read_text())
        assert record["image"] == image and (record["width"], record["height"]) == size


def test_a_model_that_predicts_nan_is_one_error(demo_assets, export_dir, image_dir, tmp_path):
    """Weights that pass the sha256 check but make the model predict NaN (a diverged run): an error, no outputs."""
    from safetensors.torch import load_file, save_file

    from mpt.engine.checkpoint import write_sha256

    broken = _copy_export(export_dir, tmp_path / "diverged")
    state = load_file(broken / "model.safetensors")
    state["camera_head.fc2.bias"][0] = float("nan")
    save_file(state, str(broken / "model.safetensors"))
    write_sha256(broken / "model.safetensors", broken / "model.sha256")
    out = tmp_path / "out"
    with pytest.raises(MptError, match="the model predicted NaN or inf values"):
        infer(infer_config(demo_assets, broken, image_dir / "a.jpg", out, export_dir.parent / "cache"))
    assert not list(out.glob("a*")) and temp_files(out) == []


def test_cli_missing_checkpoint_is_one_message(tmp_path, image_dir):
    res = subprocess.run([sys.executable, "-m", "mpt.cli.infer", f"checkpoint={tmp_path}/nowhere",
                          f"images={image_dir}", f"out={tmp_path}/out"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: checkpoint {tmp_path}/nowhere does not exist")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_matches_cpu(demo_assets, export_dir, image_dir, tmp_path):
    cache = export_dir.parent / "cache"
    results = {}
    for device in ("cpu", "cuda"):
        cfg = infer_config(demo_assets, export_dir, image_dir / "a.jpg", tmp_path / device, cache, f"device={device}")
        infer(cfg)
        results[device] = json.loads((tmp_path / device / "a.json").read_text())["people"][0]
    for key in ("h36m17", "coco17"):
        np.testing.assert_allclose(results["cuda"]["joints3d"][key], results["cpu"]["joints3d"][key], atol=2e-3)
        np.testing.assert_allclose(results["cuda"]["joints2d"][key], results["cpu"]["joints2d"][key], atol=0.5)
