"""Stand-in AMASS motions: joint-angle trajectories of everyday actions, posed on the demo skeleton.

Two generators share the kinematics here:

* :func:`make_sequence`: one action per sequence on the neutral demo skeleton. The demo corpus
  (``tools/standin/make_assets.py --size demo``) is made of these; its bytes for a given seed must not change.
* :func:`make_study_sequence` (tools/standin/study_motions.py): the study corpus (``--size study``): one to three actions of :data:`STUDY_KINDS` per
  sequence, cross-faded, at the subject's tempo and amplitude (:class:`Style`), from a random start heading along a
  straight or curved path, with the feet put on the floor for the subject's own shaped skeleton
  (:func:`subject_skeleton`: gender and betas), so that ``trans`` fits the body SMPL will pose, as in AMASS.

Every action is a smooth function of time written with numpy over the whole sequence (no per-frame loop) and
returns joint angles (N, 24, 3), a heading (N,) and a path (N, 3): ground-plane positions and, in z, how far the
body is lifted off the floor (flight phases of runs and jumps; 0 otherwise).

Joint angles are given per SMPL joint as (x, y, z) angles, composed R = Rx Ry Rz (scipy 'zyx' extrinsic) in the
parent's frame of SMPL's T-pose (y up, +z forward, left = +x); joint 0's angles turn the pelvis in the body frame,
under the heading and the z-up turn. In that frame: hip flexion (thigh forward) is -x, knee flexion +x only, ankle
plantar flexion (toes down) +x, spine forward bend +x, left shoulder down -z (right +z), arm forward swing -x once
the arm hangs, turning a horizontal left arm about its own axis so that the elbow bends upwards -x, left elbow
flexion -y only (right +y), left finger curl -z (right +z). A global segment pitch is the sum of the x angles down
the leg: a foot is flat when hip + knee + ankle = 0. The mirror image of a pose negates y and z and swaps the left
and right joints (study_motions ``_add`` with ``side=1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from mpt.body.joints import SMPL_PARENTS
from tools.standin.body import GENDER_BETAS, DemoBody
from tools.standin.body_shape import DESIGN_JOINTS

# AMASS pose vector layout (SMPL+H; nghorbani/amass support_data/github_data/amass_sample.npz): root 0:3, 21 body
# joints 3:66, 2 x 15 hand joints 66:156.
NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15
NUM_DMPLS = 8


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


# ----------------------------------------------------------------------------------------------------------------
# Kinematics: forward kinematics and the floor


@dataclass(frozen=True)
class Skeleton:
    """The rest pose of one body where the motions need it, in SMPL's rest frame (metres, y up, +z forward)."""

    joints: np.ndarray  # (24, 3) rest joints
    sole_joints: tuple[int, ...]  # (S,) joint each sole point hangs on
    soles: np.ndarray  # (S, 3) sole points (heel, ball, toe tip of each foot)


def _demo_skeleton() -> Skeleton:
    """The neutral demo body's designed joints and sole points (y = -1.15 is the floor), left then right foot."""
    left = ((7, (0.088, -1.15, -0.075)), (10, (0.118, -1.15, 0.095)), (10, (0.11, -1.15, 0.17)))
    joints, points = [], []
    for j, point in left:
        for jj in (j, j + 1):  # left joint, then its right partner (SMPL numbers them next to each other)
            joints.append(jj)
            points.append(np.asarray(point) * (1.0 if jj == j else np.array([-1.0, 1.0, 1.0])))
    return Skeleton(DESIGN_JOINTS, tuple(joints), np.stack(points))


DEMO_SKELETON = _demo_skeleton()


def subject_skeleton(body: DemoBody, gender: str, betas: np.ndarray) -> Skeleton:
    """The rest skeleton of ``body`` in ``gender`` with shape ``betas`` (the first 10 count, as in SMPL).

    Joints are regressed from the shaped template (SMPL: J = J_regressor (T + S beta)); each sole point moves with
    the template vertex nearest to it.
    """
    coeffs = GENDER_BETAS[gender] + np.asarray(betas, dtype=np.float64)[: len(GENDER_BETAS[gender])]
    offset = body.shapedirs @ coeffs  # (6890, 3)
    joints = np.asarray(body.joint_regressor @ (body.v_template + offset))
    soles = DEMO_SKELETON.soles
    nearest = np.argmin(((body.v_template[None] - soles[:, None]) ** 2).sum(-1), axis=1)  # (S,)
    return Skeleton(joints, DEMO_SKELETON.sole_joints, soles + offset[nearest])


def _global_joints(local: Rotation, root: Rotation, trans: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, Rotation]:
    """Forward kinematics of a skeleton with ``rest`` joints: (N, 24, 3) joint positions and global rotations.

    As in SMPL, the root rotates about the rest pelvis and ``trans`` is added after: x = R (X - J0) + J0 + trans.
    """
    n = len(trans)
    mats = local.as_matrix().reshape(n, 24, 3, 3)
    glob = np.empty_like(mats)
    pos = np.empty((n, 24, 3))
    glob[:, 0] = root.as_matrix()
    pos[:, 0] = rest[0] + trans
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        glob[:, j] = glob[:, p] @ mats[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ (rest[j] - rest[p])
    return pos, Rotation.from_matrix(glob.reshape(-1, 3, 3))


def _ground_height(pos: np.ndarray, glob: Rotation, skeleton: Skeleton) -> np.ndarray:
    """(N,) lowest sole point's z per frame (both feet, heel / ball / toe)."""
    n = len(pos)
    mats = glob.as_matrix().reshape(n, 24, 3, 3)
    lows = [pos[:, j, 2] + (mats[:, j] @ (p - skeleton.joints[j]))[:, 2]
            for j, p in zip(skeleton.sole_joints, skeleton.soles)]  # fmt: skip
    return np.min(lows, axis=0)


def _pose_on_floor(angles: np.ndarray, heading: np.ndarray,
                   skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """AMASS root and body pose vectors of joint ``angles`` (N, 24, 3) facing ``heading`` (N,).

    Returns root (N, 3) and body (N, 63) axis-angles and the height (N,) that puts the lowest sole point on z = 0.
    The root is R_z(heading) R_x(+90 deg) R_pelvis (an upright body, SMPL's y-up turned to AMASS's z-up).
    """
    n = len(angles)
    local = Rotation.from_euler("zyx", angles.reshape(-1, 3)[:, ::-1])  # R = Rx Ry Rz
    local_vec = local.as_rotvec().reshape(n, 24, 3)
    upright = Rotation.from_euler("x", np.pi / 2)
    root = Rotation.from_euler("z", heading[:, None]) * upright * Rotation.from_rotvec(local_vec[:, 0])
    pos, glob = _global_joints(local, root, np.zeros((n, 3)), skeleton.joints)
    body = local_vec[:, 1 : 1 + NUM_BODY_JOINTS].reshape(n, -1)
    return root.as_rotvec(), body, -_ground_height(pos, glob, skeleton)


def make_sequence(kind: str, num_frames: int, framerate: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One AMASS-format motion of one demo action: poses (N, 156), trans (N, 3), dmpls (N, 8), AMASS's z-up world.

    The body is the neutral demo skeleton; trans puts the lowest sole point of each frame on the floor z = 0, so a
    standing pelvis is about 0.93 m high (trans z ~ 0.9).
    """
    if kind not in _MOTIONS:
        raise ValueError(f"unknown motion kind {kind!r}; use one of {sorted(_MOTIONS)}")
    t = np.arange(num_frames) / framerate
    angles, heading, travel = _MOTIONS[kind](t, rng)
    angles[:, 1:22] += _smooth_noise(rng, t, 0.03, (21, 3))  # idle sway on every body joint
    root, body, floor = _pose_on_floor(angles, heading, DEMO_SKELETON)
    trans = travel.copy()
    trans[:, 2] = floor
    poses = np.concatenate([root, body, _hand_pose(t, rng)], 1)
    dmpls = _smooth_noise(rng, t, 0.6, (NUM_DMPLS,))
    return {"poses": poses.astype(np.float64), "trans": trans.astype(np.float64), "dmpls": dmpls.astype(np.float64)}


