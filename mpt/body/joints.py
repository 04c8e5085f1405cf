"""Joint orders and index maps shared by the whole framework.

Sources: SMPL joint names from smplx ``joint_names.py``; Human3.6M-17 order
and the J14 evaluation subset from METRO ``metro/modeling/data/config.py``; COCO-17 keypoint order from the COCO
keypoint annotation format; SMPL face landmark vertex ids from smplx ``vertex_ids.py`` (``smplh``, valid for SMPL's
topology).
"""

from __future__ import annotations

# Per-sample gender codes (motion cache, batched body model): a code indexes (neutral, male, female).
GENDER_CODES: dict[str, int] = {"neutral": 0, "male": 1, "female": 2}
# Spellings of the genders in AMASS files and METRO/3DPW labels (lower-cased) -> the names above.
GENDER_ALIASES: dict[str, str] = {"male": "male", "m": "male", "female": "female", "f": "female",
                                  "neutral": "neutral", "n": "neutral"}  # fmt: skip

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand",
    "right_hand",
)  # fmt: skip

# kintree_table[0] of the official files, root parent written as -1.
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

H36M_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "torso", "neck",
    "nose", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)  # fmt: skip

# METRO's H36M_J17_TO_J14: the 14 joints evaluated under Human3.6M protocol 2.
H36M_TO_J14: tuple[int, ...] = (3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10)
J14_JOINT_NAMES: tuple[str, ...] = tuple(H36M_JOINT_NAMES[i] for i in H36M_TO_J14)
H36M_PELVIS = 0
# Hips inside the J14 order, whose midpoint METRO uses to centre joints before MPJPE.
J14_RIGHT_HIP = 2
J14_LEFT_HIP = 3

COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip

# COCO keypoint skeleton: the "skeleton" field of COCO's person category, made 0-based.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
    (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip


def flip_permutation(names: tuple[str, ...], left: str, right: str) -> tuple[int, ...]:
    """perm[i] = index of joint i's mirror image: names with ``left`` and ``right`` prefixes swapped."""
    index = {n: i for i, n in enumerate(names)}
    perm = []
    for n in names:
        if n.startswith(left):
            mirror = right + n[len(left) :]
        elif n.startswith(right):
            mirror = left + n[len(right) :]
        else:
            mirror = n
        if mirror not in index:
            raise ValueError(f"joint {n!r} has no mirror {mirror!r} in {names}")
        perm.append(index[mirror])
    return tuple(perm)


# COCO-17 left/right swap used by flip testing (HigherHRNet lib/dataset/transforms/transforms.py FLIP_CONFIG['COCO']).
COCO_FLIP_INDEX: tuple[int, ...] = flip_permutation(COCO_KEYPOINT_NAMES, "left_", "right_")

# smplx vertex ids (SMPL topology) of the face keypoints that SMPL has no joint for.
SMPL_FACE_VERTEX_IDS: dict[str, int] = {"nose": 332, "right_eye": 6260, "left_eye": 2800, "right_ear": 4071,
                                        "left_ear": 583}  # fmt: skip


def coco_sources() -> tuple[list[int], list[int], list[int], list[int]]:
    """Where each COCO keypoint comes from on an SMPL body.

    Returns (coco slots filled from joints, their SMPL joint ids, coco slots filled from vertices, their vertex
    ids), so two batched gathers fill a (B, 17, 3) tensor: body keypoints are the SMPL joints of the same name,
    face keypoints are smplx's landmark vertices.
    """
    from_joints, joint_ids, from_vertices, vertex_ids = [], [], [], []
    for k, name in enumerate(COCO_KEYPOINT_NAMES):
        if name in SMPL_FACE_VERTEX_IDS:
            from_vertices.append(k)
            vertex_ids.append(SMPL_FACE_VERTEX_IDS[name])
        else:
            from_joints.append(k)
            joint_ids.append(SMPL_JOINT_NAMES.index(name))
    return from_joints, joint_ids, from_vertices, vertex_ids
