"""Run by tests/engine/test_two_processes.py under ``torch.distributed.run`` (2 processes): the trainer on a task whose
loss turns NaN at step 5 on rank 1 only. Each rank writes what stopped it to <out>/rank<r>.txt."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from mpt.engine.distributed import setup_distributed
from mpt.engine.trainer import train
from mpt.errors import MptError
from tests.helpers import LinearTask, trainer_cfg


def main(out: Path) -> None:
    dist = setup_distributed("cpu")
    task = LinearTask(nan_from=5 if dist.rank == 1 else None)
    try:
        train(trainer_cfg(out, 10), dist, torch.nn.Linear(3, 1), task)
        result = "finished all steps"
    except MptError as exc:
        result = str(exc)
    (out / f"rank{dist.rank}.txt").write_text(result)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
