"""The study's data tasks (motion corpus, image sets, the released stand-in pose network and its keypoints and maps
of the evaluation images) and the overrides that put the stand-in pose network or the oracle keypoint maps in front
of a model."""

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
# The stand-in pose network and mpt-eval keypoints=labels: every use of them is in the functions below.

POSE_BACKBONE = "demo_pose"  # configs/backbone/demo_pose.yaml (issue 15): architecture and weights file name


def render_image_sets(layout: Layout, p: Protocol) -> None:
    """The image sets from the corpus's image motions (never in pre-training): protocol 2 (evaluation) and the
    Human3.6M- and COCO-like fine-tuning sets."""
    from tools.standin.make_assets import DemoAssets
    from tools.standin.make_tsv import make_demo_tsv

    make_demo_tsv(DemoAssets.at(layout.data).image_assets(), layout.data / "tsv", seed=0, img_size=p.img_size,
                  n_train=p.n_ft_h36m, n_valid=p.n_eval, n_coco=p.n_ft_coco, n_keypoints=0)  # fmt: skip


def pose_config(layout: Layout, p: Protocol, primary: str = "finetune") -> Any:
    """The ``primary`` config (finetune or eval) with the stand-in pose network in front, over the study's data, at
    the study's crop."""
    from mpt.config import compose_config

    return compose_config(primary, [*pose_backbone(), f"paths.data_root={layout.data}",
                                    f"input.crop_size={p.crop_size}"])  # fmt: skip


def install_pose_network(layout: Layout, p: Protocol) -> None:
    """The released stand-in pose network (tools/standin/pose_release.py) into the file its config names, checked
    against the protocol's sha256, and its PCK on the study's evaluation images into ``<store>/stand_in.json``."""
    from mpt.atomic import write_json_atomic
    from mpt.engine.builders import build_backbone
    from mpt.engine.image_batches import build_image_set
    from mpt.errors import MptError
    from tools.standin.pose_release import install_demo_pose, release_manifest
    from tools.standin.train_pose import evaluate_keypoints

    if release_manifest()["sha256"] != p.pose_sha256:
        raise MptError(f"the released stand-in pose network (tools/standin/weights/demo_pose) is not the one this "
                       f"protocol names (sha256 {p.pose_sha256}); run the study from the commit that wrote it")
    install_demo_pose(layout.data)
    cfg = pose_config(layout, p, "eval")
    dataset = build_image_set(cfg.data, train=False, seed=cfg.seed, img_size=p.crop_size)
    keypoints = evaluate_keypoints(build_backbone(cfg).eval(), dataset)
    write_json_atomic(stand_in_file(layout), {"sha256": p.pose_sha256, "set": repr(dataset), **keypoints})


def stand_in_file(layout: Layout) -> Path:
    """The stand-in pose network's PCK on the study's evaluation images (tools/standin/train_pose.py's measure)."""
    return layout.store / "stand_in.json"


def pose_backbone() -> list[str]:
    """Overrides that put the stand-in pose network in front of a model (its config names the weights file under
    ``paths.data_root``, where :func:`install_pose_network` puts it)."""
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

    cfg = pose_config(layout, p, "eval")
    dataset = build_image_set(cfg.data, train=False, seed=cfg.seed, img_size=p.crop_size)
    cache_pose_maps(build_backbone(cfg), dataset, layout.pose_maps, device=_device(p))


DATA: dict[str, Callable[[Layout, Protocol], None]] = {"corpus": prepare_corpus, "images": render_image_sets,
                                                       "pose_network": install_pose_network,
                                                       "pose_maps": cache_eval_pose_maps}  # fmt: skip
