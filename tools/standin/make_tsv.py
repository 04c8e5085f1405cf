"""Demo image sets in METRO's TSV format, rendered from the demo body, so fine-tuning and evaluation run without
licensed images.

The demo AMASS motions are posed with the demo body (neutral), placed on the floor of the Human3.6M capture volume
and seen by the Human3.6M S1 cameras (the 8 virtual views for the COCO-like sets). Each image is the camera's
central 600 x 600 px (450 x 600 for COCO-like) window resampled to ``img_size``: fx, fy scaled by the same factor and
the principal point moved with the window, no lens distortion. The body is drawn with :mod:`mpt.vis.render` (smooth
Lambert shading, a random light from the camera's side and above) in clothes of random colours
(:mod:`tools.standin.appearance`: skin, hair, eyes, a shirt whose front differs from its back and carries a
band of one fixed colour, trousers, shoes;
mirror-symmetric, so the front / back, and from it left / right, can be told as in a photograph) over a random
plain, noisy or smooth background. Four sets (layout of METRO's downloads, docs/DOWNLOAD.md in
microsoft/MeshTransformer; file contract in :mod:`mpt.data.tsv`):

  human3.6m/train.*            S1, S5, S6; all 4 cameras; 3D joints, 2D joints and SMPL labels
  human3.6m/valid_protocol2.*  S9, S11; camera 60457274 only; frames with frame_index % 5 == 0 (protocol 2)
  coco_smpl/train.*            8 virtual views, 3:4 portrait images; 2D joints only (has_3d_joints = has_smpl = 0)
  coco_keypoints/train.*       the stand-in for COCO's person-keypoint images, which a pose network learns from
                               (tools/standin/train_pose.py): square images from the 8 virtual views of the motions
                               the protocol-2 subjects do NOT perform (held out, so keypoints measured on the
                               protocol-2 set are measured on unseen motions); 2D joints only, COCO's 17 labelled;
                               tight boxes as the Human3.6M sets
  3dpw/train.*, 3dpw/has_gender/test.* (+ 3dpw/test_has_gender.yaml)   3DPW-like splits in METRO's 3DPW layout:
                               male and female bodies with their gender, labels from the neutral body as METRO's
                               3DPW files have them (tools/standin/pw3d.py, which documents its own labels)

each as ``<split>.img.tsv`` (name, base64 JPEG), ``<split>.label.tsv`` (name, JSON list with one person dict),
``<split>.hw.tsv`` (name, JSON [{"height", "width"}]), their ``.lineidx``, and ``<split>.yaml`` naming them; and
METRO's composite over human3.6m/train and coco_smpl/train, Tax-H36m-coco40k-Muco-UP-Mpii/train.yaml + its
linelist (tools/standin/composite.py), which ``data=metro_mix`` reads.

Label fields, as METRO's writers produce them (metro/tools/tsv_demo_h36m.py, tsv_demo_3dpw.py; GraphCMR
datasets/preprocess/h36m.py for the Human3.6M conventions):
  - ``center`` [x, y] and ``scale`` (box side = scale * 200 px): the person's silhouette box (the projected
    vertices' bounding box, clipped to the image). Human3.6M: scale = max side / 200 (GraphCMR takes the mask's box
    as is); COCO-like: scale = 1.2 * max side / 200 (METRO's scaleFactor on annotated person boxes).
  - ``2d_joints`` 24 x 3 (x, y, conf) pixels, METRO's J24 order; conf 1 for joints inside the image. In the COCO-like
    set only the 17 COCO-annotated joints have conf 1 (SPIN's COCO preprocessing leaves Neck, Top_of_Head, Pelvis,
    Thorax, Spine, Jaw and Head at 0).
  - ``3d_joints`` 24 x 4 (x, y, z, conf), camera frame, metres, RELATIVE TO THE J24 PELVIS (GraphCMR subtracts the
    root; METRO's reader subtracts it again).
  - ``pose`` 72: SMPL axis-angle with the global orientation in the camera frame (R_cam @ R_root); ``betas`` 10;
    ``has_2d_joints``, ``has_3d_joints``, ``has_smpl``; ``gender`` "neutral".
  - Ours, beyond METRO (readers ignore unknown keys): ``pelvis_cam`` [x, y, z] metres, the J24 pelvis in the camera
    frame, so ``3d_joints + pelvis_cam`` are the camera-frame joints; ``cam_param`` {"focal": [fx, fy],
    "princpt": [cx, cy]} (Pose2Mesh's naming) of the image; projecting the former with the latter gives
    ``2d_joints``.

J24 from the demo body (joint names of mpt.body.joints and mpt.data.joints24):
  R/L ankle, knee, hip, wrist, elbow, shoulder, Neck, Pelvis, Head <- the Human3.6M regressor's joints of the same
  name; Spine <- H36M 'torso'; Jaw <- H36M 'nose' (GraphCMR/SPIN's Human3.6M preprocessing stores H36M's nose joint
  in the J24 Jaw slot); Thorax <- midpoint of the H36M shoulders; Nose, L/R_Eye, L/R_Ear <- the COCO face landmark
  vertices (smplx vertex ids, BodyModel.coco_keypoints); Top_of_Head <- the template's highest vertex (the crown,
  computed from the model so it holds for any SMPL-topology body).
Names: METRO's Human3.6M keys ``images/S9_Walking.60457274_000001.jpg`` (subject, action, camera, 1-based
frame); the action is a Human3.6M action name given to each demo motion.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mpt.atomic import write_json_atomic, write_text_atomic
from mpt.body import BodyModel, find_smpl_file
from mpt.data.amass import find_amass_files, read_amass_sequence
from mpt.data.tsv import write_tsv
from mpt.errors import MptError
from mpt.geometry import CameraSet, h36m_s1_cameras, virtual_cameras
from tools.standin.composite import COMPOSITE_FOLDER, COMPOSITE_SPLIT, write_composite
from tools.standin.pw3d import make_3dpw_sets, pw3d_specs
from tools.standin.render import DemoTsvError, _render_set, _Shot, j24_from_body

if TYPE_CHECKING:
    from tools.standin.make_assets import DemoAssets

__all__ = ["MANIFEST_NAME", "DemoTsvError", "DemoTsvSet", "held_out_motions", "j24_from_body", "main", "make_demo_tsv",
           "subject_motions"]

FORMAT_VERSION = 4  # 3: one random stream per set; 4: clothes with a fixed-colour front panel, larger eyes
MANIFEST_NAME = "manifest.json"

# Human3.6M action names (keys of action_name_dict in metro/tools/tsv_demo_h36m.py, one spelling each).
H36M_ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting", "SittingDown",
    "Smoking", "TakingPhoto", "Waiting", "Walking", "WalkingDog", "WalkTogether",
)  # fmt: skip
TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6")
VALID_SUBJECTS: tuple[str, ...] = ("S9", "S11")
P2_CAMERA = "60457274"  # protocol 2: the frontal camera only (GraphCMR datasets/preprocess/h36m.py)
P2_FRAME_STEP = 5  # protocol 2: frame_i % 5 == 0
H36M_BOX_FACTOR = 1.0  # GraphCMR h36m.py: scale = max(mask box side) / 200
COCO_BOX_FACTOR = 1.2  # METRO tsv_demo_3dpw.py / SPIN coco.py: scaleFactor = 1.2 on annotated boxes
PLACEMENT_RADIUS_M = 0.25  # random horizontal offset of each subject / image from the volume centre


@dataclass(frozen=True)
class DemoTsvSet:
    """One generated set: ``folder`` / ``<split>.*`` files holding ``count`` images."""

    folder: Path
    split: str
    count: int


# ---------------------------------------------------------------------------------------------------------------
# Scene: motions, placement, cameras


def _load_motions(amass_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(relative path, poses (N, 72), betas (10,)) of every AMASS motion under ``amass_dir``."""
    if not Path(amass_dir).is_dir():
        raise DemoTsvError(f"AMASS folder {amass_dir} does not exist; generate the demo assets first "
                           "(tools/standin/make_assets.py)")
    motions = []
    for rel in find_amass_files(amass_dir):
        seq = read_amass_sequence(Path(amass_dir) / rel)
        if seq is not None:
            motions.append((rel.as_posix(), seq.poses, seq.betas))
    if not motions:
        raise DemoTsvError(f"no AMASS motion (*.npz with 'poses') under {amass_dir}; regenerate the demo assets "
                           "(tools/standin/make_assets.py)")
    return motions


def _spread(n_available: int, k: int) -> list[int]:
    """k distinct indices spread evenly over range(n_available) (fewer if n_available < k)."""
    k = min(k, n_available)
    return sorted({round(float(x)) for x in np.linspace(0, n_available - 1, k)}) if k > 0 else []


def subject_motions(subject: int, n_motions: int) -> list[int]:
    """Motions performed by Human3.6M-like subject ``subject`` (0..4: TRAIN_SUBJECTS then VALID_SUBJECTS).

    The motions are dealt round-robin over all 5 subjects, so with enough motions the validation subjects perform
    motions the training subjects never do, as in Human3.6M.
    """
    n_all = len(TRAIN_SUBJECTS) + len(VALID_SUBJECTS)
    return list(range(subject, n_motions, n_all)) or [subject % n_motions]


def held_out_motions(n_motions: int) -> list[int]:
    """Motions no protocol-2 subject performs: the keypoint set's motions."""
    p2 = {m for s in range(len(VALID_SUBJECTS)) for m in subject_motions(len(TRAIN_SUBJECTS) + s, n_motions)}
    return [m for m in range(n_motions) if m not in p2]


def _h36m_shots(motions: list, subjects: Sequence[str], subject_offset: int, cameras: CameraSet,
                camera_ids: Sequence[int], total: int, frame_step: int, size: int,
                rng: np.random.Generator) -> list[_Shot]:
    """Human3.6M-like shots: each subject performs its share of the motions (one action each, see
    :func:`subject_motions`), seen by ``camera_ids`` at evenly spread frames whose index is a multiple of
    ``frame_step``. A subject's motions get Human3.6M action names in turn; an action that comes round again is its
    next trial, named as GraphCMR names Human3.6M's second trials (file "Walking 1.<camera>" ->
    ``S9_Walking_1.<camera>_<frame>.jpg``), so image names stay unique however many motions there are.
    """
    per_subject = math.ceil(total / (len(subjects) * len(camera_ids)))
    shots: list[_Shot] = []
    for s, subject in enumerate(subjects):
        own = subject_motions(subject_offset + s, len(motions))
        yaw = float(rng.uniform(0, 2 * math.pi))
        offset = tuple(float(x) for x in rng.uniform(-PLACEMENT_RADIUS_M, PLACEMENT_RADIUS_M, 2))
        trials: dict[str, int] = {}
        for m, seq in enumerate(own):
            share = per_subject // len(own) + (m < per_subject % len(own))
            candidates = np.arange(0, motions[seq][1].shape[0], frame_step)
            action = H36M_ACTIONS[seq % len(H36M_ACTIONS)]
            trial = trials[action] = trials.get(action, -1) + 1
            action = f"{action}_{trial}" if trial else action
            for frame in candidates[_spread(len(candidates), share)].tolist():
                for c in camera_ids:
                    name = f"images/{subject}_{action}.{cameras.names[c]}_{frame + 1:06d}.jpg"
                    shots.append(_Shot(name, seq, frame, yaw, offset, c, size, size))
    return shots[:total]


def _view_shots(motions: list, seqs: Sequence[int], n_cameras: int, total: int, width: int, height: int,
                name: str, rng: np.random.Generator) -> list[_Shot]:
    """COCO-like shots: a random frame of one of ``seqs``, orientation, placement and virtual camera per image;
    ``name`` is formatted with the 1-based image number."""
    shots = []
    for k in range(total):
        seq = int(seqs[int(rng.integers(len(seqs)))])
        frame = int(rng.integers(motions[seq][1].shape[0]))
        offset = tuple(float(x) for x in rng.uniform(-PLACEMENT_RADIUS_M, PLACEMENT_RADIUS_M, 2))
        shots.append(_Shot(name.format(k + 1), seq, frame, float(rng.uniform(0, 2 * math.pi)), offset,
                           int(rng.integers(n_cameras)), width, height))  # fmt: skip
    return shots


def _write_set(folder: Path, split: str, rows: tuple[list, list, list]) -> DemoTsvSet:
    """The three TSVs (+ .lineidx, atomic) and a METRO-style ``<split>.yaml`` naming them."""
    img_rows, label_rows, hw_rows = rows
    folder.mkdir(parents=True, exist_ok=True)
    write_tsv(folder / f"{split}.img.tsv", img_rows)
    write_tsv(folder / f"{split}.label.tsv", label_rows)
    write_tsv(folder / f"{split}.hw.tsv", hw_rows)
    write_text_atomic(folder / f"{split}.yaml", f"img: {split}.img.tsv\nlabel: {split}.label.tsv\nhw: {split}.hw.tsv\n")
    return DemoTsvSet(folder=folder, split=split, count=len(img_rows))


# ---------------------------------------------------------------------------------------------------------------
# Entry points


def _fingerprint(paths: Sequence[Path]) -> str:
    """sha256 over the names and bytes of the asset files the sets are rendered from (folders: every file)."""
    h = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).is_dir() else [Path(root)]
        for p in files:
            h.update(p.name.encode())
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def _set_specs(out_dir: Path) -> dict[str, tuple[Path, str]]:
    return {
        "h36m": (out_dir / "human3.6m", "train"),
        "h36m_p2": (out_dir / "human3.6m", "valid_protocol2"),
        "coco": (out_dir / "coco_smpl", "train"),
        "keypoints": (out_dir / "coco_keypoints", "train"),
        **pw3d_specs(out_dir),
    }


def _existing(out_dir: Path, options: dict[str, Any]) -> dict[str, DemoTsvSet] | None:
    """The sets of a previous run with the same options, or None."""
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if manifest.get("options") != options:
        return None
    sets = {}
    for key, (folder, split) in _set_specs(out_dir).items():
        files = [folder / f"{split}.{k}.tsv" for k in ("img", "label", "hw")]
        if not all(f.is_file() for f in files) or key not in manifest.get("counts", {}):
            return None
        sets[key] = DemoTsvSet(folder=folder, split=split, count=int(manifest["counts"][key]))
    if not (out_dir / COMPOSITE_FOLDER / f"{COMPOSITE_SPLIT}.linelist.tsv").is_file():  # written before the manifest
        return None
    return sets


def make_demo_tsv(
    assets: DemoAssets,
    out_dir: str | Path,
    seed: int = 0,
    img_size: int = 256,
    n_train: int = 1000,
    n_valid: int = 60,
    n_coco: int = 100,
    n_keypoints: int = 3000,
    backgrounds: Sequence[str] = ("plain", "noise", "smooth"),
    jpeg_quality: int = 90,
    n_3dpw_train: int = 40,
    n_3dpw_test: int = 24,
) -> dict[str, DemoTsvSet]:
    """Render the demo TSV sets into ``out_dir``; returns {"h36m", "h36m_p2", "coco", "keypoints", "3dpw_train",
    "3dpw_test"} -> :class:`DemoTsvSet` (the 3DPW-like splits: :mod:`tools.standin.pw3d`).

    Idempotent: the manifest is written last, and a folder whose manifest records the same options (and the
    same asset bytes) is returned as is. ``assets`` is :func:`tools.standin.make_assets.make_demo_assets`'s result.
    """
    out_dir = Path(out_dir)
    for name in ("smpl_dir", "h36m_regressor", "amass_dir"):
        if not Path(getattr(assets, name)).exists():
            raise DemoTsvError(f"demo asset {name} = {getattr(assets, name)} does not exist; regenerate the assets "
                               "with tools/standin/make_assets.py")
    counts = (n_train, n_valid, n_coco, n_keypoints, n_3dpw_train, n_3dpw_test)
    if img_size < 32 or min(counts) < 0:
        raise ValueError(f"img_size must be >= 32 and the counts >= 0, got {img_size}, {counts}")
    options = {
        "version": FORMAT_VERSION, "seed": int(seed), "img_size": int(img_size), "n_train": int(n_train),
        "n_valid": int(n_valid), "n_coco": int(n_coco), "n_keypoints": int(n_keypoints),
        "n_3dpw_train": int(n_3dpw_train), "n_3dpw_test": int(n_3dpw_test),
        "backgrounds": list(backgrounds),
        "jpeg_quality": int(jpeg_quality),
        "assets": _fingerprint([find_smpl_file(assets.smpl_dir, "neutral"), Path(assets.h36m_regressor),
                                Path(assets.amass_dir)]),
    }  # fmt: skip
    done = _existing(out_dir, options)
    if done is not None:
        return done
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)

    # One intra-op thread while rendering: the tensors here are small (one image, one body), and on a busy
    # machine OpenMP's thread hand-offs cost more than they save (measured on this repository's 2-core CPU under
    # load: 37 s with 2 threads, 2.5 s with 1).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sets = _generate(assets, out_dir, seed, img_size, counts, backgrounds, jpeg_quality)
    finally:
        torch.set_num_threads(threads)
    write_json_atomic(out_dir / MANIFEST_NAME, {"options": options, "counts": {k: s.count for k, s in sets.items()}})
    return sets


def _generate(assets: DemoAssets, out_dir: Path, seed: int, img_size: int, counts: tuple[int, ...],
              backgrounds: Sequence[str], jpeg_quality: int) -> dict[str, DemoTsvSet]:
    """Render and write the sets (no manifest); ``counts``: images of each, in make_demo_tsv's order."""
    n_train, n_valid, n_coco, n_keypoints, n_3dpw_train, n_3dpw_test = counts
    # Each set draws from its own stream (seed, set), so the size of one set leaves the images of the others as
    # they are: a larger fine-tuning set keeps the protocol-2 images and the pose network's keypoint set.
    keys = ("h36m", "h36m_p2", "coco", "keypoints", "3dpw")
    streams = {key: np.random.default_rng([seed, k]) for k, key in enumerate(keys)}
    motions = _load_motions(Path(assets.amass_dir))
    body = BodyModel(assets.smpl_dir, assets.h36m_regressor)
    h36m_cams = h36m_s1_cameras()
    p2_cam = h36m_cams.names.index(P2_CAMERA)
    specs = _set_specs(out_dir)
    sets: dict[str, DemoTsvSet] = {}

    rng = streams["h36m"]
    shots = _h36m_shots(motions, TRAIN_SUBJECTS, 0, h36m_cams, range(len(h36m_cams)), n_train, 1, img_size, rng)
    rows = _render_set(shots, motions, h36m_cams, body, True, H36M_BOX_FACTOR, False, backgrounds, jpeg_quality, rng)
    sets["h36m"] = _write_set(*specs["h36m"], rows)

    rng = streams["h36m_p2"]
    shots = _h36m_shots(motions, VALID_SUBJECTS, len(TRAIN_SUBJECTS), h36m_cams, [p2_cam], n_valid, P2_FRAME_STEP,
                        img_size, rng)  # fmt: skip
    rows = _render_set(shots, motions, h36m_cams, body, True, H36M_BOX_FACTOR, False, backgrounds, jpeg_quality, rng)
    sets["h36m_p2"] = _write_set(*specs["h36m_p2"], rows)

    views = virtual_cameras(8)
    rng = streams["coco"]
    shots = _view_shots(motions, range(len(motions)), len(views), n_coco, round(img_size * 0.75), img_size,
                        "train2014/COCO_train2014_{:012d}.jpg", rng)  # fmt: skip
    rows = _render_set(shots, motions, views, body, False, COCO_BOX_FACTOR, True, backgrounds, jpeg_quality, rng)
    sets["coco"] = _write_set(*specs["coco"], rows)

    held_out = held_out_motions(len(motions))
    if n_keypoints and not held_out:
        raise DemoTsvError(f"all {len(motions)} motions under {assets.amass_dir} are performed by the protocol-2 "
                           "subjects, none is left for the keypoint set; generate more motions")  # fmt: skip
    rng = streams["keypoints"]
    shots = _view_shots(motions, held_out, len(views), n_keypoints, img_size, img_size, "train2017/{:012d}.jpg", rng)
    rows = _render_set(shots, motions, views, body, False, H36M_BOX_FACTOR, True, backgrounds, jpeg_quality, rng)
    sets["keypoints"] = _write_set(*specs["keypoints"], rows)
    # METRO's composite over the Human3.6M and COCO training sets (tools/standin/composite.py)
    write_composite(out_dir, [(s.folder.name, s.split, s.count) for s in (sets["h36m"], sets["coco"])], [1.0, 0.5],
                    seed)  # fmt: skip
    pw3d = make_3dpw_sets(Path(assets.smpl_dir), Path(assets.h36m_regressor), Path(assets.amass_dir), out_dir,
                          n_3dpw_train, n_3dpw_test, img_size, streams["3dpw"], tuple(backgrounds),
                          jpeg_quality)  # fmt: skip
    sets.update({k: DemoTsvSet(folder=s.folder, split=s.split, count=s.count) for k, s in pw3d.items()})
    return sets


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m tools.standin.make_tsv --assets DIR --out DIR [--seed 0]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", required=True, help="demo assets folder (tools/standin/make_assets.py --out)")
    parser.add_argument("--out", required=True, help="folder for human3.6m/ and coco_smpl/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-valid", type=int, default=60)
    parser.add_argument("--n-coco", type=int, default=100)
    parser.add_argument("--n-keypoints", type=int, default=3000, help="images of the pose network's keypoint set")
    parser.add_argument("--n-3dpw-train", type=int, default=40, help="images of the 3DPW-like train split")
    parser.add_argument("--n-3dpw-test", type=int, default=24, help="images of the 3DPW-like test split")
    args = parser.parse_args(argv)
    from tools.standin.make_assets import MANIFEST_NAME as ASSETS_MANIFEST
    from tools.standin.make_assets import DemoAssets, make_demo_assets

    start = time.perf_counter()
    try:
        root = Path(args.assets)
        if (root / ASSETS_MANIFEST).is_file():  # use them as they are, whatever their seed
            assets = DemoAssets.at(root)
        elif not root.exists() or not any(root.iterdir()):
            assets = make_demo_assets(root, seed=args.seed)
        else:
            raise DemoTsvError(f"{root} is not a demo-assets folder (no {ASSETS_MANIFEST}); pass the folder given to "
                               "tools/standin/make_assets.py --out, or a new or empty folder to generate them in")
        sets = make_demo_tsv(assets, args.out, seed=args.seed, img_size=args.img_size, n_train=args.n_train,
                             n_valid=args.n_valid, n_coco=args.n_coco, n_keypoints=args.n_keypoints,
                             n_3dpw_train=args.n_3dpw_train, n_3dpw_test=args.n_3dpw_test)  # fmt: skip
    except MptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for key, s in sets.items():
        print(f"{key:9s} {s.count:5d} images  {s.folder / s.split}.*")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
