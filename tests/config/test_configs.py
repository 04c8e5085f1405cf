"""Every config composes; typed schemas reject unknown keys with the key's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from mpt.config import compose_config
from mpt.config.schema import PretrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRIMARY = {"pretrain": ["model", "backbone", "cameras", "input", "deepspeed"],
           "finetune": ["model", "backbone", "input", "deepspeed"],
           "eval": ["model", "backbone", "input"], "infer": [], "export": []}  # fmt: skip


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@pytest.mark.parametrize("primary", sorted(PRIMARY))
def test_every_group_option_composes(primary):
    base = compose_config(primary)
    OmegaConf.to_container(base, resolve=True)
    for group in PRIMARY[primary]:
        for option in _options(group):
            cfg = compose_config(primary, [f"{group}={option}"])
            OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


def test_experiments_compose():
    for option in _options("experiment"):
        text = (CONFIGS / "experiment" / f"{option}.yaml").read_text()
        primary = text.split("primary:", 1)[1].split()[0] if "primary:" in text else "pretrain"
        OmegaConf.to_container(compose_config(primary, [f"experiment={option}"]), resolve=True)


def test_defaults_follow_the_paper():
    cfg = compose_config("pretrain")
    assert list(cfg.model.transformer.hidden) == [1024, 256, 64]
    assert cfg.model.transformer.layers == 4 and cfg.model.transformer.heads == 4
    assert cfg.train.lr == 2e-4 and cfg.train.warmup_fraction == 0.1
    assert cfg.cameras.num_views == 8 and cfg.input.size == 224 and cfg.backbone.name == "none"
    assert (cfg.train.loss.joints3d, cfg.train.loss.vertices, cfg.train.loss.joints2d) == (1000, 100, 100)
    assert compose_config("finetune").backbone.name == "higherhrnet_w48"


PAPER_PRETRAIN_ROWS = ["pretrain_views1", "pretrain_views2", "pretrain_views4", "pretrain_views8", "pretrain_hm112",
                       "pretrain_mask"]  # fmt: skip


@pytest.mark.parametrize("row", [None, *PAPER_PRETRAIN_ROWS])
def test_paper_rows_film_bodies_as_they_are_and_mask_as_metro(row):
    cfg = compose_config("pretrain", [] if row is None else [f"experiment={row}"])
    assert cfg.input.random_heading is False  # the supplement's virtual cameras film AMASS bodies as they are
    assert cfg.input.crop_scale == 1.0  # METRO's Human3.6M framing (GraphCMR h36m.py boxes)
    t = cfg.model.transformer
    assert (t.mvm_ratio, t.mvm_count, t.mvm_groups, t.mvm_token) == (0.3, "up_to", "separate", "constant")
    assert list(cfg.cameras.val_indices) == [0, 1, 2, 3]  # every views row validated on the same cameras
    heading = compose_config("pretrain", ["experiment=pretrain_random_heading"])
    assert heading.input.random_heading is True and heading.cameras.num_views == 8


def test_metro_config_is_metros_paper_setting():
    m = compose_config("pretrain", ["model=metro"]).model
    assert list(m.transformer.hidden) == [1024, 256, 128] and m.transformer.intermediate_size == 3072
    assert m.camera_tokens == "vertices" and m.upsampler_init == "random"
    assert (m.transformer.mvm_count, m.transformer.mvm_groups, m.transformer.mvm_token) == ("up_to", "separate",
                                                                                           "constant")  # fmt: skip
    mpt = compose_config("pretrain").model
    assert mpt.transformer.intermediate_size is None and mpt.camera_tokens == "all"


def test_unknown_keys_are_errors_naming_the_key():
    with pytest.raises(ConfigCompositionException) as err:
        compose_config("pretrain", ["train.lrr=1e-3"])
    assert "lrr" in str(err.value.__cause__ or err.value)
    with pytest.raises(ConfigCompositionException):
        compose_config("pretrain", ["model=metroo"])
    schema = OmegaConf.structured(PretrainConfig)
    with pytest.raises(ConfigKeyError, match="mvm_ratoi"):
        OmegaConf.merge(schema, {"model": {"transformer": {"mvm_ratoi": 0.1}}})
    with pytest.raises(ValidationError):
        OmegaConf.merge(schema, {"train": {"micro_batch": "many"}})


def test_fine_tuning_rows_validate_equally_often():
    """Every fine-tuning row of the paper's tables validates (a full protocol-2 pass, ~27.6k images) at the same
    interval, so no row spends ten times the others' time on validation."""
    rows = [o for o in _options("experiment") if o.startswith("finetune_")]
    paper = {"finetune_mpt", "finetune_hm112", "finetune_mask", "finetune_scratch", "finetune_simplebaseline"}
    assert paper <= set(rows)
    intervals = {row: compose_config("finetune", [f"experiment={row}"]).train.val_every for row in rows}
    assert set(intervals.values()) == {5000}, intervals
