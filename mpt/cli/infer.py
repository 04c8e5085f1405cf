"""`mpt-infer`: compose ``configs/infer.yaml`` with the command-line overrides, then run :func:`mpt.inference.images.infer`."""

from mpt.cli.common import hydra_app

main = hydra_app("infer", "mpt.inference.images:infer")

if __name__ == "__main__":
    main()
