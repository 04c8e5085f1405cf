"""Checkpoints: DeepSpeed engine state plus our own, a crash-safe ``latest`` pointer, and fp32 exports.

Layout under ``<run>/checkpoints/``: one folder per tag (``step00001000``) written by ``engine.save_checkpoint``
on every rank, with our client state (step, config) inside; ``latest`` names the newest complete tag and is
replaced atomically only after every rank has finished writing, so a crash or a full disk in the middle of a save
leaves the previous checkpoint as the one that resumes. Older tags beyond ``keep`` are deleted afterwards.

An export (``model.safetensors`` + ``config.yaml`` + ``model.sha256``) is a plain fp32 state dict for evaluation and
inference without DeepSpeed.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from mpt.atomic import atomic_path
from mpt.engine.distributed import barrier
from mpt.errors import MptError

LATEST = "latest"


def tag_for(step: int) -> str:
    return f"step{step:08d}"


def latest_tag(ckpt_dir: str | Path) -> str | None:
    """The tag named by ``latest`` if that checkpoint folder exists, else None."""
    pointer = Path(ckpt_dir) / LATEST
    if not pointer.is_file():
        return None
    tag = pointer.read_text().strip()
    if not tag or not (Path(ckpt_dir) / tag).is_dir():
        raise MptError(f"{pointer} names checkpoint {tag!r}, which is missing; delete {pointer} to start over "
                       "or restore the folder")  # fmt: skip
    return tag


def save_checkpoint(engine: Any, ckpt_dir: str | Path, step: int, client_state: dict[str, Any], is_main: bool,
                    keep: int = 2) -> str:  # fmt: skip
    """Save on every rank (DeepSpeed needs all of them), then move ``latest`` and prune old tags on rank 0."""
    ckpt_dir = Path(ckpt_dir)
    tag = tag_for(step)
    try:
        engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=client_state, save_latest=False)
    except OSError as exc:  # e.g. a full disk: 'latest' still names the previous, complete checkpoint
        raise MptError(f"could not write checkpoint {ckpt_dir / tag} ({exc}); {ckpt_dir / LATEST} still names the "
                       "previous complete checkpoint, so train.resume=true continues from it once there is room") from exc
    barrier()
    if is_main:
        with atomic_path(ckpt_dir / LATEST) as tmp:
            tmp.write_text(tag + "\n")
        tags = sorted(p.name for p in ckpt_dir.glob("step*") if p.is_dir())
        for old in tags[: max(0, len(tags) - keep)]:
            if old != tag:
                shutil.rmtree(ckpt_dir / old, ignore_errors=True)
    barrier()
    return tag


def load_checkpoint(engine: Any, ckpt_dir: str | Path, module_only: bool = False) -> dict[str, Any] | None:
    """Resume from ``latest`` (full state) or, with ``module_only``, load only the weights. None if none saved."""
    tag = latest_tag(ckpt_dir)
    if tag is None:
        return None
    folder = Path(ckpt_dir) / tag
    damaged = (f"{folder}: this checkpoint is damaged or incomplete; point {Path(ckpt_dir) / LATEST} at an older "
               "step folder (or delete it to start over)")  # fmt: skip
    try:
        path, client = engine.load_checkpoint(str(ckpt_dir), tag=tag, load_module_only=module_only,
                                              load_optimizer_states=not module_only,
                                              load_lr_scheduler_states=not module_only)  # fmt: skip
    except (RuntimeError, AssertionError, OSError, EOFError, KeyError, pickle.UnpicklingError) as exc:
        raise MptError(f"{damaged} ({type(exc).__name__}: {exc})") from exc
    if path is None:
        raise MptError(damaged)
    return client or {}


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_model(module: torch.nn.Module, cfg: DictConfig, out_dir: str | Path) -> Path:
    """Write ``model.safetensors`` (fp32), ``config.yaml`` (resolved) and ``model.sha256`` into ``out_dir``."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    state = {k: v.detach().float().cpu().contiguous() for k, v in module.state_dict().items()}
    weights = out_dir / "model.safetensors"
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp))
    with atomic_path(out_dir / "config.yaml") as tmp:
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    with atomic_path(out_dir / "model.sha256") as tmp:
        tmp.write_text(f"{sha256_of(weights)}  model.safetensors\n")
    return weights


def load_exported(path: str | Path) -> tuple[dict[str, torch.Tensor], DictConfig]:
    """Read an export folder (or its ``model.safetensors``), verifying the recorded sha256."""
    from safetensors.torch import load_file

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights, config, digest = folder / "model.safetensors", folder / "config.yaml", folder / "model.sha256"
    for p in (weights, config):
        if not p.is_file():
            raise MptError(f"{p} not found: an exported model folder holds model.safetensors, config.yaml and "
                           "model.sha256 (written by mpt-pretrain / mpt-finetune at the end of training)")  # fmt: skip
    if not digest.is_file():
        raise MptError(f"{digest} not found: every export records the sha256 of its weights and mpt loads none "
                       "without it; copy the whole export folder, or re-export from the run's checkpoint")  # fmt: skip
    want = digest.read_text().split()[0] if digest.read_text().split() else ""
    got = sha256_of(weights)
    if got != want:
        raise MptError(f"{weights}: sha256 {got} does not match {digest} ({want}); the file is truncated or "
                       "was changed; copy it again")  # fmt: skip
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise MptError(f"{weights}: not a readable safetensors file ({exc})") from exc
    return state, OmegaConf.load(config)
