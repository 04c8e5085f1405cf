"""The training loop with a stand-in task: NaN/inf guarding keeps the last good checkpoint; checkpoint pointers."""

from __future__ import annotations

import pytest
import torch

from mpt.config import compose_config
from mpt.engine.checkpoint import latest_tag
from mpt.engine.distributed import setup_distributed
from mpt.engine.trainer import train
from mpt.errors import MptError
from tests.helpers import LinearTask


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = compose_config("pretrain", ["train.micro_batch=2", "train.max_steps=10", "train.ckpt_every=2",
                                      "train.val_every=100", f"paths.output_dir={tmp_path}", "device=cpu"])  # fmt: skip
    dist = setup_distributed("cpu")
    model = torch.nn.Linear(3, 1)
    with pytest.raises(MptError, match=r"non-finite loss at step 5.*last good checkpoint is .*step00000004"):
        train(cfg, dist, model, LinearTask(nan_from=5))
    assert latest_tag(tmp_path / "checkpoints") == "step00000004"
    state = torch.load(tmp_path / "checkpoints" / "step00000004" / "mp_rank_00_model_states.pt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in state["module"].values())
    assert state["step"] == 4  # our client state rides along
    assert not (tmp_path / "model.safetensors").exists()


def test_latest_pointing_at_a_missing_checkpoint_is_explained(tmp_path):
    (tmp_path / "latest").write_text("step00000007\n")
    with pytest.raises(MptError, match="names checkpoint 'step00000007', which is missing"):
        latest_tag(tmp_path)
