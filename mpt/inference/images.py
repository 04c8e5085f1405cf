"""``mpt-infer``: an exported MPT model on your own images -> mesh overlays, mesh files and joints as JSON.

Pipeline (one call of :func:`infer`):
  1. the export folder (model.safetensors + config.yaml + model.sha256) gives the architecture; the weights are
     loaded through :func:`mpt.engine.builders.load_image_model`, which verifies their sha256;
  2. images are listed (a file, or the files of a folder; anything that is not an image, or does not decode, is
     skipped with a message), and each person box is cropped exactly as fine-tuning and evaluation crop
     (mpt.data.image_dataset: cv2 bilinear crop to 224 x 224, RGB / 255, ImageNet mean/std);
  3. crops run through the model in batches of ``batch_size``;
  4. per image: ``<name>_overlay.png`` (the shaded mesh over the image, optionally a side view next to it),
     ``<name>_<k>.obj`` / ``.ply`` per person k, and ``<name>.json`` (joints, 2D projections, camera, box).
With ``keypoints=<file>`` the people come from a detector's 2D keypoints instead of image crops, through the same
batching and outputs (:mod:`mpt.inference.lift`).

Boxes. A person box is COCO's ``[x, y, w, h]`` in continuous pixel coordinates (the image spans [0, W] x [0, H],
pixel i covers [i, i + 1), as COCO and Detectron2 define it); mpt's pixel centres are at integers
(mpt.geometry.crop), so the crop centre is ``(x + w / 2 - 0.5, y + h / 2 - 0.5)``. The crop side is
``box_scale * max(w, h)`` with METRO's scaleFactor 1.2 (microsoft/MeshTransformer metro/tools/tsv_demo_*.py).
Without a boxes file the whole image is one box ``[0, 0, W, H]``. The boxes file is JSON, one of:
  - a list of ``{"file_name": ..., "bbox": [x, y, w, h]}`` or ``{"image_id": ..., "bbox": [...]}`` entries (a
    COCO *results* file is such a list). ``file_name`` matches the image's path relative to the images folder, or
    its base name; ``image_id`` matches an image whose file stem equals it, also as an integer (COCO's
    ``000000397133.jpg`` is image_id 397133);
  - a COCO *annotations* file: ``{"images": [{"id", "file_name"}, ...], "annotations": [{"image_id", "bbox"},
    ...]}``, image_id resolved through ``images``.
  Optional keys per entry: ``category_id`` (only 1, COCO's person, is used), ``iscrowd`` (1 is skipped),
  ``score`` (entries below ``min_box_score`` are skipped). Images with no box are skipped with a message.

Outputs. 3D joints and meshes are in metres, in the camera's orientation (x right, y down, z away from the
camera, as the training targets), relative to the predicted Human3.6M pelvis (joint 0 of H36M-17). The weak-
perspective camera ``(s, tx, ty)`` written to the JSON applies to these pelvis-relative coordinates:
``u = cx + size / 2 * s * (X + tx)``, ``v = cy + size / 2 * s * (Y + ty)`` with the crop centre ``(cx, cy)`` and
side ``size`` in image pixels (the model's [-1, 1] crop frame mapped back through the inverse crop transform).
COCO-17 keypoints come from BodyModel.coco_keypoints: SMPL's joint regressor on the predicted mesh + face vertices.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mpt.errors import MptError
from mpt.inference.inputs import (
    PersonBox,
    crop_boxes,
    crop_people,
    images_and_root,
    read_boxes,
    read_image,
    relative_name,
)
from mpt.inference.jobs import Job, run_jobs
from mpt.inference.outputs import check_outputs, output_names, write_image_outputs
from mpt.inference.predictor import build_predictor

__all__ = ["infer"]

log = logging.getLogger("mpt.infer")


def _check_infer_config(cfg: DictConfig) -> tuple[Path, list[str]]:
    if cfg.images is None:
        raise MptError("give the images: images=<an image file or a folder of images> (or keypoints=<a COCO "
                       "keypoint results file> to lift a detector's 2D keypoints)")  # fmt: skip
    if not cfg.box_scale > 0:
        raise MptError(f"box_scale must be > 0, got {cfg.box_scale}")
    return Path(cfg.images), check_outputs(cfg)


def infer(cfg: DictConfig) -> dict[str, Any]:
    """Run ``cfg.checkpoint`` on ``cfg.images`` and write the outputs to ``cfg.out`` (see the module docstring).

    With ``cfg.keypoints`` the people come from a 2D keypoints file instead (:func:`mpt.inference.lift.lift`).
    Returns {"out", "images" (written), "people", "skipped" [(path, reason)]}.
    """
    if cfg.keypoints is not None:
        from mpt.inference.lift import lift

        return lift(cfg)
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    images_arg, formats = _check_infer_config(cfg)
    images, skipped, root = images_and_root(images_arg, cfg.out)
    boxes = read_boxes(cfg.boxes, images, root, cfg.min_box_score) if cfg.boxes is not None else None
    predictor, _ = build_predictor(cfg)  # after the cheap checks: a typo in images= fails fast
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(images)
    for p, why in skipped:
        log.warning("skipping %s: %s", p, why)
    summary: dict[str, Any] = {"out": str(out), "images": 0, "people": 0, "skipped": list(skipped)}

    def jobs(bar: Any) -> Iterator[Job]:
        for path in images:
            image = read_image(path)
            person_boxes: list[PersonBox] = []
            why = ""
            if image is None:
                why = "corrupt or unreadable image"
            elif boxes is None:  # the whole image is the person box
                person_boxes = [PersonBox((0.0, 0.0, float(image.shape[1]), float(image.shape[0])))]
            else:
                person_boxes = boxes[path]
                why = f"no person box for it in {cfg.boxes}"
            if not person_boxes:
                log.warning("skipping %s: %s", path, why)
                summary["skipped"].append((path, why))
                bar.update(1)
                continue
            xywh = torch.tensor([b.xywh for b in person_boxes], dtype=torch.float64)
            center, size = crop_boxes(xywh, cfg.box_scale)
            yield Job(path, names[path], image, person_boxes, center, size,
                      {"crops": crop_people(image, center, size)}, relative_name(path, root))  # fmt: skip

    def write(job: Job, pred: dict[str, torch.Tensor], bar: Any) -> None:
        write_image_outputs(job, pred, predictor, out, formats, cfg.side_view)
        summary["images"] += 1
        summary["people"] += len(job.boxes)
        bar.update(1)

    with logging_redirect_tqdm(), tqdm(total=len(images), desc="mpt-infer", unit="img") as bar:
        run_jobs(jobs(bar), lambda x: predictor(x["crops"]), cfg.batch_size, lambda j, p: write(j, p, bar))
    print(f"wrote {summary['images']} images ({summary['people']} people) to {out}; skipped {len(summary['skipped'])}")
    return summary
