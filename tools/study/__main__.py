"""``python -m tools.study``: the study's command (tools/study/runner.py)."""

import sys

from tools.study.runner import main

if __name__ == "__main__":  # not in the worker processes, which re-import this module as __mp_main__ (spawn)
    sys.exit(main())
