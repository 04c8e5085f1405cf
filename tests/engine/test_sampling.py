"""Which rows each rank reads: EpochSampler (pre-training) and the fine-tuning step batches, by their properties."""

from __future__ import annotations

import numpy as np
import pytest

from mpt.data.mixed import WeightedMixSampler
from mpt.engine.image_batches import _StepBatches
from mpt.engine.sampling import EpochSampler


def _step_rows(num: int, micro_batch: int, world: int, accum: int, step: int, seed: int = 5) -> np.ndarray:
    """All rows of optimizer step ``step``: every rank's micro-batches of its accumulation steps, concatenated."""
    samplers = [EpochSampler(num, micro_batch, world, r, seed, accum) for r in range(world)]
    return np.concatenate([s.indices(step * accum + a) for a in range(accum) for s in samplers])


def test_rank_shards_are_disjoint_and_cover_the_epoch():
    num, mb, world = 50, 3, 4  # 12 rows a step, 4 steps an epoch, 2 rows dropped
    samplers = [EpochSampler(num, mb, world, r, seed=7) for r in range(world)]
    assert samplers[0].steps_per_epoch == 4
    for epoch in range(2):
        steps = [np.stack([s.indices(epoch * 4 + k) for s in samplers]) for k in range(4)]  # (world, mb) each
        rows = np.concatenate([x.ravel() for x in steps])
        assert all(len(set(x.ravel().tolist())) == world * mb for x in steps)  # no two ranks share a row in a step
        assert len(set(rows.tolist())) == len(rows) == 48  # and no row comes twice in an epoch
        assert set(rows.tolist()) <= set(range(num))
    first = [samplers[0].indices(k) for k in range(4)]
    second = [samplers[0].indices(4 + k) for k in range(4)]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))  # every epoch is a new order


def test_rows_are_a_function_of_seed_and_step_only():
    order = [EpochSampler(40, 4, 2, 1, seed=3).indices(k) for k in range(12)]  # fresh samplers every time
    sampler = EpochSampler(40, 4, 2, 1, seed=3)
    backwards = {k: sampler.indices(k) for k in reversed(range(12))}  # asked out of order, epochs interleaved
    assert all(np.array_equal(order[k], backwards[k]) for k in range(12))
    other = EpochSampler(40, 4, 2, 1, seed=4)
    assert not all(np.array_equal(order[k], other.indices(k)) for k in range(12))


@pytest.mark.parametrize(("micro_batch", "world", "accum"), [(4, 2, 1), (4, 1, 2), (2, 2, 2), (1, 4, 2)])
def test_any_split_of_the_global_batch_reads_the_same_rows(micro_batch, world, accum):
    """ranks x micro-batch x accumulation = 8: each optimizer step reads the rows one process reads with a micro-batch
    of 8, in the same order, across epoch boundaries (20 rows: 2 steps an epoch, the tail of 4 dropped)."""
    for step in range(7):
        np.testing.assert_array_equal(_step_rows(20, micro_batch, world, accum, step), _step_rows(20, 8, 1, 1, step))


def test_too_few_samples_for_one_step_is_an_error():
    with pytest.raises(ValueError, match="7 samples cannot fill one optimizer step of 4 x 1 ranks x 2"):
        EpochSampler(7, 4, 1, 0, seed=0, grad_accum=2)


def test_finetuning_epochs_hold_whole_optimizer_steps():
    """12 rows a rank, micro-batch 4, accumulation 2: one optimizer step an epoch (4 rows dropped), so micro-steps
    2 and 3 start epoch 1 instead of one optimizer step reading the last rows of epoch 0 and the first of epoch 1."""
    sampler = WeightedMixSampler([12], seed=0)
    batches = iter(_StepBatches(sampler, micro_batch=4, start=0, grad_accum=2))
    epochs = [{epoch for _, epoch in next(batches)} for _ in range(4)]
    assert epochs == [{0}, {0}, {1}, {1}]
    resumed = next(iter(_StepBatches(sampler, micro_batch=4, start=2, grad_accum=2)))
    assert resumed == [(int(r), 1) for r in sampler.epoch_indices(1)[:4]]


def test_finetuning_batches_shuffle_each_epoch_once(monkeypatch):
    """The epoch's shuffled stream is built once per epoch, not once per micro-batch (at METRO's scale, a stream of
    millions of rows per step), and the batches are still the stream's consecutive slices."""
    sampler = WeightedMixSampler([10, 6], seed=3)  # 16 rows: 4 micro-batches of 4 per epoch
    built = []
    real = sampler.epoch_indices
    monkeypatch.setattr(sampler, "epoch_indices", lambda epoch: built.append(epoch) or real(epoch))
    batches = iter(_StepBatches(sampler, micro_batch=4, start=2))
    got = [next(batches) for _ in range(10)]  # micro-steps 2..11: the end of epoch 0, epochs 1 and 2
    assert built == [0, 1, 2]
    expected = [(int(r), e) for e in range(3) for r in real(e)][8:48]
    assert [pair for batch in got for pair in batch] == expected


def test_a_capped_validation_set_is_spread_over_the_whole_split():
    """By hand: 4 of 10 rows are 0, 3, 6, 9 (both ends, equal steps); no cap, or a cap above the size, is every row."""
    from mpt.engine.sampling import evenly_spread

    assert evenly_spread(10, 4).tolist() == [0, 3, 6, 9]
    assert evenly_spread(7, 3).tolist() == [0, 3, 6]
    assert evenly_spread(5, None).tolist() == [0, 1, 2, 3, 4] == evenly_spread(5, 50).tolist()
    assert evenly_spread(10, 4).dtype == np.int64
