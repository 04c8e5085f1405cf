"""`mpt-export`: compose ``configs/export.yaml`` with the command-line overrides, then run :func:`mpt.export.export`."""

from mpt.cli.common import hydra_app

main = hydra_app("export", "mpt.export:export")

if __name__ == "__main__":
    main()
