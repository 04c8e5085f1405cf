"""A 3DPW-like stand-in in METRO's 3DPW TSV layout, so ``mpt-eval data=3dpw_test`` and ``experiment=finetune_3dpw``
run without the licensed images.

METRO's 3DPW files (microsoft/MeshTransformer docs/DOWNLOAD.md), which ``configs/data/3dpw_*.yaml`` read::

    3dpw/train.{img,hw,label}.tsv
    3dpw/test_has_gender.yaml        naming has_gender/test.{img,hw,label}.tsv

Labels as METRO's writer makes them (metro/tools/tsv_demo_3dpw.py, from Pose2Mesh's 3DPW annotations): ``center``
and ``scale`` of the person box enlarged 1.2 times; ``pose`` (72, global orientation in the camera frame) and
``betas`` (10) of the person's SMPL fit; ``gender`` "m" / "f"; ``3d_joints`` the J24 joints of the NEUTRAL
SMPL(pose, betas), whatever the person's gender (METRO's writer poses every row with its neutral SMPL class);
``2d_joints`` their projection; ``has_2d_joints`` = ``has_3d_joints`` = ``has_smpl`` = 1.

The stand-in: demo motions of the male and female subjects (their AMASS gender), each image rendered with the
male or female demo body, as a 3DPW subject is a real person of that gender, from a random one of the 8 virtual
views in a 3:4 portrait frame (3DPW's phone videos are portrait). The labels are then made as METRO's writer makes
them, from the neutral body, so the neutral ground truth (METRO's measurement) and the gendered one
(``eval.gt_body=gendered``) differ here as they do on the real set. ``3d_joints`` are stored minus their pelvis and
the 2D joints are those of this neutral skeleton placed at the rendered body's pelvis (``pelvis_cam``), so
``3d_joints + pelvis_cam`` projected with ``cam_param`` gives ``2d_joints`` as in the other demo sets. Train and test
hold different motions, as 3DPW's splits hold different sequences; image names follow 3DPW's
``<sequence>/image_<frame>.jpg``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mpt.atomic import write_text_atomic
from mpt.body import BodyModel
from mpt.data.amass import find_amass_files, read_amass_sequence
from mpt.data.joints24 import J24_PELVIS
from mpt.data.tsv import write_tsv
from mpt.geometry import project_points, virtual_cameras
from tools.standin.render import DemoTsvError, _render_set, _Shot, j24_from_body

__all__ = ["GENDER_LABELS", "TEST_SPLIT", "Pw3dSet", "make_3dpw_sets", "pw3d_specs"]

GENDER_LABELS = {"male": "m", "female": "f"}  # 3DPW's / METRO's gender strings
TEST_SPLIT = "test_has_gender"  # the yaml METRO's 3dpw.tar holds for the test set
PLACEMENT_RADIUS_M = 0.25  # random horizontal offset of the pelvis from the volume centre (as the other demo sets)
BOX_FACTOR = 1.2  # metro/tools/tsv_demo_3dpw.py: scale = scaleFactor (1.2) * max box side / 200


@dataclass(frozen=True)
class Pw3dSet:
    """One written split: ``folder`` / ``<split>.*`` files (the test set's yaml names them) holding ``count`` rows."""

    folder: Path
    split: str
    count: int


def pw3d_specs(out_dir: Path) -> dict[str, tuple[Path, str]]:
    """Where each split's TSV files go: {"3dpw_train", "3dpw_test"} -> (folder, file prefix)."""
    return {"3dpw_train": (out_dir / "3dpw", "train"), "3dpw_test": (out_dir / "3dpw" / "has_gender", "test")}


def _gendered_motions(amass_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray, str]]:
    """(sequence name, poses (N, 72), betas (10,), gender) of every male or female AMASS motion under ``amass_dir``."""
    motions = []
    for rel in find_amass_files(amass_dir):
        seq = read_amass_sequence(Path(amass_dir) / rel)
        if seq is not None and seq.gender in GENDER_LABELS:
            name = "_".join(rel.with_suffix("").parts).lower().replace("_poses", "")
            motions.append((name, seq.poses, seq.betas, seq.gender))
    if len(motions) < 2:
        raise DemoTsvError(f"the 3DPW-like set needs two or more motions of male or female subjects under "
                           f"{amass_dir}, found {len(motions)}; regenerate the demo assets")  # fmt: skip
    return motions


def _shots(motions: list, seqs: list[int], total: int, size: int, n_views: int, rng: np.random.Generator
           ) -> list[_Shot]:  # fmt: skip
    """``total`` shots spread over the frames of the motions ``seqs`` (distinct frames, so distinct names)."""
    shots = []
    per_motion = math.ceil(total / len(seqs))
    for seq in seqs:
        name, n_frames = motions[seq][0], motions[seq][1].shape[0]
        for frame in sorted({round(float(x)) for x in np.linspace(0, n_frames - 1, min(per_motion, n_frames))}):
            offset = tuple(float(x) for x in rng.uniform(-PLACEMENT_RADIUS_M, PLACEMENT_RADIUS_M, 2))
            shots.append(_Shot(f"{name}/image_{frame:05d}.jpg", seq, frame, float(rng.uniform(0, 2 * math.pi)),
                               offset, int(rng.integers(n_views)), round(size * 0.75), size))  # fmt: skip
    return shots[:total]


def _metro_labels(label_rows: list, hw_rows: list, neutral: BodyModel, gender: str) -> list:
    """Label rows rewritten as METRO's tsv_demo_3dpw.py writes them: 3D / 2D joints of the neutral SMPL(pose, betas)
    (module docstring), the 3DPW gender string."""
    people = [json.loads(row[1])[0] for row in label_rows]
    pose = torch.tensor([p["pose"] for p in people], dtype=torch.float32)  # the stored (rounded) labels
    betas = torch.tensor([p["betas"] for p in people], dtype=torch.float32)
    with torch.no_grad():
        out = neutral(pose, betas)
        j24 = j24_from_body(neutral, out.vertices, out.joints).double()  # (B, 24, 3)
    j24 = j24 - j24[:, J24_PELVIS : J24_PELVIS + 1]
    rows = []
    for (name, _), (_, hw), person, joints in zip(label_rows, hw_rows, people, j24, strict=True):
        size = json.loads(hw)[0]
        K = torch.eye(3, dtype=torch.float64)
        K[[0, 1], [0, 1]] = torch.tensor(person["cam_param"]["focal"], dtype=torch.float64)
        K[:2, 2] = torch.tensor(person["cam_param"]["princpt"], dtype=torch.float64)
        uv = project_points(joints + torch.tensor(person["pelvis_cam"], dtype=torch.float64), K).numpy()
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= size["width"] - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= size["height"] - 1)
        person.update({
            "2d_joints": np.round(np.concatenate([uv, inside[:, None]], axis=1), 3).tolist(),
            "3d_joints": np.round(np.concatenate([joints.numpy(), np.ones((24, 1))], axis=1), 6).tolist(),
            "gender": GENDER_LABELS[gender],
        })  # fmt: skip
        rows.append((name, json.dumps([person], separators=(",", ":"))))
    return rows


def _render_split(motions: list, seqs: list[int], total: int, smpl_dir: Path, h36m_regressor: Path,
                  neutral: BodyModel, size: int, backgrounds: tuple[str, ...], jpeg_quality: int,
                  rng: np.random.Generator) -> tuple[list, list, list]:  # fmt: skip
    """Rows (img, label, hw) of one split: each gender's shots rendered with that gender's body, then relabelled."""
    views = virtual_cameras(8)
    shots = _shots(motions, seqs, total, size, len(views), rng)
    rows: tuple[list, list, list] = ([], [], [])
    for gender in GENDER_LABELS:
        mine = [s for s in shots if motions[s.seq][3] == gender]
        if not mine:
            continue
        body = BodyModel(smpl_dir, h36m_regressor, genders=(gender,))
        img, label, hw = _render_set(mine, motions, views, body, True, BOX_FACTOR, False, backgrounds,
                                     jpeg_quality, rng)  # fmt: skip
        rows[0].extend(img)
        rows[1].extend(_metro_labels(label, hw, neutral, gender))
        rows[2].extend(hw)
    order = np.argsort([name for name, _ in rows[0]], kind="stable")  # sequences in name order, as 3DPW's files
    return tuple([r[i] for i in order] for r in rows)  # type: ignore[return-value]


def make_3dpw_sets(smpl_dir: Path, h36m_regressor: Path, amass_dir: Path, out_dir: Path, n_train: int, n_test: int,
                   img_size: int, rng: np.random.Generator, backgrounds: tuple[str, ...] = ("plain", "noise", "smooth"),
                   jpeg_quality: int = 90) -> dict[str, Pw3dSet]:  # fmt: skip
    """Render the 3DPW-like train and test splits into ``out_dir``/3dpw (module docstring); {"3dpw_train",
    "3dpw_test"} -> :class:`Pw3dSet`. The motions go to the splits in pairs of one male and one female motion, so each
    split holds both genders when there are enough (with two motions, both splits show the same two)."""
    motions = _gendered_motions(amass_dir)
    by_gender = {g: [i for i, m in enumerate(motions) if m[3] == g] for g in GENDER_LABELS}
    ordered = [i for pair in zip(*by_gender.values()) for i in pair]  # male, female, male, female, ...
    ordered += [i for i in range(len(motions)) if i not in ordered]
    test = [ordered[k] for k in range(len(ordered)) if k % 4 in (0, 1)]  # pairs of one male, one female motion
    train = [i for i in ordered if i not in test] or test
    neutral = BodyModel(smpl_dir, h36m_regressor)
    specs = pw3d_specs(Path(out_dir))
    sets = {}
    for key, seqs, total in (("3dpw_train", train, n_train), ("3dpw_test", test, n_test)):
        folder, split = specs[key]
        img, label, hw = _render_split(motions, seqs, total, smpl_dir, h36m_regressor, neutral, img_size,
                                       backgrounds, jpeg_quality, rng)  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        write_tsv(folder / f"{split}.img.tsv", img)
        write_tsv(folder / f"{split}.label.tsv", label)
        write_tsv(folder / f"{split}.hw.tsv", hw)
        sets[key] = Pw3dSet(folder=folder, split=split, count=len(img))
    root = Path(out_dir) / "3dpw"
    write_text_atomic(root / f"{TEST_SPLIT}.yaml", "img: has_gender/test.img.tsv\nlabel: has_gender/test.label.tsv\n"
                                                   "hw: has_gender/test.hw.tsv\n")  # fmt: skip
    return sets
