"""Demo TSV sets: read back with mpt.data.tsv.TSVFile and json / base64 / cv2 decoding written here, and checked
against the label schema, the Human3.6M protocol-2 naming, a pinhole projection written in numpy, the body model
(SMPL labels in the camera frame) and the rendered silhouettes."""

import base64
import json
import re

import cv2
import numpy as np
import pytest
import torch

from mpt.data.tsv import TSVFile
from tools.standin.make_tsv import (
    MANIFEST_NAME,
    DemoTsvError,
    _view_shots,
    held_out_motions,
    make_demo_tsv,
    subject_motions,
)

J24 = ("R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "R_Wrist", "R_Elbow", "R_Shoulder", "L_Shoulder",
       "L_Elbow", "L_Wrist", "Neck", "Top_of_Head", "Pelvis", "Thorax", "Spine", "Jaw", "Head", "Nose", "L_Eye",
       "R_Eye", "L_Ear", "R_Ear")  # METRO config.J24_NAME  # fmt: skip
COCO_LABELLED = {"Nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow",
                 "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle"}  # fmt: skip
# J24 joint -> row of the Human3.6M regressor (METRO H36M_J17_NAME order: Pelvis, R_Hip, R_Knee, R_Ankle, L_Hip,
# L_Knee, L_Ankle, Torso, Neck, Nose, Head, L_Shoulder, L_Elbow, L_Wrist, R_Shoulder, R_Elbow, R_Wrist).
J24_FROM_H36M = {"R_Ankle": 3, "R_Knee": 2, "R_Hip": 1, "L_Hip": 4, "L_Knee": 5, "L_Ankle": 6, "R_Wrist": 16,
                 "R_Elbow": 15, "R_Shoulder": 14, "L_Shoulder": 11, "L_Elbow": 12, "L_Wrist": 13, "Neck": 8,
                 "Pelvis": 0, "Spine": 7, "Head": 10}  # fmt: skip
CAMERAS = {"54138969", "55011271", "58860488", "60457274"}
SIZE = 160
COUNTS = {"h36m": 12, "h36m_p2": 6, "coco": 6, "keypoints": 6}


@pytest.fixture(scope="module")
def sets(demo_assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_tsv")
    result = make_demo_tsv(demo_assets, out, seed=3, img_size=SIZE, n_train=COUNTS["h36m"],
                           n_valid=COUNTS["h36m_p2"], n_coco=COUNTS["coco"], n_keypoints=COUNTS["keypoints"],
                           backgrounds=("plain",))  # fmt: skip
    return out, result


def _read(s) -> list[tuple[str, np.ndarray, dict, dict]]:
    """(name, BGR image, person dict, hw dict) per row, row k of the three TSVs together."""
    img = TSVFile(s.folder / f"{s.split}.img.tsv")
    label = TSVFile(s.folder / f"{s.split}.label.tsv")
    hw = TSVFile(s.folder / f"{s.split}.hw.tsv")
    assert len(img) == len(label) == len(hw) == s.count
    rows = []
    for k in range(len(img)):
        (n1, b64), (n2, lab), (n3, size) = img[k], label[k], hw[k]
        assert n1 == n2 == n3
        image = cv2.imdecode(np.frombuffer(base64.b64decode(b64, validate=True), np.uint8), cv2.IMREAD_COLOR)
        people = json.loads(lab)
        assert isinstance(people, list) and len(people) == 1
        hw_list = json.loads(size)
        assert isinstance(hw_list, list) and len(hw_list) == 1
        rows.append((n1, image, people[0], hw_list[0]))
    return rows


def _project(ann: dict) -> np.ndarray:
    """Camera-frame joints (3d_joints + pelvis_cam) through the image's pinhole camera: (24, 2)."""
    X = np.asarray(ann["3d_joints"])[:, :3] + np.asarray(ann["pelvis_cam"])
    f, c = np.asarray(ann["cam_param"]["focal"]), np.asarray(ann["cam_param"]["princpt"])
    return X[:, :2] / X[:, 2:] * f + c


def _person_mask(image: np.ndarray) -> np.ndarray:
    """Pixels far from the plain background colour (the median of the image border)."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    bg = np.median(border, axis=0)
    return (np.abs(image.astype(np.int32) - bg).max(axis=-1) > 30)


def test_sets_parse_and_match_the_schema(sets):
    _, result = sets
    assert set(result) == {"h36m", "h36m_p2", "coco", "keypoints"}
    assert (result["h36m"].folder.name, result["h36m"].split) == ("human3.6m", "train")
    assert (result["h36m_p2"].folder.name, result["h36m_p2"].split) == ("human3.6m", "valid_protocol2")
    assert (result["coco"].folder.name, result["coco"].split) == ("coco_smpl", "train")
    assert (result["keypoints"].folder.name, result["keypoints"].split) == ("coco_keypoints", "train")
    for key, s in result.items():
        assert s.count == COUNTS[key]
        for suffix in ("img", "label", "hw"):
            assert (s.folder / f"{s.split}.{suffix}.lineidx").is_file()
        yaml_text = (s.folder / f"{s.split}.yaml").read_text()
        assert f"img: {s.split}.img.tsv" in yaml_text and f"label: {s.split}.label.tsv" in yaml_text
        for _name, image, ann, hw in _read(s):
            assert image is not None and image.shape == (hw["height"], hw["width"], 3)
            assert hw["height"] == SIZE and hw["width"] == (SIZE if key != "coco" else SIZE * 3 // 4)
            assert np.asarray(ann["center"]).shape == (2,)
            assert isinstance(ann["scale"], float) and ann["scale"] > 0
            assert np.asarray(ann["2d_joints"]).shape == (24, 3)
            assert np.asarray(ann["3d_joints"]).shape == (24, 4)
            assert np.asarray(ann["pose"]).shape == (72,)
            assert np.asarray(ann["betas"]).shape == (10,)
            for flag in ("has_2d_joints", "has_3d_joints", "has_smpl"):
                assert ann[flag] in (0, 1)
            assert ann["gender"] == "neutral"
            has_3d = 0 if key in ("coco", "keypoints") else 1
            assert (ann["has_2d_joints"], ann["has_3d_joints"], ann["has_smpl"]) == (1, has_3d, has_3d)


def test_names_follow_the_human36m_patterns(sets):
    _, result = sets
    p2 = re.compile(r"^images/(S9|S11)_[A-Za-z]+\.60457274_(\d{6})\.jpg$")
    names = [r[0] for r in _read(result["h36m_p2"])]
    assert len(set(names)) == len(names)
    for name in names:
        m = p2.match(name)
        assert m, name
        assert (int(m.group(2)) - 1) % 5 == 0  # 1-based frame numbers of every 5th frame: 000001, 000006, ...
    assert {p2.match(n).group(1) for n in names} == {"S9", "S11"}

    train = re.compile(r"^images/(S1|S5|S6)_[A-Za-z]+\.(\d{8})_\d{6}\.jpg$")
    names = [r[0] for r in _read(result["h36m"])]
    assert len(set(names)) == len(names)
    matches = [train.match(n) for n in names]
    assert all(matches), names
    assert {m.group(1) for m in matches} == {"S1", "S5", "S6"}
    assert {m.group(2) for m in matches} == CAMERAS


@pytest.mark.parametrize("key", ["h36m", "h36m_p2"])
def test_2d_joints_are_the_projection_of_the_3d_joints(sets, key):
    _, result = sets
    for _, _, ann, hw in _read(result[key]):
        j2d, j3d = np.asarray(ann["2d_joints"]), np.asarray(ann["3d_joints"])
        np.testing.assert_allclose(_project(ann), j2d[:, :2], atol=1.0)
        np.testing.assert_allclose(j3d[J24.index("Pelvis"), :3], 0.0, atol=1e-6)  # pelvis-relative (GraphCMR)
        assert (j3d[:, 3] == 1).all()
        inside = (j2d[:, 0] >= 0) & (j2d[:, 0] <= hw["width"] - 1) & (j2d[:, 1] >= 0) & (j2d[:, 1] <= hw["height"] - 1)
        np.testing.assert_array_equal(j2d[:, 2], inside.astype(float))
        assert 1.5 < np.asarray(ann["pelvis_cam"])[2] < 7.0  # metres in front of an H36M camera


@pytest.mark.parametrize("key", ["h36m", "h36m_p2", "coco", "keypoints"])
def test_rendered_person_is_inside_the_center_scale_box(sets, key):
    _, result = sets
    factor = 1.2 if key == "coco" else 1.0  # METRO's scaleFactor for COCO boxes; GraphCMR's plain mask box for H36M
    for name, image, ann, _ in _read(result[key]):
        mask = _person_mask(image)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 0.02 * mask.size, name
        c, half = np.asarray(ann["center"]), ann["scale"] * 200 / 2
        tol = 2.0  # JPEG ringing at the silhouette
        assert xs.min() >= c[0] - half - tol and xs.max() <= c[0] + half + tol, name
        assert ys.min() >= c[1] - half - tol and ys.max() <= c[1] + half + tol, name
        # The box side is factor x the silhouette's longer side (where the silhouette is not cut by the border).
        side = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        assert abs(ann["scale"] * 200 - factor * side) <= 3 * factor + 1, name


@pytest.mark.parametrize("key", ["coco", "keypoints"])
def test_coco_like_sets_are_2d_only_with_coco_joints(sets, key):
    _, result = sets
    for name, image, ann, _ in _read(result[key]):
        j2d = np.asarray(ann["2d_joints"])
        for k, joint in enumerate(J24):
            if joint not in COCO_LABELLED:
                assert j2d[k, 2] == 0, (name, joint)
        assert j2d[:, 2].sum() >= 12
        assert not np.any(ann["3d_joints"]) and not np.any(ann["pose"]) and not np.any(ann["betas"])
        # Labelled joints lie on the rendered body.
        body = cv2.dilate(_person_mask(image).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        x, y = np.rint(j2d[j2d[:, 2] > 0, :2]).astype(int).T
        assert body[y, x].all(), name


def test_smpl_labels_give_the_3d_joints_in_the_camera_frame(sets, demo_body):
    """Posing the body with the label's pose (camera-frame global orientation) and betas reproduces 3d_joints."""
    _, result = sets
    for key in ("h36m", "h36m_p2"):
        anns = [r[2] for r in _read(result[key])]
        pose = torch.tensor([a["pose"] for a in anns], dtype=torch.float32)
        betas = torch.tensor([a["betas"] for a in anns], dtype=torch.float32)
        with torch.no_grad():
            h36m = demo_body.h36m_joints(demo_body(pose, betas).vertices).numpy()  # (B, 17, 3)
        h36m -= h36m[:, :1]  # pelvis-relative
        j3d = np.asarray([a["3d_joints"] for a in anns])[:, :, :3]
        for joint, row in J24_FROM_H36M.items():
            np.testing.assert_allclose(j3d[:, J24.index(joint)], h36m[:, row], atol=2e-3, err_msg=joint)
        # Camera frame: y points down, so a standing person's head is above (smaller y than) the ankles.
        assert (j3d[:, J24.index("Head"), 1] < j3d[:, J24.index("R_Ankle"), 1]).mean() > 0.8


def test_keypoint_set_holds_out_the_protocol2_motions_and_uses_all_views():
    # Ten motions dealt round-robin to S1, S5, S6, S9, S11: the protocol-2 subjects S9 and S11 perform 3, 8 and 4, 9.
    assert [subject_motions(s, 10) for s in range(5)] == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]
    assert held_out_motions(10) == [0, 1, 2, 5, 6, 7]
    assert held_out_motions(5) == [0, 1, 2] and held_out_motions(2) == []  # S9, S11 then perform motions 1, 0
    motions = [("m", np.zeros((50 + k, 72)), np.zeros(10)) for k in range(10)]
    shots = _view_shots(motions, held_out_motions(10), 8, 400, 64, 64, "x/{:04d}.jpg", np.random.default_rng(0))
    assert {s.seq for s in shots} == set(held_out_motions(10))
    assert {s.camera for s in shots} == set(range(8))
    assert all(0 <= s.frame < motions[s.seq][1].shape[0] for s in shots)
    assert [s.name for s in shots[:2]] == ["x/0001.jpg", "x/0002.jpg"]


def test_second_call_is_a_no_op_and_new_options_regenerate(demo_assets, tmp_path):
    kw = {"seed": 1, "img_size": 64, "n_train": 4, "n_valid": 2, "n_coco": 2, "n_keypoints": 2}
    first = make_demo_tsv(demo_assets, tmp_path, **kw)
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = make_demo_tsv(demo_assets, tmp_path, **kw)
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamp
    other = make_demo_tsv(demo_assets, tmp_path, **{**kw, "n_coco": 3})
    assert other["coco"].count == 3
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["options"]["n_coco"] == 3
    assert not list(tmp_path.rglob(".*"))  # no temporary files left behind


def test_missing_assets_are_reported_by_name(demo_assets, tmp_path):
    from dataclasses import replace

    broken = replace(demo_assets, amass_dir=tmp_path / "no_amass_here")
    with pytest.raises(DemoTsvError, match="no_amass_here"):
        make_demo_tsv(broken, tmp_path / "out", n_train=2, n_valid=2, n_coco=2, n_keypoints=2)
