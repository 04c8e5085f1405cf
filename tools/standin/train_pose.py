"""Stand-in COCO keypoint weights for the demo: train a pose network mpt supports on the rendered keypoint images,
measure it on the held-out protocol-2 images, and write it in the official checkpoint layout.

    python -m tools.standin.train_pose --data-root data/demo [--backbone demo_pose] [--steps 200] [--batch 16]
        [--crop 224] [--lr 1e-3] [--lr-hold 0.6] [--seed 0] [--select-set DIR] [--val-every N] [--half]
        [--small-crop 128 --small-steps 160]

The paper's pose network starts from COCO keypoint weights, which cannot be downloaded here. This tool makes the
demo's stand-in: the network of the backbone config ``--backbone`` (configs/backbone/demo_pose.yaml: SimpleBaseline
ResNet-18 with a 128-filter head) from the official from-scratch initialisation, trained on the ``coco_keypoints``
set under ``paths.tsv`` of tools/standin/make_tsv.py (thousands of rendered images of
the motions the protocol-2 subjects do not perform, 8 virtual views) as SimpleBaseline / HigherHRNet train on COCO:
person crops (``--crop``) with METRO's augmentation (flip, rotation, box scale, pixel noise), COCO-17
Gaussian heatmaps of sigma 2 at each of the network's own output resolutions (SimpleBaseline: 1/4; HigherHRNet: its
1/4 and 1/2 heads, whose tag maps are left untrained: one person per image needs no grouping), mean squared error
over the labelled keypoints inside the map, Adam at ``--lr`` held for ``--lr-hold`` of the steps, then a half cosine
to 0 (:func:`lr_at`: fits any step count).

Train at the crop the network will be read at: a fully convolutional network finds keypoints at the scale it learnt
them (weights trained on 128 px crops score PCK@0.1 0.90 on 128 px crops of the protocol-2 images and 0.41 on 224 px
crops of the same images). ``--small-crop`` / ``--small-steps`` (progressive resizing) are kept for runs that want
it. The demo does not train this network: it installs the released file that this tool made once
(tools/standin/pose_release.py; the command, time and data fingerprint are in the release's manifest.json).

``--select-set`` names the set that chooses a recipe: renders of motions and subjects that are neither in the
training set nor among the protocol-2 images (the demo's motions drawn with another seed)::

    python -m tools.standin.make_assets --out data/select/assets --seed 1
    python -m tools.standin.make_tsv --assets data/select/assets --out data/select/tsv --seed 1 --n-train 0 \
        --n-valid 0 --n-coco 0 --n-keypoints 300

With it, ``--val-every`` measures that set during training and keypoints.json records its PCK too; the
protocol-2 images are measured once, at the end, and choose nothing.

Written where the backbone config's ``weights`` points (data/demo/pose/ for demo_pose), and beside it:
  <weights file>       the state dict under the official key names, as the official COCO checkpoints are saved:
                       ``backbone=demo_pose`` (or any config naming the file in ``backbone.weights``) loads it
                       through mpt.models.backbones.load_pose_weights, exactly as real COCO weights
  keypoints.json       PCK@0.1 (of the crop side) and the mean keypoint error in crop pixels on the protocol-2
                       images (``--val-split`` of ``human3.6m``), overall and per keypoint, and ``left_right``:
                       how often the maps tell a person's left from right (:func:`left_right`); also printed
  train_log.jsonl      loss (and, with ``--val-every``, the PCK and left_right of the selection set) during training
  manifest.json        options, data fingerprint and the checkpoint's sha256, the command, training time and the
                       time it was written, written last: a second call with the same options and data finds it
                       and trains nothing

Deterministic for a seed on a given machine and thread count (initialisation, sample order and augmentation are
functions of the seed). A keypoint counts where it is labelled (conf > 0) and inside the crop.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mpt.atomic import atomic_path, write_json_atomic, write_text_atomic
from mpt.body.joints import COCO_FLIP_INDEX, COCO_KEYPOINT_NAMES
from mpt.data.image_dataset import MeshTSVDataset, resolve_set_files
from mpt.engine.checkpoint import sha256_of
from mpt.errors import MptError
from mpt.geometry.crop import normalized_to_crop
from mpt.models.backbones import build_backbone, count_parameters, load_pose_weights
from mpt.synthesis.heatmaps import crop_to_map, gaussian_heatmaps, heatmap_peaks, inside_map

__all__ = ["PoseTrainOptions", "evaluate_keypoints", "heatmap_loss", "left_right", "left_right_text", "main",
           "train_demo_pose"]

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGMA = 2.0  # Gaussian sigma in output-map pixels (SimpleBaseline / HigherHRNet COCO configs: SIGMA 2)
PCK_THRESHOLD = 0.1  # PCK@0.1: a keypoint is right within 0.1 x the crop side


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
    lr_hold: float = 0.6  # lr constant for this fraction of the steps, then a half cosine to 0 at the last step
    seed: int = 0
    crop: int = 224  # person crop side (MPT's image crop)
    small_crop: int | None = None  # progressive resizing: the first small_steps steps use crops of this side
    small_steps: int = 0
    augment: bool = True  # METRO's augmentation; False: crops as evaluation cuts them (overfitting checks)
    train_set: str = "coco_keypoints"  # <tsv>/<train_set>/<train_split>.*
    train_split: str = "train"
    val_set: str = "human3.6m"
    val_split: str = "valid_protocol2"
    val_every: int = 0  # also measure the PCK every N steps (0: only at the end)
    # The set that chooses the recipe (<select_set>/<select_split>.*; a folder, not under the tsv root): renders of
    # motions and subjects in neither the training set nor the protocol-2 images (tools/pose_selection_set.py);
    # measured every val_every steps instead of the protocol-2 set, which then chooses nothing. None: not used.
    select_set: str | None = None
    select_split: str = "train"
    half: bool = False  # store the weights as float16 (loaded back into float32 parameters): half the file
    log_every: int = 20


def _check(opt: PoseTrainOptions) -> None:
    if opt.steps <= 0 or opt.batch <= 0 or not opt.lr > 0 or opt.log_every <= 0 or opt.val_every < 0:
        raise PoseTrainError(f"steps, batch, lr and log_every must be positive and val_every >= 0, got {opt}")
    if not 0 <= opt.lr_hold <= 1:
        raise PoseTrainError(f"lr_hold is a fraction of the steps in [0, 1], got {opt.lr_hold}")
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


# The COCO left/right pairs (left index, right index), in COCO order: eyes, ears, shoulders, ... ankles.
LEFT_RIGHT = tuple((j, COCO_FLIP_INDEX[j]) for j, n in enumerate(COCO_KEYPOINT_NAMES) if n.startswith("left_"))


def left_right(pred: Tensor, gt: Tensor, valid: Tensor, apart: float) -> dict[str, Any]:
    """Whether the maps tell a person's left from right: (N, 17, 2) predicted and labelled keypoints (crop pixels),
    (N, 17) bool labelled and inside the crop, ``apart`` pixels.

    A left/right pair counts where both are valid and their labels lie at least ``apart`` apart (nearer pairs cannot
    be told by position); it is told where each side's prediction lies nearer its own label than the other side's.
    PCK alone cannot see this: a network whose left and right maps are the same (it learnt both sides' joints in
    each, the mean-squared-error answer while it cannot tell front from back) hits one of every far pair and both of
    every near pair, and the mesh behind such maps cannot know which way the body faces. Returns ``told`` (the
    fraction over all counted pairs; None where none counts), ``pairs`` (that count) and ``per_pair`` {name:
    {"told", "pairs"}} (name without the side prefix)."""
    told_all, count_all, per_pair = 0, 0, {}
    for left, right in LEFT_RIGHT:
        counted = valid[:, left] & valid[:, right] & ((gt[:, left] - gt[:, right]).norm(dim=-1) >= apart)
        own_l = (pred[:, left] - gt[:, left]).norm(dim=-1) < (pred[:, left] - gt[:, right]).norm(dim=-1)
        own_r = (pred[:, right] - gt[:, right]).norm(dim=-1) < (pred[:, right] - gt[:, left]).norm(dim=-1)
        told, count = int((own_l & own_r & counted).sum()), int(counted.sum())
        per_pair[COCO_KEYPOINT_NAMES[left].removeprefix("left_")] = {
            "told": told / count if count else None, "pairs": count}
        told_all, count_all = told_all + told, count_all + count
    return {"told": told_all / count_all if count_all else None, "pairs": count_all, "per_pair": per_pair}


@torch.no_grad()
def evaluate_keypoints(net: nn.Module, dataset: MeshTSVDataset, batch: int = 16) -> dict[str, Any]:
    """PCK@0.1 and mean error (crop pixels) of the maps' argmax against the labels, over labelled keypoints that lie
    inside the crop; per keypoint too; and ``left_right`` (:func:`left_right`, pairs at least 0.1 x the crop side
    apart). The maps are read at the crop's resolution (``heatmaps(x, crop)``)."""
    was_training = net.training
    net.eval()
    crop = dataset.img_size
    dists, valids, preds, gts = [], [], [], []
    for start in range(0, len(dataset), batch):
        items = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
        images = torch.stack([it["image"] for it in items])
        kp = torch.stack([it["keypoints"] for it in items])  # (b, J, 3)
        pred, _ = heatmap_peaks(net.heatmaps(images, crop))  # (b, J, 2) crop pixels
        gt = normalized_to_crop(kp[..., :2], crop)
        dists.append((pred - gt).norm(dim=-1))
        valids.append((kp[..., 2] > 0) & inside_map(gt, crop))
        preds.append(pred)
        gts.append(gt)
    net.train(was_training)
    dist, valid = torch.cat(dists), torch.cat(valids)  # (N, J)
    hit = (dist < PCK_THRESHOLD * crop) & valid
    per_joint = {name: {"pck": float(hit[:, j].sum() / valid[:, j].sum().clamp_min(1)),
                        "mean_px": float(dist[:, j][valid[:, j]].mean()) if valid[:, j].any() else None}
                 for j, name in enumerate(COCO_KEYPOINT_NAMES)}  # fmt: skip
    return {"pck@0.1": float(hit.sum() / valid.sum().clamp_min(1)), "mean_px": float(dist[valid].mean()),
            "keypoints": int(valid.sum()), "images": len(dataset), "crop": crop, "per_keypoint": per_joint,
            "left_right": left_right(torch.cat(preds), torch.cat(gts), valid, PCK_THRESHOLD * crop)}


def lr_at(step: int, opt: PoseTrainOptions) -> float:
    """The lr of 0-based ``step``: ``opt.lr`` for the first ``lr_hold`` of the steps, then a half cosine that reaches
    0 after the last step, so the schedule fits any step count. (The official SimpleBaseline schedule, tenfold drops
    at 90/140 and 120/140 of the budget, spent a third of a short budget at lr 1e-4 and below: on the selection set
    it learnt no more there.)"""
    hold = round(opt.lr_hold * opt.steps)
    if step < hold:
        return opt.lr
    return opt.lr * 0.5 * (1 + math.cos(math.pi * (step - hold) / max(1, opt.steps - hold)))


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


def _sets(tsv: Path, opt: PoseTrainOptions) -> tuple[list[MeshTSVDataset], MeshTSVDataset, MeshTSVDataset | None]:
    """The training sets (crops of small_crop, then of crop; a differently seeded order each), the validation set
    and the selection set (None without one)."""
    crops = ([opt.small_crop] if opt.small_steps else []) + [opt.crop]
    try:
        train = [MeshTSVDataset(tsv / opt.train_set, opt.train_split, train=opt.augment, seed=opt.seed + k,
                                img_size=crop) for k, crop in enumerate(crops)]  # fmt: skip
        val = MeshTSVDataset(tsv / opt.val_set, opt.val_split, train=False, img_size=opt.crop)
        select = None if opt.select_set is None else MeshTSVDataset(opt.select_set, opt.select_split, train=False,
                                                                    img_size=opt.crop)  # fmt: skip
    except MptError as exc:
        raise PoseTrainError(f"{exc}\nrender the demo image sets first: python -m tools.standin.make_tsv --assets "
                             f"data/demo --out {tsv}") from None  # fmt: skip
    if len(train[0]) < opt.batch:
        raise PoseTrainError(f"{train[0]!r} holds fewer images than one batch of {opt.batch}")
    return train, val, select


def _fingerprint(tsv: Path, opt: PoseTrainOptions) -> dict[str, str]:
    """sha256 of the image and label files the network learns from and is measured on."""
    out = {}
    sets = [("", tsv / opt.train_set, opt.train_split), ("", tsv / opt.val_set, opt.val_split)]
    if opt.select_set is not None:  # its folder may share a name with the training set's: keys say which is which
        sets.append(("selection:", Path(opt.select_set), opt.select_split))
    for prefix, folder, split in sets:
        files = resolve_set_files(folder, split)
        for key in ("img", "label"):
            out[f"{prefix}{folder.name}/{files[key].name}"] = sha256_of(files[key])
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
                    verbose: bool = True, command: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Train (or find already trained) the stand-in pose network on the sets under ``tsv`` and write it to
    ``checkpoint``, its keypoints.json, train_log.jsonl and manifest.json beside it; returns keypoints.json's
    content (``checkpoint``: the path). ``command``: the command line, recorded in the manifest."""
    opt = opt or PoseTrainOptions()
    _check(opt)
    tsv, ckpt = Path(tsv), Path(checkpoint)
    out = ckpt.parent
    train_sets, val_set, select_set = _sets(tsv, opt)
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
            group["lr"] = lr_at(step, opt)
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
                     "lr": lr_at(step, opt), "seconds": round(elapsed, 1),
                     "images_per_s": round(done_steps * opt.batch / elapsed, 2)}  # fmt: skip
            running = 0.0
            if opt.val_every and done_steps % opt.val_every == 0:
                which, measured = ("select", select_set) if select_set is not None else ("val", val_set)
                result = evaluate_keypoints(net, measured)
                entry[f"{which}_pck@0.1"] = result["pck@0.1"]
                entry[f"{which}_left_right"] = result["left_right"]["told"]
            log.append(entry)
            say(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()), flush=True)
    train_seconds = time.perf_counter() - start

    state = net.state_dict()
    if opt.half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(ckpt) as tmp:
        torch.save(state, tmp)  # a plain state dict: the official checkpoints' layout
    check = build_pose_network(opt)
    load_pose_weights(check, ckpt)  # the checkpoint loads through the real loader, strictly
    result = evaluate_keypoints(check, val_set)
    if select_set is not None:
        result["selection"] = {"set": f"{opt.select_set}/{opt.select_split}",
                               **evaluate_keypoints(check, select_set)}  # fmt: skip
    result.update(set=f"{opt.val_set}/{opt.val_split}", checkpoint=str(ckpt), backbone=opt.backbone,
                  deconv_filters=opt.deconv_filters, parameters=count_parameters(check), steps=opt.steps,
                  train_crops_seen=opt.steps * opt.batch, train_seconds=round(train_seconds, 1),
                  protocol=f"PCK@{PCK_THRESHOLD}: argmax of each map read at the crop's resolution within "
                           f"{PCK_THRESHOLD} x {opt.crop} px of the label; labelled keypoints inside the crop; "
                           f"mean_px: mean distance in crop pixels")  # fmt: skip
    write_text_atomic(out / "train_log.jsonl", "".join(json.dumps(e) + "\n" for e in log))
    write_json_atomic(out / "keypoints.json", result)
    write_json_atomic(out / MANIFEST_NAME, {**manifest, "sha256": sha256_of(ckpt), "command": command,
                                            "train_seconds": round(train_seconds, 1),
                                            "threads": torch.get_num_threads(),
                                            "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return result


def left_right_text(result: dict[str, Any]) -> str:
    """The printed suffix ', left/right told in N % of M far pairs' (empty for a result measured before left_right)."""
    lr = result.get("left_right") or {}
    return f", left/right told in {lr['told']:.0%} of {lr['pairs']} far pairs" if lr.get("told") is not None else ""


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
    parser.add_argument("--lr-hold", type=float, default=d.lr_hold, help="fraction of the steps at --lr before "
                        "the cosine decay to 0")  # fmt: skip
    parser.add_argument("--select-set", default=None, help="folder of the selection set (measured every --val-every "
                        "steps instead of the protocol-2 images, and at the end)")  # fmt: skip
    parser.add_argument("--half", action="store_true", help="store the weights as float16 (half the file)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--val-every", type=int, default=d.val_every)
    parser.add_argument("--log-every", type=int, default=d.log_every)
    parser.add_argument("--out", default=None, help="write the checkpoint here instead of the backbone config's weights")
    args = parser.parse_args(argv)
    from mpt.config import compose_config

    cfg = compose_config("finetune", [f"backbone={args.backbone}", f"paths.data_root={args.data_root}"])
    b = cfg.backbone
    opt = PoseTrainOptions(backbone=b.name, deconv_filters=b.deconv_filters, steps=args.steps, batch=args.batch,
                           lr=args.lr, seed=args.seed, crop=args.crop, small_crop=args.small_crop,
                           small_steps=args.small_steps, val_every=args.val_every, log_every=args.log_every,
                           lr_hold=args.lr_hold, select_set=args.select_set, half=args.half)  # fmt: skip
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        if b.weights is None:
            raise PoseTrainError(f"backbone config {args.backbone} names no weights file to write; use one that does "
                                 "(e.g. demo_pose) or set its weights")  # fmt: skip
        command = "python -m tools.standin.train_pose " + " ".join(sys.argv[1:] if argv is None else argv)
        result = train_demo_pose(cfg.paths.tsv, args.out or b.weights, opt, command=command)
    except MptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"keypoints on {result['set']} ({result['images']} held-out images, {result['keypoints']} keypoints): "
          f"PCK@0.1 {result['pck@0.1']:.3f}, mean error {result['mean_px']:.1f} px of the {result['crop']} px crop"
          f"{left_right_text(result)}")  # fmt: skip
    if "selection" in result:
        sel = result["selection"]
        print(f"keypoints on the selection set {sel['set']} ({sel['images']} images): PCK@0.1 {sel['pck@0.1']:.3f}"
              f"{left_right_text(sel)}")  # fmt: skip
    print(f"wrote {result['checkpoint']} and {Path(result['checkpoint']).parent / 'keypoints.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
