"""The training loop shared by pre-training and fine-tuning, on a DeepSpeed engine.

A task object supplies the loss of one micro-batch and the validation metrics; this loop owns everything else:
the schedule, per-step seeding (so a resumed run repeats the uninterrupted one exactly), NaN/inf guarding,
logging, periodic validation, checkpoints and the final fp32 export.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Protocol

import torch
from omegaconf import DictConfig, OmegaConf

from mpt.atomic import write_text_atomic
from mpt.engine.checkpoint import export_model, latest_tag, load_checkpoint, refuse_to_overwrite, save_checkpoint
from mpt.engine.distributed import DistInfo, all_reduce_sum, average_batchnorm_statistics
from mpt.engine.ds_config import build_ds_config, precision_dtype, total_train_steps
from mpt.engine.logger import RunLogger
from mpt.engine.precision import batchnorm_stats_in_fp32, master_state_dict, peak_memory_gib, use_tf32_for_the_model
from mpt.errors import MptError

# Test hook: SIGKILL this process right after optimizer step N (exercises crash + resume in the test suite).
_KILL_ENV = "MPT_KILL_AFTER_STEP"


class TrainTask(Protocol):
    """What a training loop needs from pre-training or fine-tuning."""

    num_train_samples: int

    def train_loss(self, engine: Any, micro_step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Forward one micro-batch (this rank's shard of global micro-step ``micro_step``); loss terms."""

    def validate(self, engine: Any) -> dict[str, float]:
        """Metrics on the held-out set, reduced over ranks (every rank gets the same numbers)."""


def step_seed(seed: int, micro_step: int, rank: int) -> int:
    """A distinct, reproducible seed per (run seed, micro-step, rank)."""
    return (seed * 1_000_003 + micro_step * 9_973 + rank * 101) % (2**63 - 1)


def _param_groups(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _validate(engine: Any, task: TrainTask, logger: RunLogger, step: int, total: int) -> dict[str, float]:
    average_batchnorm_statistics(engine.module)  # every rank validates with the same statistics
    engine.eval()
    with torch.no_grad():
        metrics = task.validate(engine)
    logger.log(step, metrics, kind="val")
    logger.write(f"step {step}/{total} validation: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    return metrics


def _check_precision(ds_config: dict[str, Any], device: torch.device) -> None:
    """A reduced precision this machine cannot train in is one clear error (DeepSpeed's is a traceback)."""
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    for name, supported in (("bf16", accelerator.is_bf16_supported), ("fp16", accelerator.is_fp16_supported)):
        if ds_config.get(name, {}).get("enabled") and not supported():
            raise MptError(f"deepspeed={name}: DeepSpeed's {accelerator.device_name()} accelerator cannot train in "
                           f"{name} on this machine (device {device}); use deepspeed=zero0 (fp32) or the other "
                           "reduced precision")  # fmt: skip


def _accumulate(terms: dict[str, torch.Tensor] | None, out: dict[str, torch.Tensor], grad_accum: int
                ) -> dict[str, torch.Tensor]:  # fmt: skip
    """Running sums of the loss terms, per optimizer step (each micro-step's / ``grad_accum``), in float64 on the
    device; converted to numbers only when logged."""
    step = {k: v.detach().double() / grad_accum for k, v in out.items()}
    return step if terms is None else {k: terms[k] + step[k] for k in terms}


def _stop_if_not_finite(terms: dict[str, torch.Tensor], step: int, ckpt_dir: Path) -> None:
    """An error on every rank if any rank's loss terms since the last log are NaN or inf (one all-reduce, one wait)."""
    bad = all_reduce_sum((~torch.isfinite(terms["loss"])).double())
    if bad.item() > 0:
        last = latest_tag(ckpt_dir)
        where = f"the last good checkpoint is {ckpt_dir / last}" if last else "no checkpoint was written yet"
        raise MptError(f"non-finite loss at step {step} (loss terms summed since the last logged step: "
                       f"{ {k: float(v) for k, v in terms.items()} }); stopping before it reaches the weights; "
                       f"{where}. Lower train.lr or check the input data.")  # fmt: skip


def _mean_over_ranks(terms: dict[str, torch.Tensor], dist: DistInfo) -> dict[str, float]:
    """Loss terms averaged over ranks: the logged loss is the global batch's, not rank 0's share of it."""
    names = sorted(terms)
    values = torch.stack([terms[k].to(torch.float64) for k in names])
    if dist.world_size > 1:
        values = all_reduce_sum(values) / dist.world_size
    return dict(zip(names, values.tolist(), strict=True))


def setup_engine(cfg: DictConfig, dist: DistInfo, model: torch.nn.Module, total_steps: int
                 ) -> tuple[Any, Any, torch.dtype]:  # fmt: skip
    """``model`` on its device inside a DeepSpeed engine with the run's Adam and LR schedule.

    Returns (engine, scheduler, the dtype inputs must have: bf16 / fp16 / fp32 from the ``deepspeed`` config).
    """
    import deepspeed

    ds_config = build_ds_config(cfg, dist.world_size, total_steps)
    _check_precision(ds_config, dist.device)
    optimizer = torch.optim.Adam(_param_groups(model), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                 fused=dist.device.type == "cuda")  # fmt: skip
    batchnorm_stats_in_fp32(model)  # bf16 / fp16 configs keep the statistics fp32 (configs/deepspeed/bf16.yaml)
    use_tf32_for_the_model(dist.device, cfg.train.tf32)
    if dist.device.type == "cuda" and hasattr(model, "check_inputs"):
        # The model's NaN check of its inputs waits for the GPU at every forward; the trainer's check of the loss
        # (once per optimizer step) catches what it would. On the CPU the check costs no wait and stays.
        model.check_inputs = False
    model.to(dist.device)
    engine, _, _, scheduler = deepspeed.initialize(model=model, optimizer=optimizer, config=ds_config)
    if scheduler is not None and scheduler.last_batch_iteration < 0:
        # PyTorch's convention: optimizer step k uses the schedule's value after k - 1 steps. DeepSpeed's WarmupLR
        # starts one iteration earlier, at its minimum, so its first two steps would both have lr 0.
        scheduler.step()
    return engine, scheduler, precision_dtype(ds_config)


def train(cfg: DictConfig, dist: DistInfo, model: torch.nn.Module, task: TrainTask,
          log_prefix: str = "train") -> dict[str, Any]:  # fmt: skip
    """Run the whole schedule (or resume it); returns the final validation metrics and where things were written."""
    run_dir = Path(cfg.paths.output_dir)
    ckpt_dir = run_dir / "checkpoints"
    tc = cfg.train
    if tc.keep_checkpoints < 1:
        raise MptError(f"train.keep_checkpoints must be >= 1 (resuming needs the newest), got {tc.keep_checkpoints}")
    total = total_train_steps(task.num_train_samples, tc.micro_batch, tc.grad_accum, dist.world_size, tc.epochs,
                              tc.max_steps)  # fmt: skip
    refuse_to_overwrite(run_dir, tc.resume, dist.device)
    engine, _, task.dtype = setup_engine(cfg, dist, model, total)  # type: ignore[attr-defined]

    start = 0
    if tc.resume and latest_tag(ckpt_dir) is not None:
        client = load_checkpoint(engine, ckpt_dir)
        start = int(client["step"])
        if dist.is_main:
            print(f"resumed from {ckpt_dir / latest_tag(ckpt_dir)} at step {start}/{total}", flush=True)
    elif tc.resume and dist.is_main:
        print(f"resume=true but no checkpoint in {ckpt_dir}: starting from step 0", flush=True)

    logger = RunLogger(run_dir, dist.is_main, total, start)
    if dist.is_main and start == 0:
        write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    kill_after = int(os.environ.get(_KILL_ENV, "-1"))
    samples_per_step = tc.micro_batch * tc.grad_accum * dist.world_size
    metrics: dict[str, float] = {}
    t_last, steps_since = time.perf_counter(), 0
    terms: dict[str, torch.Tensor] | None = None  # loss terms summed on the device since the last logged step
    try:
        if tc.val_at_start and start == 0:
            _validate(engine, task, logger, 0, total)
        for step in range(start, total):
            engine.train()
            lr = engine.get_lr()[0]  # this optimizer step's (the scheduler moves it after the step)
            for a in range(tc.grad_accum):
                micro = step * tc.grad_accum + a
                torch.manual_seed(step_seed(cfg.seed, micro, dist.rank))
                gen = torch.Generator(device=dist.device).manual_seed(step_seed(cfg.seed + 1, micro, dist.rank))
                out = task.train_loss(engine, micro, gen)
                terms = _accumulate(terms, out, tc.grad_accum)  # on the device: no wait for the GPU here
                if a == tc.grad_accum - 1:
                    # Before the step that applies the gradients: one wait for the GPU per optimizer step, not one
                    # per micro-step or loss term. A non-finite micro-step leaves a non-finite sum.
                    _stop_if_not_finite(terms, step, ckpt_dir)
                engine.backward(out["loss"])
                engine.step()
            steps_since += 1
            done = step + 1
            if done % tc.log_every == 0 or done == total or done == start + 1:  # the same steps on every rank
                means = _mean_over_ranks({k: v / steps_since for k, v in terms.items()}, dist)
                terms = None
                now = time.perf_counter()
                rate = steps_since * samples_per_step / max(now - t_last, 1e-9)
                t_last, steps_since = now, 0
                peak = peak_memory_gib(dist.device)
                extra = {} if peak is None else {"peak_gpu_memory_gib": peak}
                logger.log(done, {**means, "lr": lr, "samples_per_s": rate, **extra}, kind=log_prefix)
                logger.progress(1, {"loss": means["loss"], "lr": lr, "samples/s": rate})
            else:
                logger.progress(1)
            if done % tc.val_every == 0 or done == total:
                metrics = _validate(engine, task, logger, done, total)
            if done % tc.ckpt_every == 0 or done == total:
                average_batchnorm_statistics(engine.module)  # DeepSpeed saves rank 0's module; every rank loads it
                save_checkpoint(engine, ckpt_dir, done, {"step": done, "config": OmegaConf.to_yaml(cfg)},
                                dist.is_main, keep=tc.keep_checkpoints)  # fmt: skip
            if done == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
    finally:
        logger.close()
    average_batchnorm_statistics(engine.module)
    state = master_state_dict(engine)  # every rank: assembling ZeRO's fp32 partitions is a collective
    if dist.is_main:
        export_model(engine.module, cfg, run_dir, state)
    return {"metrics": metrics, "steps": total, "run_dir": str(run_dir)}
