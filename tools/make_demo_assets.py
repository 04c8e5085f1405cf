"""Generate the demo assets: stand-ins, in the real file formats, for the licence-gated SMPL, H36M and AMASS files.

python tools/make_demo_assets.py --out data/demo [--seed 0] [--force]

Layout written under ``--out`` (the same layout a user sets up with the real files):

    body_models/smpl/SMPL_NEUTRAL.pkl, SMPL_MALE.pkl, SMPL_FEMALE.pkl   smplx-loadable SMPL pickles (no chumpy)
    body_models/J_regressor_h36m_correct.npy                           (17, 6890) float64, METRO's format
    amass/<Dataset>/<Subject>/<motion>_<k>_poses.npz                    AMASS "SMPL+H G" sequence files
    amass/<Dataset>/<Subject>/shape.npz                                betas + gender only, as in AMASS downloads
    demo_assets.json                                                   manifest (seed, version, sha256 per file)

The body (tools/demo_body.py) does not depend on the seed; the motions do. Generation is deterministic for a given
seed on a given platform and takes a few seconds; a second call with the same seed finds the manifest and writes
nothing. Formats follow FACTS.md sections 3 and 4 (AMASS sample file keys and dtypes from nghorbani/amass
support_data/github_data/amass_sample.npz; SMPL keys as read by vchoutas/smplx smplx/body_models.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

if __package__ in (None, ""):  # run as a script from a checkout: make `tools` and `mpt` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mpt.atomic import atomic_path, write_json_atomic
from mpt.body import BodyModel
from mpt.body.joints import SMPL_PARENTS
from mpt.body.smpl_file import GENDERS, save_smpl_pickle
from mpt.engine.checkpoint import sha256_of
from mpt.errors import MptError
from tools.demo_body import DESIGN_JOINTS, build_demo_body

GENERATOR_VERSION = 1
MANIFEST_NAME = "demo_assets.json"

# (dataset folder, mocap frame rate, subjects as (folder, gender)); two sequences per subject.
AMASS_LAYOUT: tuple[tuple[str, float, tuple[tuple[str, str], ...]], ...] = (
    ("DemoMocapA", 120.0, (("S01", "male"), ("S02", "female"), ("S03", "male"))),
    ("DemoMocapB", 60.0, (("S04", "female"), ("S05", "neutral"))),
)
MOTION_KINDS = ("walk", "squat", "reach", "bend", "turn")
SEQUENCES_PER_SUBJECT = 2
FRAMES_RANGE = (150, 400)  # frames per sequence, inclusive

# AMASS pose vector layout (FACTS.md section 3): root 0:3, 21 body joints 3:66, 2 x 15 hand joints 66:156.
NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15
NUM_DMPLS = 8
NUM_AMASS_BETAS = 16


class DemoAssetsError(MptError, RuntimeError):
    """The demo assets cannot be written where asked."""


@dataclass(frozen=True)
class DemoAssets:
    """Where the generated demo files are."""

    root: Path
    smpl_dir: Path  # root/body_models/smpl, holding SMPL_{NEUTRAL,MALE,FEMALE}.pkl
    h36m_regressor: Path  # root/body_models/J_regressor_h36m_correct.npy
    amass_dir: Path  # root/amass

    @classmethod
    def at(cls, root: str | Path) -> DemoAssets:
        root = Path(root)
        return cls(root, root / "body_models" / "smpl", root / "body_models" / "J_regressor_h36m_correct.npy",
                   root / "amass")  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Motions
#
# Joint angles are given per SMPL joint as (x, y, z) angles, composed R = Rx Ry Rz (scipy 'zyx' extrinsic) in the
# parent's frame of SMPL's T-pose (y up, +z forward, left = +x); joint 0's angles turn the pelvis in the body frame,
# under the heading and the z-up turn. In that frame: hip flexion (thigh forward) is -x,
# knee flexion +x only, spine forward bend +x, left shoulder down -z (right +z), arm forward swing -x once the arm
# hangs, left elbow flexion -y only (right +y), left finger curl -z (right +z).


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, amplitude: float, shape: tuple[int, ...]) -> np.ndarray:
    """Sum of two random slow sinusoids per channel: (N, *shape), |value| <= amplitude."""
    out = np.zeros((len(t),) + shape)
    for _ in range(2):
        freq = rng.uniform(0.1, 0.5, shape)
        phase = rng.uniform(0, 2 * np.pi, shape)
        out += 0.5 * amplitude * np.sin(2 * np.pi * freq * t.reshape((-1,) + (1,) * len(shape)) + phase)
    return out


def _standing(n: int) -> np.ndarray:
    """(N, 24, 3) joint angles of a relaxed stance: arms hanging, elbows and knees slightly bent."""
    a = np.zeros((n, 24, 3))
    a[:, 16, 2], a[:, 17, 2] = -1.25, 1.25  # shoulders: arms down
    a[:, 18, 1], a[:, 19, 1] = -0.25, 0.25  # elbows
    a[:, 4, 0] = a[:, 5, 0] = 0.05  # knees
    a[:, 1, 2], a[:, 2, 2] = 0.04, -0.04  # feet slightly apart
    return a


def _walk(t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walking: phased hip/knee/ankle sinusoids, counter-swinging arms, forward travel along a slow curve."""
    a = _standing(len(t))
    freq = rng.uniform(0.8, 1.05)  # gait cycles per second
    ph = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
    hip, knee, arm = rng.uniform(0.3, 0.45), rng.uniform(0.8, 1.1), rng.uniform(0.2, 0.4)
    for side, shift in ((0, 0.0), (1, np.pi)):  # left, right
        p = ph + shift
        a[:, 1 + side, 0] = -hip * np.sin(p) - 0.08
        a[:, 4 + side, 0] = 0.06 + knee * ((1 + np.cos(p + 0.3)) / 2) ** 3  # flexes in the swing phase
        a[:, 7 + side, 0] = 0.15 * np.sin(p + 1.0)
        a[:, 16 + side, 0] = arm * np.sin(p)  # arm forward while the same-side leg is back
        a[:, 18 + side, 1] = (-1, 1)[side] * (0.3 + 0.15 * (1 - np.sin(p)))
    a[:, 6, 1] = 0.06 * np.sin(ph)  # trunk counter-rotation
    a[:, 0, 1] = 0.07 * np.sin(ph)  # pelvis yaw with the stride
    heading = rng.uniform(-np.pi, np.pi) + rng.uniform(-0.35, 0.35) * t
    speed = freq * rng.uniform(1.25, 1.45)  # metres per second
    return a, heading, _travel(t, heading, speed) + _start(rng)


def _squat(t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Squats: hips and knees flex together, ankles keep the feet flat, trunk leans, arms rise forward."""
    a = _standing(len(t))
    d = (1 - np.cos(2 * np.pi * t / rng.uniform(2.2, 3.5))) / 2 * rng.uniform(0.6, 1.0)  # depth in [0, 1]
    hip, knee = 1.5 * d, 1.9 * d
    for side in (0, 1):
        a[:, 1 + side, 0] = -hip
        a[:, 4 + side, 0] = 0.05 + knee
        a[:, 7 + side, 0] = hip - knee - 0.05  # foot stays flat: hip + knee + ankle pitch = 0
        a[:, 16 + side, 2] = (-1, 1)[side] * 1.25 * (1 - d)
        a[:, 16 + side, 1] = (-1, 1)[side] * 1.3 * d
    a[:, [3, 6, 9], 0] = 0.12 * d[:, None]
    heading = np.full(len(t), rng.uniform(-np.pi, np.pi))
    return a, heading, np.repeat(_start(rng)[None], len(t), 0)


def _reach(t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arm raises and reaches: each arm rises sideways/forward and bends at the elbow on its own rhythm."""
    a = _standing(len(t))
    for side in (0, 1):
        sign = (-1, 1)[side]  # left joints turn the negative way
        lift = (1 - np.cos(2 * np.pi * rng.uniform(0.2, 0.45) * t + rng.uniform(0, np.pi))) / 2
        bend = (1 - np.cos(2 * np.pi * rng.uniform(0.15, 0.4) * t + rng.uniform(0, 2 * np.pi))) / 2
        sideways = rng.uniform(0.0, 1.0)
        a[:, 16 + side, 2] = sign * (1.25 - 1.5 * sideways * lift)  # down (1.25) to just above horizontal
        a[:, 16 + side, 1] = sign * 1.4 * (1 - sideways) * lift  # forward
        a[:, 18 + side, 1] = sign * (0.2 + 1.1 * bend)
        a[:, 13 + side, 2] = -sign * 0.15 * lift  # collar lifts with the arm
    a[:, 6, 1] = 0.15 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t)
    heading = np.full(len(t), rng.uniform(-np.pi, np.pi))
    return a, heading, np.repeat(_start(rng)[None], len(t), 0)


def _bend(t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trunk bends, twists and side bends over still legs; arms hang and drift forward as the trunk tips."""
    a = _standing(len(t))
    amount = rng.uniform(0.5, 0.8) * (1 - np.cos(2 * np.pi * rng.uniform(0.15, 0.3) * t)) / 2
    twist = 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi))
    side = 0.2 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi))
    for j, share in ((3, 0.4), (6, 0.3), (9, 0.3)):
        a[:, j] += np.stack([share * amount, share * twist, share * side], 1)
    a[:, 0, 0] = 0.3 * amount  # the pelvis tips forward too; the hips keep the thighs upright
    a[:, 1, 0] -= 0.3 * amount
    a[:, 2, 0] -= 0.3 * amount
    a[:, 16, 1], a[:, 17, 1] = -0.6 * amount, 0.6 * amount
    heading = np.full(len(t), rng.uniform(-np.pi, np.pi))
    return a, heading, np.repeat(_start(rng)[None], len(t), 0)


def _turn(t: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turning in place: the heading sweeps smoothly while the legs step and the arms swing a little."""
    a = _standing(len(t))
    u = t / t[-1]
    sweep = rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.5)
    heading = rng.uniform(-np.pi, np.pi) + sweep * (3 * u**2 - 2 * u**3)
    ph = 2 * np.pi * rng.uniform(1.0, 1.4) * t
    for side, shift in ((0, 0.0), (1, np.pi)):
        a[:, 1 + side, 0] = -0.25 * np.maximum(np.sin(ph + shift), 0) ** 2
        a[:, 4 + side, 0] = 0.05 + 0.45 * np.maximum(np.sin(ph + shift), 0) ** 2
        a[:, 16 + side, 0] = 0.1 * np.sin(ph + shift)
    return a, heading, np.repeat(_start(rng)[None], len(t), 0)


_MOTIONS = {"walk": _walk, "squat": _squat, "reach": _reach, "bend": _bend, "turn": _turn}


def _start(rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), 0.0])


def _travel(t: np.ndarray, heading: np.ndarray, speed: float) -> np.ndarray:
    """(N, 3) ground-plane positions walking at ``speed`` along ``heading`` (body forward = R_z(h) (0, -1, 0))."""
    dt = np.diff(t, prepend=t[0])
    step = speed * dt[:, None] * np.stack([np.sin(heading), -np.cos(heading), np.zeros_like(heading)], 1)
    return np.cumsum(step, axis=0)


def _hand_pose(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 90) small smooth finger curls for the left then right hand (SMPL-H: 15 joints per hand)."""
    out = np.zeros((len(t), 2, NUM_HAND_JOINTS, 3))
    for side, sign in ((0, -1.0), (1, 1.0)):
        curl = 0.25 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 2 * np.pi))
        per_joint = rng.uniform(0.6, 1.2, NUM_HAND_JOINTS)
        out[:, side, :12, 2] = sign * curl[:, None] * per_joint[:12]  # index, middle, little, ring: curl
        out[:, side, 12:, 1] = sign * 0.5 * curl[:, None] * per_joint[12:]  # thumb: small flexion
    return out.reshape(len(t), -1)


def _global_joints(local: Rotation, root: Rotation, trans: np.ndarray) -> tuple[np.ndarray, Rotation]:
    """Forward kinematics of the demo skeleton: (N, 24, 3) joint positions and global rotations.

    As in SMPL, the root rotates about the rest pelvis and ``trans`` is added after: x = R (X - J0) + J0 + trans.
    """
    n = len(trans)
    mats = local.as_matrix().reshape(n, 24, 3, 3)
    glob = np.empty_like(mats)
    pos = np.empty((n, 24, 3))
    glob[:, 0] = root.as_matrix()
    pos[:, 0] = DESIGN_JOINTS[0] + trans
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        glob[:, j] = glob[:, p] @ mats[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ (DESIGN_JOINTS[j] - DESIGN_JOINTS[p])
    return pos, Rotation.from_matrix(glob.reshape(-1, 3, 3))


# Sole points of each foot in the rest pose (heel, ball, toe tip; y = -1.15 is the floor) and the joint they hang on.
_SOLE_POINTS = ((7, (0.088, -1.15, -0.075)), (10, (0.118, -1.15, 0.095)), (10, (0.11, -1.15, 0.17)))


def _ground_height(pos: np.ndarray, glob: Rotation) -> np.ndarray:
    """(N,) lowest sole point's z per frame (both feet, heel / ball / toe)."""
    n = len(pos)
    mats = glob.as_matrix().reshape(n, 24, 3, 3)
    lows = []
    for j, point in _SOLE_POINTS:
        for jj in (j, j + 1):  # left joint, then its right partner (SMPL numbers them next to each other)
            p = np.asarray(point) * (1.0 if jj == j else np.array([-1.0, 1.0, 1.0]))
            lows.append(pos[:, jj, 2] + (mats[:, jj] @ (p - DESIGN_JOINTS[jj]))[:, 2])
    return np.min(lows, axis=0)


def make_sequence(kind: str, num_frames: int, framerate: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One AMASS-format motion: poses (N, 156), trans (N, 3), dmpls (N, 8), in AMASS's z-up world.

    The root is R_z(heading) R_x(+90 deg) (an upright body, SMPL's y-up turned to z-up); trans puts the lowest sole
    point of each frame on the floor z = 0, so a standing pelvis is about 0.93 m high (trans z ~ 0.9).
    """
    if kind not in _MOTIONS:
        raise ValueError(f"unknown motion kind {kind!r}; use one of {sorted(_MOTIONS)}")
    t = np.arange(num_frames) / framerate
    angles, heading, travel = _MOTIONS[kind](t, rng)
    angles[:, 1:22] += _smooth_noise(rng, t, 0.03, (21, 3))  # idle sway on every body joint
    local = Rotation.from_euler("zyx", angles.reshape(-1, 3)[:, ::-1])  # R = Rx Ry Rz
    local_vec = local.as_rotvec().reshape(num_frames, 24, 3)
    upright = Rotation.from_euler("x", np.pi / 2)
    root = Rotation.from_euler("z", heading[:, None]) * upright * Rotation.from_rotvec(local_vec[:, 0])
    pos, glob = _global_joints(local, root, np.zeros((num_frames, 3)))
    trans = travel.copy()
    trans[:, 2] = -_ground_height(pos, glob)
    poses = np.concatenate(
        [root.as_rotvec(), local_vec[:, 1 : 1 + NUM_BODY_JOINTS].reshape(num_frames, -1), _hand_pose(t, rng)], 1
    )
    dmpls = _smooth_noise(rng, t, 0.6, (NUM_DMPLS,))
    return {"poses": poses.astype(np.float64), "trans": trans.astype(np.float64), "dmpls": dmpls.astype(np.float64)}


def amass_files(seed: int) -> dict[str, dict[str, np.ndarray]]:
    """All AMASS-format files as {relative path under amass/: arrays}, in a fixed order."""
    files: dict[str, dict[str, np.ndarray]] = {}
    subject_no = 0
    for d, (dataset, framerate, subjects) in enumerate(AMASS_LAYOUT):
        for s, (subject, gender) in enumerate(subjects):
            rng = np.random.default_rng([seed, d, s])
            betas = np.concatenate([rng.normal(0.0, 0.7, 10).clip(-2, 2), rng.normal(0.0, 0.2, 6)])
            files[f"{dataset}/{subject}/shape.npz"] = {"betas": betas, "gender": np.array(gender)}
            for k in range(SEQUENCES_PER_SUBJECT):
                kind = MOTION_KINDS[(subject_no * SEQUENCES_PER_SUBJECT + k) % len(MOTION_KINDS)]
                n = int(rng.integers(FRAMES_RANGE[0], FRAMES_RANGE[1] + 1))
                seq = make_sequence(kind, n, framerate, rng)
                files[f"{dataset}/{subject}/{kind}_{k + 1:02d}_poses.npz"] = {
                    "poses": seq["poses"], "trans": seq["trans"], "betas": betas, "gender": np.array(gender),
                    "mocap_framerate": np.array(framerate, dtype=np.float64), "dmpls": seq["dmpls"],
                }  # fmt: skip
            subject_no += 1
    return files


# ----------------------------------------------------------------------------------------------------------------
# Writing


def _read_manifest(root: Path) -> dict | None:
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _is_current(manifest: dict | None, root: Path, seed: int) -> bool:
    """True when the manifest is for this seed and generator version and every file it lists is present."""
    if not manifest or manifest.get("seed") != seed or manifest.get("version") != GENERATOR_VERSION:
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        return False
    for entry in files:
        try:
            path = root / entry["path"]
            if not path.is_file() or path.stat().st_size != entry["bytes"]:
                return False
        except (KeyError, TypeError):
            return False
    return True


def _remove_stale(root: Path, old: dict | None, keep: set[str]) -> None:
    """Delete files an earlier manifest listed that this run did not write (e.g. from another version)."""
    entries = (old or {}).get("files")
    for entry in entries if isinstance(entries, list) else []:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(rel, str) or rel in keep:
            continue
        path = (root / rel).resolve()
        if root.resolve() in path.parents and path.is_file():
            path.unlink()


def make_demo_assets(out_dir: str | Path, seed: int = 0, force: bool = False, verbose: bool = False) -> DemoAssets:
    """Write the demo assets under ``out_dir`` (idempotent: nothing is rewritten if the manifest is current).

    Each file goes to a temporary name and is renamed into place; the manifest ``demo_assets.json`` (seed,
    generator version, path / bytes / sha256 per file) is written last, so an interrupted run is redone next time.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DemoAssetsError(f"seed must be a non-negative integer, got {seed!r}.")
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise DemoAssetsError(f"{root} exists and is not a folder; pass a folder for the demo assets (--out).")
    assets = DemoAssets.at(root)
    old = _read_manifest(root)
    if not force and _is_current(old, root, seed):
        if verbose:
            print(f"{root / MANIFEST_NAME}: demo assets for seed {seed} are up to date (use --force to rebuild)")
        return assets
    root.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []
    body = build_demo_body()
    for gender in GENDERS:
        path = assets.smpl_dir / f"SMPL_{gender.upper()}.pkl"
        save_smpl_pickle(body.smpl_dict(gender), path)  # protocol 2, like the official files
        written.append(path)
    with atomic_path(assets.h36m_regressor) as tmp:
        np.save(tmp, body.h36m_regressor)
    written.append(assets.h36m_regressor)
    for rel, arrays in amass_files(seed).items():
        path = assets.amass_dir / rel
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
        written.append(path)

    entries = [{"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_of(p)}
               for p in written]  # fmt: skip
    _remove_stale(root, old, {e["path"] for e in entries})
    write_json_atomic(root / MANIFEST_NAME, {"generator": "tools/make_demo_assets.py", "version": GENERATOR_VERSION,
                                             "seed": seed, "files": entries})  # fmt: skip
    if verbose:
        for e in entries:
            print(f"wrote {root / e['path']} ({e['bytes'] / 1e6:.2f} MB)")
        print(f"wrote {root / MANIFEST_NAME}")
    return assets


def body_model(smpl: str | None, regressor: str | None, assets: str | Path) -> BodyModel:
    """The real SMPL model and Human3.6M regressor when ``smpl`` is given, else the demo body generated into (or
    reused from) ``assets``: the body of the tools' and benchmarks' ``--smpl`` / ``--regressor`` / ``--assets``."""
    if smpl:
        if not regressor:
            raise SystemExit("--smpl needs --regressor (the 17x6890 J_regressor_h36m_correct.npy)")
        return BodyModel(smpl, regressor)
    made = make_demo_assets(assets, seed=0)
    return BodyModel(made.smpl_dir, made.h36m_regressor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write the demo assets into (e.g. data/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the motions (default 0)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the manifest says up to date")
    args = parser.parse_args(argv)
    try:
        make_demo_assets(args.out, seed=args.seed, force=args.force, verbose=True)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
