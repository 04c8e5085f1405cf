"""The stand-in pose network tool: its loss and its PCK against hand computations (numpy Gaussians, distances by
hand), its checkpoint read back through the real loader from a backbone config, and the no-op second call."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mpt.config import compose_config
from mpt.data.image_dataset import MeshTSVDataset
from mpt.engine.builders import build_backbone
from tools.standin.train_pose import PoseTrainOptions, evaluate_keypoints, heatmap_loss, train_demo_pose

STEPS_TO_LEARN, CROP = 150, 96  # memorising 16 images: about a minute on 2 cores


def _gaussians_by_hand(kp: np.ndarray, crop: int, size: int, sigma: float = 2.0) -> np.ndarray:
    """(B, J, 3) normalised keypoints -> (B, J, size, size) Gaussians at their map pixels (numpy, full grid)."""
    crop_px = ((kp[..., :2] + 1) * crop - 1) / 2  # [-1, 1] at the crop's outer edges -> pixel centres
    map_px = (crop_px + 0.5) * size / crop - 0.5  # the same outer edges on the map
    v, u = np.mgrid[0:size, 0:size]
    d2 = (u - map_px[..., 0, None, None]) ** 2 + (v - map_px[..., 1, None, None]) ** 2
    return np.exp(-d2 / (2 * sigma**2))


def _labels_by_hand(dataset: MeshTSVDataset) -> tuple[np.ndarray, np.ndarray]:
    """The set's COCO keypoints in crop pixels (N, 17, 2) and which count (N, 17): labelled and inside the crop."""
    kp = np.stack([dataset[i]["keypoints"].numpy() for i in range(len(dataset))])  # (N, 17, 3) normalised
    side = dataset.img_size
    gt = ((kp[..., :2] + 1) * side - 1) / 2
    return gt, (kp[..., 2] > 0) & (gt >= -0.5).all(-1) & (gt < side - 0.5).all(-1)


def test_loss_is_zero_at_the_target_and_ignores_unlabelled_and_outside_keypoints():
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(-0.8, 0.8, (2, 17, 2)), np.ones((2, 17, 1))], axis=-1)
    kp[0, 3, 2] = 0.0  # unlabelled
    kp[1, 5, :2] = (1.5, 0.0)  # outside the crop and the map
    for crop, sizes in ((64, (16,)), (128, (32, 64))):  # SimpleBaseline's 1/4 map; HigherHRNet's 1/4 and 1/2
        target = [torch.from_numpy(_gaussians_by_hand(kp, crop, s)).float() for s in sizes]
        for t in target:
            t[0, 3] = 5.0  # whatever the network says there is not supervised
            t[1, 5] = -2.0
        loss = heatmap_loss(target, torch.from_numpy(kp).float(), crop)
        assert loss.item() < 1e-10
        # 0.1 too high everywhere on one supervised map: 0.5 * 0.01, averaged over the 32 supervised keypoints
        off = [t.clone() for t in target]
        off[0][0, 0] += 0.1
        assert heatmap_loss(off, torch.from_numpy(kp).float(), crop).item() == pytest.approx(0.5 * 0.01 / 32)


class _Constant(nn.Module):
    """A 'pose network' whose every map peaks at one crop pixel."""

    def __init__(self, x: int, y: int) -> None:
        super().__init__()
        self.x, self.y = x, y

    def heatmaps(self, images: torch.Tensor, size: int) -> torch.Tensor:
        maps = torch.zeros(images.shape[0], 17, size, size)
        maps[:, :, self.y, self.x] = 1.0
        return maps


def test_pck_and_pixel_error_by_hand(demo_tsv):
    dataset = MeshTSVDataset(demo_tsv / "human3.6m", "valid_protocol2", train=False)
    result = evaluate_keypoints(_Constant(100, 80), dataset, batch=5)
    gt, valid = _labels_by_hand(dataset)
    dist = np.linalg.norm(gt - np.array([100.0, 80.0]), axis=-1)
    assert result["keypoints"] == valid.sum() and result["images"] == len(dataset)
    assert result["pck@0.1"] == pytest.approx(((dist < 22.4) & valid).sum() / valid.sum())
    assert result["mean_px"] == pytest.approx(dist[valid].mean(), rel=1e-5)
    assert result["per_keypoint"]["nose"]["mean_px"] == pytest.approx(dist[:, 0][valid[:, 0]].mean(), rel=1e-5)


class _LabelGaussians(nn.Module):
    """A 'pose network' that knows the set: each image's maps are the numpy Gaussians at its own labels (found by
    the image's bytes, so any batching and order work)."""

    def __init__(self, dataset: MeshTSVDataset) -> None:
        super().__init__()
        self.labels = {dataset[i]["image"].numpy().tobytes(): dataset[i]["keypoints"].numpy()
                       for i in range(len(dataset))}  # fmt: skip
        self.crop = dataset.img_size

    def heatmaps(self, images: torch.Tensor, size: int) -> torch.Tensor:
        kp = np.stack([self.labels[image.numpy().tobytes()] for image in images])  # (B, 17, 3)
        return torch.from_numpy(_gaussians_by_hand(kp, self.crop, size)).float()


def test_maps_at_the_labels_score_pck_1(demo_tsv):
    """Fast and deterministic: maps that are Gaussians at the labels decode to the labels' nearest pixels (under
    0.71 px away), so PCK@0.1 is 1 over every labelled keypoint inside the crop."""
    dataset = MeshTSVDataset(demo_tsv / "coco_keypoints", "train", train=False, img_size=CROP)
    result = evaluate_keypoints(_LabelGaussians(dataset), dataset, batch=5)
    _, valid = _labels_by_hand(dataset)
    assert result["keypoints"] == valid.sum() > 16 * 12 and result["images"] == len(dataset) == 16
    assert result["pck@0.1"] == 1.0 and result["mean_px"] <= 0.5 * 2**0.5 + 1e-4, result["mean_px"]
    assert all(v["pck"] == 1.0 for v in result["per_keypoint"].values() if v["mean_px"] is not None)


def test_checkpoint_loads_through_the_backbone_config_and_a_second_call_trains_nothing(demo_tsv, tmp_path):
    opt = PoseTrainOptions(deconv_filters=32, steps=2, batch=2, crop=64, small_steps=0, log_every=1, val_every=2)
    ckpt = tmp_path / "pose" / "stand_in.pth"
    result = train_demo_pose(demo_tsv, ckpt, opt, verbose=False)
    assert result["checkpoint"] == str(ckpt) and 0.0 <= result["pck@0.1"] <= 1.0
    saved = torch.load(ckpt, weights_only=True)
    assert isinstance(saved, dict) and "final_layer.weight" in saved and "deconv_layers.0.weight" in saved
    # The path real COCO weights take: a backbone config naming the file, loaded strictly.
    cfg = compose_config("finetune", ["backbone=simplebaseline_r18", "backbone.deconv_filters=32",
                                      f"backbone.weights={ckpt}"])  # fmt: skip
    net = build_backbone(cfg)
    assert all(torch.equal(v, saved[k]) for k, v in net.state_dict().items())
    log = [json.loads(line) for line in (tmp_path / "pose" / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2]
    # every val_every steps, the protocol-2 set's PCK and left_right (no selection set given)
    assert "val_pck@0.1" not in log[0] and 0.0 <= log[1]["val_pck@0.1"] <= 1.0
    assert log[1]["val_left_right"] == result["left_right"]["told"]  # the same weights at step 2
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "pose").iterdir()}
    assert train_demo_pose(demo_tsv, ckpt, opt, verbose=False) == result
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "pose").iterdir()} == stamp
    again = train_demo_pose(demo_tsv, ckpt, PoseTrainOptions(**{**opt.__dict__, "steps": 3}), verbose=False)
    assert again["steps"] == 3 and not list((tmp_path / "pose").glob(".*"))  # no temporary files left


@pytest.mark.slow
def test_the_network_finds_the_keypoints_of_the_images_it_learnt(demo_tsv, tmp_path):
    """Trained without augmentation on the 16 rendered keypoint images and measured on the same images (96 px
    crops, 24 px maps), the network's argmax keypoints lie far closer to the labels than an image-blind guess (each
    keypoint at its mean position over the images): the heatmap targets, the loss and the argmax read-out agree on
    where a keypoint is. Measured: 3.81 px (about one map pixel) against 7.10 px for the guess. (Generalising to
    unseen images takes thousands of images: tools/standin/train_pose.py's keypoints.json.)
    """
    opt = PoseTrainOptions(deconv_filters=32, steps=STEPS_TO_LEARN, batch=8, crop=CROP, small_steps=0, augment=False,
                           val_set="coco_keypoints", val_split="train", log_every=STEPS_TO_LEARN)  # fmt: skip
    result = train_demo_pose(demo_tsv, tmp_path / "pose.pth", opt, verbose=False)
    seen = MeshTSVDataset(demo_tsv / "coco_keypoints", "train", train=False, img_size=CROP)
    gt, valid = _labels_by_hand(seen)  # (16, 17, 2), (16, 17)
    guess = np.stack([gt[:, j][valid[:, j]].mean(axis=0) for j in range(17)])  # (17, 2)
    blind = np.linalg.norm(gt - guess, axis=-1)[valid].mean()
    print(f"argmax error {result['mean_px']:.2f} px, image-blind guess {blind:.2f} px ({CROP} px crops)")
    assert result["keypoints"] == valid.sum()
    assert result["mean_px"] < 0.65 * blind


def test_left_right_by_hand():
    """Pairs told apart: predictions at the labels tell every far pair; swapped sides, or both sides' maps peaking at
    one joint (a network that learnt both sides in each map), tell none; pairs nearer than ``apart`` do not count."""
    from tools.standin.train_pose import left_right

    gt = torch.zeros(1, 17, 2)
    left = [1, 3, 5, 7, 9, 11, 13, 15]  # COCO: left_eye, left_ear, ..., left_ankle; right_x = left_x + 1
    for k, j in enumerate(left):
        gt[0, j] = torch.tensor([50.0, 10.0 * k])
        gt[0, j + 1] = torch.tensor([50.0 + (5.0 if j == 1 else 30.0), 10.0 * k])  # the eyes 5 px apart, others 30
    valid = torch.ones(1, 17, dtype=torch.bool)
    right = gt.clone()
    assert left_right(right, gt, valid, 12.8)["told"] == 1.0
    assert left_right(right, gt, valid, 12.8)["pairs"] == 7  # the eyes (5 px apart) do not count
    swapped = gt.clone()
    swapped[0, left], swapped[0, [j + 1 for j in left]] = gt[0, [j + 1 for j in left]], gt[0, left]
    assert left_right(swapped, gt, valid, 12.8)["told"] == 0.0
    same = gt.clone()
    same[0, [j + 1 for j in left]] = gt[0, left]  # each right map peaks at its left joint
    result = left_right(same, gt, valid, 12.8)
    assert result["told"] == 0.0 and result["per_pair"]["wrist"] == {"told": 0.0, "pairs": 1}
    # one pair right, by hand: 1 of 7
    same[0, 10] = gt[0, 10]
    assert left_right(same, gt, valid, 12.8)["told"] == pytest.approx(1 / 7)
    valid[0, 9] = False  # an unlabelled left wrist: its pair is not counted
    assert left_right(same, gt, valid, 12.8)["pairs"] == 6
