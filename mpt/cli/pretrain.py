"""`mpt-pretrain`: compose ``configs/pretrain.yaml`` with the command-line overrides, then run :func:`mpt.engine.pretrain.pretrain`."""

from mpt.cli.common import hydra_app

main = hydra_app("pretrain", "mpt.engine.pretrain:pretrain")

if __name__ == "__main__":
    main()
