"""The training loop with stand-in tasks: NaN/inf guarding, checkpoint pointers and pruning, validation at the
start, and gradient accumulation against a larger micro-batch with the learning rate of every optimizer step."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch

from mpt.engine.checkpoint import latest_tag
from mpt.engine.trainer import train
from mpt.errors import MptError
from tests.helpers import LinearTask, RowTask, logged, trainer_cfg


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, cpu_world):
    cfg = trainer_cfg(tmp_path, 10)
    model = torch.nn.Linear(3, 1)
    with pytest.raises(MptError, match=r"non-finite loss at step 5.*last good checkpoint is .*step00000004"):
        train(cfg, cpu_world, model, LinearTask(nan_from=5))
    assert latest_tag(tmp_path / "checkpoints") == "step00000004"
    state = torch.load(tmp_path / "checkpoints" / "step00000004" / "mp_rank_00_model_states.pt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in state["module"].values())
    assert state["step"] == 4  # our client state rides along
    assert not (tmp_path / "model.safetensors").exists()


def test_latest_pointing_at_a_missing_checkpoint_is_explained(tmp_path):
    (tmp_path / "latest").write_text("step00000007\n")
    with pytest.raises(MptError, match="names checkpoint 'step00000007', which is missing"):
        latest_tag(tmp_path)


@pytest.mark.parametrize("keep", [1, 3])
def test_only_the_newest_checkpoints_are_kept(tmp_path, cpu_world, keep):
    train(trainer_cfg(tmp_path, 10, f"train.keep_checkpoints={keep}"), cpu_world, torch.nn.Linear(3, 1), LinearTask())
    tags = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir())
    assert tags == [f"step{s:08d}" for s in range(10, 0, -2)[:keep][::-1]]  # saved every 2 steps
    assert latest_tag(tmp_path / "checkpoints") == "step00000010"
    with pytest.raises(MptError, match="keep_checkpoints must be >= 1"):
        train(trainer_cfg(tmp_path / "none", 10, "train.keep_checkpoints=0"), cpu_world, torch.nn.Linear(3, 1),
              LinearTask())  # fmt: skip


def test_val_at_start_measures_the_untrained_model_once(tmp_path, cpu_world):
    model = torch.nn.Linear(3, 1)
    task = RowTask(trainer_cfg(tmp_path, 4), cpu_world)
    with torch.no_grad():  # the untrained model's error, computed here
        before = float((task.x @ model.weight.T + model.bias - task.y).square().mean())
    run = tmp_path / "run"
    train(trainer_cfg(run, 4, "train.val_at_start=true", "train.lr=0.05"), cpu_world, model, task)
    val = logged(run, "val")
    assert [r["step"] for r in val] == [0, 4]
    assert val[0]["mse"] == pytest.approx(before, rel=1e-6) and val[1]["mse"] < before
    # resumed from step 2, the run does not validate "at the start" again
    resumed = tmp_path / "resumed"
    shutil.copytree(run, resumed)
    (resumed / "checkpoints" / "latest").write_text("step00000002\n")
    train(trainer_cfg(resumed, 4, "train.val_at_start=true", "train.lr=0.05", resume=True), cpu_world,
          torch.nn.Linear(3, 1), RowTask(trainer_cfg(resumed, 4), cpu_world))  # fmt: skip
    assert [r["step"] for r in logged(resumed, "val")] == [0, 4, 4]  # the copied line of step 0, then step 4 again


def _linear_decay_with_warmup(k: int, peak: float, warmup: int, total: int) -> float:
    """The paper's schedule for optimizer step k (1-based): its value after k - 1 steps, linear warm-up from 0."""
    i = k - 1
    return peak * (i / warmup if i < warmup else (total - i) / (total - warmup))


def test_accumulation_matches_a_larger_micro_batch_and_the_lr_moves_per_optimizer_step(tmp_path, cpu_world):
    """grad_accum=2 x micro_batch=4 against grad_accum=1 x micro_batch=8 over 8 steps (4 epochs of 20 rows): the same
    rows in every optimizer step, the same weights, and the learning rate of the schedule at each optimizer step."""
    peak, total = 0.05, 8
    models, lrs, seen = [], [], []
    for accum, mb in ((1, 8), (2, 4)):
        cfg = trainer_cfg(tmp_path / f"a{accum}", total, f"train.grad_accum={accum}", f"train.micro_batch={mb}",
                          f"train.lr={peak}", "train.warmup_fraction=0.25", "train.log_every=1")  # fmt: skip
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        task = RowTask(cfg, cpu_world)
        train(cfg, cpu_world, model, task)
        models.append(model)
        lrs.append([r["lr"] for r in logged(tmp_path / f"a{accum}", "train")])
        seen.append(task.lrs)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)  # float32 sums in another order
    want = [_linear_decay_with_warmup(k, peak, 2, total) for k in range(1, total + 1)]
    assert lrs[0] == pytest.approx(want) and lrs[1] == pytest.approx(want)
    # the lr the optimizer held while each micro-batch ran: the logged one, for both micro-steps of a step
    assert seen[0] == pytest.approx(want) and seen[1] == pytest.approx([x for x in want for _ in range(2)])
    torch.manual_seed(0)
    assert (models[0].weight - torch.nn.Linear(3, 1).weight).abs().min() > 1e-3  # it did train


def test_the_trainer_waits_for_the_device_once_per_optimizer_step(tmp_path, cpu_world, monkeypatch):
    """On a GPU each ``.item()`` / ``float()`` of a tensor waits for the device. The trainer reads one number per
    optimizer step (the NaN guard, before the step applies the gradients), not one per micro-step or loss term; the
    loss terms stay on the device until a logged step reads them all at once."""
    calls = []
    trainer_file = str(Path("mpt", "engine", "trainer.py"))
    for name in ("item", "__float__", "tolist"):
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            if sys._getframe(1).f_code.co_filename.endswith(trainer_file):
                calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    cfg = trainer_cfg(tmp_path, 8, "train.grad_accum=2", "train.log_every=4", "train.ckpt_every=100")
    train(cfg, cpu_world, torch.nn.Linear(3, 1), LinearTask())
    monkeypatch.undo()
    assert calls.count("item") == 8  # 8 optimizer steps of 2 micro-steps
    assert calls.count("__float__") == 0
    assert calls.count("tolist") == 3  # logged steps 1, 4 and 8
    assert [r["step"] for r in logged(tmp_path)] == [1, 4, 8]
