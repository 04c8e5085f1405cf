"""Strict loading of official pose-network checkpoints, with errors that say what is wrong and what to do."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from mpt.errors import MptError

# Keys a checkpoint may wrap its weights in (HRNet repos save raw state dicts; training scripts often wrap them).
_WRAPPER_KEYS = ("state_dict", "model")
_DP_PREFIX = "module."  # added by nn.DataParallel / DistributedDataParallel
_SHOW = 5  # how many offending keys an error lists


class PoseWeightsError(MptError, ValueError):
    """A pose checkpoint is unreadable, malformed, or does not fit the network (the CLIs print the message)."""


class PoseWeightsNotFound(MptError, FileNotFoundError):
    """A pose checkpoint file does not exist."""


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (buffers such as BN running stats are not counted, as in the papers' tables)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _few(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _SHOW else "")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint file into a flat ``{name: tensor}`` dict without a ``module.`` prefix.

    Accepts a raw state dict or one wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``. Raises
    :class:`PoseWeightsNotFound` (a FileNotFoundError) for a missing file and :class:`PoseWeightsError` (a
    ValueError) for an unreadable or malformed one; both are MptErrors, which the CLIs print as one line.
    """
    path = Path(path)
    if not path.is_file():
        raise PoseWeightsNotFound(
            f"pose checkpoint {path} does not exist; download the official weights (see the HigherHRNet / "
            f"deep-high-resolution-net model zoos) and point the backbone weights config at the file"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise PoseWeightsError(
            f"pose checkpoint {path} could not be read ({type(err).__name__}: {err}); the file is truncated, corrupt "
            f"or not a torch state dict: download it again and compare its size / sha256 with the model zoo's"
        ) from err
    for key in _WRAPPER_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise PoseWeightsError(f"pose checkpoint {path} holds a {type(obj).__name__}, not a non-empty state dict")
    not_tensors = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if not_tensors:
        raise PoseWeightsError(f"pose checkpoint {path} has entries that are not named tensors: {_few(not_tensors)}")
    return {k.removeprefix(_DP_PREFIX): v for k, v in obj.items()}


def load_pose_weights(model: nn.Module, path: str | Path) -> None:
    """Load an official checkpoint into ``model`` strictly (every key present, no extra key, same shapes).

    Checkpoints saved before BatchNorm tracked ``num_batches_tracked`` lack those counters; they are the only
    keys allowed to be missing (torch fills them in). Non-finite weights are rejected.
    """
    path = Path(path)
    state = read_state_dict(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        if wrong:
            parts.append(f"wrong shapes: {_few(wrong)}")
        raise PoseWeightsError(
            f"pose checkpoint {path} does not match {type(model).__name__} ({'; '.join(parts)}); check that the "
            f"backbone config matches the file (e.g. higherhrnet_w48 for pose_higher_hrnet_w48_640.pth, "
            f"higherhrnet_w32 for pose_higher_hrnet_w32_512.pth, simplebaseline_r101 for pose_resnet_101_*.pth, "
            f"simplebaseline_r18 with the backbone.deconv_filters it was trained with for the demo's stand-in)"
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise PoseWeightsError(f"pose checkpoint {path} has NaN/inf values in {_few(bad)}; download the file again")
    model.load_state_dict(state, strict=True)
