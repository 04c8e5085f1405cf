"""Where a process sits in a launch: torchrun's / deepspeed's variables, SLURM's srun variables (as the srun man page
lists them, set here by hand), the GPU it takes when it sees one GPU or all of the node's, and what only rank 0
writes into the shared run folder."""

from __future__ import annotations

import pytest
import torch

from mpt.engine.distributed import resolve_device
from mpt.engine.ranks import Ranks, first_host, rank_variables, ranks_from_env
from mpt.errors import MptError
from tests.helpers import assert_clear_error, run_cli

# What `srun --nodes=2 --ntasks-per-node=8` sets for global task 11 (second node, 4th task there) of job 4242.
SRUN_TASK_11 = {"SLURM_PROCID": "11", "SLURM_NTASKS": "16", "SLURM_STEP_NUM_TASKS": "16", "SLURM_LOCALID": "3",
                "SLURM_NODEID": "1", "SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "gpu[07-08]",
                "SLURM_JOB_NODELIST": "gpu[07-08]"}  # fmt: skip


def test_torchrun_variables_win_even_under_slurm():
    env = {**SRUN_TASK_11, "RANK": "5", "WORLD_SIZE": "16", "LOCAL_RANK": "5"}  # srun starting torchrun per node
    assert ranks_from_env(env) == Ranks(5, 16, 5, "env")


def test_no_launcher_is_a_world_of_one():
    assert ranks_from_env({}) == Ranks(0, 1, 0, "single")
    # one SLURM task (a batch script running mpt-pretrain itself, or srun -n1) is a world of one too
    assert ranks_from_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_LOCALID": "0"}).world_size == 1


def test_srun_tasks_map_to_ranks_and_the_first_node_hosts_the_rendezvous():
    ranks = ranks_from_env(SRUN_TASK_11)
    assert ranks == Ranks(11, 16, 3, "slurm", "gpu07", 15000 + 4242)
    assert rank_variables(ranks) == {"RANK": "11", "WORLD_SIZE": "16", "LOCAL_RANK": "3", "MASTER_ADDR": "gpu07",
                                     "MASTER_PORT": "19242"}  # fmt: skip
    # a user's MASTER_ADDR / MASTER_PORT win; a step smaller than the job counts its own tasks
    env = {**SRUN_TASK_11, "MASTER_ADDR": "10.0.0.7", "MASTER_PORT": "29500", "SLURM_STEP_NUM_TASKS": "12"}
    assert ranks_from_env(env) == Ranks(11, 12, 3, "slurm", "10.0.0.7", 29500)


@pytest.mark.parametrize("missing, needle", [("SLURM_LOCALID", "SLURM_LOCALID is not set"),
                                             ("nodelists", "set MASTER_ADDR")])  # fmt: skip
def test_an_incomplete_slurm_environment_is_a_clear_error(missing, needle):
    drop = ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST") if missing == "nodelists" else (missing,)
    env = {k: v for k, v in SRUN_TASK_11.items() if k not in drop}
    with pytest.raises(MptError, match=needle):
        ranks_from_env(env)


def test_half_a_torchrun_environment_is_a_clear_error():
    with pytest.raises(MptError, match="RANK and WORLD_SIZE must be set together"):
        ranks_from_env({"WORLD_SIZE": "8"})


@pytest.mark.parametrize("nodelist, first", [("node5", "node5"), ("gpu[07-08,12],cpu3", "gpu07"),
                                             ("rack[1-2]-n[001-004]", "rack1-n001"), ("a[3,5-6]", "a3"),
                                             ("login1,gpu[1-4]", "login1")])  # fmt: skip
def test_first_host_of_a_slurm_node_list(nodelist, first):
    """As `scontrol show hostnames <list> | head -n1` prints them (Slurm's hostlist syntax)."""
    assert first_host(nodelist) == first


@pytest.mark.parametrize("visible, local_rank, index", [(8, 5, 5), (1, 5, 0), (2, 5, 1)])
def test_the_gpu_index_under_one_or_all_gpus_per_process(monkeypatch, visible, local_rank, index):
    """torchrun on an 8-GPU node: local rank i takes GPU i. SLURM --gpus-per-task=1 (and some Kubernetes operators):
    each process sees one GPU, cuda:0, whatever its local rank; torch.device('cuda', 5) there fails with 'invalid
    device ordinal' at the first use."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    assert resolve_device("cuda", local_rank) == torch.device("cuda", index)


@pytest.mark.parametrize("rank", ["0", "1"])
def test_only_rank_0_writes_hydras_files_into_the_shared_run_folder(tmp_path, rank):
    """Both ranks get as far as the input checks (a missing body model: exit 2 before any rendezvous)."""
    out = tmp_path / "run"
    res = run_cli(["mpt.cli.pretrain", f"paths.data_root={tmp_path}/nothing", f"paths.output_dir={out}"], tmp_path,
                  RANK=rank, WORLD_SIZE="2", LOCAL_RANK=rank)  # fmt: skip
    assert_clear_error(res, "SMPL")
    written = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    assert written == ([".hydra", "mpt-pretrain.log"] if rank == "0" else [])
