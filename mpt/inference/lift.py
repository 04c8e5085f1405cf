"""``mpt-infer keypoints=<file>``: meshes from a detector's 2D keypoints, with or without the images.

For each person of the keypoints file (mpt.inference.keypoints): the crop box and the 17 heatmaps as pre-training
draws them (mpt.inference.maps, options from the export's ``input`` config), then the export's model without its pose
network (MPTModel.from_maps; a pre-training export needs no pose-network weights, a fine-tuned export's pose network
is not built). Outputs are those of image inference (mpt.inference.outputs: ``<name>.json`` with the joints, ``<name>_<k>``
OBJ / PLY meshes, ``<name>_overlay.png``), plus the input keypoints in the JSON and on the overlay. With
``images=`` the entries are matched to the images (an entry naming an image that is not there is an error) and each
image with people gets its overlay; without, the outputs are named after the entries' images and have no overlay.

People with fewer than ``min_keypoints`` keypoints scoring ``min_keypoint_score`` or more are skipped with a
message naming the entry, and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from mpt.errors import MptError
from mpt.inference.inputs import PersonBox, image_keys, images_and_root, match_image, read_image, relative_name
from mpt.inference.jobs import Job, run_jobs
from mpt.inference.keypoints import PersonKeypoints, read_keypoints
from mpt.inference.maps import LiftOptions, confident, keypoint_boxes, keypoint_maps
from mpt.inference.outputs import check_outputs, output_names, write_image_outputs
from mpt.inference.predictor import build_predictor

__all__ = ["group_by_image", "lift"]

log = logging.getLogger("mpt.infer")


def group_by_image(people: list[PersonKeypoints], source: Path, images: list[Path] | None,
                   root: Path | None) -> dict[Path, list[PersonKeypoints]]:  # fmt: skip
    """The people of each image, in file order: matched to ``images`` (relative to ``root``) when given, where an
    entry naming none of them is an error; otherwise keyed by the image name each entry gives."""
    if images is None:
        groups: dict[Path, list[PersonKeypoints]] = {}
        for person in people:
            groups.setdefault(Path(person.image), []).append(person)
        return groups
    by_key = image_keys(images, root)
    groups = {img: [] for img in images}
    for person in people:
        img = match_image(person.image, by_key)
        if img is None:
            raise MptError(f"{source}, entry {person.entry}: names image {person.image!r}, which is not among the "
                           f"images ({len(images)} in {root}); give the folder the keypoints were detected on, or "
                           "leave images= out to lift without overlays")  # fmt: skip
        groups[img].append(person)
    return groups


def _person_box(person: PersonKeypoints) -> PersonBox:
    return PersonBox(person.bbox, person.score, person.keypoints)


def lift(cfg: DictConfig) -> dict[str, Any]:
    """Lift the people of ``cfg.keypoints`` with ``cfg.checkpoint``; write the outputs to ``cfg.out``.

    Returns {"out", "images" (written), "people" (lifted), "people_skipped" (too few confident keypoints),
    "skipped" [(path, reason)] (images)}.
    """
    formats = check_outputs(cfg)
    source = Path(cfg.keypoints)
    images, skipped, root = images_and_root(Path(cfg.images), cfg.out) if cfg.images is not None else (None, [], None)
    groups = group_by_image(read_keypoints(source), source, images, root)
    predictor, mcfg = build_predictor(cfg, pose_network=False)
    opt = LiftOptions.from_configs(cfg, mcfg, f"the model {cfg.checkpoint}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(list(groups))
    for p, why in skipped:
        log.warning("skipping %s: %s", p, why)
    summary: dict[str, Any] = {"out": str(out), "images": 0, "people": 0, "people_skipped": 0,
                               "skipped": list(skipped)}  # fmt: skip

    def skip(path: Path, why: str) -> None:
        log.warning("skipping %s: %s", path, why)
        summary["skipped"].append((path, why))

    def jobs():
        for path, people in groups.items():
            if not people:
                skip(path, f"no person in {source}")
                continue
            kp = torch.from_numpy(np.stack([p.keypoints for p in people]))  # (K, 17, 3)
            counts = confident(kp, opt.min_score).sum(dim=1).tolist()
            for person, n in zip(people, counts, strict=True):
                if n < opt.min_keypoints:
                    log.warning("%s, entry %d (image %s): skipped, %d keypoints score >= min_keypoint_score %g "
                                "(min_keypoints %d)", source, person.entry, person.image, n, opt.min_score,
                                opt.min_keypoints)  # fmt: skip
            keep = [k for k, n in enumerate(counts) if n >= opt.min_keypoints]
            summary["people_skipped"] += len(people) - len(keep)
            if not keep:
                skip(path, f"no person with min_keypoints={opt.min_keypoints} confident keypoints")
                continue
            image = read_image(path) if images is not None else None
            if images is not None and image is None:
                skip(path, "corrupt or unreadable image")
                continue
            kept = [people[k] for k in keep]
            kp = kp[keep]
            bbox = torch.tensor([p.bbox if p.bbox is not None else [np.nan] * 4 for p in kept], dtype=torch.float32)
            center, side = keypoint_boxes(kp, bbox, opt)
            rel = relative_name(path, root) if root is not None else kept[0].image
            yield Job(path, names[path], image, [_person_box(p) for p in kept], center.double(), side.double(),
                      {"keypoints": kp, "center": center, "side": side}, rel)  # fmt: skip

    def predict(x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        dev = predictor.device
        maps = keypoint_maps(x["keypoints"].to(dev), x["center"].to(dev), x["side"].to(dev), opt)
        return predictor.from_maps(maps)

    def write(job: Job, pred: dict[str, torch.Tensor]) -> None:
        write_image_outputs(job, pred, predictor, out, formats, cfg.side_view, opt.min_score)
        summary["images"] += 1
        summary["people"] += len(job.boxes)

    run_jobs(jobs(), predict, cfg.batch_size, write)
    print(f"lifted {summary['people']} people from {source} in {summary['images']} images to {out}; skipped "
          f"{summary['people_skipped']} people with fewer than min_keypoints={opt.min_keypoints} keypoints scoring "
          f">= {opt.min_score:g}, and {len(summary['skipped'])} images")  # fmt: skip
    return summary
