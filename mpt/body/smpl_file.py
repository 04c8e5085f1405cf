"""Read SMPL model files into plain numpy, without chumpy.

The official ``basicModel_*_lbs_10_207_0_v1.0.0.pkl`` / ``SMPL_*.pkl`` files are Python 2 pickles holding chumpy
arrays. chumpy does not import on current Python, so :func:`load_smpl_file` unpickles with a restricted unpickler
that replaces every chumpy class by a stub and keeps the array that a chumpy ``Ch`` stores under ``x``. Plain-numpy
pickles (as smplx reads them) and the ``.npz`` files written by ``tools/convert_smpl.py`` load through the same
function, and every file is checked key by key against SMPL's shapes so a wrong or damaged file fails here, with
its name, rather than deep inside a forward pass.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mpt.atomic import atomic_path
from mpt.errors import MptError

NUM_VERTICES = 6890
NUM_FACES = 13776
NUM_JOINTS = 24
NUM_POSE_BASIS = 207  # 23 joints x 9 rotation-matrix entries

GENDERS = ("neutral", "male", "female")
# Official file names from smpl.is.tue.mpg.de (v1.0.0) and SMPLify (neutral), besides smplx's SMPL_{GENDER}.pkl.
_OFFICIAL_NAMES = {
    "neutral": "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
    "male": "basicModel_m_lbs_10_207_0_v1.0.0.pkl",
    "female": "basicModel_f_lbs_10_207_0_v1.0.0.pkl",
}
WHERE_TO_GET = (
    "Download SMPL from https://smpl.is.tue.mpg.de (and the neutral model from https://smplify.is.tue.mpg.de), "
    "then put SMPL_NEUTRAL.pkl / SMPL_MALE.pkl / SMPL_FEMALE.pkl (or the basicModel_*.pkl files) in the folder "
    "given by paths.smpl (default data/body_models/smpl); see README.md, 'Real data'."
)


class SmplFileError(MptError, ValueError):
    """An SMPL model file is missing, unreadable or not shaped like SMPL."""


class _ChumpyStub:
    """Stands in for any chumpy class while unpickling; keeps the pickled state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


_ALLOWED_MODULE_PREFIXES = ("numpy", "scipy.sparse", "copy_reg", "copyreg", "collections", "__builtin__",
                            "builtins", "_codecs")  # fmt: skip


class _SmplUnpickler(pickle.Unpickler):
    """Resolves chumpy classes to :class:`_ChumpyStub`; refuses anything but numpy/scipy/builtins containers."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("chumpy"):
            return _ChumpyStub
        if module.startswith("numpy.core"):  # numpy 2 renamed numpy.core to numpy._core
            module = "numpy._core" + module[len("numpy.core") :]
        if not module.startswith(_ALLOWED_MODULE_PREFIXES):
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a model file")
        return super().find_class(module, name)


def _to_plain(value: Any, key: str, path: Path) -> Any:
    """Turn chumpy stubs into numpy arrays; leave numpy, scipy.sparse and scalars as they are."""
    if isinstance(value, _ChumpyStub):
        state = value.state
        if isinstance(state, dict) and "x" in state:
            return np.asarray(state["x"])
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise SmplFileError(
            f"{path}: key '{key}' holds a chumpy expression, not a stored array (state keys: {keys}). Convert the "
            "file once on a machine with chumpy (value.r), or use the official SMPL files."
        )
    return value


def _read_raw(path: Path) -> dict[str, Any]:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise SmplFileError(f"{path}: not a readable .npz SMPL model ({exc}). Re-create it with "
                                "tools/convert_smpl.py.") from exc
    try:
        with path.open("rb") as f:
            data = _SmplUnpickler(io.BufferedReader(f), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError,
            UnicodeDecodeError, MemoryError) as exc:  # fmt: skip
        raise SmplFileError(f"{path}: not a readable SMPL model pickle ({type(exc).__name__}: {exc}). The file "
                            f"may be truncated or of another kind. {WHERE_TO_GET}") from exc
    if not isinstance(data, dict):
        raise SmplFileError(f"{path}: expected a pickled dict of SMPL arrays, found {type(data).__name__}.")
    return {k: _to_plain(v, k, path) for k, v in data.items()}


def _check(data: dict[str, Any], path: Path) -> None:
    expected: dict[str, tuple[int | None, ...]] = {
        "v_template": (NUM_VERTICES, 3),
        "f": (NUM_FACES, 3),
        "J_regressor": (NUM_JOINTS, NUM_VERTICES),
        "weights": (NUM_VERTICES, NUM_JOINTS),
        "posedirs": (NUM_VERTICES, 3, NUM_POSE_BASIS),
        "shapedirs": (NUM_VERTICES, 3, None),
        "kintree_table": (2, NUM_JOINTS),
    }
    missing = [k for k in expected if k not in data]
    if missing:
        raise SmplFileError(f"{path}: missing key(s) {missing}; an SMPL model file has {sorted(expected)}. "
                            f"{WHERE_TO_GET}")
    for key, shape in expected.items():
        got = tuple(data[key].shape)
        if len(got) != len(shape) or any(e is not None and e != g for e, g in zip(shape, got)):
            want = tuple("N" if e is None else e for e in shape)
            raise SmplFileError(f"{path}: key '{key}' has shape {got}, expected {want}. Is this an SMPL model "
                                "(not SMPL-H / SMPL-X / MANO)?")
    if data["shapedirs"].shape[2] < 10:
        raise SmplFileError(f"{path}: shapedirs has {data['shapedirs'].shape[2]} shape components; SMPL has >= 10.")
    for key in ("v_template", "weights", "posedirs", "shapedirs"):
        if not np.all(np.isfinite(np.asarray(data[key]))):
            raise SmplFileError(f"{path}: key '{key}' contains NaN or inf; the file is damaged. {WHERE_TO_GET}")
    jreg = data["J_regressor"]
    jreg_data = jreg.data if sp.issparse(jreg) else np.asarray(jreg)
    if not np.all(np.isfinite(jreg_data)):
        raise SmplFileError(f"{path}: key 'J_regressor' contains NaN or inf; the file is damaged.")
    faces = np.asarray(data["f"])
    if faces.min() < 0 or faces.max() >= NUM_VERTICES:
        raise SmplFileError(f"{path}: face indices out of range [0, {NUM_VERTICES}); the file is damaged.")


def load_smpl_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load an SMPL model (.pkl with or without chumpy, or .npz) as plain numpy / scipy.sparse, validated.

    The result has smplx's keys (v_template, f, J_regressor, weights, posedirs, shapedirs, kintree_table, ...)
    and can be handed to ``smplx.SMPL(data_struct=...)``.
    """
    path = Path(path)
    if not path.is_file():
        raise SmplFileError(f"{path}: SMPL model file not found. {WHERE_TO_GET}")
    data = _read_raw(path)
    _check(data, path)
    out = dict(data)
    for key in ("v_template", "weights", "posedirs", "shapedirs"):
        out[key] = np.asarray(data[key], dtype=np.float64)
    out["f"] = np.asarray(data["f"], dtype=np.int64)
    out["kintree_table"] = np.asarray(data["kintree_table"]).astype(np.int64)
    if not sp.issparse(out["J_regressor"]):
        out["J_regressor"] = np.asarray(out["J_regressor"], dtype=np.float64)
    return out


def find_smpl_file(location: str | os.PathLike[str], gender: str = "neutral") -> Path:
    """Resolve an SMPL model path from a file or a folder, accepting smplx's and the official file names.

    A folder may hold ``SMPL_{GENDER}.npz|pkl`` directly, in a ``smpl/`` sub-folder (smplx's layout), or the
    official ``basicModel_*`` names. A converted ``.npz`` wins over a ``.pkl`` of the same name.
    """
    if gender not in GENDERS:
        raise ValueError(f"unknown SMPL gender {gender!r}; use one of {GENDERS}")
    loc = Path(location)
    if loc.is_file():
        return loc
    names = [f"SMPL_{gender.upper()}.npz", f"SMPL_{gender.upper()}.pkl", _OFFICIAL_NAMES[gender]]
    tried = [d / n for d in (loc, loc / "smpl") for n in names]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    listing = "\n  ".join(str(p) for p in tried)
    raise SmplFileError(f"no {gender} SMPL model found at {loc}. Looked for:\n  {listing}\n{WHERE_TO_GET}")


def save_smpl_npz(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a validated SMPL dict as a plain npz (dense J_regressor, no pickled objects), atomically."""
    path = Path(path)
    arrays = {k: (v.toarray() if sp.issparse(v) else np.asarray(v)) for k, v in data.items()}
    arrays = {k: v for k, v in arrays.items() if v.dtype != object}
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return path


def save_smpl_pickle(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a validated SMPL dict as a chumpy-free pickle that stock ``smplx.create`` reads, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        pickle.dump(data, f, protocol=2)
    return path
