"""The paper's schedule through DeepSpeed's WarmupDecayLR: linear warm-up over 10% of steps, linear decay to 0."""

from __future__ import annotations

import pytest
import torch
from deepspeed.runtime.lr_schedules import WarmupDecayLR

from mpt.config import compose_config
from mpt.engine.ds_config import build_ds_config, total_train_steps
from mpt.errors import MptError


def test_total_steps_from_data_size():
    # 10,000 samples, 32 per GPU x 2 accumulation x 4 GPUs = 256 per step -> 39 steps per epoch, 10 epochs.
    assert total_train_steps(10_000, 32, 2, 4, 10) == 390
    assert total_train_steps(10_000, 32, 2, 4, 10, max_steps=50) == 50
    assert total_train_steps(10_000, 32, 1, 1, 0.5) == 156  # 312 steps per epoch, half an epoch


def test_a_training_set_smaller_than_one_global_batch_is_an_error():
    assert total_train_steps(64, 8, 2, 4, 1) == 1  # exactly one global batch of 8 x 2 x 4
    with pytest.raises(MptError, match="the training set has 63 samples, fewer than one global batch of 64"):
        total_train_steps(63, 8, 2, 4, 1)


def test_batch_sizes_and_linear_schedule():
    cfg = compose_config("pretrain", ["train.micro_batch=32", "train.grad_accum=2"])
    ds = build_ds_config(cfg, world_size=16, total_steps=1000)
    assert ds["train_batch_size"] == 32 * 2 * 16
    params = ds["scheduler"]["params"]
    assert params["warmup_type"] == "linear" and params["warmup_num_steps"] == 100
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.train.lr)
    sched = WarmupDecayLR(opt, **params)
    lrs = {}  # scheduler iteration -> lr (the engine steps the scheduler after every optimizer step)
    for _ in range(1001):
        opt.step()
        sched.step()
        lrs[sched.last_batch_iteration] = opt.param_groups[0]["lr"]
    peak = 2e-4
    assert lrs[0] == pytest.approx(0.0)  # step 0
    assert lrs[50] == pytest.approx(peak * 50 / 100)  # half-way through warm-up
    assert lrs[100] == pytest.approx(peak)  # 10% of steps
    assert lrs[550] == pytest.approx(peak * (1000 - 550) / 900)  # linear decay
    assert lrs[1000] == pytest.approx(0.0, abs=1e-12)  # 100% of steps


def test_deepspeed_group_reaches_ds_config():
    ds = build_ds_config(compose_config("pretrain", ["deepspeed=bf16"]), world_size=1, total_steps=10)
    # ZeRO 1: DeepSpeed 0.19 accumulates bf16 gradients in fp32 only there (tests/engine/test_precision.py)
    assert ds["bf16"]["enabled"] is True and ds["zero_optimization"]["stage"] == 1
    assert ds["data_types"]["grad_accum_dtype"] == ds["communication_data_type"] == "fp32"
    fp16 = build_ds_config(compose_config("pretrain", ["deepspeed=fp16"]), world_size=1, total_steps=10)["fp16"]
    # dynamic loss scale from 2^8: METRO's 1000 / 100 loss weights overflow fp16 at DeepSpeed's 2^16
    assert fp16["loss_scale"] == 0 and fp16["initial_scale_power"] == 8
    ds = build_ds_config(compose_config("pretrain", ["deepspeed=zero2", "+deepspeed.wall_clock_breakdown=true"]),
                         world_size=1, total_steps=10)  # fmt: skip
    assert ds["zero_optimization"]["stage"] == 2 and ds["wall_clock_breakdown"] is True
