"""`mpt-finetune`: compose ``configs/finetune.yaml`` with the command-line overrides, then run :func:`mpt.engine.finetune.finetune`."""

from mpt.cli.common import hydra_app

main = hydra_app("finetune", "mpt.engine.finetune:finetune")

if __name__ == "__main__":
    main()
