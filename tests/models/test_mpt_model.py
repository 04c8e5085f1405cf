"""Composed MPT model in both modes, weak perspective vs hand numbers, camera head, parameter table."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mpt.models.camera_head import CameraHead, weak_perspective_project
from mpt.models.heatmap_encoder import HeatmapEncoder
from mpt.models.mpt import MPTModel
from mpt.models.summary import parameter_table
from mpt.models.transformer import MeshTransformer
from mpt.models.upsampler import MeshUpsampler


class FakeBackbone(nn.Module):
    """Tiny stand-in for a pose net: a conv to 17 maps at 1/4 resolution, resized to out_size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 17, kernel_size=4, stride=4)

    def heatmaps(self, x: Tensor, out_size: int) -> Tensor:
        return F.interpolate(self.conv(x), size=(out_size, out_size), mode="bilinear", align_corners=False)


class BatchNormBackbone(FakeBackbone):
    """FakeBackbone with a BatchNorm after its conv, like the real pose networks."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(17)

    def heatmaps(self, x: Tensor, out_size: int) -> Tensor:
        return F.interpolate(self.bn(self.conv(x)), size=(out_size, out_size), mode="bilinear", align_corners=False)


def build(backbone: nn.Module | None = None, in_channels: int = 17, size: int = 56, grid: int = 7,
          freeze: bool = False) -> MPTModel:  # fmt: skip
    torch.manual_seed(0)
    encoder = HeatmapEncoder(in_channels=in_channels, in_size=size, stage_channels=(16, 16, 32),
                             blocks_per_stage=(1, 1, 1), stem_channels=16, feature_dim=24, grid_size=grid)
    transformer = MeshTransformer(feature_dim=24, hidden_dims=(32, 16, 8), out_dims=(16, 8, 3),
                                  num_layers=(1, 1, 1), num_heads=(2, 2, 2), num_grid_tokens=encoder.num_grid_tokens,
                                  grid_dim=encoder.grid_dim)
    return MPTModel(encoder, transformer, MeshUpsampler(), CameraHead(), torch.randn(14, 3), torch.randn(431, 3),
                    backbone=backbone, heatmap_size=size, freeze_backbone=freeze)


SHAPES = {"joints": (2, 14, 3), "vertices_coarse": (2, 431, 3), "vertices_mid": (2, 1723, 3),
          "vertices": (2, 6890, 3), "camera": (2, 3), "joints_2d": (2, 14, 2)}


def test_weak_perspective_by_hand() -> None:
    points = torch.tensor([[[1.0, 2.0, 5.0], [-0.5, 0.25, 1.0]]])
    camera = torch.tensor([[2.0, 0.1, -0.2]])
    # x2d = s * (X[:2] + t): 2 * (1.1, 1.8) = (2.2, 3.6); 2 * (-0.4, 0.05) = (-0.8, 0.1)
    expected = torch.tensor([[[2.2, 3.6], [-0.8, 0.1]]])
    torch.testing.assert_close(weak_perspective_project(points, camera), expected)
    with pytest.raises(ValueError, match="camera"):
        weak_perspective_project(points, torch.zeros(1, 2))


def test_camera_head_is_metro_linear_chain() -> None:
    head = CameraHead(num_tokens=5, hidden=4)
    coords = torch.randn(2, 5, 3)
    # by hand: per-token 3->1, then tokens->hidden->3, no activations
    z = coords @ head.per_token.weight.T + head.per_token.bias  # (2, 5, 1)
    z = z[..., 0] @ head.fc1.weight.T + head.fc1.bias
    torch.testing.assert_close(head(coords), z @ head.fc2.weight.T + head.fc2.bias)


def test_pretraining_mode_with_heatmaps() -> None:
    model = build().train()
    torch.manual_seed(5)
    out = model(torch.rand(8, 17, 56, 56))
    assert {k: tuple(out[k].shape) for k in SHAPES} == {k: (8, *v[1:]) for k, v in SHAPES.items()}
    # METRO: each sample masks int(u * 0.3 * 445) queries, u ~ U[0, 1): 0 to 133, 66.3 on average. Under this seed
    # every sample masks some (a model that stopped masking returns an all-False mask and fails here).
    counts = out["mvm_mask"].sum(1)
    assert out["mvm_mask"].shape == (8, 445) and counts.max() <= 133 and counts.min() > 0, counts.tolist()
    assert 30 < counts.float().mean() < 100  # 8 samples: 66.3 +- 13.6 (one standard deviation)
    torch.testing.assert_close(out["joints_2d"], out["camera"][:, None, :1] * (out["joints"][..., :2]
                                                                               + out["camera"][:, None, 1:]))
    model.eval()
    with torch.no_grad():
        assert "mvm_mask" not in model(torch.rand(2, 17, 56, 56))


def test_camera_from_the_vertex_tokens_only_as_metro() -> None:
    torch.manual_seed(1)
    encoder = HeatmapEncoder(in_channels=17, in_size=56, stage_channels=(16, 16, 32), blocks_per_stage=(1, 1, 1),
                             stem_channels=16, feature_dim=24, grid_size=0)
    transformer = MeshTransformer(feature_dim=24, hidden_dims=(32, 16, 8), out_dims=(16, 8, 3),
                                  num_layers=(1, 1, 1), num_heads=(2, 2, 2))
    model = MPTModel(encoder, transformer, MeshUpsampler(), CameraHead(num_tokens=431), torch.randn(14, 3),
                     torch.randn(431, 3), heatmap_size=56, camera_tokens="vertices").eval()
    with torch.no_grad():
        out = model(torch.rand(2, 17, 56, 56))
        coords = torch.cat([out["joints"], out["vertices_coarse"]], dim=1)
        torch.testing.assert_close(out["camera"], model.camera_head(coords[:, 14:]))
    with pytest.raises(ValueError, match="camera head"):
        MPTModel(encoder, transformer, MeshUpsampler(), CameraHead(num_tokens=445), torch.randn(14, 3),
                 torch.randn(431, 3), camera_tokens="vertices")


def test_mask_input_and_every_parameter_is_live() -> None:
    model = build(in_channels=1, grid=0).train()
    out = model((torch.rand(2, 1, 56, 56) > 0.7).float())
    sum(v.float().square().mean() for k, v in out.items() if k != "mvm_mask").backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None]
    assert dead == []
    model.zero_grad(set_to_none=True)
    table = dict(parameter_table(model, torch.rand(2, 1, 56, 56)))
    assert table == dict(parameter_table(model))  # every parameter is reached
    assert table["total"] == sum(p.numel() for p in model.parameters())
    assert set(table) == {"encoder", "transformer", "upsampler", "camera_head", "total"}


def test_finetuning_mode_with_fake_backbone() -> None:
    model = build(backbone=FakeBackbone(), size=56).train()
    out = model(torch.rand(2, 3, 224, 224))
    assert {k: tuple(out[k].shape) for k in SHAPES} == SHAPES
    assert out["heatmaps"].shape == (2, 17, 56, 56)
    out["vertices"].sum().backward()
    assert model.backbone.conv.weight.grad is not None  # the backbone is trained end to end
    assert {"template_joints", "template_coarse"} <= set(model.state_dict())


@pytest.mark.parametrize("freeze", [False, True])
def test_a_frozen_backbone_stays_frozen_through_train(freeze: bool) -> None:
    """train() (which every training loop calls) must not put a frozen backbone's BatchNorm back into training:
    its weights and running statistics stay bit-identical and it gets no gradient. Unfrozen, both change."""
    model = build(backbone=BatchNormBackbone(), freeze=freeze)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.eval().train()
    assert model.training and model.encoder.training and model.transformer.training
    assert all(m.training != freeze for m in model.backbone.modules())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        out = model(torch.rand(2, 3, 224, 224))
        (out["vertices"].square().mean() + out["heatmaps"].mean()).backward()
        opt.step()
    changed = [k for k, v in model.backbone.state_dict().items() if not torch.equal(v, before[k])]
    if freeze:
        assert changed == []
        assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
        assert all(p.grad is not None for p in model.encoder.parameters())  # the rest still trains
    else:  # the same steps without freezing move the weights and the statistics: the check above can fail
        assert {"conv.weight", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"} <= set(changed)
    model.eval()
    assert not any(m.training for m in model.modules())


def test_parameter_table_drops_dead_and_shared_weights() -> None:
    class Toy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.b = nn.Linear(4, 2)
            self.b_alias = self.b  # the same module again: listed and counted once
            self.unused = nn.Linear(100, 100)

        def forward(self, x: Tensor) -> Tensor:
            return self.b(self.a(x))

    toy = Toy()
    assert parameter_table(toy)[-1] == ("total", 16 + 10 + 10100)
    assert parameter_table(toy, torch.randn(2, 3)) == [("a", 16), ("b", 10), ("unused", 0), ("total", 26)]
    assert all(p.grad is None for p in toy.parameters())  # grads restored


def test_bad_inputs_raise() -> None:
    model = build()
    with pytest.raises(ValueError, match="heatmaps/masks of shape"):
        model(torch.rand(2, 3, 56, 56))
    bad = torch.rand(2, 17, 56, 56)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(bad)
    with pytest.raises(ValueError, match="template_coarse"):
        MPTModel(model.encoder, model.transformer, model.upsampler, model.camera_head, torch.randn(14, 3),
                 torch.randn(430, 3))
    with pytest.raises(TypeError, match="heatmaps"):
        MPTModel(model.encoder, model.transformer, model.upsampler, model.camera_head, torch.randn(14, 3),
                 torch.randn(431, 3), backbone=nn.Identity())
