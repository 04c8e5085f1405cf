"""The keypoints file: the formats detectors write, and one clear error naming the file and entry per bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mpt.errors import MptError
from mpt.inference.keypoints import read_keypoints
from mpt.inference.lift import group_by_image


def kp_values(seed: int = 0, score: float = 0.9) -> list[float]:
    """17 keypoints, flat [x, y, score] * 17 as COCO results files hold them."""
    xy = np.random.default_rng(seed).uniform(10, 200, (17, 2))
    return np.concatenate([xy, np.full((17, 1), score)], axis=1).ravel().tolist()


def write(tmp_path: Path, data, name: str = "kp.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_results_list_and_annotations_file(tmp_path) -> None:
    values = kp_values()
    nested = np.asarray(kp_values(1)).reshape(17, 3).tolist()
    path = write(tmp_path, [{"image_id": 397133, "keypoints": values, "score": 0.8},
                            {"file_name": "a/b.jpg", "keypoints": nested, "bbox": [1, 2, 30, 40]},
                            {"image_id": 1, "keypoints": values, "category_id": 2}])  # not a person: left out
    people = read_keypoints(path)
    assert [(p.entry, p.image, p.score, p.bbox) for p in people] == [(0, "397133", 0.8, None),
                                                                     (1, "a/b.jpg", None, (1.0, 2.0, 30.0, 40.0))]
    np.testing.assert_allclose(people[0].keypoints, np.reshape(values, (17, 3)), rtol=1e-6)
    assert people[0].keypoints.dtype == np.float32 and people[1].rank == pytest.approx(0.9)
    coco = {"images": [{"id": 7, "file_name": "x.jpg"}],
            "annotations": [{"image_id": 7, "keypoints": kp_values(score=2), "bbox": [0, 0, 5, 5], "iscrowd": 0},
                            {"image_id": 7, "keypoints": [0] * 51, "iscrowd": 1}]}  # fmt: skip
    people = read_keypoints(write(tmp_path, coco, "annotations.json"))
    assert len(people) == 1 and people[0].image == "x.jpg" and people[0].keypoints[0, 2] == 2  # visibility flag


def bad_keypoints(case: str) -> list:
    values = kp_values()
    if case == "count":
        return [{"image_id": 1, "keypoints": values}, {"image_id": 1, "keypoints": values[:48]}]
    if case in ("nan", "negative", "xy"):
        values[3 * 5 + (1 if case == "xy" else 2)] = {"nan": math.nan, "negative": -0.5, "xy": math.inf}[case]
    return [{"image_id": 1, "keypoints": kp_values()}, {"image_id": 1, "keypoints": values}]


@pytest.mark.parametrize("case,needle", [
    ("count", "entry 1: 'keypoints' has 48 values; a COCO-17 person has 51"),
    ("nan", "entry 1: keypoint scores must be finite numbers; NaN or inf at left_shoulder"),
    ("negative", "entry 1: keypoint scores must be >= 0; negative at left_shoulder"),
    ("xy", "entry 1: keypoints with a positive score need finite x, y; not at left_shoulder"),
])  # fmt: skip
def test_bad_entries_are_one_error_naming_file_and_entry(tmp_path, case, needle) -> None:
    path = tmp_path / "kp.json"
    path.write_text(json.dumps(bad_keypoints(case)).replace("Infinity", "1e999"))  # JSON has no inf literal
    with pytest.raises(MptError) as err:
        read_keypoints(path)
    assert str(path) in str(err.value) and needle in str(err.value)


@pytest.mark.parametrize("data,needle", [
    ("[{'image_id': 1,", "is not readable JSON"),
    ({"people": []}, "expected a JSON list"),
    ([], "holds no person entries"),
    ([{"keypoints": kp_values()}], "entry 0: needs 'file_name' or 'image_id'"),
    ([{"image_id": 1}], "entry 0: needs 'keypoints'"),
    ([{"image_id": 1, "keypoints": ["a"] * 51}], "entry 0: 'keypoints' must be a list of numbers"),
    ([{"image_id": 1, "keypoints": kp_values(), "bbox": [0, 0, -1, 5]}], "entry 0: 'bbox' [x, y, w, h] needs"),
    ([{"image_id": 1, "keypoints": kp_values(), "score": "high"}], "entry 0: 'score' must be a finite number"),
])  # fmt: skip
def test_bad_files_are_one_error_naming_the_file(tmp_path, data, needle) -> None:
    path = write(tmp_path, data)
    with pytest.raises(MptError) as err:
        read_keypoints(path)
    assert str(path) in str(err.value) and needle in str(err.value)
    with pytest.raises(MptError, match="not found"):
        read_keypoints(tmp_path / "missing.json")


def test_entries_naming_images_that_are_not_there(tmp_path) -> None:
    images = [tmp_path / "000000397133.jpg", tmp_path / "sub" / "b.png"]
    path = write(tmp_path, [{"image_id": 397133, "keypoints": kp_values()}, {"file_name": "sub/b.png",
                            "keypoints": kp_values()}, {"file_name": "c.jpg", "keypoints": kp_values()}])  # fmt: skip
    people = read_keypoints(path)
    groups = group_by_image(people[:2], path, images, tmp_path)
    assert [len(v) for v in groups.values()] == [1, 1]
    with pytest.raises(MptError) as err:
        group_by_image(people, path, images, tmp_path)
    assert f"{path}, entry 2: names image 'c.jpg', which is not among the images" in str(err.value)
    # without images the names are the outputs' names
    assert list(group_by_image(people, path, None, None)) == [Path("397133"), Path("sub/b.png"), Path("c.jpg")]
