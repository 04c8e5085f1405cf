"""``python -m tools.study``: the study's command (tools/study/runner.py)."""

import sys

from tools.study.runner import main

sys.exit(main())
