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


def best_times(fns: dict[str, Callable[[], object]], iters: int) -> dict[str, float]:
    """Seconds of the fastest of ``iters`` calls of each function: one untimed warm-up call each, then the
    functions take turns (round robin), so load from other processes falls on all of them alike (CPU only)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}
