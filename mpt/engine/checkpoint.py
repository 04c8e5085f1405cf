"""Checkpoints: DeepSpeed engine state plus our own, a crash-safe ``latest`` pointer, and fp32 exports.

Layout under ``<run>/checkpoints/``: one folder per tag (``step00001000``) written by ``engine.save_checkpoint``
on every rank, with our client state (step, config) inside; ``latest`` names the newest complete tag and is
replaced atomically only after every rank has finished writing, so a crash or a full disk in the middle of a save
leaves the previous checkpoint as the one that resumes. Older tags beyond ``keep`` are deleted afterwards.

A launch into a folder that already holds a run (checkpoints, metrics.jsonl or an export) continues it with
``train.resume=true`` and otherwise stops before writing anything (:func:`refuse_to_overwrite`): a relaunch that
forgot the flag, e.g. a requeued cluster job, would restart at step 0, append a second history to metrics.jsonl and
move ``latest`` to the new run's checkpoints. The launch scripts pass ``train.resume=true`` for that reason.

An export (``model.safetensors`` + ``config.yaml`` + ``model.sha256``) is a plain fp32 state dict for evaluation and
inference without DeepSpeed.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mpt.atomic import atomic_path, write_text_atomic
from mpt.engine.distributed import all_reduce_sum, barrier
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


def previous_run(run_dir: str | Path) -> list[str]:
    """What in ``run_dir`` shows that a training ran there: its checkpoints, metrics log and export."""
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    found = [f"checkpoints/{p.name}" for p in sorted(ckpt_dir.iterdir())] if ckpt_dir.is_dir() else []
    return found + [name for name in ("metrics.jsonl", "model.safetensors") if (run_dir / name).exists()]


def refuse_to_overwrite(run_dir: str | Path, resume: bool, device: torch.device) -> None:
    """Without ``resume``, stop on every rank (the ranks agree by an all-reduce, before any of them writes) when
    ``run_dir`` holds a previous run; see the module docstring."""
    found = [] if resume else previous_run(run_dir)
    if all_reduce_sum(torch.tensor([float(len(found))], device=device)).item() == 0:
        return
    seen = f"it holds {', '.join(found[:4])}" if found else "another rank sees a previous run there"
    raise MptError(f"paths.output_dir={run_dir} already holds a training run ({seen}) and train.resume is false: "
                   "add train.resume=true to continue it from its latest checkpoint, or give another "
                   "paths.output_dir (or delete that folder) to start a new run")  # fmt: skip


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
        write_text_atomic(ckpt_dir / LATEST, tag + "\n")
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


EXPORT_FILES = ("model.safetensors", "config.yaml", "model.sha256")
_EXPORT_HELP = ("an exported model folder holds model.safetensors, config.yaml and model.sha256 (written by "
                "mpt-pretrain / mpt-finetune at the end of training, or by mpt-export)")  # fmt: skip


class Export(NamedTuple):
    """An export read back: its folder, fp32 state dict, training config and the (verified) sha256 of the weights."""

    folder: Path
    state: dict[str, torch.Tensor]
    config: DictConfig
    sha256: str


def write_sha256(target: Path, digest: Path) -> None:
    """Record ``target``'s sha256 in ``digest`` (the ``sha256sum`` line format), atomically."""
    write_text_atomic(digest, f"{sha256_of(target)}  {target.name}\n")


def export_model(module: torch.nn.Module, cfg: DictConfig, out_dir: str | Path,
                 state: dict[str, torch.Tensor] | None = None) -> Path:  # fmt: skip
    """Write ``model.safetensors`` (fp32), ``config.yaml`` (resolved) and ``model.sha256`` into ``out_dir``.

    ``state``: the weights to write (the trainer passes the optimizer's fp32 master weights); default the module's.
    """
    return write_export(module.state_dict() if state is None else state, cfg, out_dir)


def write_export(state: dict[str, torch.Tensor], cfg: DictConfig, out_dir: str | Path) -> Path:
    """An export of the state dict ``state`` (stored as fp32) and the run config ``cfg``; returns the weights path."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in state.items()}
    weights = out_dir / "model.safetensors"
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp))
    write_text_atomic(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_sha256(weights, out_dir / "model.sha256")
    return weights


MODEL_STATES = "mp_rank_00_model_states.pt"  # DeepSpeed's file holding the whole module (ZeRO stages 0 to 2)


def training_checkpoint_folder(path: str | Path) -> Path | None:
    """The step folder a path names as a training checkpoint, or None: a step folder itself
    (``<run>/checkpoints/step<N>``), a ``checkpoints`` folder (its ``latest``), or a run folder without an export
    (its ``checkpoints/latest``)."""
    path = Path(path)
    if (path / MODEL_STATES).is_file():
        return path
    for ckpt_dir in (path, path / "checkpoints"):
        if (ckpt_dir / LATEST).is_file() and not (path / "model.safetensors").is_file():
            tag = latest_tag(ckpt_dir)
            return ckpt_dir / tag if tag is not None and (ckpt_dir / tag / MODEL_STATES).is_file() else None
    return None


def export_training_checkpoint(path: str | Path, out_dir: str | Path) -> Path:
    """Turn a training checkpoint (see :func:`training_checkpoint_folder`) into an export in ``out_dir``: its
    module weights as fp32 (what the run's own export at that step would hold) and the run's config. Returns the
    step folder read. The file is DeepSpeed's own pickle, so it is unpickled in full: read only your runs' files."""
    folder = training_checkpoint_folder(path)
    if folder is None:
        raise MptError(f"{path} is not a training checkpoint: give <run>/checkpoints/step<N> (a folder holding "
                       f"{MODEL_STATES}), <run>/checkpoints, or a run folder holding checkpoints/latest")  # fmt: skip
    try:
        saved = torch.load(folder / MODEL_STATES, map_location="cpu", weights_only=False)
        state, config = saved["module"], OmegaConf.create(saved["config"])
    except (RuntimeError, OSError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError,
            OmegaConfBaseException) as exc:  # fmt: skip
        raise MptError(f"{folder / MODEL_STATES} is damaged or was not written by mpt-pretrain / mpt-finetune "
                       f"({type(exc).__name__}: {exc})") from exc  # fmt: skip
    if Path(out_dir).resolve() == Path(config.paths.output_dir).resolve():
        raise MptError(f"out={out_dir} is the run folder of {folder}: its own export would be overwritten; write the "
                       "export to another folder")  # fmt: skip
    write_export(state, config, out_dir)
    return folder


def export_folder(checkpoint: str | Path | None) -> Path:
    """The export folder named by ``checkpoint`` (the folder or its model.safetensors); every file must be there."""
    if checkpoint is None:
        raise MptError("give the model: checkpoint=<export folder of mpt-pretrain / mpt-finetune / mpt-export>")
    path = Path(checkpoint)
    folder = path.parent if path.name == "model.safetensors" else path
    step = training_checkpoint_folder(folder) if folder.is_dir() else None
    if step is not None:
        raise MptError(f"{path} is a training checkpoint ({step}), not an export; turn it into one with "
                       f"mpt-export checkpoint={step} out=<export folder> onnx=false, then give that folder")  # fmt: skip
    if not folder.is_dir():
        raise MptError(f"checkpoint {path} does not exist or is not a folder; {_EXPORT_HELP}")
    for name in EXPORT_FILES[:2]:
        if not (folder / name).is_file():
            raise MptError(f"{folder / name} not found: {_EXPORT_HELP}")
    if not (folder / "model.sha256").is_file():
        raise MptError(f"{folder / 'model.sha256'} not found: every export records the sha256 of its weights and mpt "
                       "loads none without it; copy the whole export folder, or re-export from the run's "
                       "checkpoint")  # fmt: skip
    return folder


def _read_export_config(path: Path) -> DictConfig:
    """The resolved training config saved with an export (it names the architecture of the model)."""
    try:
        cfg = OmegaConf.load(path)
    except (OSError, ValueError, OmegaConfBaseException) as exc:  # yaml errors derive from ValueError
        raise MptError(f"{path} is not a readable YAML config ({exc}); export the model again") from None
    if not isinstance(cfg, DictConfig) or any(k not in cfg for k in ("model", "input", "backbone")):
        raise MptError(f"{path} lacks the model / input / backbone nodes of an mpt config; export the model again")
    return cfg


def load_exported(path: str | Path | None) -> Export:
    """Read an export folder (or its ``model.safetensors``): weights checked against the recorded sha256, config
    checked for the nodes that name the architecture. Every caller reads an export through here, once."""
    from safetensors.torch import load_file

    folder = export_folder(path)
    weights, digest = folder / "model.safetensors", folder / "model.sha256"
    recorded = digest.read_text().split()
    want = recorded[0] if recorded else ""
    got = sha256_of(weights)
    if got != want:
        raise MptError(f"{weights}: sha256 {got} does not match {digest} ({want}); the file is truncated or "
                       "was changed; copy it again")  # fmt: skip
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise MptError(f"{weights}: not a readable safetensors file ({exc})") from exc
    return Export(folder, state, _read_export_config(folder / "config.yaml"), got)
