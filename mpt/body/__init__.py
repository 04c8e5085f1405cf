"""SMPL body model (chumpy-free loading, batched blend skinning), joint orders and joint regressors."""

from mpt.body.regressors import RegressorFileError, load_joint_regressor
from mpt.body.skinning import SmplSkinning
from mpt.body.smpl import GENDER_CODES, BodyModel, BodyOutput, h36m_to_j14
from mpt.body.smpl_file import (
    SmplFileError,
    find_smpl_file,
    load_smpl_file,
    save_smpl_npz,
    save_smpl_pickle,
)

__all__ = [
    "GENDER_CODES", "BodyModel", "BodyOutput", "RegressorFileError", "SmplFileError", "SmplSkinning",
    "find_smpl_file",
    "h36m_to_j14", "load_joint_regressor", "load_smpl_file", "save_smpl_npz", "save_smpl_pickle",
]  # fmt: skip
