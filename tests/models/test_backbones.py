"""Tests of the 2D pose backbones against published numbers, official key layouts and hand-made references."""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mpt.models.backbones import (
    BACKBONES,
    HigherHRNet,
    PoseResNet,
    build_backbone,
    count_parameters,
    load_pose_weights,
)

J = 17
COCO_SWAP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]  # COCO left/right pairs, written out here


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """He-scaled conv weights, BN scales near 0.5 and small biases: O(1) maps, so comparisons are not met trivially."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + 0.1 * torch.randn(m.weight.shape, generator=gen))
            if getattr(m, "bias", None) is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
    return model.eval()


@pytest.fixture(scope="module")
def w32() -> HigherHRNet:
    return _randomise(HigherHRNet(width=32))


@pytest.fixture(scope="module")
def w48() -> HigherHRNet:
    return HigherHRNet(width=48).eval()


@pytest.fixture(scope="module")
def r101() -> PoseResNet:
    return _randomise(PoseResNet(num_layers=101))


@pytest.fixture(scope="module")
def tiny() -> HigherHRNet:
    """A width-8 HigherHRNet: the official layout at a size that keeps file I/O tests fast."""
    return _randomise(HigherHRNet(width=8))


# ---------------------------------------------------------------- shapes


def test_higherhrnet_output_shapes(w32: HigherHRNet, w48: HigherHRNet) -> None:
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        for model in (w32, w48):
            y0, y1 = model(x)
            assert y0.shape == (1, 2 * J, 16, 24)
            assert y1.shape == (1, J, 32, 48)


def test_higherhrnet_single_tag_map() -> None:
    model = HigherHRNet(width=8, tag_per_joint=False).eval()
    with torch.no_grad():
        y0, y1 = model(torch.randn(1, 3, 64, 64))
    assert y0.shape == (1, J + 1, 16, 16) and y1.shape == (1, J, 32, 32)
    # the deconv sees the 1/4 features concatenated with those 18 maps
    assert model.deconv_layers[0][0][0].weight.shape == (8 + J + 1, 8, 4, 4)


def test_poseresnet_output_shape(r101: PoseResNet) -> None:
    with torch.no_grad():
        y = r101(torch.randn(2, 3, 64, 96))
    assert y.shape == (2, J, 16, 24)
    assert y.std() > 1e-2


@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (3, 64, 64), (1, 3, 60, 64)])
def test_bad_image_batches_are_rejected(tiny: HigherHRNet, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="HigherHRNet"):
        tiny(torch.randn(shape))


def test_poseresnet_rejects_integer_images() -> None:
    with pytest.raises(ValueError, match="floating-point"):
        PoseResNet(num_layers=18)(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


# ---------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    ("fixture", "published"),
    # HigherHRNet README table (28.6M / 63.8M); deep-high-resolution-net.pytorch README (pose_resnet_101 53.0M)
    [("w32", 28.6e6), ("w48", 63.8e6), ("r101", 53.0e6)],
)
def test_parameter_counts_match_published(fixture: str, published: float, request: pytest.FixtureRequest) -> None:
    n = count_parameters(request.getfixturevalue(fixture))
    assert abs(n - published) / published < 0.01, n


def test_poseresnet_count_by_hand(r101: PoseResNet) -> None:
    """torchvision ResNet-101 minus its fc layer, plus the head counted by hand."""
    trunk = 44_549_160 - (2048 * 1000 + 1000)  # torchvision resnet101 docs: 44.5M params incl. fc 2048->1000
    deconv = 2048 * 256 * 16 + 2 * 256 * 256 * 16  # three 4x4 transposed convs, no bias
    bn = 3 * 2 * 256
    final = 256 * J + J
    assert count_parameters(r101) == trunk + deconv + bn + final
    assert count_parameters(r101, trainable_only=True) == count_parameters(r101)


def test_resnet18_with_a_narrow_head_count_by_hand() -> None:
    """ResNet-18 trunk (torchvision resnet18: 11,689,512 parameters incl. its 512 -> 1000 fc) + a 128-filter head."""
    model = build_backbone("simplebaseline_r18", deconv_filters=128)
    trunk = 11_689_512 - (512 * 1000 + 1000)
    head = 512 * 128 * 16 + 2 * 128 * 128 * 16 + 3 * 2 * 128 + 128 * J + J
    assert count_parameters(model) == trunk + head
    assert model.final_layer.in_channels == 128 and tuple(model(torch.zeros(1, 3, 64, 96)).shape) == (1, J, 16, 24)
    assert count_parameters(build_backbone("simplebaseline_r18")) == trunk + 512 * 256 * 16 + 2 * 256 * 256 * 16 + (
        3 * 2 * 256 + 256 * J + J)  # the official 256 filters by default
    with pytest.raises(ValueError, match="deconv_filters"):
        PoseResNet(num_layers=18, deconv_filters=0)


# ---------------------------------------------------------------- official key names


W32_KEYS = {
    "conv1.weight": (64, 3, 3, 3),
    "bn2.running_var": (64,),
    "layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "layer1.3.conv3.weight": (256, 64, 1, 1),
    "transition1.0.0.weight": (32, 256, 3, 3),
    "transition1.1.0.0.weight": (64, 256, 3, 3),
    "transition3.3.0.0.weight": (256, 128, 3, 3),
    "stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
    "stage3.3.fuse_layers.0.2.0.weight": (32, 128, 1, 1),
    "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
    "stage4.0.fuse_layers.3.0.2.0.weight": (256, 32, 3, 3),
    "stage4.2.fuse_layers.0.3.1.running_mean": (32,),
    "final_layers.0.weight": (34, 32, 1, 1),
    "final_layers.0.bias": (34,),
    "final_layers.1.weight": (17, 32, 1, 1),
    "deconv_layers.0.0.0.weight": (66, 32, 4, 4),  # ConvTranspose2d weight is (in, out, k, k)
    "deconv_layers.0.0.1.weight": (32,),
    "deconv_layers.0.4.0.conv2.weight": (32, 32, 3, 3),
}


def test_higherhrnet_w32_official_keys(w32: HigherHRNet) -> None:
    sd = w32.state_dict()
    for key, shape in W32_KEYS.items():
        assert tuple(sd[key].shape) == shape, key
    # the last stage-4 module fuses into the highest-resolution branch only
    assert not any(k.startswith("stage4.2.fuse_layers.1.") for k in sd)
    assert any(k.startswith("stage4.1.fuse_layers.3.") for k in sd)
    # 1810 entries, as listed by the official PoseHigherResolutionNet built from w32_512_adam_lr1e-3.yaml
    assert len(sd) == 1810
    assert isinstance(w32.deconv_layers[0][0][0], nn.ConvTranspose2d)


def test_higherhrnet_w48_official_keys(w48: HigherHRNet) -> None:
    sd = w48.state_dict()
    assert sd["final_layers.0.weight"].shape == (34, 48, 1, 1)
    assert sd["deconv_layers.0.0.0.weight"].shape == (48 + 34, 48, 4, 4)
    assert sd["stage4.0.branches.3.0.conv1.weight"].shape == (384, 384, 3, 3)
    assert sd["transition2.2.0.0.weight"].shape == (192, 96, 3, 3)


def test_poseresnet_official_keys(r101: PoseResNet) -> None:
    sd = r101.state_dict()
    expected = {
        "conv1.weight": (64, 3, 7, 7),
        "layer3.22.conv3.weight": (1024, 256, 1, 1),
        "layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
        "deconv_layers.0.weight": (2048, 256, 4, 4),
        "deconv_layers.1.running_var": (256,),
        "deconv_layers.6.weight": (256, 256, 4, 4),
        "deconv_layers.7.bias": (256,),
        "final_layer.weight": (17, 256, 1, 1),
        "final_layer.bias": (17,),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith(("fc.", "avgpool")) for k in sd)
    assert "deconv_layers.0.bias" not in sd


# ---------------------------------------------------------------- checkpoint loading


def _official_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_load_official_w32_layout(w32: HigherHRNet, tmp_path: Path) -> None:
    state = _official_state(w32)
    raw = tmp_path / "pose_higher_hrnet_w32_512.pth"
    torch.save(state, raw)
    fresh = build_backbone("higherhrnet_w32", weights=raw)
    for key in ("conv1.weight", "stage4.2.fuse_layers.0.3.0.weight", "deconv_layers.0.0.0.weight"):
        assert torch.equal(fresh.state_dict()[key], state[key])


def test_load_wrapped_and_prefixed_checkpoint(tiny: HigherHRNet, tmp_path: Path) -> None:
    state = _official_state(tiny)
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 300}, wrapped)
    fresh = HigherHRNet(width=8)
    load_pose_weights(fresh, wrapped)
    loaded = fresh.state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_checkpoint_without_batch_counters_loads(tiny: HigherHRNet, tmp_path: Path) -> None:
    state = {k: v for k, v in _official_state(tiny).items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    fresh = HigherHRNet(width=8)
    load_pose_weights(fresh, path)
    assert torch.equal(fresh.final_layers[0].weight, tiny.final_layers[0].weight)


def test_renamed_key_is_named(tiny: HigherHRNet, tmp_path: Path) -> None:
    state = _official_state(tiny)
    state["final_layer.weight"] = state.pop("final_layers.1.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as err:
        load_pose_weights(HigherHRNet(width=8), path)
    message = str(err.value)
    assert "final_layers.1.weight" in message and "final_layer.weight" in message and str(path) in message


def test_wrong_width_reports_shapes(tiny: HigherHRNet, tmp_path: Path) -> None:
    path = tmp_path / "w8.pth"
    torch.save(_official_state(tiny), path)
    first = "transition1.0.0.weight (8, 256, 3, 3) vs model (16, 256, 3, 3)"  # first key whose width differs
    with pytest.raises(ValueError, match="wrong shapes: " + re.escape(first)):
        load_pose_weights(HigherHRNet(width=16), path)


def test_truncated_file_is_reported(tiny: HigherHRNet, tmp_path: Path) -> None:
    full = tmp_path / "full.pth"
    torch.save(_official_state(tiny), full)
    cut = tmp_path / "cut.pth"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="could not be read") as err:
        load_pose_weights(HigherHRNet(width=8), cut)
    assert str(cut) in str(err.value)


def test_missing_file_and_bad_contents(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_pose_weights(HigherHRNet(width=8), tmp_path / "nowhere.pth")
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(ValueError, match="not a non-empty state dict"):
        load_pose_weights(HigherHRNet(width=8), listing)


def test_nan_weights_are_rejected(tiny: HigherHRNet, tmp_path: Path) -> None:
    state = _official_state(tiny)
    state["layer1.0.conv2.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"NaN/inf values in layer1\.0\.conv2\.weight"):
        load_pose_weights(HigherHRNet(width=8), path)


# ---------------------------------------------------------------- heatmaps at the MPT resolution


def test_higherhrnet_heatmaps_match_official_aggregation(w32: HigherHRNet) -> None:
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y0, y1 = w32(x)  # (1, 34, 56, 56), (1, 17, 112, 112)
        maps = w32.heatmaps(x, 224)
    assert y0.shape == (1, 34, 56, 56) and y1.shape == (1, J, 112, 112)
    # lib/core/inference.py: 1/4 heatmaps -> 1/2 size, average, then project to the requested size
    up = F.interpolate(y0[:, :J], size=(112, 112), mode="bilinear", align_corners=False)
    ref = F.interpolate((up + y1) / 2, size=(224, 224), mode="bilinear", align_corners=False)
    assert maps.shape == (1, J, 224, 224)
    assert maps.abs().max() > 0.1
    torch.testing.assert_close(maps, ref, rtol=1e-5, atol=1e-6)
    # the 1/4-resolution head contributes: the maps are not just the 1/2-resolution ones resized
    assert not torch.allclose(maps, F.interpolate(y1, size=(224, 224), mode="bilinear", align_corners=False))


@pytest.mark.parametrize("size", [112, 56])
def test_higherhrnet_heatmaps_other_sizes(tiny: HigherHRNet, size: int) -> None:
    with torch.no_grad():
        assert tiny.heatmaps(torch.randn(2, 3, 64, 64), size).shape == (2, J, size, size)


def test_flip_test_is_mirror_symmetric(tiny: HigherHRNet) -> None:
    """Flip-test maps of a mirrored image are the mirrored, left/right-swapped maps of the image."""
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    xf = torch.flip(x, dims=[3])
    with torch.no_grad():
        a = tiny.heatmaps(x, 64, flip=True)
        b = tiny.heatmaps(xf, 64, flip=True)
        plain_a, plain_b = tiny.heatmaps(x, 64), tiny.heatmaps(xf, 64)
    torch.testing.assert_close(b, torch.flip(a, dims=[3])[:, COCO_SWAP], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(plain_b, torch.flip(plain_a, dims=[3])[:, COCO_SWAP], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(a, (plain_a + torch.flip(plain_b, dims=[3])[:, COCO_SWAP]) / 2, rtol=1e-4, atol=1e-5)


def test_poseresnet_heatmaps_resize_like_cv2(r101: PoseResNet) -> None:
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        low = r101(x)[0].numpy()  # (17, 16, 16)
        maps = r101.heatmaps(x, 224)[0].numpy()
    # cv2's INTER_LINEAR uses the same half-pixel-centre sampling as align_corners=False
    ref = np.stack([cv2.resize(m, (224, 224), interpolation=cv2.INTER_LINEAR) for m in low])
    np.testing.assert_allclose(maps, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_heatmaps_reject_bad_size(tiny: HigherHRNet) -> None:
    with pytest.raises(ValueError, match="out_size"):
        tiny.heatmaps(torch.randn(1, 3, 64, 64), 0)


# ---------------------------------------------------------------- factory


def test_build_backbone_names() -> None:
    assert set(BACKBONES) == {"higherhrnet_w32", "higherhrnet_w48", "simplebaseline_r101", "simplebaseline_r18"}
    model = build_backbone("higherhrnet_w32", num_joints=14)
    assert isinstance(model, HigherHRNet) and model.width == 32
    assert model.final_layers[1].out_channels == 14
    with pytest.raises(ValueError, match="higherhrnet_w48"):
        build_backbone("hrnet_w64")
