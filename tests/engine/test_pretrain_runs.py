"""End-to-end pre-training runs on the demo data: exact resume after SIGKILL, errors. (Two processes:
test_two_processes.py.)"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from tests.helpers import logged, run_cli

TINY = ["model=tiny", "input=heatmap56", "cameras=h36m4", "train.max_val_samples=32", "train.log_every=1",
        "device=cpu"]  # fmt: skip


def _paths(demo_assets, demo_cache, shared_cache_dir, out: Path) -> list[str]:
    return [f"paths.data_root={demo_assets.root}", f"paths.motion_cache={demo_cache}",
            f"paths.cache={shared_cache_dir}", f"paths.output_dir={out}"]  # fmt: skip


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in logged(run)]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(demo_assets, demo_cache, shared_cache_dir, tmp_path):
    args = TINY + ["train.micro_batch=8", "train.max_steps=8", "train.ckpt_every=3", "train.val_every=100"]
    full = tmp_path / "full"
    res = run_cli(["mpt.cli.pretrain", *args, *_paths(demo_assets, demo_cache, shared_cache_dir, full)], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]

    run = tmp_path / "killed"
    cmd = ["mpt.cli.pretrain", *args, *_paths(demo_assets, demo_cache, shared_cache_dir, run)]
    res = run_cli(cmd, tmp_path, MPT_KILL_AFTER_STEP="5")
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step00000003"
    assert not (run / "model.safetensors").exists()
    res = run_cli([*cmd, "train.resume=true"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed from" in res.stdout and "at step 3/8" in res.stdout

    a, b = load_file(full / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-6, err_msg=key)
    # the resumed run logged steps 4..8 exactly as the uninterrupted one did
    np.testing.assert_allclose(_losses(run)[-5:], _losses(full)[-5:], rtol=1e-6)


def test_missing_cache_is_one_clear_error(demo_assets, shared_cache_dir, tmp_path):
    res = run_cli(["mpt.cli.pretrain", *TINY, f"paths.data_root={demo_assets.root}",
                   f"paths.motion_cache={tmp_path}/nothing", f"paths.output_dir={tmp_path}/o"], tmp_path)  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{tmp_path}/nothing" in res.stderr and "tools/prepare_amass.py" in res.stderr


def test_an_empty_validation_split_is_one_clear_error(demo_assets, shared_cache_dir, tmp_path):
    from mpt.config import compose_config
    from mpt.data.prepare_amass import prepare_amass
    from mpt.engine.pretrain import pretrain
    from mpt.errors import MptError

    cache = tmp_path / "cache"
    prepare_amass(demo_assets.amass_dir, cache, val_fraction=0.0, target_fps=10.0)  # every sequence in train
    cfg = compose_config("pretrain", [*TINY, *_paths(demo_assets, cache, shared_cache_dir, tmp_path / "run")])
    with pytest.raises(MptError, match=re.escape(f"the val split of the motion cache {cache} is empty") + ".*--val-frac"):
        pretrain(cfg)
