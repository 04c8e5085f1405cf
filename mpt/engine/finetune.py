"""``mpt-finetune``: the pose network in front of the pre-trained MPT model, trained on mixed 2D/3D image sets.

The pre-trained weights (``train.init_from``: an mpt-pretrain run folder) initialise everything but the pose
network, which starts from its COCO keypoint checkpoint (``backbone.weights``; a run without one is refused unless
``backbone.weights=random`` asks for random weights by name) and is trained too unless ``backbone.freeze=true``
(the paper fine-tunes it). Samples with only 2D joints train only the 2D loss.
Validation: Human3.6M protocol 2 on ``data.val`` every ``train.val_every`` steps.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from mpt.engine.builders import (
    body_checks,
    build_body_model,
    build_model,
    check_inputs,
    load_export_into,
    loss_weights,
    pose_weights_check,
)
from mpt.engine.checkpoint import load_exported
from mpt.engine.distributed import DistInfo, setup_distributed
from mpt.engine.ds_config import total_train_steps
from mpt.engine.evaluate import mesh_errors
from mpt.engine.image_batches import build_image_set, build_mixed, eval_loader, step_loader, to_device
from mpt.engine.precision import exact_fp32
from mpt.engine.targets import VertexDownsampler, image_targets, mesh_predictions
from mpt.engine.trainer import train
from mpt.losses import mesh_losses
from mpt.models.backbones import RANDOM_WEIGHTS


class FinetuneTask:
    """Loss of one image micro-batch; validation on the held-out image set."""

    def __init__(self, cfg: DictConfig, dist: DistInfo, body: Any, down: VertexDownsampler, mixed: Any,
                 val_set: Any | None) -> None:  # fmt: skip
        self.cfg, self.dist, self.body, self.down, self.mixed = cfg, dist, body, down, mixed
        self.weights = loss_weights(cfg)
        self.num_train_samples = len(mixed)
        self.val_set = val_set
        self.dtype = torch.float32
        self._batches = None
        self._next_micro = -1

    def train_loss(self, engine: Any, micro_step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        if self._batches is None or micro_step != self._next_micro:  # first call, or a jump (resume)
            self._batches = step_loader(self.mixed, self.cfg, self.dist.rank, self.dist.world_size, micro_step,
                                        pin_memory=self.dist.device.type == "cuda")  # fmt: skip
        batch = to_device(next(self._batches), self.dist.device)
        self._next_micro = micro_step + 1
        with exact_fp32():  # SMPL targets in IEEE fp32 even where the model's matmuls use TF32
            target = image_targets(batch, self.body, self.down)
        out = engine(batch["image"].to(self.dtype))
        with exact_fp32():
            return mesh_losses(mesh_predictions(out, self.body), target, self.weights)

    def validate(self, engine: Any) -> dict[str, float]:
        if self.val_set is None:
            return {}
        loader = eval_loader(self.val_set, self.cfg.train.micro_batch, self.dist.rank, self.dist.world_size,
                             self.cfg.train.num_workers)  # fmt: skip
        max_batches = None
        if self.cfg.train.max_val_samples is not None:
            max_batches = -(-self.cfg.train.max_val_samples // (self.cfg.train.micro_batch * self.dist.world_size))
        with exact_fp32():  # metrics (and here the model's forward too) in IEEE fp32
            metrics = mesh_errors(engine, loader, self.body, self.dist.device, self.dtype, max_batches)
        return {k: float(v) for k, v in metrics.items() if k != "count"}


def describe_mixture(cfg: DictConfig, mixed: Any, world_size: int) -> str:
    """The start-up lines of a fine-tuning: rows per source set (a METRO composite's per source set it names) and
    the total optimizer steps the schedule will run."""
    tc = cfg.train
    lines = ["fine-tuning rows per source set:"]
    for dataset in mixed.datasets:
        lines += [f"  {name}: {rows} rows" for name, rows in dataset.source_rows()]
    total = total_train_steps(len(mixed), tc.micro_batch, tc.grad_accum, world_size, tc.epochs, tc.max_steps)
    batch = tc.micro_batch * tc.grad_accum * world_size
    capped = f" (capped by train.max_steps={tc.max_steps})" if tc.max_steps and total == tc.max_steps else ""
    lines.append(f"  total: {len(mixed)} rows; {len(mixed) // batch} steps per epoch of {batch} samples "
                 f"({tc.micro_batch} x {tc.grad_accum} accumulation x {world_size} ranks) x {tc.epochs:g} epochs = "
                 f"{total} steps{capped}")  # fmt: skip
    return "\n".join(lines)


def finetune(cfg: DictConfig) -> dict[str, Any]:
    """Fine-tune from ``cfg`` (see configs/finetune.yaml); returns final validation metrics and the run folder."""
    inits = [lambda: load_exported(cfg.train.init_from)] if cfg.train.init_from is not None else []
    _, _, _, mixed, *init = check_inputs(*body_checks(cfg), pose_weights_check(cfg), lambda: build_mixed(cfg), *inits)
    val_set = (build_image_set(cfg.data.val, train=False, seed=cfg.seed, img_size=cfg.input.crop_size)
               if cfg.data.val is not None else None)  # fmt: skip
    dist = setup_distributed(cfg.device)
    body = build_body_model(cfg).to(dist.device)
    model, levels = build_model(cfg, body, with_backbone=True)
    if init:
        load_export_into(model, init[0], "fine-tune with the same model=... and input=... as pre-training")
    elif dist.is_main:
        print("train.init_from is not set: fine-tuning without pre-trained weights", flush=True)
    if dist.is_main and cfg.backbone.weights == RANDOM_WEIGHTS:
        print(f"backbone.weights={RANDOM_WEIGHTS}: the {cfg.backbone.name} pose network starts from random weights",
              flush=True)  # fmt: skip
    if dist.is_main:
        print(describe_mixture(cfg, mixed, dist.world_size), flush=True)
    task = FinetuneTask(cfg, dist, body, VertexDownsampler(levels).to(dist.device), mixed, val_set)
    return train(cfg, dist, model, task)
