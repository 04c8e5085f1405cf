"""Which rows each rank reads at each micro-step: a function of (seed, micro-step), so resuming needs no state.

Every epoch is a fresh permutation of the dataset seeded by (seed, epoch); global micro-step k reads the k-th window
of ``micro_batch x world_size`` rows of it, and rank r takes its own contiguous slice of that window, so ranks never
overlap within a step and a resumed run reads exactly what the interrupted run would have. An epoch holds whole
optimizer steps (``grad_accum`` micro-steps each), as ``total_train_steps`` counts them: the rows of an optimizer
step are then the same for any split of its global batch into ranks x micro-batches x accumulation steps, and the
tail of an epoch that does not fill a global batch is dropped.
"""

from __future__ import annotations

import numpy as np


class EpochSampler:
    """Row indices (micro_batch,) for ``rank`` at global micro-step ``k``."""

    def __init__(self, num_samples: int, micro_batch: int, world_size: int, rank: int, seed: int,
                 grad_accum: int = 1) -> None:  # fmt: skip
        self.num_samples, self.micro_batch, self.world_size, self.rank, self.seed = (
            num_samples, micro_batch, world_size, rank, seed)  # fmt: skip
        self.window = micro_batch * world_size
        # micro-steps per epoch: a whole number of optimizer steps
        self.steps_per_epoch = num_samples // (self.window * grad_accum) * grad_accum
        if self.steps_per_epoch == 0:
            raise ValueError(f"{num_samples} samples cannot fill one optimizer step of {micro_batch} x {world_size} "
                             f"ranks x {grad_accum} accumulation steps")  # fmt: skip
        self._epoch = -1
        self._perm = np.empty(0, dtype=np.int64)

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)
            self._epoch = epoch
        return self._perm

    def indices(self, micro_step: int) -> np.ndarray:
        epoch, pos = divmod(micro_step, self.steps_per_epoch)
        start = pos * self.window + self.rank * self.micro_batch
        return self.permutation(epoch)[start : start + self.micro_batch]


def evenly_spread(length: int, count: int | None) -> np.ndarray:
    """Sorted, distinct int64 indices of ``count`` rows spread evenly over ``range(length)`` (all of them when
    ``count`` is None or not smaller): a capped validation set then covers the whole split, whose rows are grouped
    by sequence."""
    n = length if count is None else min(length, count)
    return np.unique(np.linspace(0, length - 1, n).round().astype(np.int64))
