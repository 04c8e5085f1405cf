"""scripts/launch/*: each script run with stand-ins for torchrun / deepspeed / srun on PATH that record their command
line; the mpt overrides they pass are composed as the console script would compose them."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from mpt.config import compose_config

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "scripts" / "launch"
SCRIPTS = {"torchrun_1node_8gpu.sh": "torchrun", "torchrun_2node_8gpu.sh": "torchrun",
           "deepspeed_hostfile_2node.sh": "deepspeed", "slurm_2node_8gpu.sbatch": "srun"}  # fmt: skip


def _launch(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``script`` with every launcher replaced by one that writes its arguments, one per line, to argv.txt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("torchrun", "deepspeed", "srun", "mpt-pretrain", "mpt-finetune"):
        (bin_dir / name).write_text(f'#!/bin/sh\nprintf "%s\\n" "$(basename "$0")" "$@" > {tmp_path}/argv.txt\n')
        (bin_dir / name).chmod(0o755)
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "SLURM_SUBMIT_DIR": str(ROOT),
            "MASTER_ADDR": "node0", "NODE_RANK": "0"}  # fmt: skip
    return subprocess.run(["bash", str(LAUNCH / script), "train.max_steps=7"], env={**base, **env}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def _mpt_overrides(tmp_path: Path) -> tuple[str, list[str]]:
    """(the console script, its overrides) from the recorded launcher command line."""
    argv = (tmp_path / "argv.txt").read_text().splitlines()
    start = next(i for i, a in enumerate(argv) if a.startswith("experiment="))
    return Path(argv[start - 1]).name, argv[start:]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_fine_tuning_launch_follows_exp_data_out_and_the_precision(script, tmp_path):
    res = _launch(script, tmp_path, EXP="finetune_mpt", DATA="/shared/mpt", OUT="/shared/runs")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "argv.txt").read_text().split("\n", 1)[0] == SCRIPTS[script]
    command, overrides = _mpt_overrides(tmp_path)
    assert command == "mpt-finetune" and overrides[-1] == "train.max_steps=7"  # the script's own arguments last
    cfg = compose_config("finetune", overrides)
    assert cfg.name == "finetune_mpt" and cfg.paths.output_dir == "/shared/runs/finetune_mpt"
    assert cfg.train.init_from == "/shared/runs/pretrain_views8"  # absolute, beside the run: every node finds it
    assert cfg.backbone.weights == "/shared/mpt/weights/pose_higher_hrnet_w48_640.pth"
    assert cfg.train.resume  # a relaunch or a requeued job continues the run instead of being refused
    # fp32 unless asked: the paper's V100s have no bf16
    assert not cfg.deepspeed.get("bf16", {}).get("enabled") and not cfg.deepspeed.get("fp16", {}).get("enabled")


@pytest.mark.parametrize("precision, key", [("fp16", "fp16"), ("bf16", "bf16")])
def test_the_precision_comes_from_the_environment(precision, key, tmp_path):
    res = _launch("torchrun_2node_8gpu.sh", tmp_path, EXP="pretrain_views4", DATA="/d", PRECISION=precision)
    assert res.returncode == 0, res.stderr
    command, overrides = _mpt_overrides(tmp_path)
    cfg = compose_config("pretrain", overrides)
    assert command == "mpt-pretrain" and cfg.deepspeed[key]["enabled"]
    assert cfg.name == "pretrain_views4" and cfg.paths.output_dir == "/d/outputs/pretrain_views4"  # OUT's default


@pytest.mark.parametrize("env, needle", [({"EXP": "finetune_mpt"}, "set DATA"), ({"DATA": "/d"}, "set EXP"),
                                         ({"EXP": "finetune_mpt", "DATA": "/d", "PRECISION": "tf32"}, "PRECISION=tf32"),
                                         ({"EXP": "eval_pretrain_only", "DATA": "/d"}, "mpt-eval")])  # fmt: skip
def test_what_the_scripts_refuse(env, needle, tmp_path):
    res = _launch("torchrun_1node_8gpu.sh", tmp_path, **env)
    assert res.returncode != 0 and needle in res.stderr, res.stderr
    assert not (tmp_path / "argv.txt").exists()


def test_the_slurm_script_asks_for_two_nodes_of_eight_tasks():
    text = (LAUNCH / "slurm_2node_8gpu.sbatch").read_text()
    directives = dict(shlex.split(line)[1].lstrip("-").split("=", 1) for line in text.splitlines()
                      if line.startswith("#SBATCH") and "=" in line)  # fmt: skip
    assert directives["nodes"] == "2" and directives["ntasks-per-node"] == "8" and directives["gpus-per-node"] == "8"
    assert os.access(LAUNCH / "slurm_2node_8gpu.sbatch", os.X_OK)
