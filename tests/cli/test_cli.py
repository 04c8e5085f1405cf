"""The console scripts: config errors and missing files give one clear message, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.mark.parametrize("module", ["mpt.cli.pretrain", "mpt.cli.finetune", "mpt.cli.evaluate"])
def test_missing_smpl_names_the_path(module, tmp_path):
    res = _run(module, f"paths.data_root={tmp_path}/nowhere", f"paths.output_dir={tmp_path}/out", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert f"{tmp_path}/nowhere/body_models/smpl" in res.stderr and "SMPL_NEUTRAL.pkl" in res.stderr


def test_misspelt_key_is_rejected_by_name(tmp_path):
    res = _run("mpt.cli.pretrain", "train.lrr=1", cwd=tmp_path)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "Key 'lrr' not in 'TrainConfig'" in res.stderr


def test_help_lists_groups(tmp_path):
    res = _run("mpt.cli.evaluate", "--help", cwd=tmp_path)
    assert res.returncode == 0
    assert "backbone: demo_pose, higherhrnet_w32, higherhrnet_w48, none, simplebaseline_r101, simplebaseline_r18" in res.stdout
