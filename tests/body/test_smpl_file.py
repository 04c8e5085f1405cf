"""Loading SMPL files: chumpy pickles without chumpy, plain pickles, npz; clear errors for bad files."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp

from mpt.body.smpl_file import (
    SmplFileError,
    find_smpl_file,
    load_smpl_file,
    save_smpl_npz,
    save_smpl_pickle,
)
from tests.body.smpl_fixtures import random_smpl_dict


def _write_chumpy_pickle(data: dict, path) -> None:
    """Pickle like the official files: arrays wrapped in chumpy.ch.Ch objects whose state holds them as 'x'."""
    chumpy = types.ModuleType("chumpy")
    ch_mod = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy's Ch: default object pickling of a __dict__ with 'x' and bookkeeping entries
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()
            self.dterms = ("x",)

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch_mod.Ch = Ch
    chumpy.ch = ch_mod
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch_mod})
    try:
        wrapped = {k: (Ch(v) if k in ("v_template", "shapedirs", "posedirs", "weights") else v)
                   for k, v in data.items()}  # fmt: skip
        with open(path, "wb") as f:
            pickle.dump(wrapped, f, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    assert "chumpy" not in sys.modules or sys.modules["chumpy"] is not chumpy


def test_chumpy_pickle_loads_without_chumpy(tmp_path):
    data = random_smpl_dict()
    path = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    _write_chumpy_pickle(data, path)
    assert b"chumpy.ch" in path.read_bytes()
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(path.read_bytes())  # what plain pickle (and so stock smplx) does with such a file
    loaded = load_smpl_file(path)
    for key in ("v_template", "shapedirs", "posedirs", "weights"):
        assert isinstance(loaded[key], np.ndarray)
        np.testing.assert_array_equal(loaded[key], data[key])
    assert sp.issparse(loaded["J_regressor"])
    np.testing.assert_array_equal(loaded["J_regressor"].toarray(), data["J_regressor"].toarray())
    assert find_smpl_file(tmp_path, "neutral") == path


def test_plain_pickle_and_npz_round_trip(tmp_path):
    data = random_smpl_dict(1)
    pkl = save_smpl_pickle(data, tmp_path / "SMPL_MALE.pkl")
    loaded = load_smpl_file(pkl)
    npz = save_smpl_npz(loaded, tmp_path / "smpl" / "SMPL_FEMALE.npz")
    again = load_smpl_file(npz)
    np.testing.assert_allclose(again["posedirs"], data["posedirs"])
    np.testing.assert_allclose(np.asarray(again["J_regressor"]), data["J_regressor"].toarray())
    assert find_smpl_file(tmp_path, "female") == npz
    assert not list(tmp_path.rglob("*.tmp*")), "atomic writes leave no temp files"


def test_converter_cli(tmp_path):
    from tools.convert_smpl import main

    src = tmp_path / "in.pkl"
    _write_chumpy_pickle(random_smpl_dict(2), src)
    assert main([str(src), "--out", str(tmp_path / "SMPL_NEUTRAL.npz")]) == 0
    assert load_smpl_file(tmp_path / "SMPL_NEUTRAL.npz")["v_template"].shape == (6890, 3)
    assert main([str(tmp_path / "missing.pkl"), "--out", str(tmp_path / "x.npz")]) == 2


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("posedirs"), "missing key"),
        (lambda d: d.__setitem__("shapedirs", np.zeros((6890, 3))), "'shapedirs' has shape"),
        (lambda d: d.__setitem__("v_template", np.zeros((6889, 3))), "'v_template' has shape (6889, 3)"),
        (lambda d: d["weights"].__setitem__((5, 5), np.nan), "'weights' contains NaN"),
        (lambda d: d.__setitem__("f", d["f"].astype(np.int64) + 7000), "face indices out of range"),
    ],
)
def test_bad_model_contents_name_file_and_key(tmp_path, mutate, message):
    data = random_smpl_dict()
    mutate(data)
    path = save_smpl_pickle(data, tmp_path / "SMPL_NEUTRAL.pkl")
    with pytest.raises(SmplFileError) as err:
        load_smpl_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_truncated_missing_and_foreign_files(tmp_path):
    path = save_smpl_pickle(random_smpl_dict(), tmp_path / "SMPL_NEUTRAL.pkl")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(SmplFileError, match="not a readable SMPL model pickle"):
        load_smpl_file(path)
    with pytest.raises(SmplFileError, match="not found"):
        load_smpl_file(tmp_path / "nothing.pkl")
    with pytest.raises(SmplFileError, match="SMPL_MALE.pkl"):
        find_smpl_file(tmp_path, "male")
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": types.SimpleNamespace()}, protocol=2))
    with pytest.raises(SmplFileError, match="refusing to load types.SimpleNamespace"):
        load_smpl_file(evil)
    bad_npz = tmp_path / "SMPL_NEUTRAL.npz"
    bad_npz.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SmplFileError, match="not a readable .npz"):
        load_smpl_file(bad_npz)
