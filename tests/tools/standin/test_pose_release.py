"""The released stand-in pose weights (tools/standin/pose_release.py): installed only when their sha256 matches, and
their recorded PCK holds on protocol-2 images regenerated from scratch."""

import json
import shutil
from pathlib import Path

import pytest

from mpt.engine.checkpoint import sha256_of
from mpt.errors import MptError
from tools.standin.pose_release import RELEASE, WEIGHTS_NAME, install_demo_pose, release_manifest


def _fake_release(tmp_path: Path, payload: bytes = b"weights") -> Path:
    release = tmp_path / "release"
    release.mkdir()
    (release / WEIGHTS_NAME).write_bytes(payload)
    for name in ("keypoints.json", "train_log.jsonl"):
        (release / name).write_text("{}\n")
    digest = sha256_of(release / WEIGHTS_NAME)
    (release / "manifest.json").write_text(json.dumps({"sha256": digest, "command": "x"}))
    return release


def test_install_copies_the_release_and_checks_its_sha256(tmp_path: Path) -> None:
    release = _fake_release(tmp_path)
    dest = install_demo_pose(tmp_path / "data", release)
    assert dest == tmp_path / "data" / "pose" / WEIGHTS_NAME
    assert dest.read_bytes() == b"weights"
    assert (dest.parent / "manifest.json").is_file() and (dest.parent / "keypoints.json").is_file()
    # weights installed earlier stay; their records follow the release (a measure added to keypoints.json later)
    (release / "keypoints.json").write_text('{"left_right": {"told": 0.0}}\n')
    stamp = dest.stat().st_mtime_ns
    assert install_demo_pose(tmp_path / "data", release) == dest and dest.stat().st_mtime_ns == stamp
    assert (dest.parent / "keypoints.json").read_text() == '{"left_right": {"told": 0.0}}\n'
    (release / WEIGHTS_NAME).write_bytes(b"weightz")  # a changed (or LFS-pointer) file is refused, naming it
    shutil.rmtree(tmp_path / "data")
    with pytest.raises(MptError, match=WEIGHTS_NAME):
        install_demo_pose(tmp_path / "data", release)
    assert not (tmp_path / "data" / "pose" / WEIGHTS_NAME).exists()


def test_the_release_in_the_repository_is_whole() -> None:
    manifest = release_manifest()
    assert sha256_of(RELEASE / WEIGHTS_NAME) == manifest["sha256"]
    assert (RELEASE / WEIGHTS_NAME).stat().st_size <= 30 * 2**20  # the bound for a committed file
    for key in ("command", "options", "data", "written_utc", "train_seconds"):
        assert manifest.get(key) is not None, key


@pytest.mark.slow
def test_recorded_pck_holds_on_regenerated_protocol2_images(demo_assets, tmp_path: Path) -> None:
    """Regenerate the protocol-2 images (their own random stream: the other sets are not needed), check that they
    are the very files the release was measured on, and measure the released weights on them again."""
    from mpt.data.image_dataset import MeshTSVDataset
    from mpt.models.backbones import load_pose_weights
    from tools.standin.make_tsv import make_demo_tsv
    from tools.standin.train_pose import PoseTrainOptions, build_pose_network, evaluate_keypoints

    manifest = release_manifest()
    recorded = json.loads((RELEASE / "keypoints.json").read_text())
    make_demo_tsv(demo_assets, tmp_path, n_train=0, n_valid=60, n_coco=0, n_keypoints=0)
    h36m = tmp_path / "human3.6m"
    for ext in ("img", "label"):
        name = f"valid_protocol2.{ext}.tsv"
        assert sha256_of(h36m / name) == manifest["data"][f"human3.6m/{name}"]
    fields = PoseTrainOptions.__dataclass_fields__
    opt = PoseTrainOptions(**{k: v for k, v in manifest["options"].items() if k in fields})
    net = build_pose_network(opt)
    load_pose_weights(net, RELEASE / WEIGHTS_NAME)
    result = evaluate_keypoints(net, MeshTSVDataset(h36m, "valid_protocol2", train=False, img_size=opt.crop))
    assert result["pck@0.1"] == pytest.approx(recorded["pck@0.1"], abs=0.02)
    assert result["left_right"]["told"] == pytest.approx(recorded["left_right"]["told"], abs=0.02)
