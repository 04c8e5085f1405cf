"""Benchmark: mesh transformer + upsampler forward+backward, ours vs a BERT-style explicit-attention reference.

What: both variants have the same shapes and the same parameter count (asserted): 445 queries, a (B, 2048)
global feature (requires grad, as if an encoder sat upstream), hidden 1024/256/64, 4 layers x 4 heads per block,
METRO's 431 -> 1723 -> 6890 upsampler, MVM masking at 0.3, dropout 0.1, train mode, fp32. The reference is what
the BERT code under METRO does (microsoft/MeshTransformer metro/modeling/bert/modeling_bert.py): separate
query/key/value Linears, scores = QK^T / sqrt(d) + the all-zero additive attention mask METRO passes, softmax,
dropout, matmul, and a Linear on the concatenated (B, 445, 2051) tokens.

How: each variant runs in its own subprocess (so peak memory is its own): one warm-up iteration at batch 2
(kernel set-up), then ``--iters`` timed iterations at ``--batch``. Peak memory is the process's peak resident set
size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), reported as the peak and as the growth over the resident
size before the timed iterations (activations + gradients; torch's CPU allocations are invisible to tracemalloc).
Threads: torch's default (all cores) unless ``--threads`` is given; the same for both variants.

Reading the numbers: on CPU, PyTorch's fused SDPA kernels refuse non-zero dropout ("Both fused kernels do not
support non-zero dropout", aten/src/ATen/native/transformers/sdp_utils_cpp.h), so with METRO's attention dropout
0.1 our attention runs the same explicit maths as the reference and the two differ only by the fused QKV GEMM and
the factorised input embedding (about 5% of the FLOPs). ``--attention-dropout 0`` shows what the fused (flash)
CPU kernel buys. On GPU the flash / memory-efficient kernels do support dropout.

A batch-32 iteration is ~150 GFLOPs x 32 = 4.7 TFLOPs: about 1 minute per variant on 2 cores, so the default run
(one timed iteration each) takes ~3 minutes; use --batch 8 for a quick look.

Run: python scripts/bench/bench_transformer.py [--batch 32] [--iters 1] [--attention-dropout 0.1]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mpt.masking import random_mask  # noqa: E402
from mpt.models.transformer import MeshTransformer  # noqa: E402
from mpt.models.upsampler import MeshUpsampler  # noqa: E402

HIDDEN, OUT, LAYERS, HEADS = (1024, 256, 64), (512, 128, 3), 4, 4
N_JOINTS, N_COARSE = 14, 431


class RefSelfAttention(nn.Module):
    """BERT self-attention: separate Q/K/V projections, explicit scores/softmax/dropout/matmul."""

    def __init__(self, dim: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.dropout = nn.Dropout(p)

    def _split(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: Tensor, additive_mask: Tensor) -> Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + additive_mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape)


class RefLayer(nn.Module):
    """BERT layer (post-LN): attention + output dense/dropout/LN, intermediate GELU, output dense/dropout/LN."""

    def __init__(self, dim: int, heads: int, p: float, p_attn: float) -> None:
        super().__init__()
        self.attention = RefSelfAttention(dim, heads, p_attn)
        self.attn_out, self.inter, self.out = nn.Linear(dim, dim), nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout = nn.Dropout(p)

    def forward(self, x: Tensor, additive_mask: Tensor) -> Tensor:
        x = self.ln1(x + self.dropout(self.attn_out(self.attention(x, additive_mask))))
        return self.ln2(x + self.dropout(self.out(F.gelu(self.inter(x)))))


class RefBlock(nn.Module):
    """METRO block: img_embedding + position_embeddings + dropout, BERT layers, cls_head + residual."""

    def __init__(self, d_in: int, dim: int, d_out: int, n: int, p: float, p_attn: float) -> None:
        super().__init__()
        self.embed, self.position = nn.Linear(d_in, dim), nn.Embedding(n, dim)
        self.layers = nn.ModuleList(RefLayer(dim, HEADS, p, p_attn) for _ in range(LAYERS))
        self.head, self.residual = nn.Linear(dim, d_out), nn.Linear(d_in, d_out)
        self.dropout = nn.Dropout(p)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        positions = self.position(torch.arange(n).expand(b, n))
        additive_mask = (1.0 - torch.ones(b, 1, 1, n)) * -10000.0  # METRO: all-ones attention mask
        h = self.dropout(self.embed(x) + positions)
        for layer in self.layers:
            h = layer(h, additive_mask)
        return self.head(h) + self.residual(x)


class RefTransformer(nn.Module):
    """Three METRO blocks on explicitly concatenated [xyz ; feature] tokens, with the [MASK] token substitution."""

    def __init__(self, feature_dim: int, p: float, p_attn: float) -> None:
        super().__init__()
        dims_in = (3 + feature_dim,) + OUT[:-1]
        n = N_JOINTS + N_COARSE
        self.blocks = nn.ModuleList(RefBlock(dims_in[i], HIDDEN[i], OUT[i], n, p, p_attn) for i in range(3))
        self.register_buffer("mask_token", torch.full((dims_in[0],), 0.01))  # METRO's constant

    def forward(self, queries: Tensor, feature: Tensor) -> Tensor:
        b, n = feature.shape[0], queries.shape[0]
        tokens = torch.cat([queries.expand(b, n, 3), feature[:, None].expand(b, n, feature.shape[1])], dim=2)
        keep = (~torch.cat([random_mask(b, N_JOINTS, 0.3), random_mask(b, N_COARSE, 0.3)], dim=1))[..., None].float()
        x = tokens * keep + self.mask_token * (1 - keep)  # METRO's masking arithmetic
        for block in self.blocks:
            x = block(x)
        return x


def build(variant: str, feature_dim: int, p_attn: float) -> nn.Module:
    """The transformer of the chosen variant (seeded, train mode)."""
    torch.manual_seed(0)
    if variant == "ours":
        return MeshTransformer(feature_dim=feature_dim, hidden_dims=HIDDEN, out_dims=OUT, num_layers=(LAYERS,) * 3,
                               num_heads=(HEADS,) * 3, dropout=0.1, attention_dropout=p_attn, mask_ratio=0.3,
                               mask_groups=(N_JOINTS, N_COARSE))
    return RefTransformer(feature_dim, 0.1, p_attn)


def step(transformer: nn.Module, upsampler: MeshUpsampler, queries: Tensor, feature: Tensor) -> None:
    """One forward + backward of transformer + upsampler with a loss on all outputs."""
    out = transformer(queries, feature)
    coords = out.coords if isinstance(out, tuple) else out
    coarse, mid, full = upsampler(coords[:, N_JOINTS:])
    loss = coords.square().mean() + mid.abs().mean() + full.abs().mean()
    loss.backward()


def run_variant(args: argparse.Namespace) -> dict[str, float]:
    """Time one variant in this process; returns ms/iter and memory numbers."""
    if args.threads:
        torch.set_num_threads(args.threads)
    transformer = build(args.variant, args.feature_dim, args.attention_dropout).train()
    upsampler = MeshUpsampler().train()
    params = sum(p.numel() for p in transformer.parameters()) + sum(p.numel() for p in upsampler.parameters())
    queries = torch.randn(N_JOINTS + N_COARSE, 3)
    step(transformer, upsampler, queries, torch.randn(2, args.feature_dim, requires_grad=True))  # warm-up
    feature = torch.randn(args.batch, args.feature_dim, requires_grad=True)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu_times = [], []
    for _ in range(args.iters):
        for p in list(transformer.parameters()) + list(upsampler.parameters()):
            p.grad = None
        feature.grad = None
        start, cpu_start = time.perf_counter(), time.process_time()
        step(transformer, upsampler, queries, feature)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"params": params, "ms_min": 1000 * min(times), "ms_mean": 1000 * sum(times) / len(times),
            "cpu_ms_min": 1000 * min(cpu_times), "peak_mib": peak_kb / 1024,
            "growth_mib": (peak_kb - base_kb) / 1024, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=1, help="timed iterations per variant")
    parser.add_argument("--feature-dim", type=int, default=2048)
    parser.add_argument("--attention-dropout", type=float, default=0.1,
                        help="attention-probability dropout for both variants (BERT/METRO: 0.1)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--variant", choices=("ours", "reference"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    results = {}
    for variant in ("ours", "reference"):
        cmd = [sys.executable, __file__, "--variant", variant, "--batch", str(args.batch), "--iters", str(args.iters),
               "--feature-dim", str(args.feature_dim), "--attention-dropout", str(args.attention_dropout),
               "--threads", str(args.threads)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    ours, ref = results["ours"], results["reference"]
    if ours["params"] != ref["params"]:
        raise SystemExit(f"parameter counts differ: ours {ours['params']} vs reference {ref['params']}")
    print(f"transformer + upsampler fwd+bwd, batch {args.batch}, fp32, {ours['threads']} threads, "
          f"attention dropout {args.attention_dropout}, {args.iters} timed iteration(s), {ours['params']:,} params")
    for name, r in results.items():
        print(f"  {name:9s}: {r['ms_min']:8.0f} ms/iter wall (mean {r['ms_mean']:.0f}), {r['cpu_ms_min']:8.0f} ms CPU; "
              f"peak RSS {r['peak_mib']:6.0f} MiB, growth in the timed iterations {r['growth_mib']:6.0f} MiB")
    print(f"speed ratio reference/ours: {ref['ms_min'] / ours['ms_min']:.2f}x wall, "
          f"{ref['cpu_ms_min'] / ours['cpu_ms_min']:.2f}x CPU time; "
          f"memory growth ratio: {ref['growth_mib'] / max(ours['growth_mib'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
