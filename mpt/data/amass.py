"""Reading AMASS motion files (one ``*.npz`` per sequence) into SMPL-ready arrays.

File layout (nghorbani/amass, support_data/github_data/amass_sample.npz and dmpl_sample.npz):
``poses`` (N, 156) float64 SMPL-H axis-angle, ``trans`` (N, 3) metres, ``betas`` (16,), ``gender`` a 0-d
string ('<U4' 'male') or bytes ('|S6' b'female') array, ``mocap_framerate`` 0-d float, ``dmpls`` (N, 8); some files
carry ``marker_data`` / ``marker_labels`` too. Each subject folder also holds a ``shape.npz`` without ``poses``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpt.body.joints import GENDER_ALIASES
from mpt.errors import MptError

# SMPL-H pose layout (nghorbani/amass notebooks/02-AMASS_DNN.ipynb): [0:3] root_orient, [3:66] pose_body
# (21 body joints), [66:156] pose_hand (2 x 15 finger joints).
SMPLH_POSE_DIM = 156
SMPL_POSE_DIM = 72
BODY_POSE_END = 66  # root + 21 body joints, identical joint order in SMPL and SMPL-H
NUM_BODY_JOINTS_WITH_ROOT = BODY_POSE_END // 3  # 22
SMPL_NUM_BETAS = 10

_FRAMERATE_KEYS = ("mocap_framerate", "mocap_frame_rate")  # the second spelling is used by later AMASS releases


class AmassFileError(MptError, ValueError):
    """An AMASS file that cannot be used; the message names the file and what is wrong with it."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"{self.path}: {reason}. Re-download or re-extract this file from AMASS "
            f"(https://amass.is.tue.mpg.de, SMPL+H G release), or remove it from the AMASS folder."
        )


@dataclass(frozen=True)
class AmassSequence:
    """One AMASS motion converted to SMPL inputs.

    Root orientation (pose[:, :3]) and ``trans`` stay in the AMASS world frame, which is z-up and in metres. The
    Human3.6M camera world is z-up as well (metres after the mm -> m conversion of its camera centres), so no axis
    change is applied here; the synthesis step places each body inside the capture volume.
    """

    path: Path
    poses: np.ndarray  # (N, 72) float64 SMPL axis-angle; joints 22, 23 (hands) are zero
    trans: np.ndarray  # (N, 3) float64, metres, z-up world
    betas: np.ndarray  # (10,) float64, first 10 of AMASS's 16 SMPL-H shape coefficients
    gender: str  # 'male' | 'female' | 'neutral'
    framerate: float  # Hz

    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])


def smplh_to_smpl_pose(poses156: np.ndarray) -> np.ndarray:
    """Convert SMPL-H poses (N, 156) to SMPL poses (N, 72).

    SMPL joints 0..21 have the same order as SMPL-H's root + 21 body joints, so the first 66 values carry over.
    SMPL joints 22/23 (L_Hand/R_Hand) have no SMPL-H counterpart: SMPL-H's entries 66.. are finger joints
    (left_index1, left_index2, ...). Copying them, as Pose2Mesh's ``poses[:, :72]`` does, would bend the SMPL hand
    by a finger rotation; zeros leave the hand in SMPL's rest pose relative to the wrist, whose rotation (joints
    20/21) is kept (nghorbani/amass notebooks/02-AMASS_DNN.ipynb splits poses into root 0:3, body 3:66 and
    hands 66:156; bharat-b7/RVH_Mesh_Registration lib/smpl/const.py defines the same layout:
    SMPL-H 156 = 66 + 90 hand values, SMPL 72 = 66 + 6 hand values).
    """
    if poses156.ndim != 2 or poses156.shape[1] != SMPLH_POSE_DIM:
        raise ValueError(f"expected SMPL-H poses of shape (N, {SMPLH_POSE_DIM}), got {poses156.shape}")
    out = np.zeros((poses156.shape[0], SMPL_POSE_DIM), dtype=poses156.dtype)
    out[:, :BODY_POSE_END] = poses156[:, :BODY_POSE_END]
    return out


def normalise_gender(value: object) -> str:
    """Map an AMASS gender entry (str, bytes, 0-d or 1-element array) to 'male' / 'female' / 'neutral'."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"gender must hold one value, got shape {arr.shape}")
    item = arr.reshape(()).item()
    if isinstance(item, bytes):
        item = item.decode("utf-8", errors="replace")
    if not isinstance(item, str):
        raise ValueError(f"gender must be a string, got {type(item).__name__} {item!r}")
    key = item.strip().lower()
    if key not in GENDER_ALIASES:
        raise ValueError(f"unknown gender {item!r} (expected male, female or neutral)")
    return GENDER_ALIASES[key]


def _as_float_array(path: Path, name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind not in "fiu":
        raise AmassFileError(path, f"'{name}' has dtype {arr.dtype}, expected a float array")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise AmassFileError(path, f"'{name}' contains {bad} NaN/inf value(s)")
    return arr


def read_amass_sequence(path: str | os.PathLike) -> AmassSequence | None:
    """Read and validate one AMASS npz; return None for files without ``poses`` (e.g. ``shape.npz``).

    Raises AmassFileError for a missing, truncated or corrupt file, missing keys, wrong shapes or dtypes, and
    NaN/inf values.
    """
    path = Path(path)
    if not path.is_file():
        raise AmassFileError(path, "file does not exist")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] != b"PK":  # every npz is a zip archive
        raise AmassFileError(path, f"not an npz (zip) archive (starts with {magic!r})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "poses" not in keys:
                return None
            rate_key = next((k for k in _FRAMERATE_KEYS if k in keys), None)
            missing = [k for k in ("trans", "betas", "gender") if k not in keys]
            if rate_key is None:
                missing.append(_FRAMERATE_KEYS[0])
            if missing:
                raise AmassFileError(path, f"missing key(s) {missing} (has {sorted(keys)})")
            # Reading each member decompresses/CRC-checks it, so corruption surfaces here.
            raw = {k: npz[k] for k in ("poses", "trans", "betas", "gender", rate_key)}
    except AmassFileError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError: all "unreadable"
        raise AmassFileError(path, f"not a readable npz archive ({type(exc).__name__}: {exc})") from exc

    poses = raw["poses"]
    if poses.ndim != 2 or poses.shape[1] != SMPLH_POSE_DIM:
        raise AmassFileError(
            path, f"'poses' has shape {poses.shape}, expected (N, {SMPLH_POSE_DIM}) SMPL-H axis-angle "
                  f"(SMPL-X releases with 165 values are not supported)")
    if poses.shape[0] == 0:
        raise AmassFileError(path, "'poses' has no frames")
    poses = _as_float_array(path, "poses", poses)
    n = poses.shape[0]

    trans = raw["trans"]
    if trans.shape != (n, 3):
        raise AmassFileError(path, f"'trans' has shape {trans.shape}, expected ({n}, 3) to match 'poses'")
    trans = _as_float_array(path, "trans", trans)

    betas = raw["betas"]
    if betas.ndim != 1 or betas.shape[0] < SMPL_NUM_BETAS:
        raise AmassFileError(path, f"'betas' has shape {raw['betas'].shape}, expected ({SMPL_NUM_BETAS}+,)")
    betas = _as_float_array(path, "betas", betas[:SMPL_NUM_BETAS])

    try:
        gender = normalise_gender(raw["gender"])
    except ValueError as exc:
        raise AmassFileError(path, f"bad 'gender': {exc}") from exc

    rate = raw[rate_key]
    if rate.size != 1 or rate.dtype.kind not in "fiu":
        raise AmassFileError(path, f"'{rate_key}' must be one number, got {rate.dtype} {rate.shape}")
    framerate = float(rate.reshape(()))
    if not np.isfinite(framerate) or framerate <= 0:
        raise AmassFileError(path, f"'{rate_key}' is {framerate}, expected a positive frame rate")

    return AmassSequence(
        path=path, poses=smplh_to_smpl_pose(poses), trans=trans, betas=betas, gender=gender, framerate=framerate
    )


def find_amass_files(root: str | os.PathLike) -> list[Path]:
    """All ``*.npz`` files under ``root`` as paths relative to it, sorted by their POSIX string (deterministic).

    Folders whose name starts with '.' (e.g. a cache's ``.parts``) are not searched.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"AMASS root {root} is not a directory; pass the folder holding the extracted "
                                f"AMASS datasets (e.g. <root>/CMU/01/01_01_poses.npz)")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        found.extend((base / f).relative_to(root) for f in filenames if f.endswith(".npz"))
    return sorted(found, key=lambda p: p.as_posix())


def dataset_name(relative_path: str | os.PathLike) -> str:
    """The AMASS sub-dataset a file belongs to: the first folder of its path relative to the AMASS root."""
    parts = Path(relative_path).parts
    return parts[0] if len(parts) > 1 else ""


# ----------------------------------------------------------------------------------------------------------------
# Sparse sampling
#
# Default arithmetic (AMASS, Mahmood et al. ICCV 2019: >40 h; later papers say ~45 h; captured at 60-250 Hz, i.e.
# ~15-18M native frames). A 15 fps stride keeps 40-45 h * 3600 s/h * 15 = 2.16M-2.43M frames. The 2 degree
# threshold then drops near-duplicates (standing still, T-pose starts, slow idles): on the two public AMASS
# samples (nghorbani/amass support_data/github_data/{amass,dmpl}_sample.npz, 120 Hz) it keeps 50/76 and 27/30 of
# the 15 fps frames (66% on a slow motion, 90% on a fast one). At ~80-90% kept that is 1.7M-2.2M, i.e. the
# paper's ~2M meshes. prepare_amass prints the real count; scale target_fps to move it.
DEFAULT_TARGET_FPS = 15.0
DEFAULT_MIN_POSE_CHANGE_DEG = 2.0


def frame_stride(framerate: float, target_fps: float) -> int:
    """Smallest integer stride giving at most ``target_fps`` (e.g. 120 Hz -> 15 fps: 8; 100 Hz -> 15 fps: 7).

    The ratio is rounded to 1e-3 first so AMASS rates stored as 120.00004577 still give stride 8, not 9.
    """
    if not (np.isfinite(framerate) and framerate > 0 and np.isfinite(target_fps) and target_fps > 0):
        raise ValueError(f"framerate ({framerate}) and target_fps ({target_fps}) must be positive")
    return max(1, int(np.ceil(round(framerate / target_fps, 3))))


def joint_rotations(poses72: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 22, 3, 3) of the root + 21 body joints of SMPL poses (N, 72), via scipy."""
    from scipy.spatial.transform import Rotation

    n = poses72.shape[0]
    rotvecs = np.asarray(poses72[:, :BODY_POSE_END], dtype=np.float64).reshape(-1, 3)
    return Rotation.from_rotvec(rotvecs).as_matrix().reshape(n, NUM_BODY_JOINTS_WITH_ROOT, 3, 3)


def pose_change_deg(poses_a: np.ndarray, poses_b: np.ndarray) -> np.ndarray:
    """Pose distance (B,) in degrees: max over root + 21 body joints of the geodesic angle between rotations.

    The geodesic angle between R_a and R_b is arccos((trace(R_a^T R_b) - 1) / 2).
    """
    rot_a, rot_b = joint_rotations(np.atleast_2d(poses_a)), joint_rotations(np.atleast_2d(poses_b))
    cos = (np.einsum("njab,njab->nj", rot_a, rot_b) - 1.0) / 2.0  # (B, 22)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max(axis=1)


def select_frames(
    poses72: np.ndarray,
    framerate: float,
    target_fps: float = DEFAULT_TARGET_FPS,
    min_pose_change_deg: float = DEFAULT_MIN_POSE_CHANGE_DEG,
) -> np.ndarray:
    """Indices (K,) int64 of the frames of one sequence to keep.

    1. Stride: every ``frame_stride(framerate, target_fps)``-th frame starting at 0 (<= target_fps).
    2. Pose filter: walking forward, a strided frame is kept only if ``pose_change_deg`` to the previously KEPT
       frame exceeds ``min_pose_change_deg`` (so slow drifts still emit a frame once they add up). The first
       frame is always kept; ``min_pose_change_deg <= 0`` disables the filter.
    """
    poses72 = np.asarray(poses72)
    if poses72.ndim != 2 or poses72.shape[1] != SMPL_POSE_DIM:
        raise ValueError(f"poses72 must have shape (N, {SMPL_POSE_DIM}), got {poses72.shape}")
    if not np.isfinite(min_pose_change_deg):
        raise ValueError(f"min_pose_change_deg must be finite, got {min_pose_change_deg}")
    candidates = np.arange(0, poses72.shape[0], frame_stride(framerate, target_fps), dtype=np.int64)
    if candidates.size <= 1 or min_pose_change_deg <= 0:
        return candidates
    rot = joint_rotations(poses72[candidates])  # (C, 22, 3, 3)
    cos_limit = np.cos(np.radians(min_pose_change_deg))  # angle > limit  <=>  cos(angle) < cos_limit
    kept = [0]
    current, search_from, window = 0, 1, 8
    n = candidates.size
    # The greedy rule depends on the last kept frame, so it walks; each step tests a growing window of following
    # candidates at once and jumps to the first that moved enough.
    while search_from < n:
        stop = min(n, search_from + window)
        cos = (np.einsum("jab,wjab->wj", rot[current], rot[search_from:stop]) - 1.0) / 2.0  # (w, 22)
        moved = np.flatnonzero(cos.min(axis=1) < cos_limit)
        if moved.size:
            nxt = search_from + int(moved[0])
            window = max(8, 2 * (nxt - current))
            kept.append(nxt)
            current, search_from = nxt, nxt + 1
        else:
            search_from, window = stop, window * 2
    return candidates[np.asarray(kept, dtype=np.int64)]
