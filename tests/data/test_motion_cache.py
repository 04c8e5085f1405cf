"""prepare_amass -> motion cache: counts, splits, values against the source files, resumability, errors."""

from __future__ import annotations

import json
import logging
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mpt.data.prepare_amass as prep
from mpt.data.motion_cache import MotionCache, MotionCacheError
from mpt.data.prepare_amass import main, prepare_amass

# (relative path, frames, framerate, gender as stored). Random poses: every strided frame differs from the last
# kept one by far more than the 2 degree threshold, so the kept count is ceil(frames / stride) by hand.
MOTIONS = [
    ("CMU/01/01_01_poses.npz", 100, 120.0, "male", 8),  # stride 8 at 15 fps -> 13 samples
    ("CMU/01/01_02_poses.npz", 37, 60.0, b"female", 4),  # stride 4 -> 10
    ("CMU/02/02_01_poses.npz", 51, 100.0, "neutral", 7),  # stride 7 -> 8
    ("SFU/0005/0005_Jump_poses.npz", 90, 120.00004577636719, "female", 8),  # -> 12
    ("SFU/0007/0007_Walk_poses.npz", 20, 250.0, "male", 17),  # stride 17 -> 2
    ("HumanEva/S1/Box_poses.npz", 33, 120.0, "male", 8),  # -> 5
]
BAD = {
    "CMU/02/truncated_poses.npz": "not a readable npz",
    "CMU/02/nan_poses.npz": "NaN",
    "SFU/0005/wide_poses.npz": "(N, 156)",
}
GENDER_CODE = {"neutral": 0, "male": 1, "female": 2}


def _write(path: Path, n: int, rate: float, gender: object, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, poses=rng.uniform(-1.5, 1.5, size=(n, 156)), trans=rng.normal(size=(n, 3)),
             betas=rng.normal(size=16), gender=np.array(gender), mocap_framerate=np.array(rate),
             dmpls=rng.normal(size=(n, 8)))


@pytest.fixture()
def amass_root(tmp_path: Path) -> Path:
    root = tmp_path / "amass"
    for i, (rel, n, rate, gender, _) in enumerate(MOTIONS):
        _write(root / rel, n, rate, gender, seed=i)
    np.savez(root / "CMU/01/shape.npz", betas=np.zeros(16), gender=np.array("male"))
    _write(root / "CMU/02/truncated_poses.npz", 40, 120.0, "male", seed=10)
    data = (root / "CMU/02/truncated_poses.npz").read_bytes()
    (root / "CMU/02/truncated_poses.npz").write_bytes(data[: len(data) // 3])
    poses = np.zeros((5, 156))
    poses[2, 7] = np.nan
    np.savez(root / "CMU/02/nan_poses.npz", poses=poses, trans=np.zeros((5, 3)), betas=np.zeros(16),
             gender=np.array("male"), mocap_framerate=np.array(120.0), dmpls=np.zeros((5, 8)))
    np.savez(root / "SFU/0005/wide_poses.npz", poses=np.zeros((5, 165)), trans=np.zeros((5, 3)),
             betas=np.zeros(16), gender=np.array("male"), mocap_framerate=np.array(120.0))
    return root


def _kept(n: int, stride: int) -> int:
    return math.ceil(n / stride)


def _is_val(rel: str) -> bool:
    return rel.split("/")[0] in ("SFU", "HumanEva")


def test_prepare_counts_split_values_and_skips(amass_root: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "cache"
    with caplog.at_level(logging.WARNING):
        manifest = prepare_amass(amass_root, out, val_datasets=["SFU", "humaneva"])
    # Corrupt files: named in the log, listed and counted in the manifest.
    for rel, words in BAD.items():
        assert any(rel in r.getMessage() and words in r.getMessage() for r in caplog.records), rel
    assert sorted(s["path"] for s in manifest["skipped"]) == sorted(BAD)
    counts = manifest["counts"]
    assert (counts["files"], counts["sequences"], counts["no_poses"], counts["skipped"]) == (10, 6, 1, 3)
    assert counts["frames_in"] == sum(m[1] for m in MOTIONS)
    expect = {"train": sum(_kept(n, s) for r, n, _, _, s in MOTIONS if not _is_val(r)),
              "val": sum(_kept(n, s) for r, n, _, _, s in MOTIONS if _is_val(r))}
    assert expect == {"train": 31, "val": 19}
    assert {s: manifest["splits"][s]["samples"] for s in ("train", "val")} == expect
    assert json.loads((out / "manifest.json").read_text()) == manifest

    caches = {s: MotionCache(out, s) for s in ("train", "val")}
    seen: dict[str, set[str]] = {}
    for split, cache in caches.items():
        assert len(cache) == expect[split]
        assert all(isinstance(cache.array(n), np.memmap) for n in ("pose", "trans", "seq", "frame", "betas"))
        seen[split] = {q["path"] for q in cache.sequences}
        assert all(_is_val(p) == (split == "val") for p in seen[split])
        b = cache.batch(np.arange(len(cache))[::-1].copy())
        assert b["pose"].dtype == torch.float32 and b["pose"].shape == (len(cache), 72)
        assert b["gender"].dtype == torch.int64
        for row in range(len(cache)):
            seq = cache.sequences[int(b["seq"][row])]
            src = np.load(amass_root / seq["path"])
            f = int(b["frame"][row])
            np.testing.assert_allclose(b["pose"][row, :66].numpy(), src["poses"][f, :66], rtol=1e-6, atol=1e-6)
            assert not b["pose"][row, 66:].any()
            np.testing.assert_allclose(b["trans"][row].numpy(), src["trans"][f], rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(b["betas"][row].numpy(), src["betas"][:10], rtol=1e-6, atol=1e-6)
            gender = src["gender"].item()
            gender = gender.decode() if isinstance(gender, bytes) else gender
            assert int(b["gender"][row]) == GENDER_CODE[gender]
        # Sample frames of each sequence are its strided frames (all kept: random poses move a lot).
        for q in cache.sequences:
            stride = next(s for r, _, _, _, s in MOTIONS if r == q["path"])
            rows = b["seq"] == q["split_index"]
            assert sorted(b["frame"][rows].tolist()) == list(range(0, q["frames"], stride))
        one = cache[len(cache) - 1]
        assert torch.equal(one["pose"], b["pose"][0]) and one["pose"].shape == (72,)
    assert not seen["train"] & seen["val"]
    assert seen["train"] | seen["val"] == {m[0] for m in MOTIONS}

    # Bytes per sample by hand: pose 72*4 + trans 3*4 + seq 4 + frame 4.
    assert manifest["bytes_per_sample"] == 308 and 2_000_000 * 308 < 1e9
    on_disk = sum(p.stat().st_size for s in ("train", "val") for p in (out / s).glob("*.npy"))
    assert manifest["total_bytes"] == on_disk
    assert not list(out.rglob("*.tmp-*"))

    # A worker re-opens the files instead of pickling the mapped arrays.
    blob = pickle.dumps(caches["train"])
    assert len(blob) < 1000
    assert torch.equal(pickle.loads(blob).batch(np.array([3]))["pose"], caches["train"].batch(np.array([3]))["pose"])
    with pytest.raises(IndexError):
        caches["val"].batch(np.array([expect["val"]]))


def test_rerun_reuses_parts(amass_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    first = prepare_amass(amass_root, out, val_fraction=0.5, seed=3)
    parts = sorted((out / ".parts").rglob("*.npz"))
    assert len(parts) == len(MOTIONS) and first["last_run"]["parts_written"] == len(MOTIONS)
    mtimes = {p: p.stat().st_mtime_ns for p in parts}
    second = prepare_amass(amass_root, out, val_fraction=0.5, seed=3)
    assert {p: p.stat().st_mtime_ns for p in parts} == mtimes
    assert second["last_run"] == {"parts_written": 0, "parts_reused": len(MOTIONS)}
    assert second["sequences"] == first["sequences"] and second["splits"] == first["splits"]
    # Other sampling options invalidate the parts.
    third = prepare_amass(amass_root, out, val_fraction=0.5, seed=3, target_fps=30.0)
    assert third["last_run"]["parts_written"] == len(MOTIONS)
    assert third["counts"]["samples"] > first["counts"]["samples"]


def test_fraction_split_is_by_sequence_and_deterministic(amass_root: Path, tmp_path: Path) -> None:
    a = prepare_amass(amass_root, tmp_path / "a", val_fraction=0.5, seed=7)
    b = prepare_amass(amass_root, tmp_path / "b", val_fraction=0.5, seed=7)
    assert [q["split"] for q in a["sequences"]] == [q["split"] for q in b["sequences"]]
    paths = [q["path"] for q in a["sequences"]]
    assert sorted(paths) == sorted(set(paths)) == sorted(m[0] for m in MOTIONS)  # each sequence in one split
    assert a["splits"]["train"]["sequences"] + a["splits"]["val"]["sequences"] == len(MOTIONS)
    none_val = prepare_amass(amass_root, tmp_path / "a", val_fraction=0.0)
    assert none_val["splits"]["val"] == {"samples": 0, "sequences": 0}
    assert len(MotionCache(tmp_path / "a", "val")) == 0


def test_interrupted_build_leaves_no_manifest(amass_root: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cache"
    prepare_amass(amass_root, out, val_datasets=["SFU"])  # a finished cache, then an interrupted rebuild
    original = prep._load_part_arrays
    calls = []

    def crash(part: Path) -> dict:
        calls.append(part)
        if len(calls) == 3:  # in the middle of concatenating the train split
            raise RuntimeError("simulated interruption")
        return original(part)

    monkeypatch.setattr(prep, "_load_part_arrays", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        prepare_amass(amass_root, out, val_datasets=["HumanEva"])
    assert not (out / "manifest.json").exists()
    assert not list(out.rglob("*.tmp-*"))  # half-written arrays were removed
    with pytest.raises(MotionCacheError, match="prepare_amass.py"):
        MotionCache(out, "train")
    monkeypatch.setattr(prep, "_load_part_arrays", original)
    done = prepare_amass(amass_root, out, val_datasets=["HumanEva"])
    assert done["last_run"]["parts_reused"] == len(MOTIONS)
    assert len(MotionCache(out, "val")) == done["splits"]["val"]["samples"] == 5


def test_damaged_cache_errors(amass_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    prepare_amass(amass_root, out, val_datasets=["SFU"])
    pose = out / "train" / "pose.npy"
    pose.write_bytes(pose.read_bytes()[:200])  # truncated array
    with pytest.raises(MotionCacheError) as info:
        MotionCache(out, "train")
    assert str(pose) in str(info.value) and "tools/prepare_amass.py" in str(info.value)
    (out / "val" / "seq.npy").unlink()
    with pytest.raises(MotionCacheError, match="seq.npy: array file is missing"):
        MotionCache(out, "val")
    (out / "manifest.json").write_text('{"format": "mpt-motion-cache", "vers')
    with pytest.raises(MotionCacheError) as info:
        MotionCache(out, "val")
    assert "manifest.json" in str(info.value) and "not readable JSON" in str(info.value)
    with pytest.raises(MotionCacheError, match="no manifest"):
        MotionCache(tmp_path / "never_built")


def test_cli_prints_summary(amass_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--amass-root", str(amass_root), "--out", str(tmp_path / "c"), "--val-datasets", "SFU,HumanEva",
                 "--target-fps", "15", "--min-pose-change-deg", "2"]) == 0
    text = capsys.readouterr().out
    assert "files found     : 10 (6 motions read, 1 without poses, 3 skipped)" in text
    assert all(rel in text for rel in BAD)
    assert "train 31 from 3 sequences, val 19 from 3 sequences" in text
    assert "bytes per sample: 308" in text


def test_workers_match_serial(amass_root: Path, tmp_path: Path) -> None:
    serial = prepare_amass(amass_root, tmp_path / "s", val_datasets=["SFU"])
    pooled = prepare_amass(amass_root, tmp_path / "p", val_datasets=["SFU"], workers=2)
    assert pooled["sequences"] == serial["sequences"] and pooled["skipped"] == serial["skipped"]
    for name in ("pose", "trans", "frame", "seq"):
        np.testing.assert_array_equal(np.load(tmp_path / "p" / "train" / f"{name}.npy"),
                                      np.load(tmp_path / "s" / "train" / f"{name}.npy"))


def test_cli_script_runs_from_a_checkout(amass_root: Path, tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "tools" / "prepare_amass.py"
    run = subprocess.run([sys.executable, str(script), "--amass-root", str(amass_root), "--out", str(tmp_path / "c"),
                          "--val-fraction", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "samples kept    : 50 (train 50 from 6 sequences, val 0 from 0 sequences)" in run.stdout
    assert "CMU/02/nan_poses.npz" in run.stderr  # the warning names the skipped file


def test_bad_options_rejected(amass_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="target_fps"):
        prepare_amass(amass_root, tmp_path / "c", target_fps=0.0)
    with pytest.raises(ValueError, match="val_fraction"):
        prepare_amass(amass_root, tmp_path / "c", val_fraction=1.5)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        prepare_amass(tmp_path / "missing", tmp_path / "c")
