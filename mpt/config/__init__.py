"""Typed configuration: dataclass schemas registered in Hydra's ConfigStore (see :mod:`mpt.config.schema`)."""

from mpt.config.store import CONFIG_PATH, compose_config, register_configs

__all__ = ["CONFIG_PATH", "compose_config", "register_configs"]
