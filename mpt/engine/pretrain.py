"""Entry function of mpt-pretrain (filled in by the training/evaluation issues)."""

from __future__ import annotations

from omegaconf import DictConfig

from mpt.engine.builders import build_body_model
from mpt.errors import MptError


def pretrain(cfg: DictConfig) -> None:
    """Check the inputs named by the config."""
    build_body_model(cfg)
    raise MptError("the pretrain loop is not available yet in this version of mpt")
