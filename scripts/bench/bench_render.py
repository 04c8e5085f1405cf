"""Benchmark: the two rasterisers of mpt.vis.render side by side, on the demo body, at 224 and 1000 px.

    python scripts/bench/bench_render.py                      # demo assets generated in a temp folder
    python scripts/bench/bench_render.py --assets data/demo   # or an existing demo-assets folder
    python scripts/bench/bench_render.py --sizes 2000 4000      # large photos, where the painter wins on CPU
    python scripts/bench/bench_render.py --device cuda         # z-buffer on a GPU (painter stays on the CPU)

A body from the demo motions (a reaching pose: arms in front of the torso) is seen by Human3.6M camera 60457274,
with intrinsics scaled so that it fills ~70% of the image height. Each row times render_mesh end to end (image in,
image out) as the best of --repeats runs after a warm-up, with and without back-face culling, and reports the
painter's visibility errors: the share of silhouette pixels where the face it leaves on top lies more than 2 cm
behind the nearest surface at that pixel (the z-buffer's face), i.e. a hidden surface drawn over a visible one.

Threads: on CPU the default is 1 intra-op thread (--threads): cv2's fillConvexPoly is single-threaded, so one torch
thread compares equal compute, and on a shared machine one thread gives stable numbers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from timing import best_ms  # noqa: E402  (scripts/bench/timing.py)

from mpt.body import BodyModel  # noqa: E402
from mpt.data.amass import find_amass_files, read_amass_sequence  # noqa: E402
from mpt.geometry import h36m_s1_cameras, project_points, world_to_camera  # noqa: E402
from mpt.vis import project_for_render, rasterize, render_mesh  # noqa: E402
from tools.standin.make_assets import MANIFEST_NAME, DemoAssets, make_demo_assets  # noqa: E402

CAMERA = "60457274"
FILL = 0.7  # person height / image height
TOLERANCE_M = 0.02  # a painter pixel counts as a visibility error when its face is this far behind the nearest


def posed_body(assets: DemoAssets) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame vertices (V, 3) of a reaching pose seen by CAMERA, and the faces (F, 3)."""
    files = find_amass_files(assets.amass_dir)
    pick = next((f for f in files if "reach" in f.name), files[0])
    seq = read_amass_sequence(Path(assets.amass_dir) / pick)
    body = BodyModel(assets.smpl_dir, assets.h36m_regressor)
    with torch.no_grad():
        out = body(torch.tensor(seq.poses[len(seq.poses) // 2][None], dtype=torch.float32),
                   torch.tensor(seq.betas[None], dtype=torch.float32))  # fmt: skip
    verts = out.vertices[0]
    verts = verts - torch.tensor([verts[:, 0].mean(), verts[:, 1].mean(), verts[:, 2].min()])  # on the floor
    cams = h36m_s1_cameras()
    c = cams.names.index(CAMERA)
    return world_to_camera(verts, cams.R[c], cams.t[c]), body.faces


def fitted_intrinsics(verts_cam: torch.Tensor, size: int) -> torch.Tensor:
    """The camera's K rescaled and re-centred so the body is FILL of a size x size image's height, centred."""
    K = h36m_s1_cameras().K[h36m_s1_cameras().names.index(CAMERA)]
    uv = project_points(verts_cam, K)
    lo, hi = uv.amin(dim=0), uv.amax(dim=0)
    s = FILL * size / float(hi[1] - lo[1])
    mid = (lo + hi) / 2
    return torch.tensor([[K[0, 0] * s, 0.0, (K[0, 2] - mid[0]) * s + size / 2],
                         [0.0, K[1, 1] * s, (K[1, 2] - mid[1]) * s + size / 2],
                         [0.0, 0.0, 1.0]])  # fmt: skip


def painter_face_map(pv: torch.Tensor, faces: torch.Tensor, size: int, cull: bool) -> np.ndarray:
    """(H, W) face id the painter's algorithm leaves at each pixel (-1: none), drawn as render_mesh's painter draws:
    faces far to near by mean depth, cv2.fillConvexPoly with 4 fractional bits."""
    tri = pv[faces]
    area = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]
    keep = (area < -1e-9 if cull else area.abs() > 1e-9).nonzero().squeeze(1)
    order = keep[torch.argsort(tri[keep, :, 2].mean(dim=1), descending=True)]
    pts = np.rint(tri[order, :, :2].numpy() * 16).astype(np.int32)
    ids = np.full((size, size), -1, np.int32)
    for p, f in zip(pts, order.tolist(), strict=True):
        cv2.fillConvexPoly(ids, p, f, lineType=cv2.LINE_8, shift=4)
    return ids


def depth_at(pv: torch.Tensor, faces: torch.Tensor, face_map: np.ndarray) -> np.ndarray:
    """Depth of each pixel's face plane at the pixel centre (NaN where face_map is -1)."""
    tri = pv[faces].double().numpy()  # (F, 3, 3)
    a = np.concatenate([tri[:, :, :2], np.ones(tri.shape[:2] + (1,))], axis=2)  # rows (x, y, 1)
    det_ok = np.abs(np.linalg.det(a)) > 1e-9
    planes = np.zeros((len(tri), 3))
    planes[det_ok] = np.linalg.solve(a[det_ok], tri[det_ok, :, 2:])[..., 0]  # z = p0 x + p1 y + p2
    ys, xs = np.nonzero(face_map >= 0)
    out = np.full(face_map.shape, np.nan)
    p = planes[face_map[ys, xs]]
    out[ys, xs] = p[:, 0] * xs + p[:, 1] * ys + p[:, 2]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", help="demo assets folder (default: generate into a temporary folder)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 1000])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU (default 1)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.assets) if args.assets else Path(tmp)
        assets = DemoAssets.at(root) if (root / MANIFEST_NAME).is_file() else make_demo_assets(root)
        verts_cam, faces = posed_body(assets)
    print(f"demo body: {verts_cam.shape[0]} vertices, {faces.shape[0]} faces; camera {CAMERA}; "
          f"device {args.device}; torch threads {torch.get_num_threads()}; best of {args.repeats} runs")
    header = (f"{'image':>7} {'cull':>5} | {'zbuffer smooth':>15} {'zbuffer flat':>13} {'painter flat':>13} | "
              f"{'painter/zbuf':>12} {'silhouette px':>13} {'painter hidden':>16}")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        K = fitted_intrinsics(verts_cam, size)
        pv = project_for_render(verts_cam, K)
        tolerance = TOLERANCE_M * float(K[0, 0] + K[1, 1]) / 2 / float(verts_cam[:, 2].mean())  # in render units
        pv_dev, faces_dev = pv.to(args.device), faces.to(args.device)
        rng = np.random.default_rng(0)
        image = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        for cull in (False, True):
            zbuf = partial(render_mesh, image, pv_dev, faces_dev, cull_backfaces=cull)
            t_smooth = best_ms(partial(zbuf, shading="smooth"), device, args.repeats)
            t_flat = best_ms(partial(zbuf, shading="flat"), device, args.repeats)
            paint = partial(render_mesh, image, pv, faces, shading="flat", method="painter", cull_backfaces=cull)
            t_paint = best_ms(paint, torch.device("cpu"), args.repeats)
            # Visibility errors: pixels where the painter leaves a face lying more than TOLERANCE_M behind the
            # nearest surface at that pixel (the z-buffer's face), i.e. a hidden surface drawn over a visible one.
            zmap = rasterize(pv, faces, size, size, cull_backfaces=cull).face_map().numpy()
            pmap = painter_face_map(pv, faces, size, cull)
            both = (zmap >= 0) & (pmap >= 0)
            behind = depth_at(pv, faces, pmap) - depth_at(pv, faces, zmap) > tolerance
            wrong = int((behind & both).sum())
            print(f"{size:>5}px {cull!s:>5} | {t_smooth:>12.1f} ms {t_flat:>10.1f} ms {t_paint:>10.1f} ms | "
                  f"{t_paint / t_flat:>11.2f}x {int(both.sum()):>13d} {wrong / both.sum():>15.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
