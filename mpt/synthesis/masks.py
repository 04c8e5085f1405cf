"""Binary person masks from projected meshes (the paper's Table 4 ablation input), batched.

An exact per-pixel triangle test over SMPL's 13776 faces at 224x224 is B*F*S*S work. Instead every projected
triangle is sampled on a barycentric grid fine enough that neighbouring samples are at most ``spacing`` pixels
apart (its subdivision level grows with the triangle's longest edge), the samples are splatted into the pixels
that contain them (pixel centres at integers, as in :mod:`mpt.geometry.crop`), and a small morphological closing
(max-pool dilation, then erosion) fills the pinholes left between samples. Faces are grouped by subdivision level,
so the work is one vectorised step per level (levels snap to a ladder: 1..8, then steps of about 25%, so there
are a handful), never per sample or per face.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

__all__ = ["barycentric_grid", "rasterize_mask"]


@lru_cache(maxsize=64)
def _barycentric_rows(n: int, corners: bool) -> tuple[tuple[float, float, float], ...]:
    rows = []
    for i in range(n + 1):
        for j in range(n + 1 - i):
            k = n - i - j
            if not corners and max(i, j, k) == n:
                continue
            rows.append((i / n, j / n, k / n))
    return tuple(rows)


def barycentric_grid(n: int, corners: bool = True, device: torch.device | str | None = None) -> torch.Tensor:
    """Weights (M, 3) of the points i/n, j/n, k/n (i + j + k = n) of a triangle subdivided n times per edge.

    M = (n + 1)(n + 2) / 2, or 3 fewer without the corners.
    """
    if n < 1:
        raise ValueError(f"subdivision level must be >= 1, got {n}")
    return torch.tensor(_barycentric_rows(n, corners), dtype=torch.float32, device=device)


@lru_cache(maxsize=16)
def _level_ladder(max_subdivision: int) -> tuple[int, ...]:
    """Subdivision levels used: every level up to 8, then steps of about 25% (few levels, so few loop passes)."""
    levels = set(range(1, min(8, max_subdivision) + 1))
    n = 8.0
    while n < max_subdivision:
        n *= 1.25
        levels.add(min(round(n), max_subdivision))
    return tuple(sorted(levels))


def _splat(canvas: torch.Tensor, batch_index: torch.Tensor, points: torch.Tensor, size: int) -> None:
    """Set canvas (B*S*S,) to 1 at the pixels holding points (N, 2) of samples batch_index (N,)."""
    pix = torch.floor(points + 0.5)  # nearest pixel centre
    ok = ((pix >= 0) & (pix < size)).all(dim=-1)  # NaN compares False, so non-finite points drop out here
    pix = pix[ok].long()
    flat = (batch_index[ok] * size + pix[:, 1]) * size + pix[:, 0]
    canvas.index_fill_(0, flat, 1.0)


def rasterize_mask(
    verts2d: torch.Tensor,
    faces: torch.Tensor,
    size: int,
    spacing: float = 1.0,
    max_subdivision: int = 128,
    close: int = 1,
) -> torch.Tensor:
    """Fill projected triangles: (B, V, 2) map pixels, (F, 3) vertex ids -> (B, 1, size, size) float32 0/1.

    ``spacing``: largest gap, in pixels, between samples of a triangle; triangles longer than
    ``max_subdivision * spacing`` are sampled more sparsely (the closing still bridges gaps up to about
    ``2 * close + 1`` pixels). ``close``: radius of the square closing (0 disables it). Non-finite vertices
    (for example behind the camera) and samples outside the map are ignored.
    """
    if verts2d.dim() != 3 or verts2d.shape[-1] != 2:
        raise ValueError(f"verts2d must have shape (B, V, 2) in map pixels, got {tuple(verts2d.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3 or faces.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"faces must be an integer tensor of shape (F, 3), got {faces.dtype} {tuple(faces.shape)}")
    b, v = verts2d.shape[:2]
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= v):
        raise ValueError(f"faces index vertices outside 0..{v - 1} (mesh and projected vertices do not match)")
    if size <= 0 or not spacing > 0 or max_subdivision < 1 or close < 0:
        raise ValueError(
            "need size > 0, spacing > 0, max_subdivision >= 1, close >= 0; "
            f"got {size}, {spacing}, {max_subdivision}, {close}"
        )
    device = verts2d.device
    pts = verts2d.float()
    faces = faces.to(device=device, dtype=torch.long)
    canvas = torch.zeros(b * size * size, dtype=torch.float32, device=device)
    # Corners first, once per vertex rather than once per face.
    _splat(canvas, torch.arange(b, device=device).repeat_interleave(v), pts.reshape(-1, 2), size)
    tri = pts[:, faces]  # (B, F, 3, 2)
    edge = (tri - tri.roll(1, dims=2)).norm(dim=-1).amax(dim=-1)  # (B, F) longest edge, pixels
    need = torch.nan_to_num(edge / spacing, nan=0.0, posinf=float(max_subdivision)).ceil().clamp(1, max_subdivision)
    ladder = torch.tensor(_level_ladder(max_subdivision), dtype=need.dtype, device=device)
    level = ladder[torch.searchsorted(ladder, need.contiguous())].to(torch.int64)  # next level up on the ladder
    for n in torch.unique(level).tolist():  # a few levels; each handles all faces of that level in the batch
        if n == 1:
            continue  # corners only: already drawn
        bi, fi = torch.nonzero(level == n, as_tuple=True)  # (N,), (N,)
        weights = barycentric_grid(n, corners=False, device=device)  # (M, 3)
        samples = torch.einsum("mc,ncd->nmd", weights, tri[bi, fi])  # (N, M, 2)
        _splat(canvas, bi.repeat_interleave(weights.shape[0]), samples.reshape(-1, 2), size)
    mask = canvas.view(b, 1, size, size)
    if close:
        k = 2 * close + 1
        mask = F.max_pool2d(mask, k, stride=1, padding=close)  # dilation
        mask = -F.max_pool2d(-mask, k, stride=1, padding=close)  # erosion; the map border counts as inside
    return mask
