"""mpt-eval keypoints=labels|<file>: an image set's rows lifted from 2D keypoints instead of a pose network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mpt.config import compose_config
from mpt.data.tsv import TSVFile, write_tsv
from mpt.engine.evaluate import evaluate
from mpt.errors import MptError
from tools.standin.keypoints_from_tsv import keypoints_from_tsv

SPLIT = "valid_protocol2"


def eval_config(assets, checkpoint, tsv: Path, out: Path, *extra: str, cache: Path | None = None):
    """An mpt-eval config for the demo body; paths.cache beside the export unless given."""
    cache = Path(checkpoint).parent / "cache" if cache is None else cache
    return compose_config("eval", [f"checkpoint={checkpoint}", f"data.tsv={tsv}", "device=cpu",
                                   f"paths.smpl={assets.smpl_dir}", f"paths.h36m_regressor={assets.h36m_regressor}",
                                   f"paths.cache={cache}", f"paths.output_dir={out}", *extra])  # fmt: skip


@pytest.fixture(scope="module")
def by_labels(demo_assets, export_dir, demo_tsv, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_labels")
    return out, evaluate(eval_config(demo_assets, export_dir, demo_tsv / "human3.6m", out, "keypoints=labels",
                                     "vis=2"))  # fmt: skip


def test_labels_lift_every_row(by_labels) -> None:
    out, result = by_labels
    assert result["keypoints"] == {"source": "labels", "rows": 12, "skipped": {}}
    assert result["metrics"]["count"] == 12 and np.isfinite(result["metrics"]["mpjpe"])
    assert result["backbone"].startswith("none") and json.loads((out / "eval.json").read_text()) == result
    assert len(list((out / "vis").glob("*.png"))) == 2


def test_a_detector_file_gives_what_the_labels_give(demo_assets, export_dir, demo_tsv, by_labels, tmp_path) -> None:
    """The labels written as a detector's results file (every row, no noise) lift to the same errors; a row the
    file lacks, and a person with too few confident keypoints, are left out and counted."""
    path = tmp_path / "kp.json"
    entries = keypoints_from_tsv(demo_tsv / "human3.6m", SPLIT, path)
    assert len(entries) == 12
    result = evaluate(eval_config(demo_assets, export_dir, demo_tsv / "human3.6m", tmp_path / "a",
                                  f"keypoints={path}"))  # fmt: skip
    want = by_labels[1]["metrics"]
    for key in ("mpjpe", "pa_mpjpe", "pve"):
        assert result["metrics"][key] == pytest.approx(want[key], rel=1e-3)  # the file rounds to 1e-3 px
    few = np.reshape(entries[1]["keypoints"], (17, 3))
    few[:10, 2] = 0.0  # 7 confident keypoints left
    entries[1]["keypoints"] = few.ravel().tolist()
    path.write_text(json.dumps(entries[1:]))  # row 0 has no entry now
    result = evaluate(eval_config(demo_assets, export_dir, demo_tsv / "human3.6m", tmp_path / "b",
                                  f"keypoints={path}"))  # fmt: skip
    assert result["keypoints"]["rows"] == 10 and result["metrics"]["count"] == 10
    assert result["keypoints"]["skipped"] == {"no keypoints for the image": 1,
                                              "fewer than 12 keypoints scoring >= 0.3": 1}  # fmt: skip


def test_a_file_naming_an_image_outside_the_set_is_an_error(demo_assets, export_dir, demo_tsv, tmp_path) -> None:
    path = tmp_path / "kp.json"
    entries = keypoints_from_tsv(demo_tsv / "human3.6m", SPLIT, path, count=2)
    entries[1]["file_name"] = "S1_Walking.60457274_000001.jpg"
    path.write_text(json.dumps(entries))
    with pytest.raises(MptError, match=r"kp.json, entry 1: names image 'S1_Walking.60457274_000001.jpg', which is "
                                       "not in the evaluation set"):  # fmt: skip
        evaluate(eval_config(demo_assets, export_dir, demo_tsv / "human3.6m", tmp_path / "e", f"keypoints={path}"))


def test_a_set_without_2d_labels_is_a_clear_error(demo_assets, export_dir, demo_tsv, tmp_path) -> None:
    """METRO's Human3.6M valid.protocol2 rows carry has_2d_joints = 0: keypoints=labels cannot work there."""
    src = demo_tsv / "human3.6m"
    labels = TSVFile(src / f"{SPLIT}.label.tsv")
    rows = []
    for i in range(len(labels)):
        name, people = labels[i][0], json.loads(labels[i][1])
        people[0]["has_2d_joints"] = 0
        rows.append((name, json.dumps(people)))
    write_tsv(tmp_path / f"{SPLIT}.label.tsv", rows)
    images = TSVFile(src / f"{SPLIT}.img.tsv")
    write_tsv(tmp_path / f"{SPLIT}.img.tsv", [images[i] for i in range(len(images))])
    with pytest.raises(MptError, match="keypoints=labels: no row of .* has 2D labels .* give a detector's keypoints"):
        evaluate(eval_config(demo_assets, export_dir, tmp_path, tmp_path / "e", "keypoints=labels"))
