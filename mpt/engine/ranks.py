"""This process's place in a multi-process launch, read from the environment (no torch import: the command line asks
before Hydra writes anything, see mpt.cli.common).

* ``torchrun`` and DeepSpeed's launcher set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; they win
  whenever RANK is set (also under SLURM, e.g. ``srun`` starting one ``torchrun`` per node).
* SLURM's ``srun`` with one task per GPU and no torchrun sets none of those. Its own variables say the same (srun
  man page, "OUTPUT ENVIRONMENT VARIABLES"): SLURM_PROCID is the rank, SLURM_STEP_NUM_TASKS (or SLURM_NTASKS) the
  world size, SLURM_LOCALID the rank on the node; the rendezvous host is the first node of SLURM_STEP_NODELIST (or
  SLURM_JOB_NODELIST / SLURM_NODELIST), where srun's default block and cyclic distributions both place task 0, and
  the port is MASTER_PORT or one derived from SLURM_JOB_ID (so two jobs sharing a node do not collide).
* Otherwise the process is a world of one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mpt.errors import MptError

_NODELISTS = ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST")
_SLURM_HELP = ("launch one task per GPU with srun (e.g. scripts/launch/slurm_2node_8gpu.sbatch), or start torchrun "
               "under srun, which sets RANK itself")  # fmt: skip


@dataclass(frozen=True)
class Ranks:
    """Rank, world size and rank on the node; ``launcher`` says where they came from (env, slurm or single)."""

    rank: int
    world_size: int
    local_rank: int
    launcher: str
    master_addr: str | None = None  # set for slurm (env launchers bring their own MASTER_ADDR / MASTER_PORT)
    master_port: int | None = None


def _int(env: Mapping[str, str], name: str, why: str) -> int:
    value = env.get(name)
    if value is None:
        raise MptError(f"{why}, but {name} is not set; {_SLURM_HELP}")
    try:
        return int(value)
    except ValueError:
        raise MptError(f"{name}={value!r} is not an integer ({why})") from None


def first_host(nodelist: str) -> str:
    """The first host of a SLURM hostlist, as ``scontrol show hostnames LIST | head -n1`` prints it:
    ``gpu[07-08,12],cpu3`` -> ``gpu07``; ``rack[1-2]-n[001-004]`` -> ``rack1-n001``; ``node5`` -> ``node5``."""
    text, depth, end = nodelist.strip(), 0, None
    for i, ch in enumerate(text):  # the first comma outside brackets ends the first entry
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            end = i
            break
    entry = text[:end]
    # each bracket's first range starts with the first host's digits, zero padding as written
    host = re.sub(r"\[([^\]\-,]+)[^\]]*\]", r"\1", entry)
    if not host or any(c in host for c in "[],"):
        raise MptError(f"cannot read the first host of the SLURM node list {nodelist!r}; set MASTER_ADDR to the "
                       "first node's address")  # fmt: skip
    return host


def ranks_from_env(env: Mapping[str, str] | None = None) -> Ranks:
    """This process's ranks (module docstring); a clear error for an environment that names a world only partly."""
    env = os.environ if env is None else env
    if "RANK" in env or "WORLD_SIZE" in env:
        if "RANK" not in env or "WORLD_SIZE" not in env:
            raise MptError("RANK and WORLD_SIZE must be set together (torchrun and deepspeed set both); found only "
                           f"{'RANK' if 'RANK' in env else 'WORLD_SIZE'}")  # fmt: skip
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        return Ranks(rank, world, int(env.get("LOCAL_RANK", rank)), "env")
    world = int(env.get("SLURM_STEP_NUM_TASKS", env.get("SLURM_NTASKS", "1")))
    if "SLURM_PROCID" not in env or world <= 1:
        return Ranks(0, 1, 0, "single")
    why = f"SLURM runs {world} tasks (SLURM_STEP_NUM_TASKS / SLURM_NTASKS)"
    rank, local_rank = _int(env, "SLURM_PROCID", why), _int(env, "SLURM_LOCALID", why)
    if not 0 <= rank < world:
        raise MptError(f"SLURM_PROCID={rank} is outside the {world} tasks of this step")
    addr = env.get("MASTER_ADDR")
    if addr is None:
        nodelist = next((env[k] for k in _NODELISTS if env.get(k)), None)
        if nodelist is None:
            raise MptError(f"{why}, but none of {', '.join(_NODELISTS)} names the nodes; set MASTER_ADDR to the "
                           f"first node's address, or {_SLURM_HELP}")  # fmt: skip
        addr = first_host(nodelist)
    if "MASTER_PORT" in env:
        port = int(env["MASTER_PORT"])
    else:
        port = 15000 + int(env.get("SLURM_JOB_ID", "0")) % 20000
    return Ranks(rank, world, local_rank, "slurm", addr, port)


def rank_variables(ranks: Ranks) -> dict[str, str]:
    """The variables torch.distributed's ``env://`` rendezvous reads, for a SLURM launch (torchrun sets its own)."""
    assert ranks.launcher == "slurm"
    return {"RANK": str(ranks.rank), "WORLD_SIZE": str(ranks.world_size), "LOCAL_RANK": str(ranks.local_rank),
            "MASTER_ADDR": str(ranks.master_addr), "MASTER_PORT": str(ranks.master_port)}  # fmt: skip
