"""tools/study/evaluation.py: the cached pose-network maps give exactly what the model with the pose network inside gives
(heatmap and mask models), and the silhouette oracle covers the person the renderer drew."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpt.config import compose_config
from mpt.data.image_dataset import IMAGENET_MEAN, IMAGENET_STD, MeshTSVDataset
from mpt.engine.builders import build_model
from mpt.engine.evaluate import mesh_errors
from mpt.engine.image_batches import eval_loader
from tools.standin.make_tsv import make_demo_tsv
from tools.study.evaluation import cache_pose_maps, pose_map_errors, silhouette_errors, silhouette_masks


def _cfg(demo_assets, cache, inp: str):
    return compose_config("finetune", ["model=tiny", "backbone=higherhrnet_w32", f"input={inp}",
                                       f"paths.smpl={demo_assets.smpl_dir}",
                                       f"paths.h36m_regressor={demo_assets.h36m_regressor}", f"paths.cache={cache}"])  # fmt: skip


@pytest.mark.parametrize("inp", ["heatmap56", "mask"])
def test_cached_pose_maps_match_the_model_with_its_pose_network(demo_assets, demo_body, demo_tsv, shared_cache_dir,
                                                                tmp_path, inp):  # fmt: skip
    cfg = _cfg(demo_assets, shared_cache_dir, inp)
    torch.manual_seed(0)
    whole, _ = build_model(cfg, demo_body, with_backbone=True)  # the pose network inside, as mpt-eval runs it
    whole.eval()
    maps_only, _ = build_model(cfg, demo_body)  # a pre-trained model: no pose network
    maps_only.load_state_dict({k: v for k, v in whole.state_dict().items() if not k.startswith("backbone.")})
    maps_only.eval()
    dataset = MeshTSVDataset(demo_tsv / "human3.6m", "valid_protocol2")
    device = torch.device("cpu")
    expected = mesh_errors(whole, eval_loader(dataset, 4, 0, 1, 0), demo_body, device)
    cache = cache_pose_maps(whole.backbone, dataset, tmp_path / "maps", batch_size=5)
    maps = np.load(cache / "maps.npy")
    assert maps.shape == (len(dataset), 17, 112, 112)  # HigherHRNet's 1/2-resolution maps of a 224 crop
    got = pose_map_errors(maps_only, cfg.input.size, cache, demo_body, device)
    assert got["count"] == expected["count"] == len(dataset)
    for key in ("mpjpe", "pa_mpjpe", "pve"):
        assert got[key] == pytest.approx(expected[key], rel=0, abs=1e-3), key


@pytest.fixture(scope="module")
def plain_set(demo_assets, tmp_path_factory):
    """Protocol-2 images on plain backgrounds (the person is every pixel unlike the background colour)."""
    out = tmp_path_factory.mktemp("plain_tsv")
    make_demo_tsv(demo_assets, out, seed=5, n_train=0, n_valid=6, n_coco=0, n_keypoints=0, backgrounds=("plain",))
    return MeshTSVDataset(out / "human3.6m", "valid_protocol2")


def test_silhouette_of_the_labels_is_the_rendered_person(plain_set, demo_body):
    import json

    for i in range(len(plain_set)):
        item = plain_set[i]
        rgb = (item["image"] * torch.tensor(IMAGENET_STD)[:, None, None] +
               torch.tensor(IMAGENET_MEAN)[:, None, None]) * 255  # (3, 224, 224) the evaluation crop  # fmt: skip
        background = rgb[:, 0, 0]  # a corner: the plain background colour
        person = (rgb - background[:, None, None]).abs().amax(dim=0) > 40
        label = json.loads(plain_set.label_tsv[i][1])[0]
        f, c = label["cam_param"]["focal"], label["cam_param"]["princpt"]
        K = torch.tensor([[[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]]])
        with torch.no_grad():
            mask = silhouette_masks(demo_body, item["pose"][None], item["betas"][None],
                                    torch.tensor([label["pelvis_cam"]]), K, torch.tensor([label["center"]]),
                                    torch.tensor([label["scale"] * 200.0]), 224)[0, 0] > 0.5  # fmt: skip
        iou = (mask & person).sum() / (mask | person).sum()
        assert iou > 0.9, (i, float(iou))


def test_silhouette_oracle_evaluates_a_mask_model(plain_set, demo_assets, demo_body, shared_cache_dir):
    cfg = _cfg(demo_assets, shared_cache_dir, "mask")
    torch.manual_seed(0)
    model, _ = build_model(cfg, demo_body)
    metrics = silhouette_errors(model.eval(), cfg.input.size, plain_set, demo_body, torch.device("cpu"))
    assert metrics["count"] == len(plain_set)
    assert all(np.isfinite(metrics[k]) and metrics[k] > 0 for k in ("mpjpe", "pa_mpjpe", "pve"))
