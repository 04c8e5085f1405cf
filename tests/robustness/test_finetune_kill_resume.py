"""SIGKILL during fine-tuning, then ``train.resume=true``: the exported weights equal an uninterrupted run's.

Fine-tuning runs end to end (``python -m mpt.cli.finetune``) on the demo image sets behind HigherHRNet-w32, the
backbone trained too (its BatchNorm statistics must survive the resume as well), DataLoader workers=0 (the default).
``MPT_KILL_AFTER_STEP=N`` (mpt/engine/trainer.py) SIGKILLs the run right after optimizer step N."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.helpers import logged, run_cli

STEPS = 5
ARGS = ["model=tiny", "input=heatmap56", "backbone=higherhrnet_w32", "backbone.weights=random", "data=demo_mixed",
        "train.micro_batch=2",
        f"train.max_steps={STEPS}", "train.ckpt_every=2", "train.val_every=100", "train.max_val_samples=2",
        "train.log_every=1", "device=cpu"]  # fmt: skip


def _cmd(demo_assets, tsv: Path, cache: Path, out: Path) -> list[str]:
    return ["mpt.cli.finetune", *ARGS, f"paths.data_root={demo_assets.root}", f"paths.tsv={tsv}",
            f"paths.cache={cache}", f"paths.output_dir={out}"]  # fmt: skip


def _train_lines(run: Path) -> dict[int, dict]:
    """Train log lines by step (a step logged again after the resume keeps its last line)."""
    return {r["step"]: r for r in logged(run)}


@pytest.mark.slow
def test_sigkill_during_finetuning_then_resume_matches_uninterrupted(
    demo_assets,
    demo_tsv,
    shared_cache_dir,
    tmp_path,
):
    full = tmp_path / "full"
    res = run_cli(_cmd(demo_assets, demo_tsv, shared_cache_dir, full), tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]

    run = tmp_path / "killed"
    cmd = _cmd(demo_assets, demo_tsv, shared_cache_dir, run)
    res = run_cli(cmd, tmp_path, MPT_KILL_AFTER_STEP="3")
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step00000002"
    assert not (run / "model.safetensors").exists()

    res = run_cli([*cmd, "train.resume=true"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"at step 2/{STEPS}" in res.stdout

    a, b = load_file(full / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("backbone.") for k in a)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-6, err_msg=key)
    # steps 3..5 saw the same batches (and augmentations) as the uninterrupted run: identical losses
    want, got = _train_lines(full), _train_lines(run)
    assert sorted(got) == sorted(want) == list(range(1, STEPS + 1))
    for step in range(3, STEPS + 1):
        assert got[step]["loss"] == pytest.approx(want[step]["loss"], rel=1e-6, abs=0), step
