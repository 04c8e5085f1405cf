"""The predictor: an exported image model and its body model on one device, from uint8 crops (or from pose maps
drawn from 2D keypoints) to pelvis-relative meshes, joints and the weak-perspective camera."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from mpt.body import BodyModel
from mpt.body.joints import H36M_PELVIS
from mpt.data.image_dataset import IMAGENET_MEAN, IMAGENET_STD
from mpt.errors import MptError


def normalize_crops(crops: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B, S, S, 3) uint8 RGB -> (B, 3, S, S) float32 on ``device``: / 255, then ImageNet mean/std, as
    mpt.data.image_dataset does for training and evaluation."""
    x = crops.to(device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class Predictor:
    """An image model and its body model on one device: uint8 crops -> pelvis-relative people.

    ``__call__(crops (B, S, S, 3) uint8 RGB)`` returns tensors on the device: ``vertices`` (B, 6890, 3),
    ``h36m17`` (B, 17, 3), ``coco17`` (B, 17, 3) (metres, relative to the H36M pelvis) and ``camera`` (B, 3),
    the weak-perspective (s, tx, ty) for those pelvis-relative coordinates in the crop's [-1, 1] frame.
    """

    def __init__(self, model: torch.nn.Module, body: BodyModel, device: torch.device) -> None:
        self.model, self.body, self.device = model, body, device
        self.faces = body.faces.to(device)
        self.faces_np = body.faces.cpu().numpy()  # (F, 3) for the mesh files of every image

    @torch.inference_mode()
    def __call__(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.people(self.model(normalize_crops(crops, self.device)))

    @torch.inference_mode()
    def from_maps(self, maps: torch.Tensor) -> dict[str, torch.Tensor]:
        """The same outputs from pose maps (B, 17, S, S) drawn from 2D keypoints (mpt.inference.maps), no pose network."""
        return self.people(self.model.from_maps(maps.to(self.device)))

    def people(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model's outputs -> pelvis-relative vertices and joints, and the camera for them (class docstring)."""
        vertices = out["vertices"].float()  # (B, 6890, 3), the model's frame
        if not bool(torch.isfinite(vertices).all() and torch.isfinite(out["camera"]).all()):
            raise MptError("the model predicted NaN or inf values: its weights are damaged or training diverged; "
                           "export it again from a good checkpoint")  # fmt: skip
        h36m = self.body.h36m_joints(vertices)  # (B, 17, 3)
        coco = self.body.coco_keypoints(vertices)  # (B, 17, 3): SMPL joints of the mesh + face vertices
        pelvis = h36m[:, H36M_PELVIS]  # (B, 3)
        camera = out["camera"].float().clone()
        camera[:, 1:] += pelvis[:, :2]  # s * (X + t) == s * ((X - p) + (t + p_xy))
        return {"vertices": vertices - pelvis[:, None], "h36m17": h36m - pelvis[:, None],
                "coco17": coco - pelvis[:, None], "camera": camera}  # fmt: skip


def build_predictor(cfg: DictConfig, pose_network: bool = True) -> tuple[Predictor, DictConfig]:
    """:class:`Predictor` for ``cfg.checkpoint`` on ``cfg.device`` (auto | cpu | cuda), and the config merged with
    the export's architecture; ``pose_network=False`` for keypoint lifting (no pose network is built or loaded)."""
    from mpt.engine.builders import load_image_model
    from mpt.engine.distributed import resolve_device

    device = resolve_device(cfg.device)
    model, body, mcfg = load_image_model(cfg, device, pose_network=pose_network)
    return Predictor(model, body, device), mcfg
