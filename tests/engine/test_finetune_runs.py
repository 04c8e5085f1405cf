"""Fine-tuning runs on the demo data, in this process: the paper's pre-train -> export -> fine-tune hand-off
(``train.init_from``), and a frozen pose network (``backbone.freeze=true``) through training, resume and export."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mpt.config import compose_config
from tests.helpers import weights_at_training_start

FINETUNE = ["model=tiny", "input=heatmap56", "backbone=higherhrnet_w32", "data=demo_mixed", "train.micro_batch=2",
            "train.val_every=100", "train.max_val_samples=2", "train.log_every=1", "train.num_workers=1", "device=cpu"]  # fmt: skip


def _finetune_cfg(demo_assets, demo_tsv, cache: Path, out: Path, *extra: str):
    return compose_config("finetune", [*FINETUNE, f"paths.data_root={demo_assets.root}", f"paths.tsv={demo_tsv}",
                                       f"paths.cache={cache}", f"paths.output_dir={out}", *extra])  # fmt: skip


@pytest.fixture(scope="module")
def pose_weights(tmp_path_factory) -> Path:
    """Stands in for the COCO HigherHRNet-w32 checkpoint: the official format, random values."""
    from mpt.models.backbones import build_backbone

    path = tmp_path_factory.mktemp("pose") / "w32.pth"
    torch.manual_seed(123)
    torch.save(build_backbone("higherhrnet_w32").state_dict(), path)
    return path


@pytest.mark.slow
def test_finetuning_starts_from_the_pretraining_export(demo_assets, demo_cache, demo_tsv, shared_cache_dir,
                                                      pose_weights, tmp_path, monkeypatch):  # fmt: skip
    import mpt.engine.finetune as finetune_module
    from mpt.engine.builders import build_body_model, build_model
    from mpt.engine.pretrain import pretrain

    pre = tmp_path / "pre"
    pretrain(compose_config("pretrain", [
        "model=tiny", "input=heatmap56", "cameras=h36m4", "train.micro_batch=4", "train.max_steps=3",
        "train.lr=1e-3", "train.val_every=100", "train.max_val_samples=4", "device=cpu",
        f"paths.data_root={demo_assets.root}", f"paths.motion_cache={demo_cache}", f"paths.cache={shared_cache_dir}",
        f"paths.output_dir={pre}"]))  # fmt: skip
    exported = load_file(pre / "model.safetensors")

    started = weights_at_training_start(monkeypatch)
    cfg = _finetune_cfg(demo_assets, demo_tsv, shared_cache_dir, tmp_path / "ft", f"train.init_from={pre}",
                        "train.max_steps=1", f"backbone.weights={pose_weights}")  # fmt: skip
    finetune_module.finetune(cfg)
    assert (tmp_path / "ft" / "model.safetensors").is_file()

    assert set(exported) == {k for k in started if not k.startswith("backbone.")}
    for key, value in exported.items():
        assert torch.equal(started[key], value), key
    pose = torch.load(pose_weights, weights_only=True)  # the pose network starts from its own checkpoint
    assert all(torch.equal(started[f"backbone.{k}"], v) for k, v in pose.items())
    # pre-training moved the weights away from the initialisation a fresh fine-tuning model would have
    fresh, _ = build_model(cfg, build_body_model(cfg))
    moved = [k for k, v in fresh.state_dict().items() if k in exported and not torch.equal(v, exported[k])]
    assert len(moved) > len(exported) // 2


@pytest.mark.slow
def test_a_frozen_pose_network_is_bit_identical_after_training_and_resume(demo_assets, demo_tsv, shared_cache_dir,
                                                                          pose_weights, tmp_path):  # fmt: skip
    from mpt.engine.builders import load_image_model
    from mpt.engine.finetune import finetune

    args = ["backbone.freeze=true", f"backbone.weights={pose_weights}", "train.max_steps=3", "train.ckpt_every=2",
            "train.lr=1e-3"]  # fmt: skip
    full = tmp_path / "full"
    finetune(_finetune_cfg(demo_assets, demo_tsv, shared_cache_dir, full, *args))
    pose = torch.load(pose_weights, weights_only=True)
    out = load_file(full / "model.safetensors")
    backbone = {k.removeprefix("backbone."): v for k, v in out.items() if k.startswith("backbone.")}
    assert backbone.keys() == pose.keys()
    changed = [k for k, v in pose.items() if not torch.equal(backbone[k], v)]
    assert changed == []  # weights, BatchNorm running means / variances and batch counts alike
    assert any("running_mean" in k for k in pose)
    # The export loads as an image model (mpt-eval / mpt-infer) with the pose network it was trained behind.
    model, _, _ = load_image_model(compose_config("eval", [f"checkpoint={full}", f"paths.smpl={demo_assets.smpl_dir}",
                                                           f"paths.h36m_regressor={demo_assets.h36m_regressor}",
                                                           f"paths.cache={shared_cache_dir}"]),
                                   torch.device("cpu"))  # fmt: skip
    assert all(torch.equal(v, out[k]) for k, v in model.state_dict().items())

    # The optimizer holds the trainable parameters only: the checkpoint's Adam state has no entry for the frozen ones.
    state = torch.load(full / "checkpoints" / "step00000003" / "mp_rank_00_model_states.pt", weights_only=False)
    names = [n for n, _ in model.named_parameters()]
    trainable = [n for n in names if not n.startswith("backbone.")]
    assert 0 < len(trainable) < len(names)
    assert sum(len(g["params"]) for g in state["optimizer"]["param_groups"]) == len(trainable)
    assert len(state["optimizer"]["state"]) == len(trainable)

    # Resume the frozen run from its step-2 checkpoint: the same weights as the uninterrupted run.
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed)
    (resumed / "model.safetensors").unlink()
    (resumed / "checkpoints" / "latest").write_text("step00000002\n")
    finetune(_finetune_cfg(demo_assets, demo_tsv, shared_cache_dir, resumed, *args, "train.resume=true"))
    again = load_file(resumed / "model.safetensors")
    assert again.keys() == out.keys()
    for key, value in out.items():
        assert torch.equal(again[key], value), key


def test_an_empty_validation_set_is_one_clear_error(demo_assets, demo_tsv, shared_cache_dir, tmp_path):
    from mpt.engine.finetune import finetune
    from mpt.errors import MptError

    empty = tmp_path / "tsv"
    empty.mkdir()
    for kind in ("img", "label"):
        (empty / f"valid_protocol2.{kind}.tsv").write_text("")
    cfg = _finetune_cfg(demo_assets, demo_tsv, shared_cache_dir, tmp_path / "run", f"data.val.tsv={empty}",
                        "backbone.weights=random")  # fmt: skip
    with pytest.raises(MptError, match=re.escape(f"image set 'h36m_p2' ({empty}, split 'valid_protocol2') has no rows")):
        finetune(cfg)
