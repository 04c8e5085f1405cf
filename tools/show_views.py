"""Pictures of the pre-training views: the 8 virtual cameras from above, and one pose's heatmaps in each view.

    python tools/show_views.py --assets DIR --out DIR      # demo body (generated into DIR when absent)
    python tools/show_views.py --smpl data/body_models/smpl \
        --regressor data/body_models/J_regressor_h36m_correct.npy --out DIR

Writes ``cameras_topdown.png`` (world x-y plane, like the paper's Figure 1: the 4 Human3.6M S1 cameras and the 4
interpolated ones with their viewing directions, around the body's footprint at the capture-volume centre) and
``heatmaps_by_view.png`` (one row per camera: the silhouette with the projected COCO skeleton, and the summed 17
heatmaps over the silhouette), both through the same Synthesizer that makes pre-training batches (eval mode, so no
jitter, no random heading, no masked joints).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from scipy.spatial import ConvexHull  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mpt.atomic import atomic_path  # noqa: E402
from mpt.body.joints import COCO_SKELETON  # noqa: E402
from mpt.geometry import (  # noqa: E402
    CameraSet,
    matrix_to_axis_angle,
    rotation_about_axis,
    virtual_cameras,
)
from mpt.synthesis import SynthesisOptions, Synthesizer  # noqa: E402

NUM_ORIGINAL = 4  # virtual_cameras(8): the 4 S1 cameras first, then the interpolated ones


def demo_pose() -> dict[str, torch.Tensor]:
    """One asymmetric pose (so the views differ): left arm down, right arm forward, left leg stepping.

    Axis-angle per SMPL joint in the body frame (y up, facing +z, left at +x); the root stands the body up in the
    z-up world (R_x(90 deg)) and turns it by 30 degrees about the vertical.
    """
    pose = torch.zeros(1, 72)
    joint = {"left_hip": 1, "left_knee": 4, "left_shoulder": 16, "right_shoulder": 17, "right_elbow": 19}
    pose[0, 3 * joint["left_shoulder"] : 3 * joint["left_shoulder"] + 3] = torch.tensor([0.0, 0.0, -1.1])
    pose[0, 3 * joint["right_shoulder"] : 3 * joint["right_shoulder"] + 3] = torch.tensor([0.0, 1.3, 0.0])
    pose[0, 3 * joint["right_elbow"] : 3 * joint["right_elbow"] + 3] = torch.tensor([0.0, 0.6, 0.0])
    pose[0, 3 * joint["left_hip"] : 3 * joint["left_hip"] + 3] = torch.tensor([-0.6, 0.0, 0.0])
    pose[0, 3 * joint["left_knee"] : 3 * joint["left_knee"] + 3] = torch.tensor([0.9, 0.0, 0.0])
    root = rotation_about_axis(torch.tensor(np.pi / 6), "z") @ rotation_about_axis(torch.tensor(np.pi / 2), "x")
    pose[0, :3] = matrix_to_axis_angle(root)
    return {"pose": pose, "betas": torch.zeros(1, 10), "trans": torch.tensor([[0.0, 0.0, 0.95]]),
            "gender": torch.zeros(1, dtype=torch.long)}  # fmt: skip


def short_name(cams: CameraSet, i: int) -> str:
    """'3: 60457274' for a Human3.6M camera, '4: 60457274|55011271' for one interpolated between two."""
    name = cams.names[i]
    return f"{i}: {name.split('@')[0].replace('+', '|')}" if "+" in name else f"{i}: {name}"


def world_vertices(out: dict[str, torch.Tensor], cams: CameraSet, k: int) -> np.ndarray:
    """Sample k's vertices back in the world frame: X = R^T (X_cam - t)."""
    c = int(out["camera_idx"][k])
    x_cam = (out["vertices"][k] + out["pelvis"][k]).double()
    return ((x_cam - cams.t[c].double()) @ cams.R[c].double()).numpy()


def save(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_topdown(cams: CameraSet, footprint: np.ndarray, centre: np.ndarray, path: Path) -> None:
    """Cameras (x-y of their centres, arrows along their optical axes) around the body's footprint."""
    fig, ax = plt.subplots(figsize=(7.5, 7.5))
    hull = ConvexHull(footprint)
    ax.add_patch(Polygon(footprint[hull.vertices], closed=True, color="0.35", alpha=0.8, label="body footprint"))
    ax.plot(*centre[:2], marker="*", color="k", ms=12, ls="none", label="capture-volume centre")
    pos = cams.centers.double().numpy()
    axes = cams.optical_axes.double().numpy()
    for i in range(len(cams)):
        original = i < NUM_ORIGINAL
        colour = "tab:blue" if original else "tab:orange"
        ax.plot(*pos[i, :2], marker="s" if original else "o", ms=10, color=colour, mfc=colour if original else "white",
                mew=2, ls="none", label=("Human3.6M S1 camera" if i == 0 else None) if original
                else ("interpolated camera" if i == NUM_ORIGINAL else None))  # fmt: skip
        d = axes[i, :2] / np.linalg.norm(axes[i, :2])
        ax.annotate("", xy=pos[i, :2] + 1.3 * d, xytext=pos[i, :2],
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 2})  # fmt: skip
        ax.plot(*np.stack([pos[i, :2], centre[:2]]).T, color=colour, lw=0.6, ls=":")
        outward = (pos[i, :2] - centre[:2]) / np.linalg.norm(pos[i, :2] - centre[:2])
        sideways = abs(outward[0]) > 0.7  # wide labels of cameras left / right of the centre go above them
        at = pos[i, :2] + (np.array([0.0, 0.45]) if sideways else 0.9 * outward)
        ax.text(*at, short_name(cams, i) + f"\nheight {pos[i, 2]:.2f} m", ha="center",
                va="bottom" if sideways else "center", fontsize=8, color=colour)  # fmt: skip
    ax.set_aspect("equal")
    ax.set_xlabel("world x (m)")
    ax.set_ylabel("world y (m)")
    ax.grid(alpha=0.3)
    lim = np.abs(pos[:, :2] - centre[:2]).max() + 2.2
    ax.set_xlim(centre[0] - lim, centre[0] + lim)
    ax.set_ylim(centre[1] - lim, centre[1] + lim)
    ax.set_title("Virtual cameras seen from above (world z up); arrows = viewing direction")
    ax.legend(loc="lower left", fontsize=8)
    inset = ax.inset_axes((0.73, 0.60, 0.25, 0.25))  # the footprint magnified
    inset.add_patch(Polygon(footprint[hull.vertices], closed=True, color="0.35", alpha=0.8))
    inset.plot(*centre[:2], marker="*", color="k", ms=8)
    inset.set_xlim(centre[0] - 0.6, centre[0] + 0.6)
    inset.set_ylim(centre[1] - 0.6, centre[1] + 0.6)
    inset.set_aspect("equal")
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_title("footprint, 1.2 m x 1.2 m", fontsize=7)
    save(fig, path)


def plot_views(cams: CameraSet, heat: dict[str, torch.Tensor], mask: torch.Tensor, path: Path) -> None:
    """One row per camera: silhouette + projected skeleton, and the summed heatmaps over the silhouette."""
    n = len(cams)
    size = heat["inputs"].shape[-1]
    fig, axs = plt.subplots(n, 2, figsize=(5.2, 2.6 * n))
    for i in range(n):
        sil = mask[i, 0].numpy()
        kp = ((heat["keypoints2d"][i].numpy() + 1) * size - 1) / 2  # [-1, 1] -> map pixels
        vis = heat["visible"][i].numpy()
        left, right = axs[i]
        left.imshow(sil, cmap="gray", vmin=0, vmax=1.6)
        for a, b in COCO_SKELETON:
            if vis[a] and vis[b]:
                left.plot(kp[[a, b], 0], kp[[a, b], 1], color="tab:red", lw=1.5)
        left.scatter(kp[vis, 0], kp[vis, 1], s=6, color="yellow", zorder=3)
        summed = heat["inputs"][i].sum(dim=0).clamp(max=1).numpy()
        right.imshow(sil, cmap="gray", vmin=0, vmax=3)
        right.imshow(summed, cmap="magma", alpha=np.clip(summed * 1.5, 0, 1), vmin=0, vmax=1)
        left.set_ylabel(short_name(cams, i) + (" (interp.)" if i >= NUM_ORIGINAL else ""), fontsize=8)
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])
    axs[0, 0].set_title("silhouette + COCO skeleton", fontsize=9)
    axs[0, 1].set_title("sum of the 17 heatmaps", fontsize=9)
    fig.suptitle(f"One pose through each virtual camera ({size}x{size} maps of the 224 crop)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    save(fig, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", default=None, help="demo assets folder (made by tools/standin/make_assets.py)")
    ap.add_argument("--smpl", default=None, help="real SMPL folder instead of the demo body")
    ap.add_argument("--regressor", default=None, help="Human3.6M J-regressor with --smpl")
    ap.add_argument("--out", required=True, help="folder for the two PNGs")
    ap.add_argument("--size", type=int, default=112, help="map size (the picture uses 112 to stay small)")
    args = ap.parse_args(argv)
    out_dir = Path(args.out)

    if not (args.smpl or args.assets):
        raise SystemExit("give --assets DIR (demo assets) or --smpl and --regressor (real SMPL files)")
    from tools.standin.make_assets import body_model

    body = body_model(args.smpl, args.regressor, args.assets)
    cams = virtual_cameras(8)
    n = len(cams)
    batch = {k: v.expand(n, *v.shape[1:]).clone() for k, v in demo_pose().items()}
    every = torch.arange(n)
    sigma = 8.0 * args.size / 224
    heat_synth = Synthesizer(body, cams, SynthesisOptions(size=args.size, sigma=sigma))
    mask_synth = Synthesizer(body, cams, SynthesisOptions(kind="mask", size=args.size))
    with torch.no_grad():  # one SMPL forward and one set of (evaluation) views for both pictures
        verts, joints = heat_synth.pose_bodies(batch)
        params = heat_synth.sample_params(n, None, train=False, camera_idx=every)
        heat = heat_synth.render(verts, joints, params)
        mask = mask_synth.render(verts, joints, params)["inputs"]
    footprint = world_vertices(heat, cams, 0)[:, :2]
    plot_topdown(cams, footprint, heat_synth.volume_center.double().numpy(), out_dir / "cameras_topdown.png")
    plot_views(cams, heat, mask, out_dir / "heatmaps_by_view.png")
    print(f"wrote {out_dir / 'cameras_topdown.png'} and {out_dir / 'heatmaps_by_view.png'}")


if __name__ == "__main__":
    main()
