"""The motion cache: AMASS poses sampled for pre-training, stored as memory-mapped ``.npy`` arrays.

Layout of a cache folder (written by ``mpt.data.prepare_amass``; ``manifest.json`` is written last, so a folder
without it is unfinished)::

    manifest.json                   format, version, source root, options, counts, splits, sequences
    <split>/pose.npy    (M, 72)  float32  SMPL axis-angle (hand joints 22/23 zero), AMASS z-up world
    <split>/trans.npy   (M, 3)   float32  root translation, metres, AMASS z-up world
    <split>/seq.npy     (M,)     int32    index of the sample's sequence within the split
    <split>/frame.npy   (M,)     int32    frame index in the source AMASS file
    <split>/betas.npy   (S, 10)  float32  per SEQUENCE (samples look theirs up through seq.npy)
    <split>/gender.npy  (S,)     int8     per sequence, GENDER_CODES

Storage: per sample 72*4 + 3*4 + 4 + 4 = 308 bytes (per-sequence arrays add 41 bytes per sequence), so 2M samples
take 616 MB (587 MiB). float32 poses fit the 1 GB budget, so no float16 rounding is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpt.errors import MptError

CACHE_FORMAT = "mpt-motion-cache"
CACHE_VERSION = 1
SPLITS = ("train", "val")
MANIFEST_NAME = "manifest.json"
REBUILD_HINT = "re-run `python tools/prepare_amass.py --amass-root <AMASS> --out <this folder>`"

# Gender codes. AMASS's prepare_data maps male -1, neutral 0, female 1 (nghorbani/amass
# src/amass/data/prepare_data.py); we use non-negative
# codes so a code indexes a (neutral, male, female) tuple of SMPL models directly.

# name -> (dtype, trailing shape); per-sample arrays have M rows, per-sequence arrays S rows.
SAMPLE_ARRAYS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "pose": (np.dtype(np.float32), (72,)),
    "trans": (np.dtype(np.float32), (3,)),
    "seq": (np.dtype(np.int32), ()),
    "frame": (np.dtype(np.int32), ()),
}
SEQUENCE_ARRAYS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "betas": (np.dtype(np.float32), (10,)),
    "gender": (np.dtype(np.int8), ()),
}


def _row_bytes(spec: dict[str, tuple[np.dtype, tuple[int, ...]]]) -> int:
    return sum(dtype.itemsize * int(np.prod(shape, dtype=np.int64)) for dtype, shape in spec.values())


BYTES_PER_SAMPLE = _row_bytes(SAMPLE_ARRAYS)  # 308
BYTES_PER_SEQUENCE = _row_bytes(SEQUENCE_ARRAYS)  # 41


class MotionCacheError(MptError, ValueError):
    """A cache folder that is missing, unfinished or damaged; the message names the file and how to rebuild."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {reason}; {REBUILD_HINT}")


def array_path(cache_dir: str | os.PathLike, split: str, name: str) -> Path:
    """Where array ``name`` of ``split`` lives inside a cache folder."""
    return Path(cache_dir) / split / f"{name}.npy"


def load_manifest(cache_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check a cache's manifest.json; MotionCacheError if it is missing, unparsable or of another format."""
    path = Path(cache_dir) / MANIFEST_NAME
    if not path.is_file():
        raise MotionCacheError(path, "no manifest: the cache was never built or its build did not finish")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MotionCacheError(path, f"manifest is not readable JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        raise MotionCacheError(path, f"not an {CACHE_FORMAT} manifest")
    if manifest.get("version") != CACHE_VERSION:
        raise MotionCacheError(path, f"cache version {manifest.get('version')!r}, this code reads {CACHE_VERSION}")
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or any(
        not isinstance(splits.get(s), dict) or not {"samples", "sequences"} <= splits[s].keys() for s in SPLITS
    ):
        raise MotionCacheError(path, f"manifest lacks per-split sample/sequence counts for {SPLITS}")
    if not isinstance(manifest.get("sequences"), list):
        raise MotionCacheError(path, "manifest lacks its list of sequences")
    return manifest


def _open_array(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.memmap:
    if not path.is_file():
        raise MotionCacheError(path, "array file is missing")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # bad magic/header, truncated file: all mean "damaged"
        raise MotionCacheError(path, f"array file is damaged ({type(exc).__name__}: {exc})") from exc
    if arr.dtype != dtype or arr.shape != shape:
        raise MotionCacheError(path, f"array is {arr.dtype} {arr.shape}, the manifest expects {dtype} {shape}")
    return arr


class MotionCache:
    """Read-only view of one split of a motion cache; arrays are memory-mapped, never read whole.

    ``batch(indices)`` gathers samples into tensors: pose (B, 72) float32, betas (B, 10) float32, trans (B, 3)
    float32, gender (B,) int64 in GENDER_CODES (0 neutral, 1 male, 2 female), seq (B,) int64 (index into
    ``self.sequences``), frame (B,) int64 (frame in the source AMASS file).
    """

    def __init__(self, path: str | os.PathLike, split: str = "train") -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.path = Path(path)
        self.split = split
        self.manifest = load_manifest(self.path)
        counts = self.manifest["splits"][split]
        m, s = int(counts["samples"]), int(counts["sequences"])
        self._arrays: dict[str, np.memmap] = {}
        for spec, rows in ((SAMPLE_ARRAYS, m), (SEQUENCE_ARRAYS, s)):
            for name, (dtype, trailing) in spec.items():
                self._arrays[name] = _open_array(array_path(self.path, split, name), dtype, (rows, *trailing))
        try:
            self.sequences: list[dict[str, Any]] = sorted(
                (q for q in self.manifest["sequences"] if q["split"] == split), key=lambda q: int(q["split_index"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise MotionCacheError(self.path / MANIFEST_NAME, f"malformed sequence entry ({exc!r})") from exc
        if len(self.sequences) != s:
            raise MotionCacheError(self.path / MANIFEST_NAME,
                                   f"lists {len(self.sequences)} {split} sequences but counts {s}")

    # Memmaps would be pickled as full in-memory copies; DataLoader workers (spawn) re-open the files instead.
    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "split": self.split}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["split"])

    def __len__(self) -> int:
        return int(self._arrays["pose"].shape[0])

    def array(self, name: str) -> np.memmap:
        """The raw memory-mapped array ``name`` (see the module docstring for names and shapes)."""
        return self._arrays[name]

    def batch(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """Gather samples ``indices`` (B,) into a dict of tensors (see the class docstring)."""
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(f"indices must be a 1-D integer array, got {idx.dtype} {idx.shape}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"indices must lie in [0, {len(self)}), got range [{idx.min()}, {idx.max()}]")
        a = self._arrays
        seq = np.asarray(a["seq"][idx], dtype=np.int64)  # (B,)
        return {
            # fancy indexing copies out of the memmap; the dtypes were checked when the arrays were opened
            "pose": torch.from_numpy(np.asarray(a["pose"][idx], dtype=np.float32)),  # (B, 72)
            "betas": torch.from_numpy(np.asarray(a["betas"][seq], dtype=np.float32)),  # (B, 10)
            "trans": torch.from_numpy(np.asarray(a["trans"][idx], dtype=np.float32)),  # (B, 3)
            "gender": torch.from_numpy(np.asarray(a["gender"][seq], dtype=np.int64)),  # (B,)
            "seq": torch.from_numpy(seq),  # (B,)
            "frame": torch.from_numpy(np.asarray(a["frame"][idx], dtype=np.int64)),  # (B,)
        }

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """One sample as tensors without the batch dimension."""
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"sample {i} out of range for {n} samples")
        return {k: v[0] for k, v in self.batch(np.asarray([int(i) % n])).items()}
