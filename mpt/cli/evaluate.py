"""`mpt-eval`: parse the Hydra config, then call :func:`mpt.engine.evaluate.evaluate`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mpt.cli.common import run_cli
from mpt.config import CONFIG_PATH, register_configs


@hydra.main(config_path=CONFIG_PATH, config_name="eval", version_base="1.3")
def _app(cfg: DictConfig) -> None:
    from mpt.engine.evaluate import (
        evaluate,  # imported here so `--help` and config errors stay fast
    )

    run_cli(evaluate, cfg)


def main() -> None:
    register_configs()
    _app()


if __name__ == "__main__":
    main()
