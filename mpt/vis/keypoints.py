"""2D keypoints drawn over an image: the COCO skeleton, a dot per used keypoint, a ring per unused one."""

from __future__ import annotations

import cv2
import numpy as np

from mpt.body.joints import COCO_KEYPOINT_NAMES, COCO_SKELETON

__all__ = ["KEYPOINT_COLOR", "LIMB_COLOR", "UNUSED_COLOR", "draw_keypoints"]

KEYPOINT_COLOR = (255, 40, 40)  # RGB: a keypoint whose heatmap was drawn
LIMB_COLOR = (255, 220, 0)  # a skeleton edge between two such keypoints
UNUSED_COLOR = (150, 150, 150)  # a keypoint left out (score below the threshold)
_SHIFT = 4  # cv2 sub-pixel bits: points are drawn at 1/16 pixel precision


def _fixed(xy: np.ndarray) -> tuple[int, int]:
    return int(round(float(xy[0]) * (1 << _SHIFT))), int(round(float(xy[1]) * (1 << _SHIFT)))


def draw_keypoints(image: np.ndarray, points: np.ndarray, used: np.ndarray, radius: int | None = None) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 RGB with K people's COCO-17 keypoints drawn: points (K, 17, 2) image
    pixels (pixel centres at integers), used (K, 17) bool.

    Used keypoints get a filled dot and the skeleton edges between them; the others (finite ones) a grey ring, so
    a reader sees which keypoints the mesh was lifted from. ``radius`` defaults to 1/150 of the shorter image
    side (at least 2 pixels).
    """
    points = np.asarray(points, dtype=np.float64)
    used = np.asarray(used, dtype=bool)
    n = len(COCO_KEYPOINT_NAMES)
    if points.ndim != 3 or points.shape[1:] != (n, 2) or used.shape != points.shape[:2]:
        raise ValueError(f"need points (K, {n}, 2) and used (K, {n}), got {points.shape} and {used.shape}")
    out = np.ascontiguousarray(image).copy()
    r = radius if radius is not None else max(2, round(min(out.shape[:2]) / 150))
    finite = np.isfinite(points).all(axis=-1)
    on = used & finite
    for person, person_on in zip(points, on, strict=True):  # every skeleton first, so no edge hides a keypoint
        for a, b in COCO_SKELETON:
            if person_on[a] and person_on[b]:
                cv2.line(out, _fixed(person[a]), _fixed(person[b]), LIMB_COLOR, max(2, r // 2), cv2.LINE_AA, _SHIFT)
    for person, person_on, person_finite in zip(points, on, finite, strict=True):
        for k in range(n):
            if person_on[k]:
                cv2.circle(out, _fixed(person[k]), r << _SHIFT, KEYPOINT_COLOR, -1, cv2.LINE_AA, _SHIFT)
            elif person_finite[k]:
                cv2.circle(out, _fixed(person[k]), r << _SHIFT, UNUSED_COLOR, max(2, r // 2), cv2.LINE_AA, _SHIFT)
    return out
