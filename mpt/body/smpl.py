"""Batched SMPL body model with the joint sets MPT needs.

This module reads chumpy-free model data (:mod:`mpt.body.smpl_file`), keeps one :class:`SmplSkinning` per gender
in use (SMPL's forward, laid out for batched speed; smplx supplies its kinematic chain), and adds the joint
regressors of the framework: SMPL-24, Human3.6M-17 (from a 17x6890 regressor file), its 14-joint evaluation subset,
and COCO-17 keypoints for heatmaps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mpt.body import joints as J
from mpt.body.regressors import load_joint_regressor
from mpt.body.skinning import SmplSkinning
from mpt.body.smpl_file import GENDERS, NUM_JOINTS, find_smpl_file, load_smpl_file

GENDER_CODES = J.GENDER_CODES


@dataclass
class BodyOutput:
    """Posed bodies: ``vertices`` (B, 6890, 3) and SMPL ``joints`` (B, 24, 3), metres.

    ``vertices`` may be a view of channels-first (B, 3, 6890) memory (see :class:`SmplSkinning`).
    """

    vertices: torch.Tensor
    joints: torch.Tensor


class BodyModel(nn.Module):
    """SMPL forward for a batch on any device, plus H36M-17 / J14 / COCO-17 joint regression.

    Args:
        smpl: folder or file of the SMPL model(s) (see :func:`find_smpl_file`).
        h36m_regressor: path of the (17, 6890) Human3.6M regressor; optional for code that needs no H36M joints.
        genders: the genders to load; a batch may mix them through ``gender`` codes (:data:`GENDER_CODES`).
        num_betas: shape coefficients used (SMPL files have 10).
        coco_regressor: optional (17, 6890) COCO regressor file; by default COCO keypoints are SMPL joints plus
            smplx's face landmark vertices.
    """

    def __init__(
        self,
        smpl: str | os.PathLike[str],
        h36m_regressor: str | os.PathLike[str] | None = None,
        genders: tuple[str, ...] = ("neutral",),
        num_betas: int = 10,
        coco_regressor: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        if not genders or any(g not in GENDERS for g in genders):
            raise ValueError(f"genders must be a non-empty subset of {GENDERS}, got {genders}")
        self.genders = tuple(genders)
        self.num_betas = num_betas
        self.layers = nn.ModuleDict(
            {g: SmplSkinning(load_smpl_file(find_smpl_file(smpl, g)), num_betas) for g in self.genders}
        )
        self.register_buffer("faces", self.layers[self.genders[0]].faces.clone(), persistent=False)
        if h36m_regressor is not None:
            reg = torch.from_numpy(load_joint_regressor(h36m_regressor, len(J.H36M_JOINT_NAMES), "Human3.6M"))
            self.register_buffer("h36m_regressor", reg.float(), persistent=False)
            # Human3.6M regressors weight a few vertices per joint (METRO's: 4-9): gather those columns instead of
            # multiplying by all 6890 (measured at batch 256 on one CPU thread: 1.1 ms instead of 22 ms).
            columns = torch.nonzero(reg.abs().sum(dim=0) > 0).flatten()
            self.register_buffer("_h36m_columns", columns, persistent=False)
            self.register_buffer("_h36m_weights", reg[:, columns].float(), persistent=False)
        else:
            self.h36m_regressor = None
        if coco_regressor is not None:
            reg = load_joint_regressor(coco_regressor, len(J.COCO_KEYPOINT_NAMES), "COCO")
            self.register_buffer("coco_regressor", torch.from_numpy(reg).float(), persistent=False)
        else:
            self.coco_regressor = None
        from_j, joint_ids, from_v, vertex_ids = J.coco_sources()
        # A (17, 24 + 5) index over cat(joints, face vertices): one gather per batch.
        order = np.empty(len(J.COCO_KEYPOINT_NAMES), dtype=np.int64)
        order[from_j] = joint_ids
        order[from_v] = NUM_JOINTS + np.arange(len(vertex_ids))
        self.register_buffer("_coco_order", torch.from_numpy(order), persistent=False)
        self.register_buffer("_face_vertex_ids", torch.tensor(vertex_ids, dtype=torch.long), persistent=False)

    @property
    def template(self) -> torch.Tensor:
        """(6890, 3) rest-pose template of the first gender loaded (neutral by default)."""
        return self.layers[self.genders[0]].v_template

    @property
    def skinning_weights(self) -> torch.Tensor:
        """(6890, 24) linear-blend skinning weights of the first gender loaded (the file's ``weights``)."""
        return self.layers[self.genders[0]].weights_t.T

    def forward(
        self,
        pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        gender: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose SMPL bodies.

        Args:
            pose: (B, 72) axis-angle, global orientation first.
            betas: (B, num_betas) shape, zeros when None.
            gender: (B,) :data:`GENDER_CODES`; samples of a gender not loaded use the first loaded one.
            transl: (B, 3) root translation added to vertices and joints.
        """
        if pose.ndim != 2 or pose.shape[1] != 72:
            raise ValueError(f"pose must be (B, 72) axis-angle, got {tuple(pose.shape)}")
        b = pose.shape[0]
        if betas is None:
            betas = pose.new_zeros(b, self.num_betas)
        betas = betas[:, : self.num_betas]
        if gender is None or len(self.genders) == 1:
            vertices, joints = self.layers[self.genders[0]](pose, betas, transl)
        else:
            vertices = pose.new_empty(b, self.template.shape[0], 3)
            joints = pose.new_empty(b, NUM_JOINTS, 3)
            codes = torch.full_like(gender, GENDER_CODES[self.genders[0]])
            for g in self.genders[1:]:
                codes = torch.where(gender == GENDER_CODES[g], gender, codes)
            for g in self.genders:  # one batched call per gender present (at most 3)
                sel = (codes == GENDER_CODES[g]).nonzero(as_tuple=True)[0]
                if sel.numel():
                    part = None if transl is None else transl[sel]
                    vertices[sel], joints[sel] = self.layers[g](pose[sel], betas[sel], part)
        return BodyOutput(vertices=vertices, joints=joints)

    def h36m_joints(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, 6890, 3) -> (B, 17, 3) Human3.6M joints by the regressor file."""
        if self.h36m_regressor is None:
            raise RuntimeError("BodyModel was built without h36m_regressor; set paths.h36m_regressor")
        return torch.matmul(self._h36m_weights.to(vertices.dtype), vertices[:, self._h36m_columns])

    def j14(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, 6890, 3) -> (B, 14, 3): the Human3.6M joints evaluated under protocol 2, METRO's order."""
        return h36m_to_j14(self.h36m_joints(vertices))

    def smpl_joints(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, 6890, 3) -> (B, 24, 3): SMPL's own joint regressor applied to any mesh (e.g. a predicted one)."""
        return torch.einsum("jv,bvc->bjc", self.layers[self.genders[0]].J_regressor.to(vertices.dtype), vertices)

    def coco_keypoints(self, vertices: torch.Tensor, joints: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 6890, 3), SMPL joints (B, 24, 3) -> (B, 17, 3) COCO keypoints; joints are regressed when None."""
        if joints is None and self.coco_regressor is None:
            joints = self.smpl_joints(vertices)
        if self.coco_regressor is not None:
            return torch.einsum("jv,bvc->bjc", self.coco_regressor, vertices)
        pool = torch.cat([joints, vertices[:, self._face_vertex_ids]], dim=1)  # (B, 24 + 5, 3)
        return pool[:, self._coco_order]


def h36m_to_j14(h36m: torch.Tensor) -> torch.Tensor:
    """(..., 17, 3) Human3.6M joints -> (..., 14, 3) in METRO's J14 order."""
    return h36m[..., list(J.H36M_TO_J14), :]
