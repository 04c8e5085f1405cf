"""MixedDataset concatenation and WeightedMixSampler: proportions, disjoint rank shards, exact resume."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mpt.data.mixed import MixedDataset, WeightedMixSampler, mix_counts

SIZES = [100, 300, 50]


class Numbers(Dataset):
    """Item i is {"value": base + i}."""

    def __init__(self, base: int, n: int) -> None:
        self.base, self.n = base, n
        self.epoch = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"value": torch.tensor(self.base + i), "dataset": torch.tensor(-1)}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


def set_of(index: int) -> int:
    return int(np.searchsorted(np.cumsum(SIZES), index, side="right"))


def test_concatenation_maps_indices_and_sets() -> None:
    parts = [Numbers(1000 * (k + 1), n) for k, n in enumerate(SIZES)]
    mixed = MixedDataset(parts, weights=[2, 1, 1])
    assert len(mixed) == 450 and mixed.sizes == SIZES
    assert mixed.locate(0) == (0, 0) and mixed.locate(99) == (0, 99) and mixed.locate(100) == (1, 0)
    assert mixed.locate(449) == (2, 49) and mixed.locate(-1) == (2, 49)
    item = mixed[120]
    assert item["value"].item() == 2020 and item["dataset"].item() == 1
    with pytest.raises(IndexError):
        mixed[450]
    mixed.set_epoch(3)
    assert all(p.epoch == 3 for p in parts)
    np.testing.assert_allclose(mixed.weights, [0.5, 0.25, 0.25])
    batch = next(iter(DataLoader(mixed, batch_size=8, sampler=mixed.sampler(num_samples=64, seed=1))))
    assert batch["value"].shape == (8,)
    with pytest.raises(ValueError, match="empty"):
        MixedDataset([Numbers(0, 0)])
    with pytest.raises(ValueError, match="weights"):
        MixedDataset(parts, weights=[1, -1, 1])


def test_counts_follow_the_weights_exactly() -> None:
    assert mix_counts(1000, np.array([0.5, 0.3, 0.2])).tolist() == [500, 300, 200]
    assert mix_counts(10, np.array([1, 1, 1])).tolist() == [4, 3, 3]  # largest remainder, ties to the first
    sampler = WeightedMixSampler(SIZES, weights=[0.5, 0.3, 0.2], num_samples=1000, seed=0)
    drawn = Counter(set_of(i) for i in sampler)
    assert [drawn[k] for k in range(3)] == [500, 300, 200]
    # The small set (50 rows) is drawn 200 times: every row exactly 4 times, no row twice before all were used.
    stream = sampler.epoch_stream(0)
    small = stream[stream >= 400] - 400
    assert Counter(small.tolist()) == {r: 4 for r in range(50)}


def test_proportions_within_windows() -> None:
    """Shuffled together: any window of the stream holds the sets in about the weighted proportions."""
    stream = WeightedMixSampler(SIZES, [0.6, 0.3, 0.1], num_samples=20000, seed=3).epoch_stream(0)
    sets = np.array([set_of(i) for i in stream[:4000]])
    assert np.abs(np.bincount(sets, minlength=3) / 4000 - [0.6, 0.3, 0.1]).max() < 0.03


def test_default_weights_are_a_permutation_of_the_concatenation() -> None:
    sampler = WeightedMixSampler(SIZES, weights=None, seed=5)
    assert len(sampler) == 450
    idx = list(sampler)
    assert sorted(idx) == list(range(450)) and idx != list(range(450))


def test_rank_shards_are_disjoint_and_cover_the_epoch() -> None:
    world = 4
    shards = [list(WeightedMixSampler(SIZES, None, seed=9, rank=r, world_size=world)) for r in range(world)]
    assert {len(s) for s in shards} == {450 // world}
    flat = [i for s in shards for i in s]
    assert len(set(flat)) == len(flat)  # without replacement, no index is seen by two ranks
    stream = WeightedMixSampler(SIZES, None, seed=9, world_size=world).epoch_stream(0)
    assert sorted(flat) == sorted(stream[: 4 * (450 // world)].tolist())
    with pytest.raises(ValueError, match="rank"):
        WeightedMixSampler(SIZES, rank=4, world_size=4)


def test_epochs_are_deterministic_and_different() -> None:
    a = WeightedMixSampler(SIZES, [1, 1, 1], num_samples=300, seed=11)
    b = WeightedMixSampler(SIZES, [1, 1, 1], num_samples=300, seed=11)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    assert list(WeightedMixSampler(SIZES, [1, 1, 1], num_samples=300, seed=12)) != first


def test_resume_continues_exactly() -> None:
    def run(sampler: WeightedMixSampler, epochs: range, stop_after: int | None = None) -> tuple[list[int], dict]:
        out: list[int] = []
        for epoch in epochs:
            sampler.set_epoch(epoch)
            for i in sampler:
                out.append(i)
                if stop_after is not None and len(out) == stop_after:
                    return out, sampler.state_dict()
        return out, sampler.state_dict()

    args = (SIZES, [0.2, 0.5, 0.3], 200, 4, 1, 2)  # sizes, weights, num_samples, seed, rank 1 of 2
    full, _ = run(WeightedMixSampler(*args), range(3))
    head, state = run(WeightedMixSampler(*args), range(3), stop_after=137)  # stops inside epoch 1
    assert state["epoch"] == 1 and state["position"] == 37
    resumed = WeightedMixSampler(*args)
    resumed.load_state_dict(state)
    tail, _ = run(resumed, range(state["epoch"], 3))
    assert head + tail == full
    # A DataLoader-driven trainer passes what it consumed; prefetching past that is then harmless.
    s = WeightedMixSampler(*args)
    it = iter(s)
    taken = [next(it) for _ in range(20)]
    st = s.state_dict(consumed=15)
    again = WeightedMixSampler(*args)
    again.load_state_dict(st)
    assert list(again)[:5] == taken[15:20]
    with pytest.raises(ValueError, match="weights"):
        WeightedMixSampler(SIZES, [0.3, 0.4, 0.3], 200, 4, 1, 2).load_state_dict(state)
    with pytest.raises(ValueError, match="world_size"):
        WeightedMixSampler(SIZES, [0.2, 0.5, 0.3], 200, 4, 0, 4).load_state_dict(state)
