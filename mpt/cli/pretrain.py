"""`mpt-pretrain`: parse the Hydra config, then call :func:`mpt.engine.pretrain.pretrain`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mpt.cli.common import run_cli
from mpt.config import CONFIG_PATH, register_configs


@hydra.main(config_path=CONFIG_PATH, config_name="pretrain", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    from mpt.engine.pretrain import (
        pretrain,  # imported here so `--help` and config errors stay fast
    )

    run_cli(pretrain, cfg)


def main() -> None:
    register_configs()
    _app()


if __name__ == "__main__":
    main()
