"""mpt-finetune given pose-network weights that are cut short or belong to another network: one message naming the
file (and what does not fit), exit code 2, no traceback, the path real COCO weights take (backbone.weights)."""

from __future__ import annotations

import pytest
import torch

from mpt.models.backbones import build_backbone
from tests.helpers import assert_clear_error, run_cli


@pytest.mark.parametrize("damage", ["truncated", "wrong_network"])
def test_finetune_names_unusable_pose_weights(damage, demo_assets, demo_tsv, shared_cache_dir, tmp_path):
    weights = tmp_path / "simplebaseline_r18_demo.pth"
    if damage == "truncated":  # a copy that stopped early
        torch.save(build_backbone("simplebaseline_r18", deconv_filters=128).state_dict(), weights)
        weights.write_bytes(weights.read_bytes()[:4096])
        needles = ("could not be read", "truncated")
    else:  # the official 256-filter head where demo_pose has 128 filters
        torch.save(build_backbone("simplebaseline_r18").state_dict(), weights)
        needles = ("does not match PoseResNet", "wrong shapes", "deconv_layers.0.weight")
    res = run_cli(["mpt.cli.finetune", "model=tiny", "input=heatmap56", "backbone=demo_pose",
                   f"backbone.weights={weights}", "data=demo_mixed", "train.init_from=null", "train.max_steps=1",
                   "device=cpu", f"paths.data_root={demo_assets.root}", f"paths.tsv={demo_tsv}",
                   f"paths.cache={shared_cache_dir}", f"paths.output_dir={tmp_path}/run"], tmp_path)  # fmt: skip
    assert_clear_error(res, f"pose checkpoint {weights}", *needles)
    assert not (tmp_path / "run" / "model.safetensors").exists()
