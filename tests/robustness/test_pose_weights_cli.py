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


def test_finetune_without_pose_weights_names_the_official_file(demo_assets, demo_tsv, shared_cache_dir, tmp_path):
    """The paper's backbone (HigherHRNet-w48) without backbone.weights: refused before any training, the message
    naming the model zoo's file, where it goes under paths.data_root, and the by-name way to random weights."""
    res = run_cli(["mpt.cli.finetune", "model=tiny", "input=heatmap56", "data=demo_mixed", "train.init_from=null",
                   "train.max_steps=1", "device=cpu", f"paths.data_root={demo_assets.root}", f"paths.tsv={demo_tsv}",
                   f"paths.cache={shared_cache_dir}", f"paths.output_dir={tmp_path}/run"], tmp_path)  # fmt: skip
    assert_clear_error(res, "backbone.weights is not set", "pose_higher_hrnet_w48_640.pth.tar",
                       f"{demo_assets.root}/pose/pose_higher_hrnet_w48_640.pth.tar", "backbone.weights=random")
    assert not any((tmp_path / "run" / name).exists() for name in ("config.yaml", "metrics.jsonl", "checkpoints"))


@pytest.mark.parametrize(("backbone", "official"), [("higherhrnet_w32", "pose_higher_hrnet_w32_512.pth"),
                                                    ("simplebaseline_r101", "pose_resnet_101_256x192.pth.tar"),
                                                    ("simplebaseline_r18", None)])  # fmt: skip
def test_pose_weights_check_per_backbone(backbone, official, tmp_path):
    from mpt.config import compose_config
    from mpt.engine.builders import pose_weights_check
    from mpt.errors import MptError

    cfg = compose_config("finetune", [f"backbone={backbone}", f"paths.data_root={tmp_path}"])
    with pytest.raises(MptError, match="backbone.weights=random") as err:
        pose_weights_check(cfg)()
    if official is not None:
        assert f"{tmp_path}/pose/{official}" in str(err.value)
    else:  # the stand-in has no model-zoo file: the message says so instead of naming one
        assert "has no official COCO checkpoint" in str(err.value)
    for given in ("random", str(tmp_path / "any.pth")):  # asked for by name, or a file (read later, when built)
        pose_weights_check(compose_config("finetune", [f"backbone={backbone}", f"backbone.weights={given}"]))()
    pose_weights_check(compose_config("finetune", ["backbone=none"]))()  # no pose network, nothing to load


def test_random_weights_by_name_load_nothing():
    torch.manual_seed(0)
    a = build_backbone("simplebaseline_r18", weights="random", deconv_filters=8)
    torch.manual_seed(0)
    b = build_backbone("simplebaseline_r18", deconv_filters=8)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_a_fine_tuned_export_to_start_from_brings_its_pose_network(tmp_path):
    """METRO's 3DPW recipe starts from the mixed-set fine-tuning's export, whose pose network is trained: it needs
    no backbone.weights. A pre-training export (no pose-network keys) still does."""
    from safetensors.torch import save_file

    from mpt.config import compose_config
    from mpt.engine.builders import pose_weights_check
    from mpt.errors import MptError

    cfg = compose_config("finetune", ["experiment=finetune_3dpw", f"paths.output_root={tmp_path}"])
    export = tmp_path / "finetune_mpt"
    export.mkdir()
    save_file({"encoder.w": torch.zeros(2)}, str(export / "model.safetensors"))
    with pytest.raises(MptError, match="backbone.weights is not set"):
        pose_weights_check(cfg)()
    save_file({"encoder.w": torch.zeros(2), "backbone.conv1.weight": torch.zeros(2)}, str(export / "model.safetensors"))
    pose_weights_check(cfg)()
