"""The study corpus's actions (tools/standin/make_assets.py ``--size study``): ten actions beyond the demo's five,
their building blocks, and :func:`make_study_sequence`, which chains one to three of them per sequence on the
kinematics of tools/standin/motions.py (whose docstring gives the joint-angle conventions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tools.standin.motions import (
    NUM_DMPLS,
    Skeleton,
    _bend,
    _hand_pose,
    _pose_on_floor,
    _reach,
    _smooth_noise,
    _squat,
    _standing,
    _start,
    _travel,
    _turn,
    _walk,
)

# ----------------------------------------------------------------------------------------------------------------
# Study actions: building blocks

_LEFT_JOINTS = frozenset((1, 4, 7, 10, 13, 16, 18, 20, 22))  # SMPL left joints; the right partner is the next index


Angle = float | np.ndarray  # one value, or (N,) over time


def _add(a: np.ndarray, joint: int, side: int = 0, x: Angle = 0.0, y: Angle = 0.0, z: Angle = 0.0) -> None:
    """Add angles to a left or centre ``joint`` of ``a`` (N, 24, 3); ``side=1`` adds their mirror image instead."""
    if side:
        joint += joint in _LEFT_JOINTS
        y, z = -np.asarray(y), -np.asarray(z)
    a[:, joint, 0] += x
    a[:, joint, 1] += y
    a[:, joint, 2] += z


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, 3x^2 - 2x^3 between: a ramp with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _window(u: np.ndarray, rise: float, fall: float, ramp: float) -> np.ndarray:
    """1 between ``rise + ramp`` and ``fall``, ramping smoothly up from ``rise`` and down to ``fall + ramp``."""
    return _smoothstep((u - rise) / ramp) - _smoothstep((u - fall) / ramp)


def _bump(u: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    """Raised-cosine bump: 1 at ``centre``, 0 from ``half_width`` away on."""
    x = np.clip((u - centre) / half_width, -1.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def _cycle(t: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """Phase u in [0, 1) and index k of the repetition each time falls in."""
    k = np.floor(t / period)
    return t / period - k, k.astype(np.int64)


def _feet_flat(a: np.ndarray, side: int) -> None:
    """Set the ankle of one leg so that its foot is level: hip + knee + ankle pitch = 0."""
    a[:, 7 + side, 0] = -(a[:, 1 + side, 0] + a[:, 4 + side, 0])


def _still(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heading and path of an action done on the spot (the composer turns and places it)."""
    return np.zeros(len(t)), np.zeros((len(t), 3))


def _path(t: np.ndarray, rng: np.random.Generator, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """Heading (N,) and ground positions (N, 3) along a straight, circular or S-shaped path at ``speed`` m/s."""
    shape = int(rng.integers(3))
    if shape == 0:
        heading = np.zeros(len(t))
    elif shape == 1:
        heading = rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.45) * t  # rad/s: an arc of radius speed / rate
    else:
        heading = rng.uniform(0.3, 0.8) * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * t + rng.uniform(0, 6.3))
    return heading, _travel(t, heading, speed)


@dataclass(frozen=True)
class Style:
    """How one subject moves: a tempo (time scale of every action), an amplitude, a preferred hand and leg."""

    tempo: float  # 1 = the actions' own speed
    amplitude: float  # scales the range of motion of the study actions
    hand: int  # 0 left, 1 right


Motion = tuple[np.ndarray, np.ndarray, np.ndarray]  # joint angles (N, 24, 3), heading (N,), path (N, 3)
Action = Callable[[np.ndarray, np.random.Generator, Style], Motion]


# ----------------------------------------------------------------------------------------------------------------
# Study actions


def _run(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Running: a faster gait with a forward lean, bent elbows, high heel recovery and two flight phases a stride."""
    a, amp = _standing(len(t)), style.amplitude
    freq = rng.uniform(1.3, 1.5)  # strides per second (2.6-3 steps)
    ph = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
    hip, knee, arm = rng.uniform(0.45, 0.6) * amp, rng.uniform(1.2, 1.5) * amp, rng.uniform(0.4, 0.6) * amp
    for side in (0, 1):
        p = ph + np.pi * side
        _add(a, 1, side, x=-hip * np.sin(p) - 0.2)
        _add(a, 4, side, x=0.25 + knee * ((1 + np.cos(p + 0.5)) / 2) ** 2)  # flexes most in the swing phase
        _add(a, 7, side, x=0.25 * np.sin(p + 1.2))
        _add(a, 16, side, x=arm * np.sin(p), z=0.15)  # counter-swinging arms, a little away from the body
        _add(a, 18, side, y=-1.0 - 0.2 * np.sin(p))  # elbows near 90 degrees
    _add(a, 3, x=0.15)  # forward lean
    _add(a, 6, x=0.05, y=0.12 * np.sin(ph))
    _add(a, 0, y=0.1 * np.sin(ph))
    heading, travel = _path(t, rng, freq * rng.uniform(1.7, 2.3))  # 2.2-3.5 m/s
    travel[:, 2] = rng.uniform(0.03, 0.06) * np.maximum(0.0, -np.cos(2 * ph)) ** 2  # flight when the legs are apart
    return a, heading, travel


def _jump(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Counter-movement jumps: crouch with the arms back, take off swinging them up, fly, land bending the knees."""
    a = _standing(len(t))
    period, flight_s = rng.uniform(1.5, 2.2), rng.uniform(0.28, 0.42)
    u, k = _cycle(t, period)
    u0, f = 0.45, flight_s / period  # take-off phase, flight as a fraction of the cycle
    d = rng.uniform(0.55, 0.8) * style.amplitude * (_bump(u, 0.3, 0.15) + 0.7 * _bump(u, u0 + f + 0.08, 0.08))
    air = _bump(u, u0 + f / 2, f / 2)
    toes = _bump(u, u0 + f / 2, f / 2 + 0.06)  # pointed from push-off to touch-down
    for side in (0, 1):
        _add(a, 1, side, x=-1.3 * d - 0.3 * air)
        _add(a, 4, side, x=1.8 * d + 0.5 * air)
        _feet_flat(a, side)
        _add(a, 7, side, x=0.6 * toes)
        _add(a, 16, side, x=0.7 * _bump(u, 0.3, 0.18) - 1.6 * _bump(u, u0 + 0.03, 0.18))  # back, then forward-up
    _add(a, 3, x=0.4 * d)
    s = np.clip((u - u0) / f, 0.0, 1.0)  # progress through the flight
    heading, travel = _still(t)
    broad = rng.uniform(0.3, 0.7) if rng.random() < 0.5 else 0.0  # metres forward per jump, or on the spot
    travel[:, 1] = -broad * (k + s)  # forward is -y at heading 0 (see _travel)
    travel[:, 2] = 9.81 * flight_s**2 / 2 * s * (1 - s)  # ballistic lift: peak g T^2 / 8
    return a, heading, travel


def _kick(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Front kicks: the thigh rises with the knee bent, the shin snaps out, the leg comes back; arms out for balance."""
    a = _standing(len(t))
    u, k = _cycle(t, rng.uniform(1.6, 2.4))
    alternate = rng.random() < 0.5
    kicking = (style.hand + k * alternate) % 2  # (N,) side of each repetition's kicking leg
    height = rng.uniform(1.0, 1.45) * style.amplitude
    lift = _bump(u, 0.45, 0.25)
    knee = 1.5 * _bump(u, 0.36, 0.14) + 1.0 * _bump(u, 0.6, 0.1)  # straight at the snap, about u = 0.47
    for side in (0, 1):
        kick, stand = lift * (kicking == side), lift * (kicking != side)
        _add(a, 1, side, x=-height * kick)
        _add(a, 4, side, x=knee * (kicking == side) + 0.15 * stand)
        _add(a, 7, side, x=0.4 * kick)
        _add(a, 16, side, z=0.6 * lift)
        _add(a, 18, side, y=-0.5 * lift)
    _add(a, 3, x=-0.15 * lift)  # the trunk leans back
    return (a, *_still(t))


def _wave(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Waving: the upper arm rises sideways to about horizontal, the forearm points up and swings side to side."""
    a = _standing(len(t))
    u, _ = _cycle(t + rng.uniform(0, 2), rng.uniform(3.0, 5.0))
    up = _window(u, 0.05, 0.65, 0.15)
    sides = (0, 1) if rng.random() < 0.25 else (style.hand,)
    for side in sides:
        elevation = 1.25 + rng.uniform(-0.2, 0.15)  # from hanging (-1.25) to about horizontal
        swing = 0.4 * style.amplitude * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t + rng.uniform(0, 6.3))
        _add(a, 16, side, x=-1.5 * up, z=elevation * up)
        _add(a, 18, side, y=-(0.85 + swing) * up)
        _add(a, 12, side, y=0.3 * up)  # the head turns a little towards the hand
    _add(a, 0, z=0.04 * np.sin(2 * np.pi * t / rng.uniform(2.0, 4.0)))  # weight shifts
    return (a, *_still(t))


def _sit(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Sitting down on a chair (not modelled) and standing up: the trunk tips forward to lower and to rise."""
    a = _standing(len(t))
    u, _ = _cycle(t, rng.uniform(4.5, 7.0))
    seated = _window(u, 0.08, 0.58, 0.22)
    lean = _bump(u, 0.19, 0.12) + _bump(u, 0.69, 0.12)
    hip, knee = rng.uniform(1.35, 1.6), rng.uniform(1.35, 1.65)
    _add(a, 0, x=0.45 * lean)  # the pelvis tips forward; the hips take it back so the thighs keep their angle
    for side in (0, 1):
        _add(a, 1, side, x=-hip * seated - 0.45 * lean)
        _add(a, 4, side, x=knee * seated)
        _add(a, 7, side, x=(hip - knee) * seated)  # feet flat on the floor
        _add(a, 16, side, x=-0.5 * seated)  # hands forward onto the thighs
        _add(a, 18, side, y=-0.7 * seated)
    _add(a, 3, x=0.15 * lean)
    _add(a, 12, y=0.4 * seated * np.sin(2 * np.pi * rng.uniform(0.1, 0.25) * t))  # looks around while seated
    return (a, *_still(t))


def _lunge(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Lunges: one leg steps forward and both knees bend until the back knee nears the floor, then back."""
    a = _standing(len(t))
    u, k = _cycle(t, rng.uniform(2.6, 4.0))
    front = (style.hand + k * (rng.random() < 0.6)) % 2
    step = _window(u, 0.05, 0.75, 0.2)
    drop = rng.uniform(0.75, 1.0) * style.amplitude * _bump(u, 0.5, 0.22)
    for side in (0, 1):
        f, b = (front == side), (front != side)
        hip = f * (-0.5 * step - 0.8 * drop) + b * (0.35 * step - 0.2 * drop)
        knee = f * (0.1 * step + 1.4 * drop) + b * (0.1 * step + 1.5 * drop)
        pitch = b * (0.3 * step + 1.1 * drop)  # the back foot stands on its toes, heel up
        _add(a, 1, side, x=hip)
        _add(a, 4, side, x=knee)
        _add(a, 7, side, x=pitch - hip - knee)
        _add(a, 16, side, x=0.4 * step, z=0.35 * step)  # hands to the hips
        _add(a, 18, side, y=-1.3 * step)
    _add(a, 3, x=0.05 * drop)
    return (a, *_still(t))


def _crouch(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Crouching to pick something up: a deep squat on the balls of the feet, one hand reaching to the floor."""
    a = _standing(len(t))
    u, _ = _cycle(t, rng.uniform(3.0, 4.5))
    c = _window(u, 0.08, 0.58, 0.25)
    thigh, knee, heels = rng.uniform(1.7, 2.0), rng.uniform(2.0, 2.3), rng.uniform(0.15, 0.4)
    tip = 0.35  # pelvis forward tilt, taken back at the hips
    _add(a, 0, x=tip * c)
    for side in (0, 1):
        _add(a, 1, side, x=-(thigh + tip) * c)
        _add(a, 4, side, x=knee * c)
        _add(a, 7, side, x=(heels + thigh - knee) * c)
        reach = side == style.hand
        _add(a, 16, side, x=(-1.0 if reach else -0.6) * c, z=(0.3 if reach else 0.0) * c)
        _add(a, 18, side, y=(0.1 if reach else -0.8) * c)
    _add(a, 3, x=0.2 * c)
    _add(a, 6, x=0.1 * c)
    _add(a, 12, x=-0.25 * c)  # looks forward, not at the floor
    return (a, *_still(t))


def _throw(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Overhand throws: wind-up (trunk turned away, arm cocked back), step, arm whips forward, follow-through."""
    a = _standing(len(t))
    u, _ = _cycle(t, rng.uniform(2.2, 3.2))
    h, o = style.hand, 1 - style.hand  # throwing side, other side
    wind, follow = _bump(u, 0.3, 0.2), _bump(u, 0.62, 0.16)
    raised = _window(u, 0.1, 0.52, 0.2)
    step = _window(u, 0.2, 0.7, 0.2)
    _add(a, 16, h, x=-1.4 * wind + 0.5 * follow, y=0.5 * wind - 1.0 * follow, z=1.2 * raised)
    _add(a, 18, h, y=-(1.6 * wind + 0.3 * follow))
    _add(a, 16, o, x=-1.0 * wind + 0.3 * follow)  # the other arm points ahead, then pulls down
    _add(a, 18, o, y=-0.5 * wind)
    _add(a, 6, h, y=0.5 * (wind - follow))  # the trunk turns away, then through
    _add(a, 3, h, x=-0.1 * wind + 0.35 * follow)
    _add(a, 1, o, x=-0.45 * step)  # step forward with the other leg
    _add(a, 4, o, x=0.3 * step)
    _add(a, 7, o, x=0.15 * step)
    _add(a, 4, h, x=0.2 * follow)
    return (a, *_still(t))


def _stretch(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Stretching: both arms sweep up sideways overhead, the trunk bends to one side then the other, arms down."""
    a = _standing(len(t))
    u, _ = _cycle(t, rng.uniform(6.0, 9.0))
    up = _window(u, 0.05, 0.75, 0.15)
    lean = rng.uniform(0.25, 0.4) * style.amplitude * (_bump(u, 0.35, 0.13) - _bump(u, 0.6, 0.13))
    tiptoe = 0.35 * up * (rng.random() < 0.4)
    for side in (0, 1):
        _add(a, 16, side, z=(1.25 + rng.uniform(1.1, 1.35)) * up)
        _add(a, 7, side, x=tiptoe)
    for j, share in ((3, 0.4), (6, 0.3), (9, 0.3)):
        _add(a, j, z=share * lean)
    return (a, *_still(t))


def _sway(t: np.ndarray, rng: np.random.Generator, style: Style) -> Motion:
    """Dance-like swaying to a beat: side-to-side weight shifts, knee bounces, swinging arms, a slow turn."""
    a, amp = _standing(len(t)), style.amplitude
    ph = np.pi * rng.uniform(1.6, 2.2) * t + rng.uniform(0, 2 * np.pi)  # one side-to-side cycle per two beats
    s, bounce = np.sin(ph), (1 - np.cos(2 * ph)) / 2
    _add(a, 0, y=0.1 * np.sin(ph + 0.5), z=0.08 * amp * s)
    a[:, 1:3, 2] -= 0.08 * amp * s[:, None]  # the hips keep the legs under the rolling pelvis
    for side in (0, 1):
        knee = 0.1 + 0.2 * amp * bounce + 0.15 * np.maximum(0.0, (1 - 2 * side) * s)
        _add(a, 1, side, x=-0.5 * knee)
        _add(a, 4, side, x=knee)
        _feet_flat(a, side)
        _add(a, 16, side, x=0.5 * amp * np.sin(ph + np.pi * side), z=0.45)
        _add(a, 18, side, y=-0.95 - 0.3 * np.sin(2 * ph))
    _add(a, 6, y=0.15 * np.sin(ph), z=-0.06 * s)
    _add(a, 12, x=0.08 * np.sin(2 * ph))
    heading = rng.uniform(-0.5, 0.5) * t  # a slow turn
    side_step = 0.12 * amp * s
    travel = np.zeros((len(t), 3))
    travel[:, 0], travel[:, 1] = side_step * np.cos(heading), side_step * np.sin(heading)  # along the body's left
    return a, heading, travel


def _demo_action(motion: Callable[[np.ndarray, np.random.Generator], Motion]) -> Action:
    """A demo action as a study action: the style's tempo applies (the composer scales time), the rest does not."""
    return lambda t, rng, style: motion(t, rng)


# Every study action by name: the demo's five (at the subject's tempo) and ten more.
STUDY_ACTIONS: dict[str, Action] = {
    "walk": _demo_action(_walk), "run": _run, "jump": _jump, "kick": _kick, "wave": _wave, "sit": _sit,
    "lunge": _lunge, "crouch": _crouch, "throw": _throw, "stretch": _stretch, "sway": _sway,
    "squat": _demo_action(_squat), "reach": _demo_action(_reach), "bend": _demo_action(_bend),
    "turn": _demo_action(_turn),
}  # fmt: skip
STUDY_KINDS: tuple[str, ...] = tuple(STUDY_ACTIONS)
FADE_SECONDS = 0.6  # cross-fade between consecutive actions of a sequence


def make_study_sequence(kinds: Sequence[str], seconds: Sequence[float], framerate: float, rng: np.random.Generator,
                        style: Style, skeleton: Skeleton) -> dict[str, np.ndarray]:  # fmt: skip
    """One AMASS-format motion doing ``kinds`` one after the other for ``seconds`` each (>= FADE_SECONDS).

    Consecutive actions cross-fade over FADE_SECONDS: joint angles blend with smoothstep weights, and so do the
    turning rate, the velocity in the body's frame and the lift, which are then integrated from a random heading
    and start; so the path stays continuous. Returns poses (N, 156), trans (N, 3), dmpls (N, 8) for ``skeleton``.
    """
    unknown = [k for k in kinds if k not in STUDY_ACTIONS]
    if unknown or not kinds or len(kinds) != len(seconds):
        raise ValueError(f"kinds must be one or more of {list(STUDY_KINDS)} with one duration each, got {kinds} "
                         f"and {seconds}")
    if min(seconds) < FADE_SECONDS:
        raise ValueError(f"every action must last at least {FADE_SECONDS} s, got {seconds}")
    edges = np.round(np.cumsum([0.0, *seconds]) * framerate).astype(np.int64)
    n, half = int(edges[-1]), max(1, round(FADE_SECONDS / 2 * framerate))
    frames = np.arange(n)
    angles, turn, lift = np.zeros((n, 24, 3)), np.zeros(n), np.zeros(n)
    velocity = np.zeros((n, 2))  # per frame, in the body's frame (x: the heading's forward direction, y: its left)
    for i, kind in enumerate(kinds):
        lo, hi = max(0, edges[i] - half), min(n, edges[i + 1] + half)
        t = np.arange(hi - lo) / framerate * style.tempo
        a, heading, path = STUDY_ACTIONS[kind](t, rng, style)
        w = np.ones(hi - lo)
        if i > 0:
            w *= _smoothstep((frames[lo:hi] - (edges[i] - half)) / (2 * half))
        if i < len(kinds) - 1:
            w *= 1.0 - _smoothstep((frames[lo:hi] - (edges[i + 1] - half)) / (2 * half))
        angles[lo:hi] += w[:, None, None] * a
        turn[lo:hi] += w * np.diff(heading, prepend=heading[0])
        step = np.diff(path[:, :2], axis=0, prepend=path[:1, :2])  # (n_i, 2) world ground steps
        c, s = np.cos(heading), np.sin(heading)
        velocity[lo:hi] += w[:, None] * np.stack([s * step[:, 0] - c * step[:, 1], c * step[:, 0] + s * step[:, 1]], 1)
        lift[lo:hi] += w * path[:, 2]
    t = frames / framerate
    angles[:, 1:22] += _smooth_noise(rng, t, 0.03, (21, 3))  # idle sway on every body joint
    heading = rng.uniform(-np.pi, np.pi) + np.cumsum(turn)
    c, s = np.cos(heading), np.sin(heading)
    ground = np.cumsum(np.stack([s * velocity[:, 0] + c * velocity[:, 1], -c * velocity[:, 0] + s * velocity[:, 1]],
                                1), axis=0)  # fmt: skip
    root, body, floor = _pose_on_floor(angles, heading, skeleton)
    trans = np.zeros((n, 3))
    trans[:, :2] = ground + _start(rng)[:2]
    trans[:, 2] = floor + lift
    poses = np.concatenate([root, body, _hand_pose(t, rng)], 1)
    return {"poses": poses, "trans": trans, "dmpls": _smooth_noise(rng, t, 0.6, (NUM_DMPLS,))}
