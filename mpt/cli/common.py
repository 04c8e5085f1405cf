"""What the Hydra apps share: config registration, lazy import of the task, one clear message for user errors."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import hydra
from omegaconf import DictConfig

from mpt.config import CONFIG_PATH, register_configs
from mpt.engine.ranks import ranks_from_env
from mpt.errors import MptError


def run_cli(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run ``task(cfg)``; a :class:`MptError` (bad input the user can fix) prints one message and exits 2."""
    try:
        return task(cfg)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def hydra_app(config_name: str, task: str) -> Callable[[], None]:
    """A console-script ``main`` that composes ``configs/<config_name>.yaml`` and runs ``task`` ("module:function").

    The task's module is imported only after the config composed, so ``--help`` and config errors stay fast.
    """

    @hydra.main(config_path=CONFIG_PATH, config_name=config_name, version_base="1.3")
    def app(cfg: DictConfig) -> None:
        module, function = task.split(":")
        run_cli(getattr(importlib.import_module(module), function), cfg)

    def main() -> None:
        register_configs()
        try:
            rank = ranks_from_env().rank
        except MptError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        if rank != 0:
            # Every rank shares one run folder (paths.output_dir): only rank 0 writes Hydra's .hydra/ and job log.
            sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=none"]
        app()

    return main
