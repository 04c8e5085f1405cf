"""Zero-shot evaluations of pre-trained models (no pose network inside them), shared by the study's rows.

* :func:`cache_pose_maps` runs the stand-in pose network once over the evaluation images and keeps its maps at
  their own resolution; :func:`pose_map_errors` then feeds any pre-trained model those maps resized to its input,
  as ``mpt-eval`` with ``backbone=<the pose network>`` would (MPTModel.forward: the backbone's heatmaps resized
  bilinearly to the map size, and their maximum over the 17 channels for a mask model), without running the pose
  network again for every model (it costs far more than the model: about 0.14 CPU-s per image for the stand-in
  ResNet-18 against 0.02 for the tiny MPT).
* :func:`silhouette_errors`: the oracle input of a mask model, the binary silhouette of each row's SMPL labels
  drawn as pre-training draws masks (mpt.synthesis: the mesh projected into the image, cropped to the row's box,
  rasterised by mpt.synthesis.masks.rasterize_mask). A keypoint-heatmap model's oracle is ``mpt-eval
  keypoints=labels``. It needs the stand-in sets' ``pelvis_cam`` and ``cam_param`` label fields
  (tools/standin/make_tsv.py), which place the labelled mesh in the camera.

Both measure with mpt.engine.evaluate.mesh_errors, the function ``mpt-eval`` measures with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from mpt.atomic import atomic_npy, atomic_path
from mpt.body.joints import H36M_PELVIS
from mpt.data.image_dataset import BOX_PIXELS_PER_SCALE, MeshTSVDataset
from mpt.engine.builders import build_body_model, build_model, load_export_into, model_config
from mpt.engine.checkpoint import load_exported
from mpt.engine.evaluate import mesh_errors
from mpt.errors import MptError
from mpt.geometry import points_to_crop, project_points
from mpt.synthesis.masks import rasterize_mask

__all__ = ["FromPoseMaps", "SilhouetteOracle", "cache_pose_maps", "load_map_model", "pose_map_errors",
           "silhouette_errors", "silhouette_masks"]  # fmt: skip

TARGET_KEYS = ("joints3d", "pose", "betas", "has_3d", "has_smpl")  # what mesh_errors reads besides the input


def load_map_model(cfg: DictConfig, device: torch.device) -> tuple[nn.Module, Any, DictConfig]:
    """The model of the export ``cfg.checkpoint`` without a pose network (it reads maps), the body model and the
    merged config; in eval mode on ``device``."""
    export = load_exported(cfg.checkpoint)
    mcfg = model_config(cfg, export.config)
    body = build_body_model(mcfg).to(device)
    model, _ = build_model(mcfg, body)
    load_export_into(model, export, "was it exported by another version or with other model options?")
    return model.to(device).eval(), body, mcfg


def native_map_size(backbone: nn.Module, crop: int) -> int:
    """Side of the pose network's own highest-resolution maps for a ``crop`` image (what its ``heatmaps`` resizes
    from): SimpleBaseline's 1/4 output, HigherHRNet's 1/2 one."""
    with torch.no_grad():
        out = backbone(torch.zeros(1, 3, crop, crop, device=next(backbone.parameters()).device))
    return max(o.shape[-1] for o in (out if isinstance(out, list | tuple) else [out]))


@torch.no_grad()
def cache_pose_maps(backbone: nn.Module, dataset: MeshTSVDataset, out_dir: str | Path, batch_size: int = 16,
                    device: torch.device | None = None) -> Path:  # fmt: skip
    """Write ``maps.npy`` (N, 17, h, w) float32, the network's maps of every item at its own resolution, and
    ``targets.npz`` (the items' 3D targets) into ``out_dir``; ``done.json`` last. Returns ``out_dir``."""
    out_dir = Path(out_dir)
    device = device or torch.device("cpu")
    backbone = backbone.to(device).eval()
    size = native_map_size(backbone, dataset.img_size)
    n = len(dataset)
    targets: dict[str, list[Tensor]] = {k: [] for k in TARGET_KEYS}
    with atomic_npy(out_dir / "maps.npy", np.float32, (n, backbone.num_joints, size, size)) as maps:
        for start in range(0, n, batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, n))]
            images = torch.stack([it["image"] for it in items]).to(device)
            maps[start : start + len(items)] = backbone.heatmaps(images, size).float().cpu().numpy()
            for key in TARGET_KEYS:
                targets[key] += [it[key] for it in items]
    with atomic_path(out_dir / "targets.npz") as tmp:
        np.savez(tmp, **{k: torch.stack(v).numpy() for k, v in targets.items()})
    (out_dir / "done.json").write_text(json.dumps({"items": n, "map_size": size, "set": repr(dataset)}) + "\n")
    return out_dir


class _CachedMaps(Dataset):
    """Items whose ``image`` is the cached pose-network maps (h, w) of the evaluation image, with its targets."""

    def __init__(self, cache_dir: Path) -> None:
        if not (cache_dir / "done.json").is_file():
            raise MptError(f"{cache_dir}: no finished pose-map cache (done.json missing); run the study again to "
                           "compute it")  # fmt: skip
        self.maps = np.load(cache_dir / "maps.npy", mmap_mode="r")
        with np.load(cache_dir / "targets.npz") as z:
            self.targets = {k: torch.from_numpy(z[k]) for k in TARGET_KEYS}

    def __len__(self) -> int:
        return self.maps.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"image": torch.from_numpy(np.array(self.maps[i])), **{k: v[i] for k, v in self.targets.items()}}


class FromPoseMaps(nn.Module):
    """A pre-trained model fed by a pose network's own maps (B, 17, h, w): resized bilinearly to the model's map
    size (the backbones' ``heatmaps``) and, for a mask model, their maximum over the keypoints (MPTModel.forward)."""

    def __init__(self, model: nn.Module, size: int) -> None:
        super().__init__()
        self.model, self.size = model, size

    def forward(self, native: Tensor) -> dict[str, Tensor]:
        maps = F.interpolate(native, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.model.encoder.in_channels == 1:
            maps = maps.amax(dim=1, keepdim=True)
        return self.model(maps)


def pose_map_errors(model: nn.Module, size: int, cache_dir: str | Path, body: Any, device: torch.device,
                    batch_size: int = 32) -> dict[str, float]:  # fmt: skip
    """mesh_errors of a pre-trained model (reading maps of side ``size``) on the cached pose-network maps."""
    loader = DataLoader(_CachedMaps(Path(cache_dir)), batch_size=batch_size, shuffle=False)
    return mesh_errors(FromPoseMaps(model, size).eval(), loader, body, device)


def silhouette_masks(body: Any, pose: Tensor, betas: Tensor, pelvis_cam: Tensor, K: Tensor, center: Tensor,
                     side: Tensor, size: int) -> Tensor:  # fmt: skip
    """Binary silhouettes (B, 1, size, size) of SMPL bodies in their image crops.

    pose (B, 72) with the global orientation in the camera frame, betas (B, 10): the label's body; pelvis_cam
    (B, 3): where its Human3.6M-regressed pelvis is in the camera (metres); K (B, 3, 3) the image's intrinsics;
    center (B, 2) and side (B,) the crop box in image pixels. The mesh is moved so that its regressed pelvis is at
    pelvis_cam (the rendered body's place), projected, mapped into the crop and rasterised as pre-training does.
    """
    vertices = body(pose, betas).vertices  # (B, V, 3), camera orientation
    pelvis = body.h36m_joints(vertices)[:, H36M_PELVIS]  # (B, 3)
    placed = vertices - pelvis[:, None] + pelvis_cam[:, None]
    pixels = project_points(placed, K)  # (B, V, 2) image pixels
    return rasterize_mask(points_to_crop(pixels, center, side, size), body.faces, size)


_SILHOUETTE_PARAMS = (72, 10, 3, 4, 2, 1)  # pose, betas, pelvis_cam, (fx, fy, cx, cy), box centre, box side


class _SilhouetteRows(Dataset):
    """Rows of an image set whose ``image`` is what their silhouette is drawn from (packed, see
    :class:`SilhouetteOracle`), with the targets image evaluation reads. Needs ``pelvis_cam`` and ``cam_param`` in
    the labels."""

    def __init__(self, dataset: MeshTSVDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = self.dataset[i]
        name, text = self.dataset.label_tsv[int(self.dataset.rows[i])][:2]
        p = json.loads(text)[0]
        if "pelvis_cam" not in p or "cam_param" not in p:
            raise MptError(f"{self.dataset.folder} ({self.dataset.split}), image {name}: the label has no "
                           "pelvis_cam / cam_param, so its mesh cannot be placed in the image; the silhouette "
                           "oracle needs the stand-in sets of tools/standin/make_tsv.py")  # fmt: skip
        camera = [*p["cam_param"]["focal"], *p["cam_param"]["princpt"]]
        box = [*p["center"], float(p["scale"]) * BOX_PIXELS_PER_SCALE]
        params = torch.cat([item["pose"], item["betas"], torch.tensor([*p["pelvis_cam"], *camera, *box])]).float()
        return {"image": params, **{k: item[k] for k in TARGET_KEYS}}


class SilhouetteOracle(nn.Module):
    """A mask model fed the silhouettes of labelled bodies, drawn on the model's device from packed rows (B, 92):
    pose (72), betas (10), pelvis_cam (3), fx, fy, cx, cy, box centre (2) and side (1), see :func:`silhouette_masks`."""

    def __init__(self, model: nn.Module, body: Any, size: int) -> None:
        super().__init__()
        self.model, self.body, self.size = model, body, size

    def forward(self, params: Tensor) -> dict[str, Tensor]:
        pose, betas, pelvis, cam, center, side = params.split(_SILHOUETTE_PARAMS, dim=1)
        K = torch.zeros(len(params), 3, 3, dtype=params.dtype, device=params.device)
        K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = cam[:, 0], cam[:, 1], cam[:, 2], cam[:, 3], 1.0
        masks = silhouette_masks(self.body, pose, betas, pelvis, K, center, side[:, 0], self.size)
        return self.model(masks)


def silhouette_errors(model: nn.Module, size: int, dataset: MeshTSVDataset, body: Any, device: torch.device,
                      batch_size: int = 32) -> dict[str, float]:  # fmt: skip
    """mesh_errors of a mask model fed the silhouettes of the set's own SMPL labels (the mask oracle)."""
    loader = DataLoader(_SilhouetteRows(dataset), batch_size=batch_size, shuffle=False)
    return mesh_errors(SilhouetteOracle(model, body, size).eval(), loader, body, device)
