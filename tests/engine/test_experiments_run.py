"""Every experiment config of the paper's tables runs a couple of steps on the demo data (tiny model widths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

EXPERIMENTS = Path(__file__).resolve().parents[2] / "configs" / "experiment"
SMALL = ["model=tiny", "train.micro_batch=2", "train.max_steps=2", "train.val_every=2", "train.ckpt_every=2",
         "train.max_val_samples=4", "device=cpu"]  # fmt: skip


def _primary(name: str) -> str:
    text = (EXPERIMENTS / f"{name}.yaml").read_text()
    return text.split("# primary:", 1)[1].split()[0]


def _names(primary: str) -> list[str]:
    return sorted(p.stem for p in EXPERIMENTS.glob("*.yaml") if _primary(p.stem) == primary
                  and not p.stem.startswith("demo_"))  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", _names("pretrain"))
def test_pretrain_experiment_runs(name, demo_assets, demo_cache, shared_cache_dir, tmp_path):
    res = run_cli(["mpt.cli.pretrain", f"experiment={name}", *SMALL, f"paths.data_root={demo_assets.root}",
                   f"paths.motion_cache={demo_cache}", f"paths.cache={shared_cache_dir}",
                   f"paths.output_dir={tmp_path}/run"], tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / "model.safetensors").exists()
    # whatever views train, validation films the held-out motions with the same four S1 cameras
    assert "filmed by the Human3.6M S1 cameras 54138969, 55011271, 58860488, 60457274" in res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", _names("finetune"))
def test_finetune_experiment_runs(name, demo_assets, demo_tsv, shared_cache_dir, tmp_path):
    # The paper's runs start from a pre-training export; here the network starts fresh (init_from=null), which
    # exercises the same configs: backbone, input kind and size, data mixture, schedule. The pose network starts
    # from random weights, asked for by name (no COCO checkpoint can be downloaded here).
    overrides = [x for x in SMALL if x != "model=tiny"] + [
        "model=tiny", "data=demo_mixed", "train.init_from=null", "backbone=higherhrnet_w32", "backbone.weights=random"]
    if name == "finetune_simplebaseline":
        overrides = [o for o in overrides if not o.startswith("backbone=")]
    res = run_cli(["mpt.cli.finetune", f"experiment={name}", *overrides, f"paths.data_root={demo_assets.root}",
                   f"paths.tsv={demo_tsv}", f"paths.cache={shared_cache_dir}", f"paths.output_dir={tmp_path}/run"],
                  tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.slow
def test_eval_experiment_runs_on_a_pretraining_export(demo_assets, demo_cache, demo_tsv, shared_cache_dir, tmp_path):
    """Table 2 protocol: a pre-trained-only model evaluated with a pose network in front."""
    res = run_cli(["mpt.cli.pretrain", *SMALL, "input=heatmap56", f"paths.data_root={demo_assets.root}",
                   f"paths.motion_cache={demo_cache}", f"paths.cache={shared_cache_dir}",
                   f"paths.output_dir={tmp_path}/pre"], tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    import torch

    from mpt.models.backbones import build_backbone

    weights = tmp_path / "w32.pth"  # stands in for the COCO checkpoint: same format, random values
    torch.save(build_backbone("higherhrnet_w32").state_dict(), weights)
    res = run_cli(["mpt.cli.evaluate", "experiment=eval_pretrain_only", f"checkpoint={tmp_path}/pre",
                   "backbone=higherhrnet_w32", f"backbone.weights={weights}", "device=cpu", "vis=2",
                   f"paths.data_root={demo_assets.root}", f"paths.tsv={demo_tsv}", f"paths.cache={shared_cache_dir}",
                   f"paths.output_dir={tmp_path}/eval"], tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "| h36m_p2 |" in res.stdout and (tmp_path / "eval" / "eval.json").exists()
    assert len(list((tmp_path / "eval" / "vis").glob("*.png"))) == 2  # crop | predicted mesh overlay
