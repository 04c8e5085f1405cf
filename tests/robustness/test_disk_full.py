"""A full disk (ENOSPC) in the middle of writing a checkpoint or an export.

torch.save / safetensors' save_file are replaced by writers that put part of the file on disk and then fail with
ENOSPC, as a write on a full disk does. A failed checkpoint must leave the previous one as ``latest`` (and a resume
from it must end exactly where an uninterrupted run ends); a failed export must leave no torn model.safetensors."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from safetensors.numpy import load_file

from mpt.engine.checkpoint import export_model, latest_tag, load_exported
from mpt.engine.distributed import setup_distributed
from mpt.engine.trainer import train
from mpt.errors import MptError
from tests.helpers import LinearTask, temp_files, trainer_cfg


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1)


def _enospc(path: str) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", path)


def test_full_disk_while_checkpointing_keeps_the_previous_latest(tmp_path, monkeypatch):
    dist = setup_distributed("cpu")
    train(trainer_cfg(tmp_path / "reference", 6, "train.lr=0.05"), dist, _model(0), LinearTask(batch=4, target=1.0))

    real_save = torch.save
    saves: list[str] = []

    def save_on_a_filling_disk(obj, f, *args, **kwargs):
        saves.append(str(f))
        if len(saves) == 1:
            return real_save(obj, f, *args, **kwargs)
        real_save(obj, f, *args, **kwargs)
        with open(f, "r+b") as fh:  # the disk filled up part-way through this file
            fh.truncate(Path(f).stat().st_size // 3)
        raise _enospc(str(f))

    monkeypatch.setattr(torch, "save", save_on_a_filling_disk)
    run = tmp_path / "run"
    ckpt = run / "checkpoints"
    with pytest.raises(MptError) as info:
        train(trainer_cfg(run, 6, "train.lr=0.05"), dist, _model(0), LinearTask(batch=4, target=1.0))
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == errno.ENOSPC
    assert str(ckpt / "step00000004") in str(info.value) and "No space left on device" in str(info.value)
    assert "still names the previous complete checkpoint" in str(info.value)
    assert latest_tag(ckpt) == "step00000002"
    assert not (run / "model.safetensors").exists()
    with pytest.raises(RuntimeError, match="zip archive"):  # the interrupted checkpoint really is torn
        torch.load(ckpt / "step00000004" / "mp_rank_00_model_states.pt", weights_only=False)
    previous = torch.load(ckpt / "step00000002" / "mp_rank_00_model_states.pt", weights_only=False)
    assert previous["step"] == 2 and all(torch.isfinite(v).all() for v in previous["module"].values())

    # Space freed: resume from step 2 (a differently initialised model proves the weights come from the file).
    monkeypatch.setattr(torch, "save", real_save)
    train(trainer_cfg(run, 6, "train.lr=0.05", resume=True), dist, _model(1), LinearTask(batch=4, target=1.0))
    assert latest_tag(ckpt) == "step00000006"
    a, b = load_file(tmp_path / "reference" / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-7, err_msg=key)
    assert temp_files(run) == []


def test_full_disk_while_exporting_leaves_no_torn_weights(tmp_path, monkeypatch):
    cfg = trainer_cfg(tmp_path, 6, "train.lr=0.05")
    first = _model(0)
    export_model(first, cfg, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    real_save_file = safetensors.torch.save_file

    def save_file_on_a_full_disk(tensors, filename, *args, **kwargs):
        real_save_file(tensors, filename, *args, **kwargs)
        with open(filename, "r+b") as fh:
            fh.truncate(Path(filename).stat().st_size // 2)
        raise _enospc(str(filename))

    monkeypatch.setattr(safetensors.torch, "save_file", save_file_on_a_full_disk)
    with pytest.raises(OSError) as info:
        export_model(_model(1), cfg, tmp_path)  # different weights: a torn or partial write would show
    assert info.value.errno == errno.ENOSPC
    # the previous export is untouched and still passes its sha256 check
    assert (tmp_path / "model.safetensors").read_bytes() == before
    state = load_exported(tmp_path).state
    for key, value in first.state_dict().items():
        assert torch.equal(state[key], value.detach())
    assert temp_files(tmp_path) == []

    # into an empty folder: no model.safetensors at all (nothing that a later load could mistake for an export)
    empty = tmp_path / "fresh"
    with pytest.raises(OSError):
        export_model(_model(1), cfg, empty)
    assert not (empty / "model.safetensors").exists() and temp_files(empty) == []
