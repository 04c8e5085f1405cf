"""MeshTSVDataset on sets written by the test: crop and labels by hand, augmentation consistency, bad rows, layouts."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates
from torch.utils.data import DataLoader

from mpt.data.image_dataset import ImageSetError, MeshTSVDataset
from mpt.data.joints24 import J24_NAMES
from mpt.data.transforms import AugParams
from mpt.data.tsv import write_tsv

S = 224
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
CENTER = np.array([150.0, 90.0])  # the 200 px box sticks out above the 240 px high image
SCALE = 1.0  # box side 200 px
K = 100.0  # px per metre of the orthographic "camera" the 2D labels are drawn with
PELVIS = np.array([0.05, -0.1, 5.0])
J14_R_WRIST = 6  # J14 order: R_Ankle, R_Knee, R_Hip, L_Hip, L_Knee, L_Ankle, R_Wrist, ...
L_WRIST = J24_NAMES.index("L_Wrist")


def joints(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(24, 4) camera-frame joints around PELVIS and their (24, 3) orthographic image: p = c + K (X - pelvis)."""
    rng = np.random.default_rng(seed)
    j3d = np.ones((24, 4))
    j3d[:, :3] = PELVIS + rng.uniform(-0.6, 0.6, size=(24, 3))
    j3d[14, :3] = PELVIS
    j3d[L_WRIST, :3] = PELVIS + [0.4, -0.25, 0.1]  # at pixel (190, 65)
    j2d = np.ones((24, 3))
    j2d[:, :2] = CENTER + K * (j3d[:, :2] - PELVIS[:2])
    j2d[5, 2] = 0.0  # one unlabelled joint: its conf travels with it
    return j2d, j3d


def smooth_image(h: int = 240, w: int = 320) -> np.ndarray:
    """A smooth BGR image (bilinear interpolation of it is well conditioned)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 0.4 * x, 60 + 0.5 * y, 100 + 50 * np.sin(x / 17.0) * np.cos(y / 23.0)], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def blob_image(at: np.ndarray, h: int = 240, w: int = 320) -> np.ndarray:
    """Black image with one bright 5x5 square centred on pixel ``at``."""
    img = np.zeros((h, w, 3), np.uint8)
    x, y = np.round(at).astype(int)
    img[y - 2 : y + 3, x - 2 : x + 3] = 255
    return img


def encode(img: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()).decode()


def person(row: int, **over) -> dict:
    j2d, j3d = joints(row)
    p = {"center": CENTER.tolist(), "scale": SCALE, "2d_joints": j2d.tolist(), "3d_joints": j3d.tolist(),
         "pose": (np.arange(72) * 0.01).tolist(), "betas": [float(row)] + [0.0] * 9, "has_2d_joints": 1,
         "has_3d_joints": 1, "has_smpl": 1, "gender": "m"}  # fmt: skip
    p.update(over)
    return p


def write_set(folder: Path, split: str, rows: list[tuple[str, str, str]]) -> None:
    """rows: (name, base64 image, label JSON)."""
    write_tsv(folder / f"{split}.img.tsv", [(n, b) for n, b, _ in rows])
    write_tsv(folder / f"{split}.label.tsv", [(n, lab) for n, _, lab in rows])


@pytest.fixture(scope="module")
def good_set(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    img = encode(smooth_image())
    rows = [(f"img_{r}.jpg", img, json.dumps([person(r)])) for r in range(3)]
    write_set(folder, "train", rows)
    return folder


def denormalize(image: torch.Tensor) -> np.ndarray:
    """(3, S, S) normalised tensor -> (S, S, 3) RGB in [0, 255]."""
    return (image.permute(1, 2, 0).numpy() * STD + MEAN) * 255.0


def test_eval_sample_by_hand(good_set: Path) -> None:
    ds = MeshTSVDataset(good_set, "train", name="demo", train=False, dataset_index=4)
    assert len(ds) == 3 and ds.image_name(2) == "img_2.jpg"
    item = ds[1]
    shapes = {k: tuple(v.shape) for k, v in item.items()}
    assert shapes == {"image": (3, S, S), "joints2d": (14, 3), "keypoints": (17, 3), "joints3d": (14, 4),
                      "pose": (72,), "betas": (10,), "has_2d": (), "has_3d": (), "has_smpl": (), "gender": (),
                      "dataset": (), "index": ()}  # fmt: skip
    assert item["image"].dtype == torch.float32
    assert (item["dataset"].item(), item["index"].item(), item["gender"].item()) == (4, 1, 1)
    assert item["betas"][0].item() == 1.0
    j2d, j3d = joints(1)
    j14 = list(range(12)) + [12, 18]
    # Normalised crop coordinates by hand: the box is 200 px wide, so n = (p - c) / 100.
    np.testing.assert_allclose(item["joints2d"][:, :2].numpy(), (j2d[j14, :2] - CENTER) / 100.0, atol=1e-5)
    np.testing.assert_allclose(item["joints2d"][:, 2].numpy(), j2d[j14, 2])
    # COCO-17 keypoints: SPIN's COCO -> J24 slots (datasets/preprocess/coco.py), in COCO order.
    coco = [19, 20, 21, 22, 23, 9, 8, 10, 7, 11, 6, 3, 2, 4, 1, 5, 0]
    np.testing.assert_allclose(item["keypoints"][:, :2].numpy(), (j2d[coco, :2] - CENTER) / 100.0, atol=1e-5)
    np.testing.assert_allclose(item["keypoints"][:, 2].numpy(), j2d[coco, 2])
    np.testing.assert_allclose(item["joints3d"][:, :3].numpy(), j3d[j14, :3] - PELVIS, atol=1e-6)
    np.testing.assert_allclose(item["pose"].numpy(), np.arange(72) * 0.01, atol=1e-6)
    # Image: bilinear samples of the source at x = c + (u - (S - 1) / 2) * 200 / S, ImageNet-normalised.
    src = cv2.cvtColor(cv2.imdecode(np.frombuffer(base64.b64decode(encode(smooth_image())), np.uint8), 1),
                       cv2.COLOR_BGR2RGB).astype(np.float64)  # fmt: skip
    u = np.arange(S)
    xs = CENTER[0] + (u - (S - 1) / 2) * 200.0 / S
    ys = CENTER[1] + (u - (S - 1) / 2) * 200.0 / S
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    ref = np.stack([map_coordinates(src[..., c], [yy, xx], order=1, mode="constant") for c in range(3)], -1)
    inside = (xx >= 0) & (xx <= src.shape[1] - 1) & (yy >= 0) & (yy <= src.shape[0] - 1)
    got = denormalize(item["image"])
    assert np.abs(got - ref)[inside].max() < 1.5  # cv2's fixed-point bilinear weights
    assert np.abs(got[~inside & (yy < -1)]).max() < 1e-3  # outside the source: black


def test_labels_without_the_image_are_the_eval_item_plus_raw_2d_and_box(good_set: Path) -> None:
    ds = MeshTSVDataset(good_set, "train", train=True, seed=0)  # labels() never augments, even for training
    labels, item = ds.labels(1), ds.load(1, AugParams())
    for key in ("joints2d", "joints3d", "pose", "betas", "has_2d", "has_3d", "has_smpl", "gender"):
        assert torch.equal(labels[key], item[key]), key
    np.testing.assert_array_equal(labels["joints2d_px"].numpy(), joints(1)[0])  # the label's pixels, as written
    np.testing.assert_array_equal(labels["center"].numpy(), CENTER)
    assert float(labels["box_size"]) == SCALE * 200.0 and "image" not in labels


def test_bright_pixel_lands_on_the_augmented_joint(tmp_path: Path) -> None:
    j2d, _ = joints(0)
    write_set(tmp_path, "train", [("blob.jpg", encode(blob_image(j2d[L_WRIST, :2])), json.dumps([person(0)]))])
    ds = MeshTSVDataset(tmp_path, "train", train=True)
    coco_left, coco_right = 9, 10  # COCO order: ..., left_wrist, right_wrist, ...
    for params, slot, coco in ((AugParams(flip=True, rot_deg=30.0, scale=1.1), J14_R_WRIST, coco_right),
                               (AugParams(flip=False, rot_deg=-45.0, scale=0.8), 11, coco_left)):  # fmt: skip
        item = ds.load(0, params)
        lum = denormalize(item["image"]).mean(-1)
        ys, xs = np.nonzero(lum > 0.5 * lum.max())
        w = lum[ys, xs]
        blob = np.array([np.sum(xs * w) / w.sum(), np.sum(ys * w) / w.sum()])  # brightness centroid, crop pixels
        # With the flip the left wrist's label moves to the right wrist's slot, exactly where the blob went.
        np.testing.assert_allclose((2 * blob + 1) / S - 1, item["joints2d"][slot, :2].numpy(), atol=0.01)
        np.testing.assert_allclose((2 * blob + 1) / S - 1, item["keypoints"][coco, :2].numpy(), atol=0.01)


@pytest.mark.parametrize("params", [AugParams(), AugParams(flip=True), AugParams(rot_deg=40.0, scale=1.2),
                                    AugParams(flip=True, rot_deg=-25.0, scale=0.8)])  # fmt: skip
def test_2d_and_3d_joints_stay_consistent(good_set: Path, params: AugParams) -> None:
    """The labels are an orthographic image of the 3D joints about the box centre; augmentation keeps that."""
    item = MeshTSVDataset(good_set, "train", train=True).load(2, params)
    k = 2 * K / (SCALE * 200.0 * params.scale)  # metres -> normalised crop units
    np.testing.assert_allclose(item["joints2d"][:, :2].numpy(), k * item["joints3d"][:, :2].numpy(), atol=1e-5)
    depth = joints(2)[1][:, 2] - PELVIS[2]  # in-plane rotation keeps depth; a flip moves it with its joint
    if params.flip:
        depth = depth[[5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13, 14, 15, 16, 17, 18, 19, 21, 20, 23, 22]]
    np.testing.assert_allclose(item["joints3d"][:, 2].numpy(), depth[list(range(12)) + [12, 18]], atol=1e-6)
    assert item["joints2d"][:, 2].sum().item() == 13.0  # the unlabelled joint keeps conf 0 wherever it moves


def test_pixel_noise_scales_channels(good_set: Path) -> None:
    ds = MeshTSVDataset(good_set, "train", train=True)
    plain = denormalize(ds.load(0, AugParams())["image"])
    noisy = denormalize(ds.load(0, AugParams(pixel_noise=(0.5, 1.0, 1.3)))["image"])
    np.testing.assert_allclose(noisy, np.minimum(plain * [0.5, 1.0, 1.3], 255.0), atol=1e-3)


def test_seeded_training_is_deterministic_per_epoch(good_set: Path) -> None:
    a = MeshTSVDataset(good_set, "train", train=True, seed=7)
    b = MeshTSVDataset(good_set, "train", train=True, seed=7)
    assert [a.aug_params(i) for i in range(3)] == [b.aug_params(i) for i in range(3)]
    before = [a.aug_params(i) for i in range(3)]
    a.set_epoch(1)
    assert [a.aug_params(i) for i in range(3)] != before
    assert MeshTSVDataset(good_set, "train", train=False).aug_params(0) == AugParams()
    batch = next(iter(DataLoader(a, batch_size=3)))
    assert batch["image"].shape == (3, 3, S, S) and batch["index"].tolist() == [0, 1, 2]


def test_bad_rows_are_skipped_with_one_warning(tmp_path: Path, caplog) -> None:
    img = encode(smooth_image())
    rows = [
        ("r0.jpg", img, json.dumps([person(0)])),
        ("r1.jpg", base64.b64encode(b"\xff\xd8 not really a jpeg").decode(), json.dumps([person(1)])),
        ("r2.jpg", img, json.dumps([person(2)])),
        ("r3.jpg", img, '[{"center": [1, 2], "scale": '),  # truncated JSON
        ("r4.jpg", img, json.dumps([person(4, center=[float("nan"), 3.0])])),
        ("r5.jpg", img, json.dumps([person(5)])),
    ]
    write_set(tmp_path, "train", rows)
    ds = MeshTSVDataset(tmp_path, "train", name="broken")
    with caplog.at_level(logging.WARNING, logger="mpt.data.image_dataset"):
        assert ds[1]["betas"][0].item() == 2.0  # row 1 is replaced by the next good row
        assert ds[3]["betas"][0].item() == 5.0  # rows 3 and 4 both skipped
        assert ds[1]["betas"][0].item() == 2.0
        assert ds[3]["index"].item() == 3
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3  # once per bad row, however often it is asked for
    assert "'broken'" in messages[0] and "row 1" in messages[0] and "r1.jpg" in messages[0]
    assert "row 3" in messages[1] and "r3.jpg" in messages[1] and "JSON" in messages[1]
    assert "row 4" in messages[2] and "NaN" in messages[2]
    assert ds[5]["betas"][0].item() == 5.0 and ds[0]["betas"][0].item() == 0.0
    assert ds.labels(1)["betas"][0].item() == 1.0  # labels() reads no image: row 1's label is fine
    with pytest.raises(ImageSetError, match="'broken' .* row 4 .*r4.jpg.*NaN"):
        ds.labels(4)


def test_all_rows_bad_is_an_error(tmp_path: Path) -> None:
    write_set(tmp_path, "train", [("a.jpg", "!!notbase64", "[]"), ("b.jpg", encode(smooth_image()), "{oops")])
    ds = MeshTSVDataset(tmp_path, "train", name="junk")
    with pytest.raises(ImageSetError, match="'junk'.*all 2 rows are unusable"):
        ds[0]


def test_missing_files_name_the_path_and_layout(tmp_path: Path, good_set: Path) -> None:
    with pytest.raises(ImageSetError, match=r"nowhere does not exist; expected a METRO-style set"):
        MeshTSVDataset(tmp_path / "nowhere", "train")
    with pytest.raises(ImageSetError, match=r"valid\.img\.tsv .*does not exist; expected a METRO-style set"):
        MeshTSVDataset(good_set, "valid")
    write_tsv(tmp_path / "x.img.tsv", [("a", "b")])
    write_tsv(tmp_path / "x.label.tsv", [("a", "[]"), ("b", "[]")])
    with pytest.raises(ImageSetError, match="1 rows but .* has 2"):
        MeshTSVDataset(tmp_path, "x")


def test_metro_yaml_layout_linelist_and_h36m_rows(tmp_path: Path) -> None:
    img = encode(smooth_image())
    _, j3d = joints(0)
    h36m_style = person(1, **{"2d_joints": [np.zeros((24, 3)).tolist()], "3d_joints": [j3d.tolist()],
                              "has_2d_joints": 0, "has_smpl": 0})  # fmt: skip
    del h36m_style["gender"]  # METRO's Human3.6M rows have no gender and a leading axis on the joints
    rows = [("a.jpg", img, json.dumps([person(0, gender="female")])), ("b.jpg", img, json.dumps([h36m_style])),
            ("c.jpg", img, json.dumps([person(2, gender="n")]))]  # fmt: skip
    sub = tmp_path / "valid_protocol2"
    write_set(sub, "valid", rows)
    (sub / "valid.linelist.tsv").write_text("1\n2\n")
    (tmp_path / "valid.protocol2.yaml").write_text(
        "img: valid_protocol2/valid.img.tsv\nlabel: valid_protocol2/valid.label.tsv\n"
        "linelist: valid_protocol2/valid.linelist.tsv\n"
    )
    ds = MeshTSVDataset(tmp_path, "valid.protocol2")
    assert len(ds) == 2
    first, second = ds[0], ds[1]
    assert first["betas"][0].item() == 1.0 and second["betas"][0].item() == 2.0
    assert (first["has_2d"].item(), first["has_3d"].item(), first["has_smpl"].item()) == (0.0, 1.0, 0.0)
    assert first["gender"].item() == 0 and second["gender"].item() == 0
    np.testing.assert_allclose(first["joints3d"][:, :3].numpy(), j3d[list(range(12)) + [12, 18], :3] - PELVIS,
                               atol=1e-6)  # fmt: skip
    (tmp_path / "bad.yaml").write_text("composite: true\nimg: [a, b]\n")
    with pytest.raises(ImageSetError, match="composite"):
        MeshTSVDataset(tmp_path, "bad")
