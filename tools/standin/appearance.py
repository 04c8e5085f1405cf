"""Clothing for the rendered stand-in body: a per-vertex albedo from the skinning weights, so that images show
which side of the person faces the camera, as faces and clothes do in photographs.

A body of one colour looks the same from the front and from behind, and so does its left/right labelling: a pose
network cannot tell a person's left wrist from the right one. Real people are nearly mirror-symmetric too; what
tells us their left from their right is which way they face (the face, the front of a shirt). The stand-in clothes
follow that: mirror-symmetric (each vertex has its mirror partner's colour, so flipping an image, as METRO's and
the pose networks' augmentation does, gives another plausible person), with a front that differs from the back.

Garments, by the SMPL joint that skins each vertex (the weights blend them, so borders are soft):

    skin       neck, hands (wrist and hand joints), and the face: the front of the head below the hairline
    hair       the rest of the head (back and top)
    eyes       dark patches around smplx's eye landmark vertices, large enough to show at 128 px crops
    shirt      back of the torso (spine joints), collars, sleeves (shoulder and elbow joints: long sleeves)
    print      front of the torso (a jersey front in its own colour)
    panel      a vertical band down the middle of the jersey front, always the same saturated colour
    trousers   pelvis, thighs and shins (pelvis, hip and knee joints)
    shoes      ankle and foot joints

Why a panel of one fixed colour: a pose network tells a person's left from right by which way the person faces,
and the cue for that must be one a small network learns at 128 px crops. Random shirt and print colours make
"facing" a relation between two random colours, and the face is a few pixels there: the earlier stand-in network
(SimpleBaseline ResNet-18 trained from scratch on these renders for 320 steps) never learnt it and gave every
left keypoint the right one's map. A band of one colour that only the front has is a cue a network can read from
any single patch of the chest, as real COCO photographs give it by faces, shirt fronts, buttons and prints: with it,
the same recipe run to 1600 steps tells left from right (tools/standin/weights/demo_pose/manifest.json), about 300
steps sooner than on clothes without the band. The band is centred on the body's midline, so the clothes stay
mirror-symmetric.

"Front" is read from the rest pose, which faces +z (SMPL's T-pose): a vertex is front by the z component of its
normal there. :func:`garment_weights` gives each vertex's share of every garment (rows sum to 1) once per body;
:func:`sample_palette` draws one colour per garment for an image; ``garment_weights @ palette`` is the albedo.
"""

from __future__ import annotations

import numpy as np
import torch

from mpt.body import BodyModel
from mpt.body.joints import SMPL_FACE_VERTEX_IDS, SMPL_JOINT_NAMES
from mpt.vis.render import vertex_normals

__all__ = ["GARMENTS", "albedo", "garment_weights", "sample_palette"]

GARMENTS: tuple[str, ...] = ("skin", "hair", "eyes", "shirt", "print", "panel", "trousers", "shoes")

# Garment of each SMPL joint's skin region; "torso" and "head" are split front/back (print/shirt, skin/hair).
_JOINT_GARMENT: dict[str, str] = {
    "pelvis": "trousers", "left_hip": "trousers", "right_hip": "trousers", "spine1": "torso",
    "left_knee": "trousers", "right_knee": "trousers", "spine2": "torso", "left_ankle": "shoes",
    "right_ankle": "shoes", "spine3": "torso", "left_foot": "shoes", "right_foot": "shoes", "neck": "skin",
    "left_collar": "shirt", "right_collar": "shirt", "head": "head", "left_shoulder": "shirt",
    "right_shoulder": "shirt", "left_elbow": "shirt", "right_elbow": "shirt", "left_wrist": "skin",
    "right_wrist": "skin", "left_hand": "skin", "right_hand": "skin",
}  # fmt: skip
_FRONT_NZ = (0.1, 0.5)  # rest-pose normal z over which a vertex turns from back (0) to front (1)
_HAIRLINE_M = 0.07  # the face ends this far below the crown (metres, rest pose)
_EYE_RADIUS_M = (0.012, 0.02)  # eye patch: full colour within the first radius, fading out at the second
_PANEL_HALF_WIDTH_M = (0.07, 0.09)  # front panel: full colour within |x| of the first, fading out at the second

# Colour choices (RGB). Skin tones and hair shades span light to dark; clothes are saturated or neutral.
_SKIN = ((242, 206, 178), (226, 178, 142), (198, 140, 104), (150, 102, 72), (104, 72, 52))
_HAIR = ((30, 24, 20), (84, 56, 34), (150, 112, 66), (18, 18, 22), (190, 170, 130))
_CLOTHES = ((200, 40, 40), (40, 90, 190), (40, 150, 70), (230, 200, 40), (240, 240, 235), (40, 40, 45),
            (120, 60, 150), (240, 130, 30), (90, 170, 200), (140, 140, 140), (160, 110, 70), (30, 60, 110))  # fmt: skip
_SHOES = ((25, 25, 25), (235, 235, 235), (110, 70, 40), (60, 60, 120))
_EYES = (25, 25, 30)
_PANEL = (235, 20, 160)  # magenta: far from every _CLOTHES colour, so no back or sleeve ever looks like the panel


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, smoothstep in between."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def garment_weights(body: BodyModel) -> np.ndarray:
    """(V, len(GARMENTS)) share of each garment per vertex of ``body``'s rest pose (rows sum to 1)."""
    weights = body.skinning_weights.detach().double().cpu().numpy()  # (V, 24)
    template = body.template.detach().double().cpu()
    normals = vertex_normals(template.float(), body.faces.cpu()).double().numpy()  # (V, 3)
    verts = template.numpy()
    front = _ramp(normals[:, 2], *_FRONT_NZ)  # (V,)
    panel = 1 - _ramp(np.abs(verts[:, 0]), *_PANEL_HALF_WIDTH_M)  # (V,) the band about the midline x = 0
    g = {name: k for k, name in enumerate(GARMENTS)}
    out = np.zeros((verts.shape[0], len(GARMENTS)))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        kind, w = _JOINT_GARMENT[name], weights[:, j]
        if kind == "torso":
            out[:, g["panel"]] += w * front * panel
            out[:, g["print"]] += w * front * (1 - panel)
            out[:, g["shirt"]] += w * (1 - front)
        elif kind == "head":
            face = front * _ramp(verts[:, 1].max() - verts[:, 1], _HAIRLINE_M, _HAIRLINE_M + 0.02)
            out[:, g["skin"]] += w * face
            out[:, g["hair"]] += w * (1 - face)
        else:
            out[:, g[kind]] += w
    eye_ids = [SMPL_FACE_VERTEX_IDS["left_eye"], SMPL_FACE_VERTEX_IDS["right_eye"]]
    dist = np.linalg.norm(verts[:, None] - verts[eye_ids][None], axis=-1).min(axis=1)  # (V,)
    eye = 1 - _ramp(dist, *_EYE_RADIUS_M)
    out *= (1 - eye)[:, None]
    out[:, g["eyes"]] += eye
    return out / out.sum(axis=1, keepdims=True)


def sample_palette(rng: np.random.Generator) -> np.ndarray:
    """(len(GARMENTS), 3) float RGB: one random colour per garment (shirt and print always differ); the eyes and the
    front panel keep their fixed colours."""
    shirt, print_ = rng.choice(len(_CLOTHES), size=2, replace=False)
    picks = {
        "skin": _SKIN[int(rng.integers(len(_SKIN)))], "hair": _HAIR[int(rng.integers(len(_HAIR)))], "eyes": _EYES,
        "shirt": _CLOTHES[shirt], "print": _CLOTHES[print_], "panel": _PANEL,
        "trousers": _CLOTHES[int(rng.integers(len(_CLOTHES)))], "shoes": _SHOES[int(rng.integers(len(_SHOES)))],
    }  # fmt: skip
    return np.array([picks[name] for name in GARMENTS], dtype=np.float64)


def albedo(weights: np.ndarray, palette: np.ndarray) -> torch.Tensor:
    """(V, 3) float32 vertex colours: the garment shares ``weights`` (V, G) times the ``palette`` (G, 3)."""
    return torch.from_numpy((weights @ palette).astype(np.float32))
