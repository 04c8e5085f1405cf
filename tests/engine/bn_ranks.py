"""Run by tests/engine/test_two_processes.py under ``torch.distributed.run``: ``mpt-pretrain`` with its arguments,
recording at every validation each rank's BatchNorm running statistics as they are when the rank validates, in
``<dump>/rank<r>_step<s>.safetensors``. Usage: ``python -m tests.engine.bn_ranks <dump> <overrides...>``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import mpt.engine.trainer as trainer
from mpt.cli.pretrain import main


def batchnorm_statistics(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every BatchNorm buffer of ``module`` (running mean, variance and batch count), by state-dict name."""
    return {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()
            if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}  # fmt: skip


def _recording(dump: Path):
    validate = trainer._validate

    def record(engine, task, logger, step, total):
        metrics = validate(engine, task, logger, step, total)
        save_file(batchnorm_statistics(engine.module), str(dump / f"rank{os.environ['RANK']}_step{step}.safetensors"))
        return metrics

    return record


if __name__ == "__main__":
    dump = Path(sys.argv[1])
    dump.mkdir(parents=True, exist_ok=True)
    trainer._validate = _recording(dump)
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    main()
