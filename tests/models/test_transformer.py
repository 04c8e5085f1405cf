"""Mesh transformer: layer maths vs a float64 numpy reference, factorised input embedding, MVM mask, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import erf, softmax

from mpt.models.transformer import MeshTransformer, TransformerLayer

SMALL = dict(hidden_dims=(32, 16, 8), out_dims=(24, 12, 3), num_layers=(2, 1, 1), num_heads=(4, 2, 2))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _reference_layer(layer: TransformerLayer, x: np.ndarray, norm_first: bool) -> np.ndarray:
    """BERT layer written out: separate Q/K/V slices, softmax(QK^T/sqrt(d))V per head, erf-GELU MLP."""
    d = x.shape[-1]
    h = layer.num_heads
    w_qkv, b_qkv = _np(layer.qkv.weight), _np(layer.qkv.bias)
    ln1 = (_np(layer.norm1.weight), _np(layer.norm1.bias), layer.norm1.eps)
    ln2 = (_np(layer.norm2.weight), _np(layer.norm2.bias), layer.norm2.eps)

    def attention(z: np.ndarray) -> np.ndarray:
        q = z @ w_qkv[:d].T + b_qkv[:d]
        k = z @ w_qkv[d:2 * d].T + b_qkv[d:2 * d]
        v = z @ w_qkv[2 * d:].T + b_qkv[2 * d:]
        heads = []
        for i in range(h):
            sl = slice(i * d // h, (i + 1) * d // h)
            scores = q[..., sl] @ np.swapaxes(k[..., sl], -1, -2) / np.sqrt(d // h)
            heads.append(softmax(scores, axis=-1) @ v[..., sl])
        return np.concatenate(heads, -1) @ _np(layer.proj.weight).T + _np(layer.proj.bias)

    def mlp(z: np.ndarray) -> np.ndarray:
        a = z @ _np(layer.fc1.weight).T + _np(layer.fc1.bias)
        a = 0.5 * a * (1 + erf(a / np.sqrt(2)))
        return a @ _np(layer.fc2.weight).T + _np(layer.fc2.bias)

    if norm_first:
        x = x + attention(_layer_norm(x, *ln1))
        return x + mlp(_layer_norm(x, *ln2))
    x = _layer_norm(x + attention(x), *ln1)
    return _layer_norm(x + mlp(x), *ln2)


@pytest.mark.parametrize("norm_first", [False, True])
def test_layer_matches_explicit_attention(norm_first: bool) -> None:
    torch.manual_seed(0)
    layer = TransformerLayer(16, 4, norm_first=norm_first).eval()
    for p in layer.parameters():  # non-trivial LayerNorm affine too
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 7, 16)
    got = layer(x).detach().numpy()
    np.testing.assert_allclose(got, _reference_layer(layer, x.double().numpy(), norm_first), atol=2e-5)


def test_factorised_first_embedding_equals_linear_on_concatenation() -> None:
    torch.manual_seed(1)
    model = MeshTransformer(feature_dim=10, num_queries=6, **SMALL).train()
    queries, feature = torch.randn(6, 3), torch.randn(2, 10)
    mask = torch.tensor([[True, False, False, True, False, False], [False] * 6])
    emb, res = model._first_block_inputs(queries, feature, mask)
    tokens = np.concatenate([np.broadcast_to(_np(queries), (2, 6, 3)),
                             np.broadcast_to(_np(feature)[:, None], (2, 6, 10))], axis=-1)  # (2, 6, 13)
    tokens[mask.numpy()] = _np(model.mask_token)
    block = model.blocks[0]
    np.testing.assert_allclose(_np(emb), tokens @ _np(block.embed.weight).T + _np(block.embed.bias), atol=1e-5)
    np.testing.assert_allclose(_np(res), tokens @ _np(block.residual.weight).T + _np(block.residual.bias), atol=1e-5)


def test_output_shapes_and_per_sample_queries() -> None:
    model = MeshTransformer(feature_dim=8, **SMALL).eval()
    feature = torch.randn(3, 8)
    shared = model(torch.randn(445, 3), feature)
    assert shared.coords.shape == (3, 445, 3) and shared.mask is None
    per_sample = model(torch.randn(3, 445, 3), feature)
    assert per_sample.coords.shape == (3, 445, 3)


def test_mvm_as_metro_joints_and_vertices_drawn_apart_only_in_training() -> None:
    torch.manual_seed(2)
    model = MeshTransformer(feature_dim=8, mask_ratio=0.3, mask_groups=(14, 431), **SMALL)
    assert "mask_token" not in model.state_dict() and not any(n == "mask_token" for n, _ in model.named_parameters())
    queries, feature = torch.randn(445, 3), torch.randn(4000, 8)
    mask = model.random_mask(4000)
    joints, verts = mask[:, :14].sum(dim=1), mask[:, 14:].sum(dim=1)
    # int(u * 0.3 * 14) in 0..4 and int(u * 0.3 * 431) in 0..129, with independent u per group
    assert joints.max() == 4 and verts.max() == 129 and joints.min() == 0
    assert abs(float(torch.corrcoef(torch.stack([joints.float(), verts.float()]))[0, 1])) < 0.05
    out = model.train()(queries, feature[:4])
    assert out.mask.dtype == torch.bool and out.mask.shape == (4, 445)
    assert model.eval()(queries, feature[:4]).mask is None  # nothing is masked at evaluation
    unmasked = MeshTransformer(feature_dim=8, mask_ratio=0.0, **SMALL).train()
    assert unmasked.mask_token is None and unmasked(queries, feature[:2]).mask is None


def test_masked_inputs_become_metros_constant_or_a_learned_token() -> None:
    torch.manual_seed(4)
    queries, feature = torch.randn(445, 3), torch.randn(2, 8)
    mask = torch.zeros(2, 445, dtype=torch.bool)
    mask[0, [0, 20, 300]] = True
    learned_value = torch.linspace(-1.0, 1.0, 11)  # a learned token that has moved away from 0.01
    for token in ("constant", "learned"):
        model = MeshTransformer(feature_dim=8, mask_token=token, **SMALL).train()
        assert torch.equal(model.mask_token, torch.full((11,), 0.01))  # both start at METRO's constant
        block = model.blocks[0]
        full = torch.cat([queries.expand(2, -1, -1), feature[:, None].expand(-1, 445, -1)], dim=-1)  # (2, 445, 11)
        if token == "learned":
            with torch.no_grad():
                model.mask_token.copy_(learned_value)
            full[mask] = learned_value  # the learned path uses the token's current value
        else:
            full[mask] = 0.01  # METRO: masked inputs replaced by the constant 0.01 in every channel
        embedded, residual = model._first_block_inputs(queries, feature, mask)
        torch.testing.assert_close(embedded, block.embed(full))
        torch.testing.assert_close(residual, block.residual(full))
        assert ("mask_token" in dict(model.named_parameters())) == (token == "learned")
    exact = MeshTransformer(feature_dim=8, mask_count="exact", mask_token="learned", **SMALL)
    assert exact.random_mask(5).sum(dim=1).tolist() == [134] * 5  # round(0.3 * 445 = 133.5) half up
    with pytest.raises(ValueError, match="mask_groups"):
        MeshTransformer(feature_dim=8, mask_groups=(14, 430), **SMALL)


def test_every_parameter_gets_a_gradient_with_grid_tokens() -> None:
    torch.manual_seed(3)
    model = MeshTransformer(feature_dim=8, num_grid_tokens=4, grid_dim=5, **SMALL).train()
    out = model(torch.randn(445, 3), torch.randn(2, 8), grid=torch.randn(2, 4, 5))
    assert out.coords.shape == (2, 445, 3)
    out.coords.square().sum().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def _count_by_hand(widths, ffn) -> int:
    total = 0
    for d_in, d, d_out in widths:
        f = ffn(d)
        layer = (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d) + 2 * 2 * d
        total += (d_in * d + d) + 445 * d + 4 * layer + (d * d_out + d_out) + (d_in * d_out + d_out)
    return total


def test_default_live_parameter_count_by_hand() -> None:
    model = MeshTransformer()  # feature 2048, hidden 1024/256/64, out 512/128/3, 4 layers each, constant mask input
    expected = _count_by_hand(((2051, 1024, 512), (512, 256, 128), (128, 64, 3)), lambda d: 4 * d)
    assert sum(p.numel() for p in model.parameters()) == expected == 58_257_350
    learned = MeshTransformer(mask_token="learned")
    assert sum(p.numel() for p in learned.parameters()) == expected + 2051  # the learned token
    # METRO's paper setting: hidden 1024/256/128 and bert-base's 3072-wide feed-forward in every block
    metro = MeshTransformer(hidden_dims=(1024, 256, 128), intermediate_size=3072)
    assert metro.blocks[2].layers[0].fc1.out_features == 3072
    widths = ((2051, 1024, 512), (512, 256, 128), (128, 128, 3))
    assert sum(p.numel() for p in metro.parameters()) == _count_by_hand(widths, lambda d: 3072)


def test_bad_inputs_raise() -> None:
    model = MeshTransformer(feature_dim=8, **SMALL)
    with pytest.raises(ValueError, match="feature must be"):
        model(torch.randn(445, 3), torch.randn(2, 9))
    with pytest.raises(ValueError, match="queries must be"):
        model(torch.randn(440, 3), torch.randn(2, 8))
    with pytest.raises(ValueError, match="bool tensor"):
        model.train()(torch.randn(445, 3), torch.randn(2, 8), mask=torch.zeros(2, 445))
    with pytest.raises(ValueError, match="same length"):
        MeshTransformer(hidden_dims=(8, 8), out_dims=(8,), num_layers=(1, 1), num_heads=(1, 1))
