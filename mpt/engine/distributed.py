"""Process-group set-up for one process, ``torchrun`` and the ``deepspeed`` launcher, on CPU (gloo) or GPU (nccl).

Ranks are read from the environment (RANK, WORLD_SIZE, LOCAL_RANK), never from a ``--local_rank`` argument, which
Hydra would reject: launch with ``torchrun --no-python mpt-pretrain ...`` or ``deepspeed --no_local_rank ...``.
A plain ``mpt-pretrain`` sets up a world of one itself.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks the local GPU when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            from mpt.errors import MptError

            raise MptError("device=cuda was asked for but torch sees no GPU; use device=cpu or device=auto")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def setup_distributed(device: str = "auto") -> DistInfo:
    """Initialise (once) the process group DeepSpeed uses and return this process's rank and device."""
    import deepspeed
    import deepspeed.comm as dist

    if "RANK" not in os.environ:  # a plain single-process run: a world of one on this machine
        os.environ.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"})
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    else:
        # DeepSpeed's CPU accelerator would JIT-compile a shared-memory all-reduce op (over a minute of g++ on a
        # fresh machine); gloo's all-reduce is all a CPU run needs.
        import deepspeed.ops

        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if dev.type == "cuda" else "gloo", auto_mpi_discovery=False)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (identity in a world of one)."""
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1:
        values = values.clone()
        tdist.all_reduce(values, op=tdist.ReduceOp.SUM)
    return values


def barrier() -> None:
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1:
        tdist.barrier()
