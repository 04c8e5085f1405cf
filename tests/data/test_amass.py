"""AMASS reader and sparse frame selection, checked against hand computations and scipy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mpt.data.amass import (
    AmassFileError,
    find_amass_files,
    frame_stride,
    pose_change_deg,
    read_amass_sequence,
    select_frames,
)


def write_amass(path: Path, poses: np.ndarray, *, trans: np.ndarray | None = None, betas: np.ndarray | None = None,
                gender: object = "female", framerate: float = 120.0, **extra: np.ndarray) -> Path:
    """An npz with the keys/dtypes of a real AMASS SMPL+H file (nghorbani/amass amass_sample.npz)."""
    n = poses.shape[0]
    rng = np.random.default_rng(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(
        poses=poses.astype(np.float64),
        trans=rng.normal(size=(n, 3)) if trans is None else trans,
        betas=rng.normal(size=16) if betas is None else betas,
        gender=np.array(gender),
        mocap_framerate=np.array(framerate),
        dmpls=rng.normal(size=(n, 8)),
    )
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


def test_read_converts_smplh_to_smpl(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    poses = rng.normal(scale=0.3, size=(7, 156))
    trans, betas = rng.normal(size=(7, 3)), rng.normal(size=16)
    f = write_amass(tmp_path / "a_poses.npz", poses, trans=trans, betas=betas, gender="female", framerate=100.0)
    assert np.load(f)["gender"].dtype == np.dtype("<U6")
    seq = read_amass_sequence(f)
    assert seq is not None
    assert seq.poses.shape == (7, 72)
    np.testing.assert_array_equal(seq.poses[:, :66], poses[:, :66])  # root + 21 body joints kept
    np.testing.assert_array_equal(seq.poses[:, 66:], np.zeros((7, 6)))  # SMPL hands 22/23 zeroed
    np.testing.assert_array_equal(seq.betas, betas[:10])
    np.testing.assert_array_equal(seq.trans, trans)
    assert (seq.gender, seq.framerate, seq.num_frames) == ("female", 100.0, 7)


@pytest.mark.parametrize("raw, expected", [
    (np.bytes_(b"female"), "female"), ("Male", "male"), (" neutral ", "neutral"), (np.array(["male"]), "male"),
])
def test_gender_forms(tmp_path: Path, raw: object, expected: str) -> None:
    f = write_amass(tmp_path / "g.npz", np.zeros((2, 156)), gender=raw)
    assert read_amass_sequence(f).gender == expected


def test_file_without_poses_is_none(tmp_path: Path) -> None:
    f = tmp_path / "shape.npz"
    np.savez(f, betas=np.zeros(16), gender=np.array("male"))
    assert read_amass_sequence(f) is None


def _truncated(tmp_path: Path) -> Path:
    f = write_amass(tmp_path / "t.npz", np.zeros((50, 156)))
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    return f


def _garbage(tmp_path: Path) -> Path:
    f = tmp_path / "g.npz"
    f.write_bytes(b"this is not a zip archive at all")
    return f


def _crc_damaged(tmp_path: Path) -> Path:
    f = write_amass(tmp_path / "c.npz", np.ones((50, 156)))
    data = bytearray(f.read_bytes())
    data[400:410] = b"\xff" * 10  # inside the poses member; the zip directory at the end stays intact
    f.write_bytes(bytes(data))
    return f


BAD_FILES = {
    "truncated": (_truncated, "not a readable npz"),
    "garbage": (_garbage, "not an npz"),
    "crc": (_crc_damaged, "not a readable npz"),
    "nan_poses": (lambda d: write_amass(d / "n.npz", np.full((3, 156), np.nan)), "NaN"),
    "inf_trans": (lambda d: write_amass(d / "i.npz", np.zeros((3, 156)), trans=np.full((3, 3), np.inf)), "NaN/inf"),
    "wrong_width": (lambda d: write_amass(d / "w.npz", np.zeros((3, 72))), "(N, 156)"),
    "trans_length": (lambda d: write_amass(d / "l.npz", np.zeros((3, 156)), trans=np.zeros((2, 3))), "'trans'"),
    "few_betas": (lambda d: write_amass(d / "b.npz", np.zeros((3, 156)), betas=np.zeros(4)), "'betas'"),
    "bad_gender": (lambda d: write_amass(d / "x.npz", np.zeros((3, 156)), gender="robot"), "gender"),
    "zero_rate": (lambda d: write_amass(d / "z.npz", np.zeros((3, 156)), framerate=0.0), "frame rate"),
    "missing_file": (lambda d: d / "absent.npz", "does not exist"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_raise_one_clear_error(tmp_path: Path, case: str) -> None:
    make, words = BAD_FILES[case]
    f = make(tmp_path)
    with pytest.raises(AmassFileError) as info:
        read_amass_sequence(f)
    assert isinstance(info.value, ValueError)
    assert str(f) in str(info.value) and words in str(info.value)


def test_missing_key(tmp_path: Path) -> None:
    f = tmp_path / "k.npz"
    np.savez(f, poses=np.zeros((3, 156)), trans=np.zeros((3, 3)), betas=np.zeros(16), gender=np.array("male"))
    with pytest.raises(AmassFileError, match="mocap_framerate"):
        read_amass_sequence(f)


def test_find_amass_files_sorted_relative(tmp_path: Path) -> None:
    for rel in ["b/2/x_poses.npz", "a/1/shape.npz", "a/1/y_poses.npz", ".parts/a/1/y_poses.npz", "a/notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = find_amass_files(tmp_path)
    assert [p.as_posix() for p in found] == ["a/1/shape.npz", "a/1/y_poses.npz", "b/2/x_poses.npz"]
    with pytest.raises(FileNotFoundError, match="not a directory"):
        find_amass_files(tmp_path / "nope")


@pytest.mark.parametrize("rate, fps, stride", [
    (120.0, 15.0, 8), (100.0, 15.0, 7), (60.0, 15.0, 4), (250.0, 15.0, 17), (10.0, 15.0, 1),
    (120.00004577636719, 15.0, 8),  # the stored rate of nghorbani/amass dmpl_sample.npz
])
def test_frame_stride(rate: float, fps: float, stride: int) -> None:
    assert frame_stride(rate, fps) == stride


def test_static_pose_collapses_to_one_frame() -> None:
    pose = np.random.default_rng(1).normal(scale=0.4, size=72)
    assert select_frames(np.tile(pose, (500, 1)), 120.0, 15.0, 2.0).tolist() == [0]


def test_stride_only_when_threshold_disabled() -> None:
    poses = np.zeros((100, 72))
    assert select_frames(poses, 120.0, 15.0, 0.0).tolist() == list(range(0, 100, 8))
    assert select_frames(poses, 100.0, 15.0, 0.0).tolist() == list(range(0, 100, 7))


def _rotating(n: int, deg_per_frame: dict[int, float]) -> np.ndarray:
    """Poses where joint j turns about z at a constant rate (axis-angle (0, 0, angle))."""
    poses = np.zeros((n, 72))
    for joint, rate in deg_per_frame.items():
        poses[:, 3 * joint + 2] = np.radians(rate * np.arange(n))
    return poses


def test_slow_rotation_spacing_by_hand() -> None:
    # Root turns 0.25 deg/frame at 120 Hz; 15 fps -> stride 8 -> 2 deg per strided frame. Threshold 5 deg vs the
    # last KEPT frame: 2, 4 deg are dropped, 6 deg kept -> every 3rd strided frame = every 24th frame.
    poses = _rotating(240, {0: 0.25})
    assert select_frames(poses, 120.0, 15.0, 5.0).tolist() == list(range(0, 240, 24))
    # Add knee (joint 4) at 0.375 deg/frame = 3 deg per strided frame: the max joint decides, 3, 6 > 5 ->
    # every 2nd strided frame = every 16th frame.
    poses = _rotating(240, {0: 0.25, 4: 0.375})
    assert select_frames(poses, 120.0, 15.0, 5.0).tolist() == list(range(0, 240, 16))


def test_hand_joints_do_not_count() -> None:
    poses = _rotating(240, {23: 1.0})  # only SMPL joint 23 (R_Hand) moves
    assert select_frames(poses, 120.0, 15.0, 2.0).tolist() == [0]


def test_pose_change_matches_scipy_quaternions() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(scale=0.8, size=(6, 72)), rng.normal(scale=0.8, size=(6, 72))
    qa = Rotation.from_rotvec(a[:, :66].reshape(-1, 3)).as_quat().reshape(6, 22, 4)
    qb = Rotation.from_rotvec(b[:, :66].reshape(-1, 3)).as_quat().reshape(6, 22, 4)
    dot = np.abs((qa * qb).sum(-1)).clip(0, 1)
    expected = np.degrees(2 * np.arccos(dot)).max(axis=1)
    np.testing.assert_allclose(pose_change_deg(a, b), expected, atol=1e-5)


def test_select_frames_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, 72\)"):
        select_frames(np.zeros((10, 156)), 120.0)
    with pytest.raises(ValueError, match="positive"):
        select_frames(np.zeros((10, 72)), 0.0)
