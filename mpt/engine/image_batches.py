"""Image batches for fine-tuning and evaluation: datasets from config, step-indexed loading, device transfer.

Fine-tuning reads micro-step k's batch as a pure function of (seed, k): the mixed sampler's epoch order gives the
rows, and the epoch travels with each index so the augmentation of row i in epoch e is the same whichever worker
draws it. A resumed run therefore sees exactly the batches the interrupted one would have.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, Sampler

from mpt.data.composite import CompositeTSVDataset, composite_yaml
from mpt.data.image_dataset import MeshTSVDataset
from mpt.data.mixed import MixedDataset, WeightedMixSampler
from mpt.errors import MptError


def build_image_set(set_cfg: DictConfig, train: bool, seed: int,
                    img_size: int) -> MeshTSVDataset | CompositeTSVDataset:  # fmt: skip
    """One METRO TSV set from its config node (name, tsv folder, split), cut into person crops of ``img_size``
    pixels: the model's ``input.crop_size``, which its pose network was trained to read. A ``<split>.yaml`` with
    ``composite: true`` is read as METRO's composite (mpt.data.composite)."""
    composite = composite_yaml(set_cfg.tsv, set_cfg.split)
    if composite is not None:
        return CompositeTSVDataset(composite, name=set_cfg.name, train=train, seed=seed, img_size=img_size)
    return MeshTSVDataset(set_cfg.tsv, set_cfg.split, name=set_cfg.name, train=train, seed=seed, img_size=img_size)


def build_mixed(cfg: DictConfig) -> MixedDataset:
    """The fine-tuning mixture of ``cfg.data.sets`` (weight null on every set: proportional to size, as METRO)."""
    sets = list(cfg.data.sets)
    if not sets:
        raise MptError("data.sets is empty: list the image sets to fine-tune on (see configs/data/mixed.yaml)")
    datasets = [build_image_set(s, train=True, seed=cfg.seed, img_size=cfg.input.crop_size) for s in sets]
    given = [s.weight for s in sets]
    if any(w is None for w in given) and not all(w is None for w in given):
        raise MptError("data.sets: give a weight for every set or for none (none = proportional to set size)")
    return MixedDataset(datasets, None if given[0] is None else given)


class _EpochItems(Dataset):
    """Items addressed by (global index, epoch) so the augmentation depends on the epoch, not on worker state."""

    def __init__(self, mixed: MixedDataset) -> None:
        self.mixed = mixed

    def __len__(self) -> int:
        return len(self.mixed)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, epoch = key
        return self.mixed.item(index, epoch)


class _StepBatches(Sampler[list[tuple[int, int]]]):
    """This rank's micro-batches from global micro-step ``start`` on, forever (the trainer stops it). An epoch holds
    whole optimizer steps of ``grad_accum`` micro-steps, as ``total_train_steps`` counts them."""

    def __init__(self, sampler: WeightedMixSampler, micro_batch: int, start: int, grad_accum: int = 1) -> None:
        self.sampler, self.micro_batch, self.start = sampler, micro_batch, start
        self.steps_per_epoch = len(sampler) // (micro_batch * grad_accum) * grad_accum
        if self.steps_per_epoch == 0:
            raise MptError(f"an epoch of {len(sampler)} samples per rank holds no optimizer step of {micro_batch} x "
                           f"{grad_accum} accumulation steps")  # fmt: skip

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start
        epoch, order = -1, None
        while True:
            e, pos = divmod(step, self.steps_per_epoch)
            if e != epoch:  # the epoch's shuffled stream once per epoch, not once per micro-batch
                epoch, order = e, self.sampler.epoch_indices(e).tolist()
            yield [(r, epoch) for r in order[pos * self.micro_batch : (pos + 1) * self.micro_batch]]
            step += 1


def step_loader(mixed: MixedDataset, cfg: DictConfig, rank: int, world_size: int, start_micro_step: int,
                pin_memory: bool) -> Iterator[dict[str, torch.Tensor]]:  # fmt: skip
    """Batches of micro-steps ``start_micro_step, start_micro_step + 1, ...`` for this rank."""
    sampler = mixed.sampler(seed=cfg.seed, rank=rank, world_size=world_size)
    loader = DataLoader(_EpochItems(mixed), batch_sampler=_StepBatches(sampler, cfg.train.micro_batch,
                                                                        start_micro_step, cfg.train.grad_accum),
                        num_workers=cfg.train.num_workers, pin_memory=pin_memory,
                        generator=torch.Generator().manual_seed(cfg.seed),  # not the global RNG: exact resume
                        persistent_workers=cfg.train.num_workers > 0)  # fmt: skip
    return iter(loader)


def eval_loader(dataset: Dataset, batch_size: int, rank: int, world_size: int, num_workers: int) -> DataLoader:
    """Every item once, in order, each rank a strided share (no padding, so nothing is counted twice)."""
    indices = list(range(rank, len(dataset), world_size))
    return DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                      num_workers=num_workers)  # fmt: skip


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
