"""A relaunch into a folder that holds a run: ``train.resume=true`` continues it, anything else stops with one error
before a byte of the run changes (a requeued cluster job without the flag used to restart at step 0 there, rewrite
config.yaml, append a second history to metrics.jsonl and move ``checkpoints/latest``)."""

from __future__ import annotations

import pytest
import torch

from mpt.engine.trainer import train
from mpt.errors import MptError
from tests.helpers import LinearTask, logged, trainer_cfg


def _snapshot(run):
    return {p.relative_to(run): (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}


def test_a_relaunch_without_resume_is_refused_and_changes_nothing(tmp_path, cpu_world):
    run = tmp_path / "run"
    train(trainer_cfg(run, 4), cpu_world, torch.nn.Linear(3, 1), LinearTask())
    before = _snapshot(run)
    with pytest.raises(MptError, match=r"already holds a training run \(it holds checkpoints/latest, "
                                       r"checkpoints/step00000002.*add train.resume=true"):  # fmt: skip
        train(trainer_cfg(run, 4), cpu_world, torch.nn.Linear(3, 1), LinearTask())
    assert _snapshot(run) == before
    # with the flag it continues (here with 2 more steps): one history, no second step 1 (logged: the first step,
    # every train.log_every=10 and the last, and the first after the resume)
    train(trainer_cfg(run, 6, resume=True), cpu_world, torch.nn.Linear(3, 1), LinearTask())
    assert [r["step"] for r in logged(run)] == [1, 4, 5, 6]


@pytest.mark.parametrize("left", ["metrics.jsonl", "model.safetensors"])
def test_a_run_that_left_only_its_log_or_its_export_counts_too(tmp_path, cpu_world, left):
    (tmp_path / left).write_text("")
    with pytest.raises(MptError, match=f"it holds {left}"):
        train(trainer_cfg(tmp_path, 2), cpu_world, torch.nn.Linear(3, 1), LinearTask())


def test_hydras_own_files_do_not_make_a_run(tmp_path, cpu_world):
    """Hydra writes .hydra/ and the job log into the run folder before mpt starts: a fresh launch must still run."""
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("{}\n")
    (tmp_path / "mpt-pretrain.log").write_text("")
    train(trainer_cfg(tmp_path, 2), cpu_world, torch.nn.Linear(3, 1), LinearTask())
    assert [r["step"] for r in logged(tmp_path)] == [1, 2]
