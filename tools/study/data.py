"""The study's data tasks (motion corpus, image sets, stand-in pose network, its maps of the evaluation images) and the
overrides that put the stand-in pose network or the oracle keypoint maps in front of a model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.study.layout import Layout
from tools.study.protocol import Protocol


def _device(p: Protocol) -> Any:
    from mpt.engine.distributed import resolve_device

    return resolve_device(p.device, 0)


# ---------------------------------------------------------------------------------------------------------------
# Interfaces of issue 15 (the stand-in pose network) and issue 17 (mpt-eval keypoints=labels). Every use of them is
# in the four functions below, so that a change of those interfaces is a change here only.

POSE_BACKBONE = "demo_pose"  # configs/backbone/demo_pose.yaml (issue 15): architecture and weights file name


def render_image_sets(layout: Layout, p: Protocol) -> None:
    """The image sets from the corpus's image motions (never in pre-training): protocol 2 (evaluation), Human3.6M-
    and COCO-like fine-tuning sets, and the pose network's keypoint set (motions no protocol-2 subject performs)."""
    from tools.standin.make_assets import DemoAssets
    from tools.standin.make_tsv import make_demo_tsv

    make_demo_tsv(DemoAssets.at(layout.data).image_assets(), layout.data / "tsv", seed=0, img_size=p.img_size,
                  n_train=p.n_ft_h36m, n_valid=p.n_eval, n_coco=p.n_ft_coco, n_keypoints=p.n_pose_images)  # fmt: skip


def pose_config(layout: Layout, primary: str = "finetune") -> Any:
    """The ``primary`` config (finetune or eval) with the stand-in pose network in front, over the study's data."""
    from mpt.config import compose_config

    return compose_config(primary, [*pose_backbone(), f"paths.data_root={layout.data}"])


def train_pose_network(layout: Layout, p: Protocol) -> None:
    """Train (or find trained) the stand-in pose network on the keypoint set, into the file its config names."""
    from tools.standin.train_pose import PoseTrainOptions, train_demo_pose

    cfg = pose_config(layout)
    opt = PoseTrainOptions(backbone=cfg.backbone.name, deconv_filters=cfg.backbone.deconv_filters,
                           steps=p.pose_steps, batch=p.pose_batch, small_crop=p.pose_small_crop,
                           small_steps=p.pose_small_steps, seed=0)  # fmt: skip
    train_demo_pose(cfg.paths.tsv, cfg.backbone.weights, opt)


def pose_keypoints_file(layout: Layout) -> Path:
    """The stand-in pose network's keypoints.json (its PCK), beside the weights file its backbone config names."""
    return Path(pose_config(layout).backbone.weights).parent / "keypoints.json"


def pose_backbone() -> list[str]:
    """Overrides that put the stand-in pose network in front of a model (its config names the weights file under
    ``paths.data_root``, where :func:`train_pose_network` writes it)."""
    return [f"backbone={POSE_BACKBONE}"]


def oracle_keypoints() -> list[str]:
    """mpt-eval overrides that draw the evaluation maps from each row's 2D labels, as pre-training draws them."""
    return ["keypoints=labels"]


# ---------------------------------------------------------------------------------------------------------------
# Data


def prepare_corpus(layout: Layout, p: Protocol) -> None:
    """The study motion corpus and its motion cache (validation: the corpus's held-out subjects)."""
    from mpt.data.prepare_amass import prepare_amass
    from tools.standin.make_assets import make_demo_assets, resolve_size

    assets = make_demo_assets(layout.data, seed=0, size="study", scale=p.corpus_scale)
    val = resolve_size("study", p.corpus_scale).val_datasets
    prepare_amass(assets.amass_dir, layout.data / "amass_cache", val_datasets=val, target_fps=p.target_fps)


def cache_eval_pose_maps(layout: Layout, p: Protocol) -> None:
    """The stand-in pose network's maps of the protocol-2 images (tools/study/evaluation.py)."""
    from mpt.engine.builders import build_backbone
    from mpt.engine.image_batches import build_image_set
    from tools.study.evaluation import cache_pose_maps

    cfg = pose_config(layout, "eval")
    dataset = build_image_set(cfg.data, train=False, seed=cfg.seed)
    cache_pose_maps(build_backbone(cfg), dataset, layout.pose_maps, device=_device(p))


DATA: dict[str, Callable[[Layout, Protocol], None]] = {"corpus": prepare_corpus, "images": render_image_sets,
                                                       "pose_network": train_pose_network,
                                                       "pose_maps": cache_eval_pose_maps}  # fmt: skip
