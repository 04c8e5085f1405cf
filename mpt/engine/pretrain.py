"""``mpt-pretrain``: the MPT model on AMASS meshes seen by virtual cameras, with synthesised heatmaps (no images).

Each micro-batch: rows of the motion cache -> SMPL on the training device -> a virtual camera per sample ->
COCO-17 heatmaps (or a person mask) of the person crop -> model -> METRO's losses against the mesh, joints and 2D
joints of that view. Validation poses held-out motions and reports MPJPE / PA-MPJPE (mm) of the 14 evaluation joints
regressed from the predicted mesh, filmed by the Human3.6M S1 cameras ``cameras.val_indices`` whatever views train
(so that the views ablation compares runs over the same cameras), and the predicted meshes' thickness against the
ground truth's (mpt.engine.thickness: a run stopped too early predicts flat meshes that MPJPE hardly shows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from mpt.data.motion_cache import MotionCache
from mpt.engine.builders import (
    body_checks,
    build_body_model,
    build_cameras,
    build_model,
    build_synthesizer,
    build_val_cameras,
    check_inputs,
    loss_weights,
)
from mpt.engine.distributed import DistInfo, all_reduce_sum, setup_distributed
from mpt.engine.precision import exact_fp32
from mpt.engine.sampling import EpochSampler, evenly_spread
from mpt.engine.targets import VertexDownsampler, mesh_predictions, synthesis_targets
from mpt.engine.thickness import principal_extents
from mpt.engine.trainer import train
from mpt.errors import MptError
from mpt.losses import mesh_losses
from mpt.metrics import h36m_p2_errors


class PretrainTask:
    """Loss of one synthesised micro-batch, and validation over held-out motions (see module docstring)."""

    def __init__(self, cfg: DictConfig, dist: DistInfo, body: Any, synthesizer: Any, downsampler: VertexDownsampler,
                 train_cache: MotionCache, val_cache: MotionCache, val_synthesizer: Any | None = None
                 ) -> None:  # fmt: skip
        """``val_synthesizer``: the same synthesis seen by the validation cameras (default: the training one)."""
        self.cfg, self.dist, self.body, self.synth, self.down = cfg, dist, body, synthesizer, downsampler
        self.val_synth = synthesizer if val_synthesizer is None else val_synthesizer
        self.train_cache, self.val_cache = train_cache, val_cache
        self.weights = loss_weights(cfg)
        self.num_train_samples = len(train_cache)
        self.sampler = EpochSampler(len(train_cache), cfg.train.micro_batch, dist.world_size, dist.rank, cfg.seed,
                                    cfg.train.grad_accum)  # fmt: skip
        self.val_indices = evenly_spread(len(val_cache), cfg.train.max_val_samples)
        self.dtype = torch.float32
        self._maps: torch.Tensor | None = None

    def _synthesize(self, cache: MotionCache, idx: np.ndarray, gen: torch.Generator | None, train: bool,
                    camera_idx: torch.Tensor | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        batch = cache.batch(idx)  # on the CPU: the synthesizer checks it there and moves it to the device
        # The maps of every batch go into one buffer: the trainer has run the previous batch's backward by now, and
        # on CPU a fresh map tensor costs about as much in page faults as drawing it (Synthesizer.render).
        synth = self.synth if train else self.val_synth
        opt = synth.options
        shape = (len(idx), opt.channels, opt.size, opt.size)
        if self._maps is None or tuple(self._maps.shape) != shape:
            self._maps = torch.empty(shape, device=self.dist.device)
        with torch.no_grad():
            return synth(batch, generator=gen, train=train, camera_idx=camera_idx, out=self._maps)

    def train_loss(self, engine: Any, micro_step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        with exact_fp32():  # SMPL, cameras and maps in IEEE fp32 even where the model's matmuls use TF32
            syn = self._synthesize(self.train_cache, self.sampler.indices(micro_step), generator, train=True)
            target = synthesis_targets(syn, self.down)
        return self.loss(engine, syn, target)

    def loss(self, engine: Any, syn: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
             ) -> dict[str, torch.Tensor]:  # fmt: skip
        """METRO's loss terms of the model on a synthesised batch and its targets."""
        out = engine(syn["inputs"].to(self.dtype))
        with exact_fp32():
            return mesh_losses(mesh_predictions(out, self.body), target, self.weights)

    def validate(self, engine: Any) -> dict[str, float]:
        """MPJPE / PA-MPJPE (mm) of mesh-regressed J14 joints on held-out motions; validation camera i % n for the
        cache row i. With several validation cameras also per camera (``mpjpe_<camera id>``, ``pa_mpjpe_<camera
        id>``): how a model trained on some views does on each of the others. ``thickness_mm``: the mean smallest
        principal extent of the predicted meshes (mm), ``thickness_ratio``: that over the ground-truth meshes' own
        (mpt.engine.thickness; about 1 for a body with depth, near 0 for a flat one)."""
        mb, world, rank = self.cfg.train.micro_batch, self.dist.world_size, self.dist.rank
        n_views = self.val_synth.n_cameras
        sums = torch.zeros(n_views, 3, dtype=torch.float64, device=self.dist.device)  # per camera: mpjpe, pa, count
        depth = torch.zeros(2, dtype=torch.float64, device=self.dist.device)  # smallest extents: predicted, truth
        for start in range(rank * mb, len(self.val_indices), mb * world):
            idx = self.val_indices[start : start + mb]
            cams = torch.as_tensor(idx % n_views, device=self.dist.device)
            with exact_fp32():
                syn = self._synthesize(self.val_cache, idx, None, train=False, camera_idx=cams)
            vertices = engine(syn["inputs"].to(self.dtype))["vertices"].float()
            with exact_fp32():
                errors = h36m_p2_errors(vertices, syn["joints3d"], self.body.h36m_regressor)
                extents = principal_extents(torch.stack([vertices, syn["vertices"]]).flatten(0, 1))
            rows = torch.stack([errors["mpjpe"], errors["pa_mpjpe"], torch.ones_like(errors["mpjpe"])], dim=1)
            sums.index_add_(0, cams, rows.double())
            depth += extents[:, 2].double().view(2, -1).sum(dim=1)
        sums, depth = all_reduce_sum(sums), all_reduce_sum(depth)
        total = sums.sum(dim=0)
        count = max(total[2].item(), 1.0)
        out = {"mpjpe": total[0].item() / count, "pa_mpjpe": total[1].item() / count,
               "thickness_mm": depth[0].item() * 1000 / count,
               "thickness_ratio": depth[0].item() / max(depth[1].item(), 1e-12)}  # fmt: skip
        if n_views > 1:
            for name, (mpjpe, pa_mpjpe, n) in zip(self.val_synth.cameras.names, sums.tolist(), strict=True):
                if n > 0:
                    out.update({f"mpjpe_{name}": mpjpe / n, f"pa_mpjpe_{name}": pa_mpjpe / n})
        return out


def _open_cache(path: str, split: str) -> MotionCache:
    cache = MotionCache(path, split)  # a MotionCacheError (an MptError) names the file and how to rebuild it
    if len(cache) == 0:
        raise MptError(f"the {split} split of the motion cache {path} is empty; re-run tools/prepare_amass.py with "
                       "a larger --val-fraction or more AMASS data")  # fmt: skip
    return cache


def pretrain(cfg: DictConfig) -> dict[str, Any]:
    """Pre-train from ``cfg`` (see configs/pretrain.yaml); returns final validation metrics and the run folder."""
    *_, train_cache = check_inputs(*body_checks(cfg), lambda: _open_cache(cfg.data.cache, cfg.data.train_split))
    val_cache = _open_cache(cfg.data.cache, cfg.data.val_split)
    dist = setup_distributed(cfg.device)
    body = build_body_model(cfg, genders_from_cache=True).to(dist.device)
    model, levels = build_model(cfg, body)
    synthesizer = build_synthesizer(cfg, body, build_cameras(cfg).to(dist.device))
    val_cameras = build_val_cameras(cfg)
    val_synthesizer = build_synthesizer(cfg, body, val_cameras.to(dist.device))
    task = PretrainTask(cfg, dist, body, synthesizer, VertexDownsampler(levels).to(dist.device), train_cache, val_cache,
                        val_synthesizer)  # fmt: skip
    if dist.is_main:
        print(f"validation: {len(task.val_indices)} samples of the {cfg.data.val_split} split, filmed by the "
              f"Human3.6M S1 cameras {', '.join(val_cameras.names)}", flush=True)
    return train(cfg, dist, model, task)
