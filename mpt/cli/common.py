"""What the three Hydra apps share: config registration and turning user errors into one clear message."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from mpt.errors import MptError

log = logging.getLogger("mpt")


def run_cli(task: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run ``task(cfg)``; a :class:`MptError` (bad input the user can fix) prints one message and exits 2."""
    try:
        return task(cfg)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
