"""The composed MPT network: (pose backbone ->) heatmap encoder -> mesh transformer -> upsampler + camera head.

What: pre-training feeds synthetic heatmaps or masks (B, C, S, S) straight to the encoder (no backbone);
fine-tuning and evaluation feed images (B, 3, 224, 224) through a 2D pose backbone exposing
``heatmaps(x, out_size) -> (B, 17, S, S)`` (mpt/models/backbones). The transformer regresses 14 joints and 431
coarse vertices from their template coordinates (registered buffers, so they follow ``.to(device)`` and are saved
with the weights); the upsampler gives 1723 and 6890 vertices, the camera head a weak-perspective camera, and the
joints are projected with it for the 2D loss.

A frozen backbone (``freeze_backbone``, the config's ``backbone.freeze``) gets no gradient and stays in eval mode
through every ``train()`` call, so its BatchNorm layers normalise with, and never update, the statistics of its
checkpoint: freezing only ``requires_grad`` would leave a training loop's ``model.train()`` re-estimating them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .camera_head import CameraHead, weak_perspective_project
from .heatmap_encoder import HeatmapEncoder
from .transformer import MeshTransformer
from .upsampler import MeshUpsampler

CAMERA_TOKENS = ("all", "vertices")


class MPTModel(nn.Module):
    """forward(inputs (B, C, S, S) heatmaps/masks, or (B, 3, H, W) images with a backbone) -> dict of tensors.

    Keys: ``joints`` (B, 14, 3), ``vertices_coarse`` (B, 431, 3), ``vertices_mid`` (B, 1723, 3), ``vertices``
    (B, 6890, 3), ``camera`` (B, 3) = (s, tx, ty), ``joints_2d`` (B, 14, 2); in training also ``mvm_mask``
    (B, 445) bool (True = query replaced by the mask token); with a backbone also ``heatmaps`` (B, 17, S, S).
    """

    def __init__(
        self, encoder: HeatmapEncoder, transformer: MeshTransformer, upsampler: MeshUpsampler,
        camera_head: CameraHead, template_joints: Tensor, template_coarse: Tensor,
        backbone: nn.Module | None = None, heatmap_size: int = 224, check_inputs: bool = True,
        camera_tokens: str = "all", freeze_backbone: bool = False,
    ) -> None:
        """``camera_tokens``: what the camera head reads, ``"all"`` regressed tokens (joints carry the limb ends;
        ours) or the coarse ``"vertices"`` only (METRO's body network). ``freeze_backbone``: the backbone gets no
        gradient and stays in eval mode (module docstring)."""
        super().__init__()
        template_joints = torch.as_tensor(template_joints, dtype=torch.float32)
        template_coarse = torch.as_tensor(template_coarse, dtype=torch.float32)
        if template_joints.ndim != 2 or template_joints.shape[1] != 3:
            raise ValueError(f"template_joints must be (J, 3), got {tuple(template_joints.shape)}")
        if template_coarse.shape != (upsampler.n_coarse, 3):
            raise ValueError(f"template_coarse must be ({upsampler.n_coarse}, 3), got {tuple(template_coarse.shape)}")
        n_queries = template_joints.shape[0] + template_coarse.shape[0]
        if camera_tokens not in CAMERA_TOKENS:
            raise ValueError(f"camera_tokens must be one of {CAMERA_TOKENS}, got {camera_tokens!r}")
        n_camera = n_queries if camera_tokens == "all" else template_coarse.shape[0]
        if transformer.num_queries != n_queries or camera_head.num_tokens != n_camera:
            raise ValueError(f"templates give {n_queries} queries ({n_camera} for the camera head) but the "
                             f"transformer expects {transformer.num_queries} and the camera head "
                             f"{camera_head.num_tokens}")  # fmt: skip
        if transformer.feature_dim != encoder.feature_dim:
            raise ValueError(f"encoder feature_dim {encoder.feature_dim} != transformer feature_dim "
                             f"{transformer.feature_dim}")
        if (transformer.num_grid_tokens, transformer.grid_dim) != (encoder.num_grid_tokens, encoder.grid_dim):
            raise ValueError(f"encoder gives {encoder.num_grid_tokens} grid tokens of width {encoder.grid_dim}, the "
                             f"transformer expects {transformer.num_grid_tokens} of width {transformer.grid_dim}")
        if backbone is not None and not callable(getattr(backbone, "heatmaps", None)):
            raise TypeError("the backbone must expose heatmaps(x, out_size) -> (B, 17, S, S)")
        self.backbone = backbone
        self.encoder = encoder
        self.transformer = transformer
        self.upsampler = upsampler
        self.camera_head = camera_head
        self.heatmap_size = heatmap_size
        self.check_inputs = check_inputs
        self.camera_tokens = camera_tokens
        self.num_joints = template_joints.shape[0]
        self.register_buffer("template_joints", template_joints)
        self.register_buffer("template_coarse", template_coarse)
        self.backbone_frozen = freeze_backbone and backbone is not None
        if self.backbone_frozen:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> MPTModel:
        """``nn.Module.train``, except that a frozen backbone stays in eval mode."""
        super().train(mode)
        if self.backbone_frozen:
            self.backbone.eval()
        return self

    def _validate(self, inputs: Tensor, maps_given: bool) -> None:
        """Shape always; finiteness when ``check_inputs`` (it synchronises with the device)."""
        images = self.backbone is not None and not maps_given
        channels = 3 if images else self.encoder.in_channels
        what = "images" if images else "heatmaps/masks"
        if inputs.ndim != 4 or inputs.shape[1] != channels:
            raise ValueError(f"MPT expects {what} of shape (B, {channels}, H, W), got {tuple(inputs.shape)}")
        if self.check_inputs and not torch.isfinite(inputs).all():
            raise ValueError(f"MPT input {what} contain NaN or inf values: check the data pipeline")

    def forward(self, inputs: Tensor, mvm_mask: Tensor | None = None, maps_given: bool = False) -> dict[str, Tensor]:
        """Regress joints, the three mesh resolutions, the camera and 2D joints (see class docstring).

        ``maps_given``: ``inputs`` are pose maps even though the model has a backbone (see :meth:`from_maps`).
        """
        self._validate(inputs, maps_given)
        out: dict[str, Tensor] = {}
        maps = inputs
        if self.backbone is not None and not maps_given:
            maps = self.backbone.heatmaps(inputs, self.heatmap_size)
            out["heatmaps"] = maps
            if self.encoder.in_channels == 1:  # mask-input model (Table 4): keypoint maps merged into one channel
                maps = maps.amax(dim=1, keepdim=True)
        feature, grid = self.encoder(maps)
        queries = torch.cat([self.template_joints, self.template_coarse], dim=0)  # (445, 3)
        coords, mask = self.transformer(queries, feature, grid, mvm_mask)
        joints = coords[:, : self.num_joints]
        coarse, mid, full = self.upsampler(coords[:, self.num_joints:])
        camera = self.camera_head(coords if self.camera_tokens == "all" else coords[:, self.num_joints:])
        out.update(joints=joints, vertices_coarse=coarse, vertices_mid=mid, vertices=full, camera=camera,
                   joints_2d=weak_perspective_project(joints, camera))
        if mask is not None:
            out["mvm_mask"] = mask
        return out

    def from_maps(self, maps: Tensor) -> dict[str, Tensor]:
        """The model from pose maps (B, C, S, S) drawn from 2D keypoints, with or without a backbone: the backbone
        (a fine-tuned model's pose network) is skipped, as in pre-training. Keys as :meth:`forward` without a
        backbone."""
        return self(maps, maps_given=True)
