"""`mpt-infer`: compose ``configs/infer.yaml`` with the command-line overrides, then run :func:`mpt.inference.infer`."""

from mpt.cli.common import hydra_app

main = hydra_app("infer", "mpt.inference:infer")

if __name__ == "__main__":
    main()
