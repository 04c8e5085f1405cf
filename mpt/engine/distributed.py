"""Process-group set-up for one process, ``torchrun``, the ``deepspeed`` launcher and SLURM's ``srun``, on CPU (gloo)
or GPU (nccl), and the BatchNorm statistics that DeepSpeed leaves to each rank.

Ranks are read from the environment (mpt.engine.ranks: RANK, WORLD_SIZE, LOCAL_RANK, or SLURM's variables), never
from a ``--local_rank`` argument, which Hydra would reject: launch with ``torchrun --no-python mpt-pretrain ...``,
``deepspeed --no_local_rank ...`` or ``srun mpt-pretrain ...``. A plain ``mpt-pretrain`` sets up a world of one itself.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch

from mpt.engine.ranks import rank_variables, ranks_from_env


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
    """``auto`` picks the local GPU when there is one, else the CPU.

    The GPU is ``local_rank`` modulo the GPUs this process sees: all of the node's under torchrun (GPU i for local
    rank i), or only its own under SLURM's ``--gpus-per-task=1`` and some Kubernetes operators, where every process
    sees one GPU, index 0, whatever its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            from mpt.errors import MptError

            raise MptError("device=cuda was asked for but torch sees no GPU; use device=cpu or device=auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(name)


def setup_distributed(device: str = "auto") -> DistInfo:
    """Initialise (once) the process group DeepSpeed uses and return this process's rank and device."""
    import deepspeed
    import deepspeed.comm as dist

    ranks = ranks_from_env()
    if ranks.launcher == "single":  # a plain single-process run: a world of one on this machine
        os.environ.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"})
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    elif ranks.launcher == "slurm":  # srun, one task per GPU: SLURM's variables as the env:// rendezvous reads them
        os.environ.update(rank_variables(ranks))
        if ranks.rank == 0:
            print(f"SLURM task 0 of {ranks.world_size}: rendezvous at {ranks.master_addr}:{ranks.master_port}",
                  flush=True)  # fmt: skip
    rank, world, local_rank = ranks.rank, ranks.world_size, ranks.local_rank
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


_BATCHNORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)


def average_batchnorm_statistics(module: torch.nn.Module) -> int:
    """Replace every BatchNorm's running mean and variance by their mean over the ranks; returns how many layers.

    Why: DeepSpeed, unlike DDP, broadcasts the parameters once at start-up and never the buffers, so each rank's
    running statistics follow its own batches and drift apart. Validation would then average ranks that normalise
    differently, the export (rank 0's module) would carry a sixteenth of the data's statistics, and a resumed run
    (every rank loads rank 0's saved module) would not repeat the uninterrupted one. The trainer calls this on every
    rank before each validation, checkpoint and export.

    Why the mean and not SyncBatchNorm or rank 0's copy: training keeps normalising each rank's own batch of 32, as
    METRO's and HigherHRNet's code do per GPU; SyncBatchNorm would add a collective to every BatchNorm layer of every
    forward (HRNet-w48 has hundreds) and changes the training itself. The running mean is an exponential average,
    linear in the batch means, so the mean over ranks is the running mean of the global batches; each rank's
    running variance is an unbiased estimate of the same population variance, so their mean is one that uses every
    rank's samples. Broadcasting rank 0's would discard the other ranks' samples. The sum runs in float64, which holds
    the sum of the ranks' float32 statistics of similar size exactly, so every rank gets the same numbers in any
    reduction order, and averaging equal statistics again (a validation followed by a checkpoint at the same step)
    gives N * x / N = x: they stay bit for bit unchanged.
    """
    import torch.distributed as tdist

    if not (tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1):
        return 0
    layers = [m for m in module.modules() if isinstance(m, _BATCHNORMS) and m.running_mean is not None]
    if not layers:
        return 0
    buffers = [b for m in layers for b in (m.running_mean, m.running_var)]
    flat = torch.cat([b.detach().reshape(-1).double() for b in buffers])
    tdist.all_reduce(flat, op=tdist.ReduceOp.SUM)
    flat /= tdist.get_world_size()
    with torch.no_grad():
        for b, values in zip(buffers, flat.split([b.numel() for b in buffers]), strict=True):
            b.copy_(values.view_as(b))
    return len(layers)
