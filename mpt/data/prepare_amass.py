"""Build a motion cache (``mpt.data.motion_cache``) from an extracted AMASS folder; resumable.

Stage 1 samples each AMASS file into ``<out>/.parts/<relative path>`` (a small npz, written to a temp name and
renamed), skipping files whose part is already there for the same options and source size/mtime. Stage 2 removes
any old manifest, writes the per-split arrays to temp names and renames them, and writes ``manifest.json`` last:
an interrupted run never leaves a folder that looks finished, and re-running redoes only unfinished work.
One prepare run per output folder at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mpt.atomic import atomic_npy, atomic_path, write_json_atomic
from mpt.body.joints import GENDER_CODES
from mpt.data.amass import (
    DEFAULT_MIN_POSE_CHANGE_DEG,
    DEFAULT_TARGET_FPS,
    AmassFileError,
    dataset_name,
    find_amass_files,
    read_amass_sequence,
    select_frames,
)
from mpt.data.motion_cache import (
    BYTES_PER_SAMPLE,
    BYTES_PER_SEQUENCE,
    CACHE_FORMAT,
    CACHE_VERSION,
    MANIFEST_NAME,
    SAMPLE_ARRAYS,
    SEQUENCE_ARRAYS,
    SPLITS,
    array_path,
)
from mpt.errors import MptError

log = logging.getLogger(__name__)

PARTS_DIR = ".parts"
PART_VERSION = 1
# AMASS_DNN notebook (nghorbani/amass notebooks/02-AMASS_DNN.ipynb) validation datasets.
AMASS_DNN_VAL_DATASETS = ("HumanEva", "MPI_HDM05", "SFU", "MPI_mosh")
# Two spellings of the same AMASS datasets: the AMASS code and notebooks (prepare_data.py, AMASS_DNN) name the folders
# MPI_HDM05 and MPI_mosh; the current downloads from amass.is.tue.mpg.de name them HDM05 and MoSh. Either spelling in
# val_datasets selects either folder.
AMASS_SPELLINGS = (("MPI_HDM05", "HDM05"), ("MPI_mosh", "MoSh"))
_CANONICAL = {alias.lower(): names[0].lower() for names in AMASS_SPELLINGS for alias in names}


def same_dataset_key(name: str) -> str:
    """A key equal for every spelling of one AMASS dataset (case-insensitive; MPI_HDM05 = HDM05, MPI_mosh = MoSh)."""
    return _CANONICAL.get(name.lower(), name.lower())


class CacheBuildError(MptError, RuntimeError):
    """Building the cache cannot go on; the message names the file and what to do."""


@dataclass(frozen=True)
class SamplingOptions:
    """The options a part file depends on; a part made with other options is recomputed."""

    target_fps: float
    min_pose_change_deg: float


@dataclass(frozen=True)
class FileResult:
    """What stage 1 did with one AMASS file."""

    path: str  # relative to the AMASS root, POSIX
    status: str  # 'written' | 'reused' | 'no_poses' | 'skipped'
    reason: str = ""
    frames: int = 0
    kept: int = 0
    gender: str = ""
    framerate: float = 0.0


def part_path(out_dir: Path, rel: str) -> Path:
    """The stage-1 part file of AMASS file ``rel`` (same relative path under ``out_dir/.parts``)."""
    return out_dir / PARTS_DIR / rel


def _part_key(source: Path, options: SamplingOptions) -> str:
    st = source.stat()
    return json.dumps({"part_version": PART_VERSION, **asdict(options),
                       "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}, sort_keys=True)


def _read_part_header(part: Path, key: str) -> FileResult | None:
    """The FileResult of a finished part made with ``key``, or None if it must be (re)computed."""
    try:
        with np.load(part, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return FileResult(path="", status="reused", frames=int(z["frames"]), kept=int(z["frame"].shape[0]),
                              gender=str(z["gender"]), framerate=float(z["framerate"]))
    except Exception:  # missing, truncated or old-format part: recompute it
        return None


def process_file(amass_root: str, out_dir: str, options: SamplingOptions, rel: str) -> FileResult:
    """Stage 1 for one file: reuse its part if current, else read, sample and write the part atomically."""
    source, part = Path(amass_root) / rel, part_path(Path(out_dir), rel)
    try:
        key = _part_key(source, options)
    except OSError as exc:
        return FileResult(rel, "skipped", reason=f"cannot stat file ({exc})")
    done = _read_part_header(part, key)
    if done is not None:
        return FileResult(rel, "reused", frames=done.frames, kept=done.kept, gender=done.gender,
                          framerate=done.framerate)
    try:
        seq = read_amass_sequence(source)
    except AmassFileError as exc:
        return FileResult(rel, "skipped", reason=exc.reason)
    if seq is None:
        return FileResult(rel, "no_poses")
    idx = select_frames(seq.poses, seq.framerate, options.target_fps, options.min_pose_change_deg)
    pose = seq.poses[idx].astype(np.float32)  # (K, 72)
    trans = seq.trans[idx].astype(np.float32)  # (K, 3)
    betas = seq.betas.astype(np.float32)  # (10,)
    if not (np.isfinite(pose).all() and np.isfinite(trans).all() and np.isfinite(betas).all()):
        return FileResult(rel, "skipped", reason="values overflow float32")
    with atomic_path(part) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=np.asarray(key), frame=idx.astype(np.int32), pose=pose, trans=trans, betas=betas,
                 gender=np.asarray(seq.gender), framerate=np.asarray(seq.framerate),
                 frames=np.asarray(seq.num_frames, dtype=np.int64))
    return FileResult(rel, "written", frames=seq.num_frames, kept=int(idx.size), gender=seq.gender,
                      framerate=seq.framerate)


def assign_split(rel: str, seed: int, val_fraction: float, val_datasets: Sequence[str] | None) -> str:
    """'train' or 'val' for one sequence.

    With ``val_datasets``: 'val' iff the file's AMASS dataset (first folder) is listed (case-insensitive, either
    spelling of :data:`AMASS_SPELLINGS`).
    Otherwise 'val' iff a blake2b hash of (seed, relative path) mapped to [0, 1) is below ``val_fraction``: the
    same sequence keeps its split when other AMASS subsets are added later, and the fraction holds on average.
    """
    if val_datasets is not None:
        return "val" if same_dataset_key(dataset_name(rel)) in {same_dataset_key(d) for d in val_datasets} else "train"
    digest = hashlib.blake2b(f"{seed}:{rel}".encode(), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "big") / 2.0**64 < val_fraction else "train"


def _load_part_arrays(part: Path) -> dict[str, np.ndarray]:
    """A part's arrays, checked for shape consistency and finiteness (the cache never holds NaN)."""
    try:
        with np.load(part, allow_pickle=False) as z:
            arrs = {k: z[k] for k in ("frame", "pose", "trans", "betas")}
    except Exception as exc:
        part.unlink(missing_ok=True)
        raise CacheBuildError(f"{part}: part file unreadable ({exc}); it was deleted, re-run to rebuild it") from exc
    k = arrs["frame"].shape[0]
    ok = (arrs["pose"].shape == (k, 72) and arrs["trans"].shape == (k, 3) and arrs["betas"].shape == (10,)
          and all(np.isfinite(arrs[n]).all() for n in ("pose", "trans", "betas")))
    if not ok:
        part.unlink(missing_ok=True)
        raise CacheBuildError(f"{part}: part file has bad shapes or NaN/inf; it was deleted, re-run to rebuild it")
    return arrs


def _write_split_arrays(out_dir: Path, split: str, members: list[FileResult]) -> None:
    """Concatenate the parts of ``members`` into the split's arrays (temp names, then os.replace)."""
    m, s = sum(r.kept for r in members), len(members)
    with contextlib.ExitStack() as stack:
        out = {name: stack.enter_context(atomic_npy(array_path(out_dir, split, name), dtype, (rows, *trailing)))
               for spec, rows in ((SAMPLE_ARRAYS, m), (SEQUENCE_ARRAYS, s))
               for name, (dtype, trailing) in spec.items()}  # fmt: skip
        start = 0
        for i, r in enumerate(members):
            arrs = _load_part_arrays(part_path(out_dir, r.path))
            if arrs["frame"].shape[0] != r.kept:
                raise CacheBuildError(f"{part_path(out_dir, r.path)}: part changed during the build; re-run")
            stop = start + r.kept
            for name in ("pose", "trans", "frame"):
                out[name][start:stop] = arrs[name]
            out["seq"][start:stop] = i
            out["betas"][i] = arrs["betas"]
            out["gender"][i] = GENDER_CODES[r.gender]
            start = stop


def _remove_stale_temps(out_dir: Path) -> None:
    """Delete temp files left by an interrupted earlier run (mpt.atomic names them '.<target>.<random><suffix>')."""
    for p in out_dir.rglob(".*.*"):
        if p.is_file():
            p.unlink(missing_ok=True)


def prepare_amass(
    amass_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    val_fraction: float = 0.05,
    val_datasets: Sequence[str] | None = None,
    target_fps: float = DEFAULT_TARGET_FPS,
    min_pose_change_deg: float = DEFAULT_MIN_POSE_CHANGE_DEG,
    seed: int = 0,
    workers: int = 1,
) -> dict[str, Any]:
    """Sample every AMASS file under ``amass_root`` into a motion cache at ``out_dir``; return its manifest.

    The split is by sequence: ``val_datasets`` (e.g. AMASS_DNN_VAL_DATASETS) if given, else a seeded hash with
    ``val_fraction`` (see assign_split). Unreadable files are logged by name, skipped and counted.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    amass_root, out_dir = Path(amass_root).resolve(), Path(out_dir).resolve()
    options = SamplingOptions(float(target_fps), float(min_pose_change_deg))
    if not (math.isfinite(options.target_fps) and options.target_fps > 0):
        raise ValueError(f"target_fps must be a positive number, got {target_fps}")
    if not math.isfinite(options.min_pose_change_deg):
        raise ValueError(f"min_pose_change_deg must be finite, got {min_pose_change_deg}")
    rels = [p.as_posix() for p in find_amass_files(amass_root)]
    if not rels:
        raise FileNotFoundError(f"no *.npz files under {amass_root}; extract the AMASS SMPL+H archives there")
    out_dir.mkdir(parents=True, exist_ok=True)
    # From here until the new manifest is written the folder is unfinished, whatever it held before.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    _remove_stale_temps(out_dir)

    # Stage 1: per-file parts.
    task = partial(process_file, str(amass_root), str(out_dir), options)
    results: list[FileResult] = []
    if workers == 1:
        results = [task(rel) for rel in rels]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = list(pool.imap(task, rels, chunksize=8))
    for r in results:
        if r.status == "skipped":
            log.warning("skipping unusable AMASS file %s: %s", amass_root / r.path, r.reason)
    skipped = [r for r in results if r.status == "skipped"]
    used = [r for r in results if r.status in ("written", "reused")]
    if not used:
        raise CacheBuildError(f"no usable AMASS motion files under {amass_root} ({len(skipped)} unreadable)")

    if val_datasets is not None:
        present = {same_dataset_key(dataset_name(r.path)) for r in used}
        missing = [d for d in val_datasets if same_dataset_key(d) not in present]
        if missing:
            log.warning("validation datasets %s not found under %s (found: %s)", missing, amass_root,
                        sorted({dataset_name(r.path) for r in used}))
    split_of = {r.path: assign_split(r.path, seed, val_fraction, val_datasets) for r in used}

    # Stage 2: arrays (each to a temp name, then renamed), the manifest last.
    members = {s: [r for r in used if split_of[r.path] == s] for s in SPLITS}
    for s in SPLITS:
        _write_split_arrays(out_dir, s, members[s])

    sequences = []
    for s in SPLITS:
        offset = 0
        for i, r in enumerate(members[s]):
            sequences.append({"path": r.path, "dataset": dataset_name(r.path), "split": s, "split_index": i,
                              "sample_offset": offset, "frames": r.frames, "kept": r.kept, "gender": r.gender,
                              "framerate": r.framerate})
            offset += r.kept
    sequences.sort(key=lambda q: q["path"])
    total_bytes = sum(array_path(out_dir, s, n).stat().st_size
                      for s in SPLITS for n in (*SAMPLE_ARRAYS, *SEQUENCE_ARRAYS))
    manifest = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "source_root": str(amass_root),
        "options": {**asdict(options), "val_fraction": val_fraction,
                    "val_datasets": list(val_datasets) if val_datasets is not None else None, "seed": seed},
        "gender_codes": GENDER_CODES,
        "arrays": {n: {"dtype": d.str, "row_shape": list(t)} for n, (d, t) in {**SAMPLE_ARRAYS,
                                                                                  **SEQUENCE_ARRAYS}.items()},
        "counts": {
            "files": len(rels),
            "sequences": len(used),
            "no_poses": sum(r.status == "no_poses" for r in results),
            "skipped": len(skipped),
            "frames_in": sum(r.frames for r in used),
            "samples": sum(r.kept for r in used),
        },
        "skipped": [{"path": r.path, "reason": r.reason} for r in skipped],
        "splits": {s: {"samples": sum(r.kept for r in members[s]), "sequences": len(members[s])} for s in SPLITS},
        "bytes_per_sample": BYTES_PER_SAMPLE,
        "bytes_per_sequence": BYTES_PER_SEQUENCE,
        "total_bytes": total_bytes,
        "last_run": {"parts_written": sum(r.status == "written" for r in results),
                     "parts_reused": sum(r.status == "reused" for r in results)},
        "sequences": sequences,
    }
    write_json_atomic(out_dir / MANIFEST_NAME, manifest)
    return manifest


def format_summary(manifest: dict[str, Any]) -> str:
    """A human-readable summary of a prepare run (what the CLI prints)."""
    c, sp = manifest["counts"], manifest["splits"]
    lines = [
        f"AMASS root      : {manifest['source_root']}",
        f"files found     : {c['files']} ({c['sequences']} motions read, {c['no_poses']} without poses, "
        f"{c['skipped']} skipped)",
    ]
    lines += [f"  skipped       : {s['path']}: {s['reason']}" for s in manifest["skipped"]]
    lines += [
        f"frames in       : {c['frames_in']}",
        f"samples kept    : {c['samples']} ("
        + ", ".join(f"{s} {sp[s]['samples']} from {sp[s]['sequences']} sequences" for s in SPLITS) + ")",
        f"bytes per sample: {manifest['bytes_per_sample']} (2M samples -> "
        f"{manifest['bytes_per_sample'] * 2_000_000 / 1e6:.0f} MB)",
        f"total bytes     : {manifest['total_bytes']} ({manifest['total_bytes'] / 1e6:.1f} MB)",
        f"parts           : {manifest['last_run']['parts_written']} written, "
        f"{manifest['last_run']['parts_reused']} reused",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: parse arguments, build the cache, print the summary."""
    ap = argparse.ArgumentParser(description="Sample AMASS into an mpt motion cache (resumable).")
    ap.add_argument("--amass-root", required=True, type=Path, help="folder holding the extracted AMASS datasets")
    ap.add_argument("--out", required=True, type=Path, help="cache folder to create or resume")
    ap.add_argument("--target-fps", type=float, default=DEFAULT_TARGET_FPS)
    ap.add_argument("--min-pose-change-deg", type=float, default=DEFAULT_MIN_POSE_CHANGE_DEG)
    ap.add_argument("--val-datasets", type=str, default=None,
                    help=f"comma-separated AMASS datasets for validation, e.g. {','.join(AMASS_DNN_VAL_DATASETS)}"
                         " (overrides --val-fraction; MPI_HDM05 / HDM05 and MPI_mosh / MoSh are the same datasets under"
                         " their older and current names: either spelling selects either folder)")
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    val = [d.strip() for d in args.val_datasets.split(",") if d.strip()] if args.val_datasets else None
    try:
        manifest = prepare_amass(args.amass_root, args.out, val_fraction=args.val_fraction, val_datasets=val,
                                 target_fps=args.target_fps, min_pose_change_deg=args.min_pose_change_deg,
                                 seed=args.seed, workers=args.workers)
    except (MptError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(manifest))
    return 0
