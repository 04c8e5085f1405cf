"""What stays fp32 when the model trains in bf16 (mpt.engine.precision, configs/deepspeed/bf16.yaml): BatchNorm
statistics, gradient accumulation and all-reduce, the exported weights; and the TF32 switches around synthesis."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mpt.config import compose_config
from mpt.engine.precision import exact_fp32, master_state_dict, peak_memory_gib, use_tf32_for_the_model
from mpt.engine.trainer import setup_engine


def _bf16_engine(cpu_world, model: nn.Module):
    cfg = compose_config("pretrain", ["deepspeed=bf16", "device=cpu", "train.lr=1e-2"])
    engine, _, dtype = setup_engine(cfg, cpu_world, model, total_steps=100)
    assert dtype == torch.bfloat16
    return engine


def test_batchnorm_statistics_stay_fp32_and_keep_moving_under_bf16(cpu_world):
    """Running variance 1, batches of variance 1.01: momentum 0.1 moves it by 0.001 a step, a quarter of a bf16 step
    at 1.0 (2^-8), so in bf16 it would round back to 1 every time. In fp32 it follows the exponential average
    1 + 0.01 (1 - 0.9^n) (hand computation; torch's unbiased batch variance)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    engine = _bf16_engine(cpu_world, model)
    bn = model[1]
    assert bn.weight.dtype == torch.bfloat16  # DeepSpeed cast the parameters ...
    assert bn.running_var.dtype == bn.running_mean.dtype == torch.float32  # ... and kept the statistics
    # The first layer passes x through unchanged, so the BatchNorm sees batches of known variance.
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
    z = torch.randn(4096, 2)
    x = (z - z.mean(0)) / z.std(0) * 1.01**0.5  # unbiased variance exactly 1.01, mean 0
    engine.train()
    steps = 5
    for _ in range(steps):
        out = engine(x.bfloat16())
    assert out.dtype == torch.bfloat16
    want = 1 + 0.01 * (1 - 0.9**steps)  # 1.0041
    # x went through a bf16 Linear (identity weights) first: its variance is 1.01 to bf16 rounding of the values
    torch.testing.assert_close(bn.running_var, torch.full((2,), want), rtol=0, atol=4e-4)
    assert (bn.running_var - 1).abs().min() > 3e-3  # not stalled at 1


def test_bf16_accumulates_and_all_reduces_gradients_in_fp32(cpu_world):
    """DeepSpeed's bf16 optimizer (fp32 master weights, fp32 gradient accumulation) rather than bf16 gradients
    summed in bf16 over micro-steps and ranks."""
    engine = _bf16_engine(cpu_world, nn.Linear(3, 1))
    assert type(engine.optimizer).__name__ == "BF16_Optimizer"
    assert engine.get_data_types() == (torch.bfloat16, torch.float32)
    assert engine.communication_data_type == torch.float32


def test_the_export_is_the_fp32_master_weights(cpu_world):
    """After a few bf16 steps the master weights hold updates below bf16's resolution; the export must be those,
    not the bf16 module cast back to fp32 (whose every value is a bf16 number)."""
    torch.manual_seed(0)
    engine = _bf16_engine(cpu_world, nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 1)))
    engine.train()
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        x = torch.randn(32, 8, generator=gen)
        loss = engine(x.bfloat16()).float().square().mean()
        engine.backward(loss)
        engine.step()
    state = master_state_dict(engine)
    module = engine.module.state_dict()
    for key, value in state.items():
        assert value.dtype == torch.float32
        # the bf16 module is the master weights rounded to bf16 ...
        torch.testing.assert_close(value.bfloat16(), module[key], rtol=0, atol=0)
    weight = state["0.weight"]
    # ... and the master weights carry more: most are not bf16 numbers (a module cast up would have none such)
    assert (weight != weight.bfloat16().float()).float().mean() > 0.5


def test_model_matmuls_in_tf32_synthesis_in_ieee_fp32():
    """``use_tf32_for_the_model`` turns TF32 on for CUDA matmuls only; ``exact_fp32`` turns it (and cuDNN's) off
    inside its block and restores both after, also when the block raises."""
    matmul, conv = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        use_tf32_for_the_model(torch.device("cpu"), True)
        assert torch.backends.cuda.matmul.allow_tf32 is False  # a CPU run changes nothing
        use_tf32_for_the_model(torch.device("cuda", 0), True)
        torch.backends.cudnn.allow_tf32 = True
        assert torch.backends.cuda.matmul.allow_tf32 is True
        with pytest.raises(RuntimeError), exact_fp32():
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
            raise RuntimeError
        assert torch.backends.cuda.matmul.allow_tf32 is True and torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, conv


def test_no_peak_gpu_memory_on_the_cpu():
    assert peak_memory_gib(torch.device("cpu")) is None
