"""What a researcher sees during training: a progress bar, TensorBoard scalars and a JSON-lines metrics log.

Only rank 0 writes; other ranks get a logger that does nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


class RunLogger:
    """Progress bar (loss, lr, samples/s), ``<run>/tb`` TensorBoard events and ``<run>/metrics.jsonl``."""

    def __init__(self, run_dir: str | Path, enabled: bool, total_steps: int, start_step: int = 0) -> None:
        self.enabled = enabled
        self._bar = None
        self._tb = None
        self._jsonl = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self._tb = SummaryWriter(str(run_dir / "tb"))
        self._jsonl = (run_dir / "metrics.jsonl").open("a", encoding="utf-8")
        self._bar = tqdm(total=total_steps, initial=start_step, desc="train", dynamic_ncols=True, mininterval=1.0)

    def log(self, step: int, scalars: dict[str, float], kind: str = "train") -> None:
        """Record scalars for ``step`` under ``kind/`` in TensorBoard and as one JSON line."""
        if not self.enabled:
            return
        for key, value in scalars.items():
            self._tb.add_scalar(f"{kind}/{key}", value, step)
        self._jsonl.write(json.dumps({"kind": kind, "step": step, "time": time.time(), **scalars}) + "\n")
        self._jsonl.flush()

    def progress(self, steps: int, postfix: dict[str, float] | None = None) -> None:
        """Advance the bar by ``steps``; ``postfix`` (when given) replaces the numbers shown beside it."""
        if self._bar is None:
            return
        if postfix:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)
        self._bar.update(steps)

    def write(self, message: str) -> None:
        """Print a line above the progress bar (rank 0 only)."""
        if self.enabled:
            from tqdm import tqdm

            tqdm.write(message)

    def close(self) -> None:
        if not self.enabled:
            return
        self._bar.close()
        self._tb.close()
        self._jsonl.close()
