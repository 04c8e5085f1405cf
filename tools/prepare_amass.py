"""CLI: sample AMASS into an mpt motion cache. See mpt/data/prepare_amass.py.

python tools/prepare_amass.py --amass-root DIR --out DIR [--target-fps F] [--min-pose-change-deg D]
    [--val-datasets A,B] [--val-fraction F] [--seed S] [--workers N]
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    try:
        import mpt  # noqa: F401  (installed package)
    except ImportError:  # running from a checkout without `pip install -e .`
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mpt.data.prepare_amass import main

    sys.exit(main())
