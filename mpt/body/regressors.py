"""Joint regressor files: Human3.6M-17 (``J_regressor_h36m_correct.npy``) and an optional COCO-17 one."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from mpt.body.smpl_file import NUM_VERTICES
from mpt.errors import MptError

WHERE_TO_GET_H36M = (
    "It ships with METRO's and SPIN's data files as J_regressor_h36m_correct.npy / J_regressor_h36m.npy; put it at "
    "paths.h36m_regressor (default data/body_models/J_regressor_h36m_correct.npy); see README.md, 'Real data'."
)


class RegressorFileError(MptError, ValueError):
    """A joint-regressor file is missing, unreadable or of the wrong shape."""


def load_joint_regressor(path: str | os.PathLike[str], num_joints: int, what: str = "joint") -> np.ndarray:
    """Load a dense (num_joints, 6890) vertex-to-joint regressor from ``.npy`` (or an ``.npz`` with one array).

    Rows must be finite and sum to about 1 (each joint an affine combination of vertices), which catches files
    saved transposed or for another mesh.
    """
    path = Path(path)
    if not path.is_file():
        raise RegressorFileError(f"{path}: {what} regressor not found. {WHERE_TO_GET_H36M}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if len(loaded.files) != 1:
                    raise ValueError(f"npz holds {loaded.files}, expected one array")
                loaded = loaded[loaded.files[0]]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise RegressorFileError(f"{path}: cannot read the {what} regressor ({exc}). Re-download it.") from exc
    reg = np.asarray(loaded, dtype=np.float64)
    if reg.shape != (num_joints, NUM_VERTICES):
        raise RegressorFileError(f"{path}: {what} regressor has shape {reg.shape}, expected ({num_joints}, "
                                 f"{NUM_VERTICES}) (joints x SMPL vertices).")
    if not np.all(np.isfinite(reg)):
        raise RegressorFileError(f"{path}: {what} regressor contains NaN or inf.")
    sums = reg.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > 0.05):
        raise RegressorFileError(f"{path}: {what} regressor rows sum to {np.round(sums, 3).tolist()}, expected 1 "
                                 "for each joint; is it the right file?")
    return reg
