"""The DeepSpeed config built from the Hydra config: batch sizes from one number, the paper's LR schedule.

The ``deepspeed:`` node of the Hydra config mirrors ds_config keys (ZeRO stage, bf16/fp16 ...) and is merged in
last, so any DeepSpeed option can be set from the command line (``+deepspeed.wall_clock_breakdown=true``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from mpt.errors import MptError


def total_train_steps(num_samples: int, micro_batch: int, grad_accum: int, world_size: int, epochs: float,
                      max_steps: int | None = None) -> int:  # fmt: skip
    """Optimizer steps for ``epochs`` passes over ``num_samples`` at the global batch, capped by ``max_steps``."""
    global_batch = micro_batch * grad_accum * world_size
    steps_per_epoch = num_samples // global_batch
    if steps_per_epoch == 0:
        raise MptError(f"the training set has {num_samples} samples, fewer than one global batch of {global_batch} "
                       "(micro_batch x grad_accum x world size); lower train.micro_batch")  # fmt: skip
    steps = max(1, math.ceil(steps_per_epoch * epochs))
    return min(steps, max_steps) if max_steps else steps


def build_ds_config(cfg: DictConfig, world_size: int, total_steps: int) -> dict[str, Any]:
    """ds_config for ``deepspeed.initialize``: batch sizes, WarmupDecayLR (linear warm-up, linear decay to 0)."""
    train = cfg.train
    warmup = max(1, round(train.warmup_fraction * total_steps)) if train.warmup_fraction > 0 else 0
    ds: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": train.micro_batch,
        "gradient_accumulation_steps": train.grad_accum,
        "train_batch_size": train.micro_batch * train.grad_accum * world_size,
        "scheduler": {
            "type": "WarmupDecayLR",
            "params": {
                "warmup_min_lr": 0.0,
                "warmup_max_lr": train.lr,
                "warmup_num_steps": warmup,
                "total_num_steps": total_steps,
                # DeepSpeed's default warm-up is logarithmic; the paper's is linear.
                "warmup_type": "linear",
            },
        },
        "gradient_clipping": train.grad_clip,
        "steps_per_print": 10**9,  # our own logging reports progress
        "zero_optimization": {"stage": 0},
    }
    extra = OmegaConf.to_container(cfg.deepspeed, resolve=True) if cfg.deepspeed is not None else {}
    _merge(ds, extra)  # type: ignore[arg-type]
    return ds


def precision_dtype(ds: dict[str, Any]) -> torch.dtype:
    """The dtype DeepSpeed casts the model to (bf16 / fp16 from the ``deepspeed`` config group), else fp32."""
    if ds.get("bf16", {}).get("enabled"):
        return torch.bfloat16
    if ds.get("fp16", {}).get("enabled"):
        return torch.float16
    return torch.float32


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
