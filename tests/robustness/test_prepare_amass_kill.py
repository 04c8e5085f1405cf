"""SIGKILL during tools/prepare_amass (mpt.data.prepare_amass) at each stage, then a re-run: the cache is complete and
identical, array by array, to an uninterrupted preparation; no manifest existed while the folder was broken, and
no temporary file is left behind.

The kill is delivered by the preparing process to itself (os.kill(SIGKILL)) from a wrapper around one of its own
functions, so it lands at an exact point of the work: deterministic, unlike a timer."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mpt.data.motion_cache import MotionCache, MotionCacheError
from mpt.data.prepare_amass import prepare_amass
from tests.helpers import temp_files

ROOT = Path(__file__).resolve().parents[2]
ARRAYS = ("pose", "trans", "seq", "frame", "betas", "gender")
OPTIONS = {"val_datasets": ["DemoMocapB"], "target_fps": 30.0}

# Runs prepare_amass(amass_root, out, DemoMocapB as validation, 30 fps) and SIGKILLs itself at point `where`,
# the `count`-th time it gets there.
CHILD = r"""
import os, signal, sys
import numpy as np
import mpt.data.prepare_amass as pa

amass_root, out, where, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = 0


def reached():
    global seen
    seen += 1
    return seen >= count


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if where == "after_parts":  # stage 1: right after the count-th part file was renamed into place
    real_process = pa.process_file

    def process_file(*args):
        result = real_process(*args)
        if result.status == "written" and reached():
            die()
        return result

    pa.process_file = process_file
elif where == "inside_part":  # stage 1: half-way through writing the count-th part (a torn temp file)
    real_savez = np.savez

    def savez(f, **arrays):
        real_savez(f, **arrays)
        if reached():
            f.flush()
            f.truncate(f.tell() // 2)
            die()

    pa.np.savez = savez
elif where == "arrays":  # stage 2: while the split arrays are being filled (memmapped temp files open)
    real_load = pa._load_part_arrays

    def load_part_arrays(part):
        if reached():
            die()
        return real_load(part)

    pa._load_part_arrays = load_part_arrays
elif where == "manifest":  # every array in place, the manifest not yet written
    def write_json_atomic(*args, **kwargs):
        die()

    pa.write_json_atomic = write_json_atomic
else:
    raise SystemExit(f"unknown kill point {where}")
pa.prepare_amass(amass_root, out, val_datasets=["DemoMocapB"], target_fps=30.0)
sys.exit(3)  # the kill point was never reached
"""


@pytest.fixture(scope="module")
def reference(demo_cache) -> Path:
    """An uninterrupted preparation of the demo motions: the session's demo cache, made with these OPTIONS."""
    return demo_cache


def _kill_child(amass_root: Path, out: Path, where: str, count: int) -> None:
    res = subprocess.run([sys.executable, "-c", CHILD, str(amass_root), str(out), where, str(count)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == -signal.SIGKILL, f"rc {res.returncode}\n{res.stderr[-3000:]}"


def _assert_same_cache(got: Path, want: Path) -> None:
    for split in ("train", "val"):
        for name in ARRAYS:
            a, b = np.load(got / split / f"{name}.npy"), np.load(want / split / f"{name}.npy")
            assert a.dtype == b.dtype and a.shape == b.shape, (split, name)
            assert np.array_equal(a, b), (split, name)
    m_got, m_want = (json.loads((p / "manifest.json").read_text()) for p in (got, want))
    for m in (m_got, m_want):
        m.pop("last_run")
    assert m_got == m_want


@pytest.mark.parametrize(("where", "count", "reused"), [
    ("after_parts", 4, 4),   # 4 parts finished before the kill are reused
    ("inside_part", 3, 2),   # the torn 3rd part is redone
    ("arrays", 3, 10),       # all 10 parts reused; the arrays are rebuilt
    ("manifest", 1, 10),
])  # fmt: skip
def test_killed_preparation_reruns_to_the_identical_cache(demo_assets, reference, tmp_path, where, count, reused):
    out = tmp_path / "cache"
    if where == "after_parts":
        # an older, finished cache made with other options is being replaced: its manifest must go first
        prepare_amass(demo_assets.amass_dir, out, val_datasets=["DemoMocapB"], target_fps=20.0)
        assert MotionCache(out, "train") is not None
    _kill_child(demo_assets.amass_dir, out, where, count)

    assert not (out / "manifest.json").exists()
    with pytest.raises(MotionCacheError, match="no manifest"):
        MotionCache(out, "train")

    manifest = prepare_amass(demo_assets.amass_dir, out, **OPTIONS)
    assert manifest["last_run"]["parts_reused"] == reused
    assert manifest["last_run"]["parts_written"] == 10 - reused
    _assert_same_cache(out, reference)
    assert temp_files(out) == []
    assert len(MotionCache(out, "train")) == manifest["splits"]["train"]["samples"] > 0
