"""METRO's 24-joint label order (J24), its 14 evaluation joints and the left/right permutations used by flipping.

Sources: microsoft/MeshTransformer metro/modeling/data/config.py (J24_NAME, J24_TO_J14) and
metro/utils/image_ops.py (flip_kp's J24 permutation, flip_pose's SMPL permutation). The permutations are derived
here from the joint names (swap the left/right prefix) rather than typed in; the tests compare them with METRO's lists.
"""

from __future__ import annotations

from mpt.body.joints import COCO_KEYPOINT_NAMES, SMPL_JOINT_NAMES, flip_permutation

__all__ = [
    "J14_FLIP_PERM",
    "J24_FLIP_PERM",
    "J24_NAMES",
    "J24_PELVIS",
    "J24_TO_COCO",
    "J24_TO_J14",
    "SMPL_FLIP_PERM",
    "flip_permutation",
]

J24_NAMES: tuple[str, ...] = (
    "R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "R_Wrist", "R_Elbow", "R_Shoulder", "L_Shoulder",
    "L_Elbow", "L_Wrist", "Neck", "Top_of_Head", "Pelvis", "Thorax", "Spine", "Jaw", "Head", "Nose", "L_Eye",
    "R_Eye", "L_Ear", "R_Ear",
)  # fmt: skip

# The 14 joints evaluated and supervised in 3D (the J14 order of mpt.body.joints.J14_JOINT_NAMES).
J24_TO_J14: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18)
J24_PELVIS: int = J24_NAMES.index("Pelvis")  # 14: METRO subtracts it from the 3D labels


def _j24_name(coco_name: str) -> str:
    """COCO keypoint name -> the J24 slot holding it ('left_ear' -> 'L_Ear', 'nose' -> 'Nose')."""
    side, _, part = coco_name.partition("_")
    return f"{side[0].upper()}_{part.capitalize()}" if part else side.capitalize()


# J24 slot of each COCO-17 keypoint (COCO order); SPIN's COCO preprocessing fills exactly these 17 J24 slots.
J24_TO_COCO: tuple[int, ...] = tuple(J24_NAMES.index(_j24_name(n)) for n in COCO_KEYPOINT_NAMES)


J24_FLIP_PERM: tuple[int, ...] = flip_permutation(J24_NAMES, "L_", "R_")
J14_FLIP_PERM: tuple[int, ...] = flip_permutation(tuple(J24_NAMES[i] for i in J24_TO_J14), "L_", "R_")
SMPL_FLIP_PERM: tuple[int, ...] = flip_permutation(SMPL_JOINT_NAMES, "left_", "right_")
