"""Build the framework's objects from a composed config (the only place that maps config nodes to constructors)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mpt.body import BodyModel, find_smpl_file, h36m_to_j14, load_joint_regressor
from mpt.body.joints import H36M_PELVIS
from mpt.engine.checkpoint import Export, load_exported
from mpt.errors import MptError
from mpt.geometry import CameraSet, h36m_s1_cameras, virtual_cameras
from mpt.losses import LossWeights
from mpt.models.camera_head import CameraHead
from mpt.models.mesh_levels import MeshLevels, load_or_compute_mesh_levels
from mpt.models.mpt import MPTModel
from mpt.models.transformer import MeshTransformer
from mpt.models.upsampler import MeshUpsampler

_GENDERS = {"neutral": ("neutral",), "per_sample": ("neutral", "male", "female")}


def build_body_model(cfg: DictConfig, with_h36m: bool = True, genders_from_cache: bool = False) -> BodyModel:
    """The SMPL body model from ``cfg.paths`` / ``cfg.body``; missing files raise an error naming them.

    ``body.gender=per_sample`` loads all three models so each motion is posed with its own (pre-training only);
    METRO and Pose2Mesh use the neutral model for everything, which is the default.
    """
    if cfg.body.gender not in _GENDERS:
        raise ValueError(f"body.gender must be one of {sorted(_GENDERS)}, got {cfg.body.gender!r}")
    genders = _GENDERS[cfg.body.gender] if genders_from_cache else ("neutral",)
    return BodyModel(
        smpl=cfg.paths.smpl,
        h36m_regressor=cfg.paths.h36m_regressor if with_h36m else None,
        genders=genders,
        num_betas=cfg.body.num_betas,
        coco_regressor=cfg.paths.coco_regressor,
    )


def build_cameras(cfg: DictConfig) -> CameraSet:
    """The virtual cameras of ``cfg.cameras`` (Human3.6M S1 + interpolated)."""
    indices = list(cfg.cameras.indices) if cfg.cameras.indices is not None else None
    return virtual_cameras(cfg.cameras.num_views, indices)


def build_val_cameras(cfg: DictConfig) -> CameraSet:
    """The Human3.6M S1 cameras that validate pre-training (``cfg.cameras.val_indices``), the same for every
    number of training views so that runs with 1, 2, 4 and 8 views are compared over the same views."""
    indices = [int(i) for i in cfg.cameras.val_indices]
    if not indices or len(set(indices)) != len(indices) or not all(0 <= i < 4 for i in indices):
        raise MptError(f"cameras.val_indices must be distinct Human3.6M S1 camera indices in 0..3, got {indices}")
    return h36m_s1_cameras().select(indices)


def build_synthesizer(cfg: DictConfig, body: BodyModel, cameras: CameraSet):  # -> Synthesizer
    """Heatmap / mask synthesis for pre-training from ``cfg.input`` and ``cfg.cameras``."""
    from mpt.synthesis import SynthesisOptions, Synthesizer

    return Synthesizer(body, cameras, SynthesisOptions.from_config(cfg.input, distortion=cfg.cameras.distortion))


def build_mesh_levels(cfg: DictConfig, body: BodyModel) -> MeshLevels:
    """SMPL 6890 -> 1723 -> 431 levels: the GraphCMR/METRO file when given, else computed once and cached."""
    template = body.template.detach().cpu().double().numpy()
    faces = body.faces.cpu().numpy()
    cache = Path(cfg.paths.cache) / "mesh_levels.npz"
    return load_or_compute_mesh_levels(template, faces, cache, cfg.paths.mesh_downsampling)


def build_backbone(cfg: DictConfig) -> torch.nn.Module | None:
    """The 2D pose network of ``cfg.backbone`` (None for ``backbone=none``), with its COCO weights if given.
    ``backbone.freeze`` is applied by :func:`build_network` (the MPT model keeps a frozen backbone frozen)."""
    if cfg.backbone.name == "none":
        return None
    from mpt.models.backbones import build_backbone as make

    kw = {}
    if cfg.backbone.deconv_filters is not None:
        if not cfg.backbone.name.startswith("simplebaseline"):
            raise MptError(f"backbone.deconv_filters sets SimpleBaseline's head width; {cfg.backbone.name} has no "
                           "such head: remove the option")  # fmt: skip
        kw["deconv_filters"] = int(cfg.backbone.deconv_filters)
    return make(cfg.backbone.name, weights=cfg.backbone.weights, **kw)


def build_network(cfg: DictConfig, template_joints: torch.Tensor, template_coarse: torch.Tensor,
                  levels: MeshLevels | None, backbone: torch.nn.Module | None) -> MPTModel:
    """The MPT network of ``cfg.model`` / ``cfg.input`` around the given (pelvis-relative) query templates."""
    in_channels = 1 if cfg.input.kind == "mask" else 17
    encoder = instantiate(cfg.model.encoder, in_channels=in_channels, in_size=cfg.input.size)
    t = cfg.model.transformer
    n_blocks = len(t.hidden)
    transformer = MeshTransformer(
        feature_dim=cfg.model.encoder.feature_dim, num_queries=template_joints.shape[0] + template_coarse.shape[0],
        hidden_dims=list(t.hidden), out_dims=list(t.out), num_layers=[t.layers] * n_blocks,
        num_heads=[t.heads] * n_blocks, dropout=t.dropout, attention_dropout=t.attention_dropout,
        norm_first=t.norm_first, mask_ratio=t.mvm_ratio, num_grid_tokens=encoder.num_grid_tokens,
        grid_dim=encoder.grid_dim, mask_count=t.mvm_count, mask_groups=_mvm_groups(t.mvm_groups, template_joints,
        template_coarse), mask_token=t.mvm_token, intermediate_size=t.intermediate_size,
    )  # fmt: skip
    upsampler = MeshUpsampler(init=levels if cfg.model.upsampler_init == "levels" else None)
    camera_tokens = cfg.model.camera_tokens
    camera_head = CameraHead(num_tokens=transformer.num_queries if camera_tokens == "all" else len(template_coarse))
    return MPTModel(encoder, transformer, upsampler, camera_head, template_joints, template_coarse,
                    backbone=backbone, heatmap_size=cfg.input.size, camera_tokens=camera_tokens,
                    freeze_backbone=cfg.backbone.freeze)  # fmt: skip


def _mvm_groups(groups: str, joints: torch.Tensor, coarse: torch.Tensor) -> tuple[int, ...]:
    """Query groups masked independently: joints and vertices apart (METRO) or all together."""
    if groups == "separate":
        return (len(joints), len(coarse))
    if groups == "together":
        return (len(joints) + len(coarse),)
    raise ValueError(f"model.transformer.mvm_groups must be 'separate' or 'together', got {groups!r}")


def build_model(cfg: DictConfig, body: BodyModel, with_backbone: bool = False) -> tuple[MPTModel, MeshLevels]:
    """The MPT network of ``cfg.model`` (templates from the body model's rest pose) and the mesh levels.

    The initial weights are a function of ``cfg.seed`` (so a resumed run and an uninterrupted one start alike).
    """
    torch.manual_seed(cfg.seed)
    levels = build_mesh_levels(cfg, body)
    template = body.template.detach().float().cpu()[None]  # (1, 6890, 3)
    h36m = torch.einsum("jv,bvc->bjc", body.h36m_regressor.cpu(), template)[0]  # (17, 3)
    template_joints = h36m_to_j14(h36m)  # (14, 3)
    template_coarse = torch.from_numpy(levels.downsample(template[0].numpy(), 2)).float()  # (431, 3)
    pelvis = h36m[H36M_PELVIS]  # queries are pelvis-relative, like the targets (METRO)
    backbone = build_backbone(cfg) if with_backbone else None
    model = build_network(cfg, template_joints - pelvis, template_coarse - pelvis, levels, backbone)
    return model, levels


def loss_weights(cfg: DictConfig) -> LossWeights:
    w = cfg.train.loss
    return LossWeights(joints3d=w.joints3d, vertices=w.vertices, joints2d=w.joints2d,
                       vertex_levels=tuple(w.vertex_levels))  # fmt: skip


def model_config(cfg: DictConfig, trained: DictConfig) -> DictConfig:
    """``cfg`` with the architecture of a trained model (model, input, body) and its backbone when it has one."""
    update = {key: trained[key] for key in ("model", "input", "body")}
    if trained.backbone.name != "none":
        update["backbone"] = OmegaConf.merge(trained.backbone, {"weights": None})
    return OmegaConf.merge(cfg, update)


def load_export_into(model: MPTModel, export: Export, hint: str) -> None:
    """Load an export's weights into ``model``.

    Only the pose network's keys may be missing (a pre-training export has none); any other missing or unexpected
    key is an error naming the export, followed by ``hint``.
    """
    missing, unexpected = model.load_state_dict(export.state, strict=False)
    missing = [k for k in missing if not (model.backbone is not None and k.startswith("backbone."))]
    if missing or unexpected:
        raise MptError(f"{export.folder / 'model.safetensors'}: the weights do not fit this model (missing "
                       f"{missing[:5]}, unexpected {unexpected[:5]}); {hint}")  # fmt: skip


def load_image_model(cfg: DictConfig, device: torch.device, export: Export | None = None,
                     pose_network: bool = True) -> tuple[MPTModel, BodyModel, DictConfig]:  # fmt: skip
    """Body model and image model (backbone included) of the export ``cfg.checkpoint``, in eval mode.

    ``export``: the export already read by :func:`mpt.engine.checkpoint.load_exported` (read here when None).
    The architecture (model, input, body, and a trained backbone) comes from the export's config; paths, device and
    ``backbone.weights`` from ``cfg``. A pre-training export has no pose-network weights: its backbone then comes
    from ``cfg.backbone.weights`` (the paper's Table 2 protocol). ``pose_network=False`` builds the model without
    any pose network, for pose maps drawn from 2D keypoints (mpt.inference.maps): a fine-tuned export's pose-network
    weights are then left unread, and a pre-training export needs none. Returns (model, body, the merged config).
    """
    export = load_exported(cfg.checkpoint) if export is None else export
    try:
        mcfg = model_config(cfg, export.config)
    except OmegaConfBaseException as exc:
        raise MptError(f"{export.folder / 'config.yaml'} does not fit this version's config schema ({exc}); "
                       "export the model again with this version of mpt") from None  # fmt: skip
    body = build_body_model(mcfg).to(device)
    model, _ = build_model(mcfg, body, with_backbone=pose_network)
    if not pose_network:
        export = export._replace(state={k: v for k, v in export.state.items() if not k.startswith("backbone.")})
    load_export_into(model, export, "was it exported by another version or with other model options?")
    if not pose_network:
        return model.to(device).eval(), body, mcfg
    if not any(k.startswith("backbone.") for k in export.state) and mcfg.backbone.weights is None:
        raise MptError(f"{export.folder} holds no pose-network weights (a pre-training export) and backbone.weights "
                       "is not set: give the COCO keypoint checkpoint, e.g. "
                       "backbone.weights=pose_higher_hrnet_w48_640.pth")  # fmt: skip
    return model.to(device).eval(), body, mcfg


def check_inputs(*checks: Callable[[], Any]) -> list[Any]:
    """Run every check; report all failing inputs together in one :class:`MptError` (not just the first).

    Returns the checks' results in order, so a caller uses what a check opened instead of opening it again.
    """
    problems, results = [], []
    for check in checks:
        try:
            results.append(check())
        except MptError as exc:
            problems.append(str(exc))
    if len(problems) == 1:
        raise MptError(problems[0])
    if problems:
        raise MptError(f"{len(problems)} inputs are missing or unusable:\n- " + "\n- ".join(problems))
    return results


def body_checks(cfg: DictConfig) -> tuple[Callable[[], object], ...]:
    """Checks for the SMPL model and the Human3.6M regressor named by ``cfg.paths``."""
    return (lambda: find_smpl_file(cfg.paths.smpl, "neutral"),
            lambda: load_joint_regressor(cfg.paths.h36m_regressor, 17, "Human3.6M"))  # fmt: skip
