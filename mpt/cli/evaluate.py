"""`mpt-eval`: compose ``configs/eval.yaml`` with the command-line overrides, then run :func:`mpt.engine.evaluate.evaluate`."""

from mpt.cli.common import hydra_app

main = hydra_app("eval", "mpt.engine.evaluate:evaluate")

if __name__ == "__main__":
    main()
