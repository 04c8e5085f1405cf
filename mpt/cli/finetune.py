"""`mpt-finetune`: parse the Hydra config, then call :func:`mpt.engine.finetune.finetune`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mpt.cli.common import run_cli
from mpt.config import CONFIG_PATH, register_configs


@hydra.main(config_path=CONFIG_PATH, config_name="finetune", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    from mpt.engine.finetune import (
        finetune,  # imported here so `--help` and config errors stay fast
    )

    run_cli(finetune, cfg)


def main() -> None:
    register_configs()
    _app()


if __name__ == "__main__":
    main()
