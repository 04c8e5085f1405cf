"""Wall-clock timing shared by the benchmarks: one call, synchronised on CUDA so the GPU's work is counted."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def timed_ms(fn: Callable[[], object], device: torch.device) -> float:
    """Milliseconds of one ``fn()`` call, waiting for the device's queued work before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1000


def best_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Fastest of ``repeats`` timed calls in ms, after ``warmup`` calls (best-of-N: on a shared machine the
    fastest run is the one least disturbed by other processes; every row of a table uses the same rule)."""
    for _ in range(warmup):
        fn()
    return min(timed_ms(fn, device) for _ in range(repeats))
