"""Registration of the structured configs, and composition outside a Hydra app (tests, tools)."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from mpt.config import schema

# configs/ is installed as the package mpt.configs (pyproject's package-dir mapping).
CONFIG_MODULE = "mpt.configs"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"

_SCHEMAS = {"pretrain_schema": schema.PretrainConfig, "finetune_schema": schema.FinetuneConfig,
            "eval_schema": schema.EvalConfig, "infer_schema": schema.InferConfig,
            "export_schema": schema.ExportConfig}  # fmt: skip


def register_configs() -> None:
    """Store the top-level schemas; the primary YAML files list them first in their defaults."""
    cs = ConfigStore.instance()
    for name, node in _SCHEMAS.items():
        cs.store(name=name, node=node)


def compose_config(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` with overrides, as the console scripts do (without running)."""
    register_configs()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides or []))
