"""Every model / input / backbone config builds a network with the documented output shapes."""

from __future__ import annotations

import pytest
import torch

from mpt.config import compose_config
from mpt.engine.builders import build_backbone, build_network

CASES = [("tiny", "heatmap"), ("tiny", "heatmap112"), ("tiny", "heatmap56"), ("tiny", "mask"),
         ("mpt", "heatmap56"), ("metro", "heatmap56")]  # fmt: skip


def _expect_shapes(out: dict, b: int) -> None:
    assert out["joints"].shape == (b, 14, 3) and out["joints_2d"].shape == (b, 14, 2)
    assert out["vertices_coarse"].shape == (b, 431, 3) and out["vertices_mid"].shape == (b, 1723, 3)
    assert out["vertices"].shape == (b, 6890, 3) and out["camera"].shape == (b, 3)
    assert all(torch.isfinite(v).all() for v in out.values() if torch.is_floating_point(v))


@pytest.mark.parametrize("model, input_", CASES)
def test_pretraining_network_shapes(model, input_):
    cfg = compose_config("pretrain", [f"model={model}", f"input={input_}"])
    net = build_network(cfg, torch.zeros(14, 3), torch.zeros(431, 3), None, None).eval()
    channels = 1 if cfg.input.kind == "mask" else 17
    with torch.no_grad():
        _expect_shapes(net(torch.rand(2, channels, cfg.input.size, cfg.input.size)), 2)
    hidden = [blk.embed.out_features for blk in net.transformer.blocks]
    assert hidden == list(cfg.model.transformer.hidden)


@pytest.mark.parametrize("backbone", ["higherhrnet_w32", "simplebaseline_r101"])
def test_image_network_shapes(backbone):
    cfg = compose_config("finetune", ["model=tiny", "input=heatmap56", f"backbone={backbone}"])
    net = build_network(cfg, torch.zeros(14, 3), torch.zeros(431, 3), None, build_backbone(cfg)).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 224, 224))
    _expect_shapes(out, 1)
    assert out["heatmaps"].shape == (1, 17, 56, 56)
