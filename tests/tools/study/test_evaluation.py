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


def _person_masks(dataset: MeshTSVDataset) -> torch.Tensor:
    """(N, 224, 224) bool: the person in each plain-background evaluation crop, read from its pixels (those unlike
    a corner's, the background colour)."""
    masks = []
    for i in range(len(dataset)):
        rgb = (dataset[i]["image"] * torch.tensor(IMAGENET_STD)[:, None, None] +
               torch.tensor(IMAGENET_MEAN)[:, None, None]) * 255  # (3, 224, 224)  # fmt: skip
        masks.append((rgb - rgb[:, 0, 0, None, None]).abs().amax(dim=0) > 40)
    return torch.stack(masks)


def test_silhouette_of_the_labels_is_the_rendered_person(plain_set, demo_body):
    import json

    people = _person_masks(plain_set)
    for i in range(len(plain_set)):
        item, person = plain_set[i], people[i]
        label = json.loads(plain_set.label_tsv[i][1])[0]
        f, c = label["cam_param"]["focal"], label["cam_param"]["princpt"]
        K = torch.tensor([[[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]]])
        with torch.no_grad():
            mask = silhouette_masks(demo_body, item["pose"][None], item["betas"][None],
                                    torch.tensor([label["pelvis_cam"]]), K, torch.tensor([label["center"]]),
                                    torch.tensor([label["scale"] * 200.0]), 224)[0, 0] > 0.5  # fmt: skip
        iou = (mask & person).sum() / (mask | person).sum()
        assert iou > 0.9, (i, float(iou))


class _LabelMeshes(torch.nn.Module):
    """A stand-in mask model that knows the set: for each silhouette it is fed, the label mesh of the row whose
    rendered person (read from the image, not from the code under test) it overlaps best. Records the overlaps."""

    def __init__(self, people: torch.Tensor, vertices: torch.Tensor) -> None:
        super().__init__()
        self.people, self.vertices, self.ious = people, vertices, []  # (N, S, S) bool, (N, 6890, 3)

    def forward(self, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        fed = masks[:, 0] > 0.5  # (B, S, S)
        inter = (fed[:, None] & self.people[None]).flatten(2).sum(-1)  # (B, N)
        union = (fed[:, None] | self.people[None]).flatten(2).sum(-1)
        iou, row = (inter / union).max(dim=1)
        self.ious += iou.tolist()
        return {"vertices": self.vertices[row]}


def test_silhouette_oracle_feeds_each_row_its_own_silhouette(plain_set, demo_assets, demo_body, shared_cache_dir):
    """A stand-in returning the label mesh of the row whose silhouette it is fed scores 0 mm (the predicted and
    label meshes are the same); a silhouette of another row's body, or of a wrong mesh, scores tens of mm."""
    cfg = _cfg(demo_assets, shared_cache_dir, "mask")
    assert cfg.input.size == 224  # the stand-in compares with the 224 evaluation crops
    items = [plain_set[i] for i in range(len(plain_set))]
    with torch.no_grad():
        vertices = demo_body(torch.stack([it["pose"] for it in items]), torch.stack([it["betas"] for it in items]))
    model = _LabelMeshes(_person_masks(plain_set), vertices.vertices)
    metrics = silhouette_errors(model, cfg.input.size, plain_set, demo_body, torch.device("cpu"), batch_size=4)
    assert metrics["count"] == len(plain_set) and len(model.ious) == len(plain_set)
    assert min(model.ious) > 0.9, model.ious  # each row's silhouette covers its rendered person
    for key in ("mpjpe", "pa_mpjpe", "pve"):
        assert metrics[key] == pytest.approx(0.0, abs=1e-3), (key, metrics[key])

