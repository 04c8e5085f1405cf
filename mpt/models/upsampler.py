"""Coarse-to-full mesh upsampler: METRO's two learned linear maps over the vertex axis, 431 -> 1723 -> 6890.

What: ``Linear(431, 1723)`` then ``Linear(1723, 6890)`` applied to each coordinate channel (METRO:
microsoft/MeshTransformer metro/modeling/bert/modeling_metro.py, ``upsampling`` / ``upsampling2``).

Why initialise from U: METRO starts these layers from PyTorch's default random init, so at step 0 the full mesh is
noise and the vertex losses at 1723/6890 first have to learn an interpolation. Starting from the U matrices of the
mesh levels makes the initial map an interpolation over the surface, so training only has to learn corrections.
With the levels mpt computes itself, U holds barycentric weights (non-negative, rows summing to 1; upsampling a
downsampled template is off by a few mm, see tests/models/test_mesh_levels.py). The GraphCMR/METRO
``mesh_downsampling.npz`` U matrices are not pure barycentric weights: they have 1,305 (U[0]) and 354 (U[1])
negative entries and row sums from 0.83 to 1.05, so from that file the initial map is a close, not exact,
surface interpolation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .mesh_levels import MeshLevels


class MeshUpsampler(nn.Module):
    """(B, n_coarse, 3) -> (coarse, mid (B, n_mid, 3), full (B, n_full, 3))."""

    def __init__(self, n_coarse: int = 431, n_mid: int = 1723, n_full: int = 6890,
                 init: MeshLevels | None = None) -> None:
        super().__init__()
        self.n_coarse = n_coarse
        self.coarse_to_mid = nn.Linear(n_coarse, n_mid)
        self.mid_to_full = nn.Linear(n_mid, n_full)
        if init is not None:
            self.init_from_levels(init)

    @torch.no_grad()
    def init_from_levels(self, levels: MeshLevels) -> None:
        """Set the weights to U[1] (n_mid, n_coarse) and U[0] (n_full, n_mid) and the biases to zero."""
        want = (self.mid_to_full.out_features, self.coarse_to_mid.out_features, self.n_coarse)
        if tuple(levels.num_vertices) != want:
            raise ValueError(f"mesh levels have vertex counts {levels.num_vertices}, the upsampler needs {want}")
        for layer, up in ((self.coarse_to_mid, levels.up[1]), (self.mid_to_full, levels.up[0])):
            layer.weight.copy_(torch.as_tensor(up.toarray(), dtype=layer.weight.dtype))
            layer.bias.zero_()

    def forward(self, coarse: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Upsample along the vertex axis; returns all three resolutions."""
        if coarse.ndim != 3 or coarse.shape[1] != self.n_coarse:
            raise ValueError(f"coarse vertices must be (B, {self.n_coarse}, C), got {tuple(coarse.shape)}")
        mid = self.coarse_to_mid(coarse.transpose(1, 2))  # (B, 3, n_mid)
        full = self.mid_to_full(mid)  # (B, 3, n_full)
        return coarse, mid.transpose(1, 2), full.transpose(1, 2)
