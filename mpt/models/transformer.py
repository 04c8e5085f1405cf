"""METRO-style multi-layer mesh transformer with masked vertex modeling.

What: three stacked encoder blocks (hidden 1024 -> 256 -> 64 by default, 4 layers and 4 heads each) that turn
14 joint + 431 coarse-vertex queries into 3D coordinates. Each block is: linear input embedding + learned position
embedding + dropout -> ``num_layers`` transformer layers -> linear head to the next block's input width, plus a
linear "residual" projection of the block input added to the head output. The block structure and the
input/output widths follow METRO (microsoft/MeshTransformer metro/modeling/bert/modeling_metro.py: ``METRO``
= ``img_embedding`` + ``position_embeddings`` + BertEncoder + ``cls_head`` + ``residual``; input widths
2051 / 512 / 128 in docs/EXP.md).

Why these choices:
- Post-LN by default (``norm_first=False``): METRO runs BERT layers, which are post-LN; with 4 layers per block and
  a warm-up schedule post-LN trains fine and keeps METRO's recipe. Pre-LN is a constructor switch (it then adds
  a final LayerNorm before each head, as pre-LN stacks need).
- Attention goes through ``F.scaled_dot_product_attention`` with one fused QKV projection: flash /
  memory-efficient kernels on GPU (with dropout too); on CPU the fused kernel runs only when
  ``attention_dropout`` is 0, otherwise PyTorch falls back to the explicit maths (scripts/bench).
  ``nn.TransformerEncoderLayer`` is not used because it adds a dropout after the MLP activation that BERT does
  not have.
- No dead parameters: no BERT word/token-type embeddings and no pooler (METRO carries ~45M such unused weights).
- The first block's input is ``[template xyz ; global feature]`` for every query. Because the global feature is
  the same for all 445 queries of a sample, the input embedding is computed in factorised form
  ``W[:, :3] @ xyz + W[:, 3:] @ f + b``: the same function and the same parameters as a Linear on the
  concatenated (B, 445, 3 + C) tensor, at 1/445 of the feature half's cost.
- Masked vertex modeling (METRO): in training, random query tokens per sample have their whole input
  ``[xyz ; feature]`` replaced by a mask token. By default as METRO (metro/datasets/human_mesh_tsv.py and
  run_metro_bodymesh.py): ``int(u * 0.3 * N)`` tokens with ``u ~ U[0, 1)``, drawn separately for the 14 joint and
  the 431 vertex queries (``mask_groups=(14, 431)``), replaced by the constant 0.01; an exact count
  ``round(ratio * N)``, one group for all queries and a learned token (initialised at 0.01) are options
  (:mod:`mpt.masking`).
- Feed-forward width: 4 x hidden by default; ``intermediate_size=3072`` in every block is METRO's
  ``legacy_setting``, which its paper used (run_metro_bodymesh.py keeps bert-base's 3072).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mpt.masking import COUNTS, random_mask

# BERT initialiser range (bert-base config ``initializer_range`` 0.02, used by METRO's init_weights).
_INIT_STD = 0.02
# METRO's [MASK] input is a constant vector of 0.01s (metro/tools/run_metro_bodymesh.py, special_token).
_METRO_MASK_VALUE = 0.01
MASK_TOKENS = ("constant", "learned")


class MeshTransformerOutput(NamedTuple):
    """Regressed coordinates and the masked-vertex-modeling mask that was applied (None when not masking)."""

    coords: Tensor  # (B, N, out_dims[-1])
    mask: Tensor | None  # (B, N) bool, True = token replaced by the mask token


def _init_bert_(module: nn.Module) -> None:
    """BERT initialisation: Linear weights N(0, 0.02), zero biases, LayerNorm identity."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=_INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class TransformerLayer(nn.Module):
    """One BERT-style encoder layer: multi-head self-attention + GELU MLP, post-LN (default) or pre-LN."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: int = 4, dropout: float = 0.1,
        attention_dropout: float = 0.1, norm_first: bool = False, eps: float = 1e-5,
        intermediate_size: int | None = None,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.norm_first = norm_first
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(dim, 3 * dim)  # fused Q, K, V projection
        self.proj = nn.Linear(dim, dim)
        width = mlp_ratio * dim if intermediate_size is None else intermediate_size  # BERT's intermediate size
        self.fc1 = nn.Linear(dim, width)
        self.fc2 = nn.Linear(width, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def attention(self, x: Tensor) -> Tensor:
        """Multi-head self-attention over the token axis: (B, N, D) -> (B, N, D)."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        p = self.attention_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (B, H, N, D/H)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))

    def mlp(self, x: Tensor) -> Tensor:
        """Position-wise GELU MLP (BERT: intermediate dense + erf-GELU + output dense)."""
        return self.fc2(F.gelu(self.fc1(x)))

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, D)."""
        if self.norm_first:
            x = x + self.dropout(self.attention(self.norm1(x)))
            return x + self.dropout(self.mlp(self.norm2(x)))
        x = self.norm1(x + self.dropout(self.attention(x)))
        return self.norm2(x + self.dropout(self.mlp(x)))


class MeshTransformerBlock(nn.Module):
    """Input embedding + position embedding + transformer layers + head (+ METRO's linear input residual).

    ``num_grid_tokens`` extra tokens (e.g. a 7x7 feature grid) may be appended to the sequence: they get their own
    input embedding and position embeddings, take part in attention, and their outputs are dropped.
    """

    def __init__(
        self, in_dim: int, hidden_dim: int, out_dim: int, num_tokens: int, num_layers: int, num_heads: int,
        mlp_ratio: int = 4, dropout: float = 0.1, attention_dropout: float = 0.1, norm_first: bool = False,
        num_grid_tokens: int = 0, grid_dim: int = 0, intermediate_size: int | None = None,
    ) -> None:
        super().__init__()
        if num_grid_tokens and grid_dim <= 0:
            raise ValueError("grid tokens need grid_dim > 0")
        self.num_tokens = num_tokens
        self.num_grid_tokens = num_grid_tokens
        self.embed = nn.Linear(in_dim, hidden_dim)
        self.residual = nn.Linear(in_dim, out_dim)
        self.position = nn.Parameter(torch.empty(num_tokens + num_grid_tokens, hidden_dim))
        self.grid_embed = nn.Linear(grid_dim, hidden_dim) if num_grid_tokens else None
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TransformerLayer(hidden_dim, num_heads, mlp_ratio, dropout, attention_dropout, norm_first,
                             intermediate_size=intermediate_size)
            for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(hidden_dim) if norm_first else nn.Identity()
        self.head = nn.Linear(hidden_dim, out_dim)
        self.apply(_init_bert_)
        nn.init.normal_(self.position, std=_INIT_STD)

    def encode(self, embedded: Tensor, residual: Tensor, grid: Tensor | None = None) -> Tensor:
        """Run the layers on already-embedded queries.

        embedded (B, N, hidden) = embed(input); residual (B, N, out) = residual(input); grid (B, G, grid_dim).
        Returns (B, N, out).
        """
        n = embedded.shape[1]
        if n != self.num_tokens:
            raise ValueError(f"expected {self.num_tokens} query tokens, got {n}")
        if self.num_grid_tokens:
            if grid is None or grid.shape[1] != self.num_grid_tokens:
                got = None if grid is None else tuple(grid.shape)
                raise ValueError(f"block expects {self.num_grid_tokens} grid tokens, got {got}")
            embedded = torch.cat([embedded, self.grid_embed(grid)], dim=1)
        elif grid is not None:
            raise ValueError("grid tokens given to a block built with num_grid_tokens=0")
        h = self.dropout(embedded + self.position)
        for layer in self.layers:
            h = layer(h)
        h = self.final_norm(h[:, :n])  # grid-token outputs dropped here
        return self.head(h) + residual

    def forward(self, x: Tensor, grid: Tensor | None = None) -> Tensor:
        """(B, N, in_dim) -> (B, N, out_dim)."""
        return self.encode(self.embed(x), self.residual(x), grid)


class MeshTransformer(nn.Module):
    """Stack of METRO blocks mapping query template coordinates + a global feature to 3D coordinates.

    forward(queries (N, 3) or (B, N, 3), feature (B, C), grid (B, G, C_grid) | None, mask (B, N) | None)
    -> MeshTransformerOutput(coords (B, N, 3), mask).
    """

    def __init__(
        self, feature_dim: int = 2048, num_queries: int = 445,
        hidden_dims: Sequence[int] = (1024, 256, 64), out_dims: Sequence[int] = (512, 128, 3),
        num_layers: Sequence[int] = (4, 4, 4), num_heads: Sequence[int] = (4, 4, 4), mlp_ratio: int = 4,
        dropout: float = 0.1, attention_dropout: float = 0.1, norm_first: bool = False, mask_ratio: float = 0.3,
        num_grid_tokens: int = 0, grid_dim: int = 0, coord_dim: int = 3, mask_count: str = "up_to",
        mask_groups: Sequence[int] | None = None, mask_token: str = "constant", intermediate_size: int | None = None,
    ) -> None:
        """``mask_ratio`` / ``mask_count`` / ``mask_token``: masked vertex modeling (module docstring);
        ``mask_groups``: sizes of consecutive query groups masked independently (METRO: (14, 431); default one
        group of all queries). ``intermediate_size``: feed-forward width of every layer (default 4 x hidden)."""
        super().__init__()
        hidden_dims, out_dims = list(hidden_dims), list(out_dims)
        num_layers, num_heads = list(num_layers), list(num_heads)
        if not len(hidden_dims) == len(out_dims) == len(num_layers) == len(num_heads) >= 1:
            raise ValueError(
                f"hidden_dims {hidden_dims}, out_dims {out_dims}, num_layers {num_layers} and num_heads "
                f"{num_heads} must be non-empty lists of the same length (one entry per block)"
            )
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1], got {mask_ratio}")
        if mask_count not in COUNTS or mask_token not in MASK_TOKENS:
            raise ValueError(f"mask_count must be one of {COUNTS} and mask_token one of {MASK_TOKENS}, got "
                             f"{mask_count!r} and {mask_token!r}")  # fmt: skip
        groups = [num_queries] if mask_groups is None else [int(g) for g in mask_groups]
        if sum(groups) != num_queries or min(groups) < 1:
            raise ValueError(f"mask_groups {groups} must be positive sizes summing to num_queries {num_queries}")
        self.coord_dim = coord_dim
        self.feature_dim = feature_dim
        self.num_queries = num_queries
        self.mask_ratio, self.mask_count, self.mask_groups = mask_ratio, mask_count, tuple(groups)
        self.num_grid_tokens, self.grid_dim = num_grid_tokens, grid_dim
        in_dims = [coord_dim + feature_dim] + out_dims[:-1]
        self.blocks = nn.ModuleList(
            MeshTransformerBlock(
                in_dims[i], hidden_dims[i], out_dims[i], num_queries, num_layers[i], num_heads[i], mlp_ratio,
                dropout, attention_dropout, norm_first,
                num_grid_tokens=num_grid_tokens if i == 0 else 0, grid_dim=grid_dim if i == 0 else 0,
                intermediate_size=intermediate_size,
            )
            for i in range(len(hidden_dims))
        )
        # The [MASK] input, only when masking can happen: METRO's constant (a buffer, not saved with the weights)
        # or a learned token starting at the same value (a parameter; otherwise it would be dead weight).
        token = torch.full((in_dims[0],), _METRO_MASK_VALUE)
        if mask_ratio == 0:
            self.mask_token = None
        elif mask_token == "learned":
            self.mask_token = nn.Parameter(token)
        else:
            self.register_buffer("mask_token", token, persistent=False)

    def random_mask(self, batch: int, device: torch.device | str | None = None,
                    generator: torch.Generator | None = None) -> Tensor:  # fmt: skip
        """(B, N) bool, True = masked: each group's tokens drawn independently (see :mod:`mpt.masking`)."""
        return torch.cat([random_mask(batch, n, self.mask_ratio, self.mask_count, generator, device)
                          for n in self.mask_groups], dim=1)  # fmt: skip

    def _first_block_inputs(self, queries: Tensor, feature: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """Embedding and residual of ``[queries ; feature]`` for block 0, factorised over the shared feature.

        Returns (B, N, hidden0) and (B, N, out0), equal to ``embed(cat)`` and ``residual(cat)`` of the
        concatenated tokens, with masked tokens replaced by the mask token's embedding/residual.
        """
        block = self.blocks[0]
        c = self.coord_dim
        outs = []
        for lin in (block.embed, block.residual):
            per_query = F.linear(queries, lin.weight[:, :c])  # (N, D) or (B, N, D)
            per_sample = F.linear(feature, lin.weight[:, c:], lin.bias)  # (B, D)
            y = per_query + per_sample[:, None, :]  # (B, N, D)
            if mask is not None:
                y = torch.where(mask[..., None], F.linear(self.mask_token, lin.weight, lin.bias), y)
            outs.append(y)
        return outs[0], outs[1]

    def forward(
        self, queries: Tensor, feature: Tensor, grid: Tensor | None = None, mask: Tensor | None = None,
    ) -> MeshTransformerOutput:
        """Regress (B, N, 3) coordinates; in training, mask queries (given ``mask`` or a random one)."""
        if feature.ndim != 2 or feature.shape[1] != self.feature_dim:
            raise ValueError(f"feature must be (B, {self.feature_dim}), got {tuple(feature.shape)}")
        if queries.shape[-2:] != (self.num_queries, self.coord_dim) or queries.ndim not in (2, 3):
            raise ValueError(
                f"queries must be ({self.num_queries}, {self.coord_dim}) or (B, {self.num_queries}, "
                f"{self.coord_dim}), got {tuple(queries.shape)}"
            )
        b = feature.shape[0]
        if not self.training:
            mask = None
        elif mask is None and self.mask_token is not None:
            mask = self.random_mask(b, feature.device)
        if mask is not None:
            if self.mask_token is None:
                raise ValueError("a mask was given but the transformer was built with mask_ratio=0 (no mask token)")
            if mask.shape != (b, self.num_queries) or mask.dtype != torch.bool:
                raise ValueError(f"mask must be a bool tensor of shape ({b}, {self.num_queries}), got "
                                 f"{mask.dtype} {tuple(mask.shape)}")
        embedded, residual = self._first_block_inputs(queries, feature, mask)
        x = self.blocks[0].encode(embedded, residual, grid)
        for block in self.blocks[1:]:
            x = block(x)
        return MeshTransformerOutput(x, mask)
