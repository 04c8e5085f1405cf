"""Any training checkpoint becomes an export (``mpt-export checkpoint=<run>/checkpoints/step<N> onnx=false``), and
fine-tuning starts from it (``train.init_from``): the paper's hand-off from step N of a pre-training, not only from
its end."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from mpt.config import compose_config
from mpt.errors import MptError
from tests.helpers import weights_at_training_start


@pytest.mark.slow
def test_fine_tuning_starts_from_an_intermediate_pretraining_checkpoint(
        demo_assets, demo_cache, demo_tsv, shared_cache_dir, tmp_path, monkeypatch):  # fmt: skip
    import mpt.engine.finetune as finetune_module
    from mpt.engine.checkpoint import load_exported
    from mpt.engine.pretrain import pretrain
    from mpt.export import export

    pre = tmp_path / "pre"
    pretrain(compose_config("pretrain", [
        "model=tiny", "input=heatmap56", "cameras=h36m4", "train.micro_batch=2", "train.max_steps=2",
        "train.ckpt_every=1", "train.lr=1e-3", "train.val_every=100", "train.max_val_samples=4", "device=cpu",
        f"paths.data_root={demo_assets.root}", f"paths.motion_cache={demo_cache}", f"paths.cache={shared_cache_dir}",
        f"paths.output_dir={pre}"]))  # fmt: skip
    step1 = pre / "checkpoints" / "step00000001"
    with pytest.raises(MptError, match="is a training checkpoint .* mpt-export checkpoint="):  # not read as an export
        load_exported(step1)

    out = tmp_path / "step1_export"
    export(compose_config("export", [f"checkpoint={step1}", f"out={out}", "onnx=false"]))
    exported = load_exported(out)  # sha256 recorded and checked, config with the architecture
    raw = torch.load(step1 / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False)["module"]
    assert exported.state.keys() == raw.keys()
    assert all(torch.equal(exported.state[k], v.float()) for k, v in raw.items())
    final = load_file(pre / "model.safetensors")  # step 2: the weights moved after step 1
    assert any(not torch.equal(final[k], v) for k, v in exported.state.items())
    assert exported.config.train.max_steps == 2 and exported.config.model.name == "tiny"

    started = weights_at_training_start(monkeypatch)
    finetune_module.finetune(compose_config("finetune", [
        "model=tiny", "input=heatmap56", "backbone=simplebaseline_r18", "backbone.deconv_filters=16",  # small, cheap
        "backbone.weights=random", "data=demo_mixed",
        "train.micro_batch=2", "train.max_steps=1", "train.val_every=100", "train.max_val_samples=2", "device=cpu",
        f"train.init_from={out}", f"paths.data_root={demo_assets.root}", f"paths.tsv={demo_tsv}",
        f"paths.cache={shared_cache_dir}", f"paths.output_dir={tmp_path / 'ft'}"]))  # fmt: skip
    assert {k for k in started if not k.startswith("backbone.")} == set(exported.state)
    for key, value in exported.state.items():
        assert torch.equal(started[key], value), key


def test_export_refuses_what_is_not_a_training_checkpoint(tmp_path):
    from mpt.engine.checkpoint import export_training_checkpoint
    from mpt.export import export

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(MptError, match="is not a training checkpoint: give <run>/checkpoints/step<N>"):
        export_training_checkpoint(tmp_path / "run", tmp_path / "out")
    with pytest.raises(MptError, match="onnx=false writes an export from a training checkpoint"):
        export(compose_config("export", [f"checkpoint={tmp_path / 'run'}", f"out={tmp_path / 'out'}", "onnx=false"]))
