"""Build the framework's objects from a composed config."""

from __future__ import annotations

from omegaconf import DictConfig

from mpt.body import BodyModel

_GENDERS = {"neutral": ("neutral",), "per_sample": ("neutral", "male", "female")}


def build_body_model(cfg: DictConfig, with_h36m: bool = True) -> BodyModel:
    """The SMPL body model from ``cfg.paths`` / ``cfg.body``; missing files raise an error naming them."""
    if cfg.body.gender not in _GENDERS:
        raise ValueError(f"body.gender must be one of {sorted(_GENDERS)}, got {cfg.body.gender!r}")
    return BodyModel(
        smpl=cfg.paths.smpl,
        h36m_regressor=cfg.paths.h36m_regressor if with_h36m else None,
        genders=_GENDERS[cfg.body.gender],
        num_betas=cfg.body.num_betas,
        coco_regressor=cfg.paths.coco_regressor,
    )
