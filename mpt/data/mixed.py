"""Mixing several image sets: their concatenation, and a weighted, sharded, resumable sampler over it.

METRO trains on the plain concatenation of its sets (Human3.6M, COCO, MuCo, UP-3D, MPII; a CompositeTSVFile in
microsoft/MeshTransformer metro/utils/tsv_file.py) shuffled by a DistributedSampler, so each set is drawn in
proportion to its size. :class:`WeightedMixSampler` reproduces that when ``weights`` is None and otherwise draws
each set in the given proportions.

How an epoch is drawn (a function of ``seed`` and ``epoch`` only): set k gets ``n_k`` of the epoch's
``num_samples`` draws (largest-remainder rounding of ``num_samples * w_k``, so the counts are exact); its draws are
the first ``n_k`` entries of a concatenation of fresh random permutations of its rows (so no row repeats before all
rows of the set were used); all draws are then shuffled together. Rank r of W takes positions r, r + W, r + 2W, ...
of that stream, truncated to the same length on every rank, so shards are disjoint and equally long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

__all__ = ["MixedDataset", "WeightedMixSampler", "mix_counts"]


class MixedDataset(Dataset):
    """Concatenation of datasets; item i of set k is global index offsets[k] + i, and its ``dataset`` is k.

    ``weights`` (one per set, or None for proportional to size) is kept for building a
    :class:`WeightedMixSampler` with :meth:`sampler`.
    """

    def __init__(self, datasets: Sequence[Dataset], weights: Sequence[float] | None = None) -> None:
        if not datasets:
            raise ValueError("MixedDataset needs at least one dataset")
        self.datasets = list(datasets)
        self.sizes = [len(d) for d in self.datasets]  # type: ignore[arg-type]
        if any(s == 0 for s in self.sizes):
            empty = [i for i, s in enumerate(self.sizes) if s == 0]
            raise ValueError(f"MixedDataset: datasets {empty} are empty")
        self.weights = None if weights is None else _check_weights(weights, len(self.datasets))
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)  # (K + 1,)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """Global index -> (set k, index inside set k)."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for MixedDataset of {n} items")
        index %= n
        k = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return k, index - int(self.offsets[k])

    def item(self, index: int, epoch: int | None = None) -> dict[str, Any]:
        """Item ``index`` with its set's position as ``dataset``. With ``epoch``, a set that augments per epoch
        (``load`` + ``aug_params``, as MeshTSVDataset) draws that epoch's augmentation, whatever its own state."""
        k, i = self.locate(index)
        ds = self.datasets[k]
        item = ds[i] if epoch is None else ds.load(i, ds.aug_params(i, epoch))  # type: ignore[attr-defined]
        item["dataset"] = torch.tensor(k, dtype=torch.long)
        return item

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.item(index)

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to member datasets that draw seeded augmentation per epoch."""
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def sampler(
        self, num_samples: int | None = None, seed: int = 0, rank: int = 0, world_size: int = 1, epoch: int = 0
    ) -> WeightedMixSampler:
        """A :class:`WeightedMixSampler` over this concatenation with its weights."""
        return WeightedMixSampler(self.sizes, self.weights, num_samples, seed, rank, world_size, epoch)


def _check_weights(weights: Sequence[float], k: int) -> np.ndarray:
    w = np.asarray(list(weights), dtype=np.float64)
    if w.shape != (k,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {k} finite non-negative numbers with a positive sum, got {list(weights)}")
    return w / w.sum()


def mix_counts(num_samples: int, weights: np.ndarray) -> np.ndarray:
    """Integer draws per set summing to ``num_samples``, closest to num_samples * weights (largest remainder)."""
    exact = num_samples * np.asarray(weights, dtype=np.float64) / np.sum(weights)
    counts = np.floor(exact).astype(np.int64)
    short = num_samples - int(counts.sum())
    if short:
        counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


class WeightedMixSampler(Sampler[int]):
    """Global indices into a :class:`MixedDataset` for one rank: weighted per set, reshuffled per epoch.

    Args:
        dataset_sizes: rows of each set, in MixedDataset order.
        weights: per-set sampling weights (normalised here), or None for proportional to size (METRO).
        num_samples: draws per epoch over all ranks (default: the total size), rounded down to a multiple of
            ``world_size``; ``len(sampler)`` is this rank's share.
        seed, epoch: the epoch's order is a function of (seed, epoch) only, identical on every rank.
        rank, world_size: this rank's shard.

    ``state_dict()`` records the epoch and how far this rank got; ``load_state_dict`` then continues the same
    sequence exactly (``set_epoch`` with the same epoch keeps the position, a new epoch starts at 0).
    """

    def __init__(
        self,
        dataset_sizes: Sequence[int],
        weights: Sequence[float] | None = None,
        num_samples: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch: int = 0,
    ) -> None:
        self.sizes = np.asarray(list(dataset_sizes), dtype=np.int64)
        if self.sizes.ndim != 1 or len(self.sizes) == 0 or (self.sizes <= 0).any():
            raise ValueError(f"dataset_sizes must be positive row counts, got {list(dataset_sizes)}")
        self.weights = (self.sizes / self.sizes.sum() if weights is None
                        else _check_weights(weights, len(self.sizes)))  # fmt: skip
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        total = int(self.sizes.sum()) if num_samples is None else int(num_samples)
        self.num_samples = total - total % world_size
        if self.num_samples <= 0:
            raise ValueError(f"num_samples={total} gives no sample per rank with world_size={world_size}")
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.epoch = int(epoch)
        self.position = 0  # indices of the current epoch already handed out on this rank
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])[:-1]

    def __len__(self) -> int:
        return self.num_samples // self.world_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; a different epoch than the current one restarts at its first index."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self.position = 0

    def epoch_stream(self, epoch: int) -> np.ndarray:
        """All ranks' draws of ``epoch`` (num_samples,) as global indices, before sharding."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        counts = mix_counts(self.num_samples, self.weights)
        parts = []
        for k, (size, n) in enumerate(zip(self.sizes.tolist(), counts.tolist(), strict=True)):
            reps = -(-n // size)  # permutations needed to cover n draws
            local = np.concatenate([rng.permutation(size) for _ in range(reps)])[:n] if n else np.empty(0, np.int64)
            parts.append(local + self.offsets[k])
        return rng.permutation(np.concatenate(parts))

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This rank's indices of ``epoch`` (len(self),), in order."""
        return self.epoch_stream(epoch)[self.rank :: self.world_size][: len(self)]

    def __iter__(self) -> Iterator[int]:
        indices = self.epoch_indices(self.epoch)
        start = self.position
        for i in range(start, len(indices)):
            self.position = i + 1
            yield int(indices[i])
        self.position = 0  # a finished pass: iterating again repeats the epoch from its start

    def state_dict(self, consumed: int | None = None) -> dict[str, Any]:
        """Resumable state. ``consumed``: samples of this epoch this rank actually trained on (pass it when a
        DataLoader prefetches, since the position counts indices handed out, prefetched ones included)."""
        position = self.position if consumed is None else int(consumed)
        if not 0 <= position <= len(self):
            raise ValueError(f"consumed={position} outside 0..{len(self)}")
        return {"epoch": self.epoch, "position": position, "seed": self.seed, "num_samples": self.num_samples,
                "world_size": self.world_size, "rank": self.rank, "sizes": self.sizes.tolist(),
                "weights": self.weights.tolist()}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``; the data (set sizes, weights, world size, num_samples) must be unchanged."""
        mismatched = [k for k, mine in (("sizes", self.sizes.tolist()), ("num_samples", self.num_samples),
                                        ("world_size", self.world_size), ("seed", self.seed))
                      if state.get(k) != mine]  # fmt: skip
        weights = np.asarray(state.get("weights", []), dtype=np.float64)
        if weights.shape != self.weights.shape or not np.allclose(weights, self.weights):
            mismatched.append("weights")
        if mismatched:
            raise ValueError(
                f"sampler state does not match this run ({', '.join(mismatched)} "
                "differ): resume with the same data sets, weights, seed and world size"
            )
        position = int(state["position"])
        if not 0 <= position <= len(self):
            raise ValueError(f"sampler state position {position} outside 0..{len(self)}")
        self.epoch = int(state["epoch"])
        self.position = position
