"""Batching for both front ends: a job is one image's people waiting for predictions; batches span images."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mpt.inference.inputs import PersonBox


@dataclass
class Job:
    """One image (for lifting without images: one image name of the keypoints file) waiting for predictions."""

    path: Path  # the image file, or the image's name in the keypoints file
    name: str  # output base name
    image: np.ndarray | None  # (H, W, 3) uint8 RGB; None: no overlay
    boxes: list[PersonBox]  # its K people
    center: torch.Tensor  # (K, 2) float64 crop centres, image pixels
    size: torch.Tensor  # (K,) float64 crop sides
    inputs: dict[str, torch.Tensor]  # the K people's model inputs (crops, or keypoints), concatenated over jobs
    rel_name: str  # the image as the JSON names it


def run_jobs(jobs: Iterable[Job], predict: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
             batch_size: int, write: Callable[[Job, dict[str, torch.Tensor]], None]) -> None:  # fmt: skip
    """Predict the people of consecutive jobs in batches of ``batch_size`` (a batch spans images), then ``write``
    each job with its own people's predictions, in order."""
    pending: list[Job] = []

    def flush() -> None:
        if not pending:
            return
        inputs = {key: torch.cat([job.inputs[key] for job in pending]) for key in pending[0].inputs}
        n = sum(len(job.boxes) for job in pending)
        chunks = [predict({key: v[i : i + batch_size] for key, v in inputs.items()}) for i in range(0, n, batch_size)]
        pred = {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}
        first = 0
        for job in pending:
            k = len(job.boxes)
            write(job, {key: value[first : first + k] for key, value in pred.items()})
            first += k
        pending.clear()

    for job in jobs:
        pending.append(job)
        if sum(len(j.boxes) for j in pending) >= batch_size:
            flush()
    flush()
