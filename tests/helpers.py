"""Helpers shared by several test modules: child-process runs of the CLIs and a small exported image model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from mpt.config import compose_config

DIST_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE", "GROUP_RANK")
CAMERA = (0.6, 0.05, -0.05)  # the test model's constant camera (s, tx, ty): keeps the mesh well inside the crop


def logged(run: Path, kind: str = "train") -> list[dict]:
    """The lines of ``kind`` ("train" / "val") in a run's metrics.jsonl, in order."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == kind]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child run: no inherited rank variables (nor SLURM's, which mpt reads as ranks too), one
    thread per process."""
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV and not k.startswith("SLURM_")}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def run_cli(args: list[str], cwd: Path, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=clean_env(**env), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def assert_clear_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    """A user error: exit code 2, no traceback, and every needle in the message on stderr."""
    assert res.returncode == 2, f"rc {res.returncode}\n{res.stderr[-3000:]}"
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    for needle in needles:
        assert needle in res.stderr, f"{needle!r} not in:\n{res.stderr[-3000:]}"


def make_export(assets, body, out: Path, cache: Path, backbone: str = "higherhrnet_w32") -> Path:
    """Export a freshly built tiny MPT + ``backbone`` whose camera head always says CAMERA (no training);
    ``backbone="none"``: a pre-training export (no pose network)."""
    from mpt.engine.builders import build_model
    from mpt.engine.checkpoint import export_model

    cfg = compose_config("finetune" if backbone != "none" else "pretrain",
                         ["model=tiny", f"backbone={backbone}", "input=heatmap56", f"paths.smpl={assets.smpl_dir}",
                          f"paths.h36m_regressor={assets.h36m_regressor}", f"paths.cache={cache}"])  # fmt: skip
    torch.manual_seed(0)
    model, _ = build_model(cfg, body, with_backbone=backbone != "none")
    with torch.no_grad():
        model.camera_head.fc2.weight.zero_()
        model.camera_head.fc2.bias.copy_(torch.tensor(CAMERA))
    export_model(model, cfg, out)
    return out


def infer_config(assets, checkpoint, images, out, cache, *extra: str):
    """An mpt-infer config for the demo body; ``images`` None: no images (keypoint lifting)."""
    images = "null" if images is None else images
    return compose_config("infer", [f"checkpoint={checkpoint}", f"images={images}", f"out={out}", "device=cpu",
                                    f"paths.smpl={assets.smpl_dir}", f"paths.h36m_regressor={assets.h36m_regressor}",
                                    f"paths.cache={cache}", *extra])  # fmt: skip


class LinearTask:
    """A trainer task (mpt.engine.trainer.TrainTask) that fits y = ``target`` with the engine's linear layer on
    reproducible random inputs (``batch`` x 3); from micro-step ``nan_from`` on its loss is NaN."""

    num_train_samples = 64

    def __init__(self, batch: int = 2, target: float = 0.0, nan_from: int | None = None) -> None:
        self.batch, self.target, self.nan_from = batch, target, nan_from

    def train_loss(self, engine, micro_step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        x = torch.randn(self.batch, 3, generator=generator)
        loss = (engine(x) - self.target).square().mean()
        if self.nan_from is not None and micro_step >= self.nan_from:
            loss = loss * float("nan")
        return {"loss": loss}

    def validate(self, engine) -> dict[str, float]:
        return {"mpjpe": 1.0, "pa_mpjpe": 1.0}


class RowTask:
    """A trainer task over a fixed table of ``num_train_samples`` rows (x (3,), y): each micro-step's rows come from
    mpt.engine.sampling.EpochSampler, as pre-training's do, and the loss is the mean squared error of the engine's
    linear layer over them, so any split of a global batch into ranks x micro-batches x accumulation gives the same
    gradient. ``lrs`` records the optimizer's learning rate at every micro-step's forward."""

    def __init__(self, cfg, dist, num: int = 20) -> None:
        from mpt.engine.sampling import EpochSampler

        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(num, 3, generator=g), torch.randn(num, 1, generator=g)
        self.num_train_samples = num
        self.sampler = EpochSampler(num, cfg.train.micro_batch, dist.world_size, dist.rank, cfg.seed,
                                    cfg.train.grad_accum)  # fmt: skip
        self.lrs: list[float] = []

    def train_loss(self, engine, micro_step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        rows = torch.from_numpy(self.sampler.indices(micro_step))
        self.lrs.append(engine.get_lr()[0])
        return {"loss": (engine(self.x[rows]) - self.y[rows]).square().mean()}

    def validate(self, engine) -> dict[str, float]:
        return {"mse": float((engine(self.x) - self.y).square().mean())}


def trainer_cfg(out: Path, max_steps: int, *overrides: str, resume: bool = False):
    """A pre-training config for LinearTask runs on the CPU: micro-batch 2, checkpoints every 2 steps."""
    return compose_config("pretrain", ["train.micro_batch=2", f"train.max_steps={max_steps}", "train.ckpt_every=2",
                                       "train.val_every=100", f"train.resume={str(resume).lower()}",
                                       f"paths.output_dir={out}", "device=cpu", *overrides])  # fmt: skip


def temp_files(folder: Path) -> list[Path]:
    """Files named like mpt.atomic's temporaries (a hidden '.<target name>.<random><suffix>')."""
    return [p for p in folder.rglob(".*") if p.is_file()]


def weights_at_training_start(monkeypatch) -> dict[str, torch.Tensor]:
    """Filled, during the next fine-tuning in this process, with the model's weights exactly as
    mpt.engine.finetune hands the model to the training loop (after init_from and the pose weights)."""
    import mpt.engine.finetune as finetune_module

    started: dict[str, torch.Tensor] = {}
    real_train = finetune_module.train

    def spy(cfg, dist, model, task, *args, **kwargs):
        started.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real_train(cfg, dist, model, task, *args, **kwargs)

    monkeypatch.setattr(finetune_module, "train", spy)
    return started
