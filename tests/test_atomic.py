"""Atomic writes: the target appears whole or not at all, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from mpt.atomic import atomic_npy, atomic_path, write_json_atomic


def test_failure_leaves_previous_file_and_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "torn')
        raise RuntimeError("crash in the middle of a write")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "m.json", [1])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_atomic_npy_is_a_real_npy(tmp_path):
    with atomic_npy(tmp_path / "x.npy", np.float32, (3, 2)) as arr:
        arr[:] = np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), np.arange(6, dtype=np.float32).reshape(3, 2))
