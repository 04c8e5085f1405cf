"""Stand-in COCO keypoint weights for the demo: train a pose network mpt supports on the rendered keypoint images,
measure it on the held-out protocol-2 images, and write it in the official checkpoint layout.

    python -m tools.standin.train_pose --data-root data/demo [--backbone demo_pose] [--steps 200] [--batch 16]
        [--small-crop 128] [--small-steps 160] [--lr 1e-3] [--seed 0]

The paper's pose network starts from COCO keypoint weights, which cannot be downloaded here. This tool makes the
demo's stand-in: the network of the backbone config ``--backbone`` (configs/backbone/demo_pose.yaml: SimpleBaseline
ResNet-18 with a 128-filter head) from the official from-scratch initialisation, trained on the ``coco_keypoints``
set under ``paths.tsv`` of tools/standin/make_tsv.py (thousands of rendered images of
the motions the protocol-2 subjects do not perform, 8 virtual views) as SimpleBaseline / HigherHRNet train on COCO:
person crops (``--crop``, 224 as MPT's) with METRO's augmentation (flip, rotation, box scale, pixel noise), COCO-17
Gaussian heatmaps of sigma 2 at each of the network's own output resolutions (SimpleBaseline: 1/4; HigherHRNet: its
1/4 and 1/2 heads, whose tag maps are left untrained: one person per image needs no grouping), mean squared error
over the labelled keypoints inside the map, Adam at ``--lr`` dropped tenfold at 90/140 and 120/140 of the steps
(the official schedule's milestones, scaled to the step budget). The default budget fits the demo: the first 160
of 200 steps on 128 px crops (progressive resizing: 12-14 images/s on this project's 2-core CPU against 5 at 224 px),
the last 40 on 224 px crops; 6.7 minutes, PCK@0.1 0.52 on the demo's protocol-2 images.

Written where the backbone config's ``weights`` points (data/demo/pose/ for demo_pose), and beside it:
  <weights file>       the state dict under the official key names, as the official COCO checkpoints are saved:
                       ``backbone=demo_pose`` (or any config naming the file in ``backbone.weights``) loads it
                       through mpt.models.backbones.load_pose_weights, exactly as real COCO weights
  keypoints.json       PCK@0.1 (of the crop side) and the mean keypoint error in crop pixels on the protocol-2
                       images (``--val-split`` of ``human3.6m``), overall and per keypoint; also printed
  train_log.jsonl      loss (and, with ``--val-every``, the PCK) during training
  manifest.json        options, data fingerprint and the checkpoint's sha256, written last: a second call with the
                       same options and data finds it and trains nothing

Deterministic for a seed on a given machine and thread count (initialisation, sample order and augmentation are
functions of the seed). A keypoint counts where it is labelled (conf > 0) and inside the crop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mpt.atomic import atomic_path, write_json_atomic, write_text_atomic
from mpt.body.joints import COCO_KEYPOINT_NAMES
from mpt.data.image_dataset import MeshTSVDataset, resolve_set_files
from mpt.engine.checkpoint import sha256_of
from mpt.errors import MptError
from mpt.geometry.crop import normalized_to_crop
from mpt.models.backbones import build_backbone, count_parameters, load_pose_weights
from mpt.synthesis.heatmaps import crop_to_map, gaussian_heatmaps, heatmap_peaks, inside_map

__all__ = ["PoseTrainOptions", "evaluate_keypoints", "heatmap_loss", "main", "train_demo_pose"]

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGMA = 2.0  # Gaussian sigma in output-map pixels (SimpleBaseline / HigherHRNet COCO configs: SIGMA 2)
PCK_THRESHOLD = 0.1  # PCK@0.1: a keypoint is right within 0.1 x the crop side
LR_MILESTONES = (90 / 140, 120 / 140)  # SimpleBaseline COCO schedule: LR_STEP [90, 120] of 140 epochs, factor 0.1


class PoseTrainError(MptError):
    """The image sets are missing or the options cannot be used."""


@dataclass(frozen=True)
class PoseTrainOptions:
    """What :func:`train_demo_pose` trains and how (the manifest records these)."""

    backbone: str = "simplebaseline_r18"  # an architecture of mpt.models.backbones.BACKBONES
    deconv_filters: int | None = None  # SimpleBaseline head width; None: the official 256
    steps: int = 200
    batch: int = 16
    lr: float = 1e-3
    seed: int = 0
    crop: int = 224  # person crop side (MPT's image crop)
    small_crop: int | None = 128  # progressive resizing: the first small_steps steps use crops of this side
    small_steps: int = 160
    augment: bool = True  # METRO's augmentation; False: crops as evaluation cuts them (overfitting checks)
    train_set: str = "coco_keypoints"  # <tsv>/<train_set>/<train_split>.*
    train_split: str = "train"
    val_set: str = "human3.6m"
    val_split: str = "valid_protocol2"
    val_every: int = 0  # also measure the PCK every N steps (0: only at the end)
    log_every: int = 20


def _check(opt: PoseTrainOptions) -> None:
    if opt.steps <= 0 or opt.batch <= 0 or not opt.lr > 0 or opt.log_every <= 0 or opt.val_every < 0:
        raise PoseTrainError(f"steps, batch, lr and log_every must be positive and val_every >= 0, got {opt}")
    for crop in (opt.crop, opt.small_crop or 32):
        if crop <= 0 or crop % 32:
            raise PoseTrainError(f"crops must be positive multiples of 32 (the networks' stride), got {crop}")
    if not 0 <= opt.small_steps <= opt.steps or (opt.small_steps and opt.small_crop is None):
        raise PoseTrainError(f"small_steps must lie in 0..steps and needs small_crop, got {opt.small_steps} steps "
                             f"of {opt.small_crop}")  # fmt: skip


def build_pose_network(opt: PoseTrainOptions) -> nn.Module:
    """The untrained network of ``opt`` (official from-scratch initialisation, seeded)."""
    torch.manual_seed(opt.seed)
    kw = {} if opt.deconv_filters is None else {"deconv_filters": opt.deconv_filters}
    try:
        return build_backbone(opt.backbone, **kw)
    except (ValueError, TypeError) as exc:
        raise PoseTrainError(f"cannot build backbone {opt.backbone!r} with {kw or 'defaults'}: {exc}") from None


def _heatmap_outputs(net: nn.Module, images: Tensor) -> list[Tensor]:
    """The network's keypoint heatmaps at each of its output resolutions: [(B, J, h, w), ...].

    SimpleBaseline returns one tensor; HigherHRNet a list whose first entry also carries tag maps after the J
    heatmap channels.
    """
    out = net(images)
    outputs = out if isinstance(out, list | tuple) else [out]
    return [o[:, : net.num_joints] for o in outputs]


def heatmap_loss(outputs: Sequence[Tensor], keypoints: Tensor, crop: int) -> Tensor:
    """Sum over output resolutions of the mean squared error to COCO Gaussians of sigma SIGMA.

    ``keypoints`` (B, J, 3): x, y in [-1, 1] of the crop and conf. Only labelled keypoints inside a map are
    supervised at that resolution (the official target_weight); each map's error is averaged over its pixels and
    over the supervised keypoints, halved as the official JointsMSELoss.
    """
    crop_px = normalized_to_crop(keypoints[..., :2], crop)  # (B, J, 2) crop pixels
    total = keypoints.new_zeros(())
    for pred in outputs:
        size = pred.shape[-1]
        pts = crop_to_map(crop_px, crop, size)
        weight = (keypoints[..., 2] > 0) & inside_map(pts, size)  # (B, J)
        target = gaussian_heatmaps(pts, weight, size, SIGMA)
        err = (pred - target).square().mean(dim=(-1, -2))  # (B, J)
        total = total + 0.5 * (err * weight).sum() / weight.sum().clamp_min(1)
    return total


@torch.no_grad()
def evaluate_keypoints(net: nn.Module, dataset: MeshTSVDataset, batch: int = 16) -> dict[str, Any]:
    """PCK@0.1 and mean error (crop pixels) of the maps' argmax against the labels, over labelled keypoints that lie
    inside the crop; per keypoint too. The maps are read at the crop's resolution (``heatmaps(x, crop)``)."""
    was_training = net.training
    net.eval()
    crop = dataset.img_size
    dists, valids = [], []
    for start in range(0, len(dataset), batch):
        items = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
        images = torch.stack([it["image"] for it in items])
        kp = torch.stack([it["keypoints"] for it in items])  # (b, J, 3)
        pred, _ = heatmap_peaks(net.heatmaps(images, crop))  # (b, J, 2) crop pixels
        gt = normalized_to_crop(kp[..., :2], crop)
        dists.append((pred - gt).norm(dim=-1))
        valids.append((kp[..., 2] > 0) & inside_map(gt, crop))
    net.train(was_training)
    dist, valid = torch.cat(dists), torch.cat(valids)  # (N, J)
    hit = (dist < PCK_THRESHOLD * crop) & valid
    per_joint = {name: {"pck": float(hit[:, j].sum() / valid[:, j].sum().clamp_min(1)),
                        "mean_px": float(dist[:, j][valid[:, j]].mean()) if valid[:, j].any() else None}
                 for j, name in enumerate(COCO_KEYPOINT_NAMES)}  # fmt: skip
    return {"pck@0.1": float(hit.sum() / valid.sum().clamp_min(1)), "mean_px": float(dist[valid].mean()),
            "keypoints": int(valid.sum()), "images": len(dataset), "crop": crop, "per_keypoint": per_joint}


def _lr_at(step: int, opt: PoseTrainOptions) -> float:
    return opt.lr * 0.1 ** sum(step >= round(m * opt.steps) for m in LR_MILESTONES)


def _batches(dataset: MeshTSVDataset, opt: PoseTrainOptions):
    """Training batches forever: a seeded permutation per epoch, augmentation a function of (seed, epoch, item)."""
    epoch = 0
    while True:
        dataset.set_epoch(epoch)
        seed = (dataset.seed or 0) * 1000 + epoch
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
        for start in range(0, len(order) - opt.batch + 1, opt.batch):
            items = [dataset[int(i)] for i in order[start : start + opt.batch]]
            yield torch.stack([it["image"] for it in items]), torch.stack([it["keypoints"] for it in items])
        epoch += 1


def _sets(tsv: Path, opt: PoseTrainOptions) -> tuple[list[MeshTSVDataset], MeshTSVDataset]:
    """The training sets (crops of small_crop, then of crop; a differently seeded order each) and the validation
    set."""
    crops = ([opt.small_crop] if opt.small_steps else []) + [opt.crop]
    try:
        train = [MeshTSVDataset(tsv / opt.train_set, opt.train_split, train=opt.augment, seed=opt.seed + k,
                                img_size=crop) for k, crop in enumerate(crops)]  # fmt: skip
        val = MeshTSVDataset(tsv / opt.val_set, opt.val_split, train=False, img_size=opt.crop)
    except MptError as exc:
        raise PoseTrainError(f"{exc}\nrender the demo image sets first: python -m tools.standin.make_tsv --assets "
                             f"data/demo --out {tsv}") from None  # fmt: skip
    if len(train[0]) < opt.batch:
        raise PoseTrainError(f"{train[0]!r} holds fewer images than one batch of {opt.batch}")
    return train, val


def _fingerprint(tsv: Path, opt: PoseTrainOptions) -> dict[str, str]:
    """sha256 of the image and label files the network learns from and is measured on."""
    out = {}
    for folder, split in ((opt.train_set, opt.train_split), (opt.val_set, opt.val_split)):
        files = resolve_set_files(tsv / folder, split)
        for key in ("img", "label"):
            out[f"{folder}/{files[key].name}"] = sha256_of(files[key])
    return out


def _existing(out: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a previous run with the same options, data and checkpoint name, or None."""
    keys = ("version", "options", "data", "checkpoint")
    try:
        old = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
        ckpt = out / old["checkpoint"]
        if {k: old.get(k) for k in keys} != {k: manifest[k] for k in keys}:
            return None
        if not ckpt.is_file() or sha256_of(ckpt) != old["sha256"]:
            return None
        return json.loads((out / "keypoints.json").read_text(encoding="utf-8"))
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return None


def train_demo_pose(tsv: str | Path, checkpoint: str | Path, opt: PoseTrainOptions | None = None,
                    verbose: bool = True) -> dict[str, Any]:  # fmt: skip
    """Train (or find already trained) the stand-in pose network on the sets under ``tsv`` and write it to
    ``checkpoint``, its keypoints.json, train_log.jsonl and manifest.json beside it; returns keypoints.json's
    content (``checkpoint``: the path)."""
    opt = opt or PoseTrainOptions()
    _check(opt)
    tsv, ckpt = Path(tsv), Path(checkpoint)
    out = ckpt.parent
    train_sets, val_set = _sets(tsv, opt)
    manifest = {"version": FORMAT_VERSION, "options": asdict(opt), "data": _fingerprint(tsv, opt),
                "checkpoint": ckpt.name}
    done = _existing(out, manifest)
    if done is not None:
        if verbose:
            print(f"{out / MANIFEST_NAME}: already trained with these options and data")
        return done
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    say = print if verbose else (lambda *a, **k: None)

    net = build_pose_network(opt)
    net.train()
    phases = f"{opt.small_steps} steps of {opt.small_crop} px crops, then " if opt.small_steps else ""
    say(f"{opt.backbone} ({count_parameters(net) / 1e6:.2f}M parameters) on {train_sets[0]!r}: {phases}"
        f"{opt.steps - opt.small_steps} steps of {opt.crop} px crops, {opt.batch} per step")  # fmt: skip
    optim = torch.optim.Adam(net.parameters(), lr=opt.lr)
    batches = [_batches(d, opt) for d in train_sets]
    log: list[dict[str, Any]] = []
    start = time.perf_counter()
    running = 0.0
    for step in range(opt.steps):
        for group in optim.param_groups:
            group["lr"] = _lr_at(step, opt)
        phase = 0 if step < opt.small_steps else len(batches) - 1
        images, keypoints = next(batches[phase])
        loss = heatmap_loss(_heatmap_outputs(net, images), keypoints, train_sets[phase].img_size)
        if not torch.isfinite(loss):
            raise PoseTrainError(f"the loss became {loss.item()} at step {step}; lower --lr")
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        running += loss.item()
        done_steps = step + 1
        if done_steps % opt.log_every == 0 or done_steps == opt.steps:
            elapsed = time.perf_counter() - start
            entry = {"step": done_steps, "loss": running / (done_steps - (log[-1]["step"] if log else 0)),
                     "lr": _lr_at(step, opt), "seconds": round(elapsed, 1),
                     "images_per_s": round(done_steps * opt.batch / elapsed, 2)}  # fmt: skip
            running = 0.0
            if opt.val_every and done_steps % opt.val_every == 0:
                entry["val_pck@0.1"] = evaluate_keypoints(net, val_set)["pck@0.1"]
            log.append(entry)
            say(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()), flush=True)
    train_seconds = time.perf_counter() - start

    with atomic_path(ckpt) as tmp:
        torch.save(net.state_dict(), tmp)  # a plain state dict: the official checkpoints' layout
    check = build_pose_network(opt)
    load_pose_weights(check, ckpt)  # the checkpoint loads through the real loader, strictly
    result = evaluate_keypoints(check, val_set)
    result.update(set=f"{opt.val_set}/{opt.val_split}", checkpoint=str(ckpt), backbone=opt.backbone,
                  deconv_filters=opt.deconv_filters, parameters=count_parameters(check), steps=opt.steps,
                  train_crops_seen=opt.steps * opt.batch, train_seconds=round(train_seconds, 1),
                  protocol=f"PCK@{PCK_THRESHOLD}: argmax of each map read at the crop's resolution within "
                           f"{PCK_THRESHOLD} x {opt.crop} px of the label; labelled keypoints inside the crop; "
                           f"mean_px: mean distance in crop pixels")  # fmt: skip
    write_text_atomic(out / "train_log.jsonl", "".join(json.dumps(e) + "\n" for e in log))
    write_json_atomic(out / "keypoints.json", result)
    write_json_atomic(out / MANIFEST_NAME, {**manifest, "sha256": sha256_of(ckpt)})
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: see the module docstring."""
    d = PoseTrainOptions()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="paths.data_root: the image sets are under its tsv/")
    parser.add_argument("--backbone", default="demo_pose", help="a backbone config (configs/backbone/) naming the "
                        "architecture and, in its weights, the file to write")  # fmt: skip
    parser.add_argument("--steps", type=int, default=d.steps)
    parser.add_argument("--batch", type=int, default=d.batch)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--crop", type=int, default=d.crop)
    parser.add_argument("--small-crop", type=int, default=d.small_crop, help="crop side of the first --small-steps")
    parser.add_argument("--small-steps", type=int, default=d.small_steps)
    parser.add_argument("--val-every", type=int, default=d.val_every)
    parser.add_argument("--log-every", type=int, default=d.log_every)
    parser.add_argument("--out", default=None, help="write the checkpoint here instead of the backbone config's weights")
    args = parser.parse_args(argv)
    from mpt.config import compose_config

    cfg = compose_config("finetune", [f"backbone={args.backbone}", f"paths.data_root={args.data_root}"])
    b = cfg.backbone
    opt = PoseTrainOptions(backbone=b.name, deconv_filters=b.deconv_filters, steps=args.steps, batch=args.batch,
                           lr=args.lr, seed=args.seed, crop=args.crop, small_crop=args.small_crop,
                           small_steps=args.small_steps, val_every=args.val_every,
                           log_every=args.log_every)  # fmt: skip
    try:
        if b.weights is None:
            raise PoseTrainError(f"backbone config {args.backbone} names no weights file to write; use one that does "
                                 "(e.g. demo_pose) or set its weights")  # fmt: skip
        result = train_demo_pose(cfg.paths.tsv, args.out or b.weights, opt)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"keypoints on {result['set']} ({result['images']} held-out images, {result['keypoints']} keypoints): "
          f"PCK@0.1 {result['pck@0.1']:.3f}, mean error {result['mean_px']:.1f} px of the {result['crop']} px crop")
    print(f"wrote {result['checkpoint']} and {Path(result['checkpoint']).parent / 'keypoints.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
