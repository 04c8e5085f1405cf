"""Numeric precision around the DeepSpeed engine: what stays fp32 when the model trains in bf16 / fp16 or TF32.

* BatchNorm running statistics stay fp32 under ``deepspeed=bf16 / fp16`` (the configs keep them out of DeepSpeed's
  buffer cast with ``data_types.keep_in_fp32_modules``): a momentum-0.1 update smaller than half a bf16 step (1/256
  relative) would round away and the statistics would stall. :func:`batchnorm_stats_in_fp32` lets a BatchNorm whose
  affine parameters DeepSpeed cast to bf16 / fp16 normalise with those fp32 statistics (torch's mixed-type
  BatchNorm: reduced-precision input, fp32 parameters and statistics, output in the input's dtype).
* The export at the end of training is the optimizer's fp32 master weights (:func:`master_state_dict`), not the
  bf16 / fp16 module cast up.
* On CUDA the model's matmuls run in TF32 (:func:`use_tf32_for_the_model`; cuDNN convolutions already default to
  it), while synthesis (SMPL, projection, heatmaps), targets and metrics run in IEEE fp32 inside
  :func:`exact_fp32`: TF32 keeps 10 mantissa bits, so a 5 m camera-space coordinate would carry ~5 mm of rounding,
  an error the size of the differences the paper's tables report. The model's own weights are trained with bf16
  (8 bits) on the recommended fast path anyway, so TF32 costs it nothing.
* :func:`peak_memory_gib`: the peak GPU memory of the run so far, for metrics.jsonl (None on CPU).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

_REDUCED = (torch.bfloat16, torch.float16)


class _Fp32StatsBatchNorm:
    """Mixin before a torch BatchNorm class: with affine parameters in bf16 / fp16 and fp32 running statistics
    (``deepspeed=bf16 / fp16``), normalise in torch's mixed-type mode, parameters upcast (their gradients flow back
    through the cast). Anything else is the torch class's own forward, so fp32 runs are unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats, weight = self.running_mean, self.weight
        if stats is None or weight is None or weight.dtype == stats.dtype or stats.dtype in _REDUCED:
            return super().forward(x)  # type: ignore[misc]
        self._check_input_dim(x)
        # torch's _BatchNorm.forward, with fp32 affine parameters
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                            weight.float(), None if self.bias is None else self.bias.float(), batch_stats, factor,
                            self.eps)  # fmt: skip


_VARIANTS: dict[type, type] = {
    cls: type(f"Fp32Stats{cls.__name__}", (_Fp32StatsBatchNorm, cls), {})
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
}
globals().update({variant.__name__: variant for variant in _VARIANTS.values()})  # importable by name (pickle)


def batchnorm_stats_in_fp32(model: nn.Module) -> int:
    """Give every plain BatchNorm of ``model`` the mixed-precision forward above (in place); returns how many.

    Done before ``deepspeed.initialize``; it changes nothing while parameters and statistics share a dtype."""
    count = 0
    for module in model.modules():
        variant = _VARIANTS.get(type(module))
        if variant is not None:
            module.__class__ = variant
            count += 1
    return count


def master_state_dict(engine: Any) -> dict[str, torch.Tensor]:
    """The module's state dict with every trainable parameter replaced by the optimizer's fp32 master copy.

    DeepSpeed's bf16 optimizer and ZeRO map each low-precision parameter to its fp32 fragment
    (``safe_get_full_fp32_param``, an all-reduce over the data-parallel group: call it on every rank); the fp16
    optimizer at ZeRO stage 0 holds ``fp32_groups`` beside ``fp16_groups``. fp32 runs return the module's own.
    Tensors on the CPU, fp32 for floating point values.
    """
    from deepspeed.utils import safe_get_full_fp32_param

    module = engine.module
    optimizer = getattr(engine, "optimizer", None)
    paired: dict[int, torch.Tensor] = {}
    for low, high in zip(getattr(optimizer, "fp16_groups", None) or [], getattr(optimizer, "fp32_groups", None) or [],
                         strict=False):  # fmt: skip
        if isinstance(low, list | tuple) and isinstance(high, list | tuple):
            paired.update((id(p), h) for p, h in zip(low, high, strict=True))
    masters: dict[str, torch.Tensor] = {}
    for name, param in module.named_parameters():
        master = safe_get_full_fp32_param(param) if param.requires_grad else None
        if master is None:
            master = paired.get(id(param))
        if master is not None:
            masters[name] = master.detach().reshape(param.shape)
    state = {}
    for key, value in module.state_dict().items():
        value = masters.get(key, value).detach()
        state[key] = (value.float() if value.is_floating_point() else value).cpu().contiguous()
    return state


def use_tf32_for_the_model(device: torch.device, enabled: bool) -> None:
    """TF32 for matmuls on CUDA (the model's forward and backward); nothing changes on other devices.

    Code that needs IEEE fp32 on the GPU (synthesis, targets, metrics) runs inside :func:`exact_fp32`."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = enabled


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """IEEE fp32 matmuls and convolutions inside the block (the previous TF32 settings come back after it)."""
    matmul, conv = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = conv


def peak_memory_gib(device: torch.device) -> float | None:
    """``torch.cuda.max_memory_allocated`` of ``device`` in GiB since the start of the process (None off CUDA)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30
