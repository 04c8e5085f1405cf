"""Person crops: boxes, jitter, and the shared point/image convention checked through cv2."""

import cv2
import numpy as np
import pytest
import torch

from mpt.geometry.crop import (
    bbox_from_points,
    crop_affine,
    crop_image,
    crop_to_normalized,
    jitter_boxes,
    normalized_to_crop,
    points_from_crop,
    points_to_crop,
)


def test_bbox_from_points_by_hand() -> None:
    p = torch.tensor([[[10.0, 20.0], [30.0, 60.0], [25.0, 40.0]], [[0.0, 0.0], [100.0, 10.0], [float("nan"), 5.0]]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    center, size = bbox_from_points(p, valid, scale=1.5)
    # sample 0: x 10..30, y 20..60 -> centre (20, 40), longer side 40; sample 1: x 0..100, y 0..10
    torch.testing.assert_close(center, torch.tensor([[20.0, 40.0], [50.0, 5.0]]))
    torch.testing.assert_close(size, torch.tensor([60.0, 150.0]))
    c1, s1 = bbox_from_points(p[:1, :1])  # a single point still gives a usable box
    torch.testing.assert_close(c1, torch.tensor([[10.0, 20.0]]))
    assert s1.item() == 1.0
    with pytest.raises(ValueError, match=r"samples \[1\]"):
        bbox_from_points(p, torch.tensor([[True, False, False], [False, False, False]]))
    with pytest.raises(ValueError, match=r"samples \[1\]"):
        bbox_from_points(p)  # the NaN point counts when marked valid


def test_jitter_boxes_ranges_and_reproducibility() -> None:
    center = torch.tensor([[100.0, 200.0]]).repeat(4000, 1)
    size = torch.full((4000,), 50.0)
    c1, s1 = jitter_boxes(center, size, (0.8, 1.2), 0.1, torch.Generator().manual_seed(0))
    c2, s2 = jitter_boxes(center, size, (0.8, 1.2), 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(c1, c2) and torch.equal(s1, s2)
    factor = s1 / size
    shift = (c1 - center) / size.unsqueeze(-1)
    assert factor.min() >= 0.8 and factor.max() <= 1.2 and factor.min() < 0.81 and factor.max() > 1.19
    assert shift.abs().max() <= 0.1 and shift.abs().max() > 0.099
    assert abs(factor.mean().item() - 1.0) < 0.01 and shift.mean(0).abs().max() < 0.005
    with pytest.raises(ValueError, match="scale_range"):
        jitter_boxes(center, size, (1.2, 0.8), 0.1)


def test_crop_affine_matches_cv2_constructions() -> None:
    c, s, out = (310.0, 207.5), 180.0, 224
    # No rotation: the box's outer edges go to the crop's outer edges (-0.5 and out - 0.5).
    src = np.float32([[c[0] - s / 2, c[1] - s / 2], [c[0] + s / 2, c[1] - s / 2], [c[0] - s / 2, c[1] + s / 2]])
    dst = np.float32([[-0.5, -0.5], [out - 0.5, -0.5], [-0.5, out - 0.5]])
    np.testing.assert_allclose(crop_affine(c, s, out), cv2.getAffineTransform(src, dst), atol=1e-4)
    # Rotation: cv2's rotation about the box centre, then the centre moved to the crop centre.
    ref = cv2.getRotationMatrix2D(c, 25.0, out / s)
    ref[:, 2] += (out - 1) / 2 - np.asarray(c)
    np.testing.assert_allclose(crop_affine(c, s, out, rot_deg=25.0), ref, atol=1e-9)


def _blob_image(p: tuple[float, float], sigma: float, shape: tuple[int, int] = (480, 640)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    g = np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * sigma**2))
    return np.repeat(np.rint(255 * g).astype(np.uint8)[..., None], 3, axis=2)


def _centroid(img: np.ndarray) -> np.ndarray:
    w = img[..., 0].astype(np.float64)
    yy, xx = np.mgrid[: w.shape[0], : w.shape[1]]
    return np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()


def test_points_and_image_crops_agree() -> None:
    p = (317.3, 205.8)
    img = _blob_image(p, sigma=5.0)
    boxes = [((330.0, 190.0), 300.0, 0.0), ((300.0, 230.0), 120.0, 0.0), ((320.0, 200.0), 200.0, 30.0),
             ((310.0, 215.0), 160.0, -75.0)]
    center = torch.tensor([b[0] for b in boxes], dtype=torch.float64)
    size = torch.tensor([b[1] for b in boxes], dtype=torch.float64)
    rot = torch.tensor([b[2] for b in boxes], dtype=torch.float64)
    pts = torch.tensor([p], dtype=torch.float64).expand(4, 1, 2)
    predicted = points_to_crop(pts, center, size, 224, rot_deg=rot)[:, 0].numpy()
    for k, (c, s, r) in enumerate(boxes):
        crop = crop_image(img, c, s, 224, rot_deg=r)
        assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
        np.testing.assert_allclose(_centroid(crop), predicted[k], atol=0.05)
    # A single upsampled pixel: the bilinear peak lands on the predicted spot.
    dot = np.zeros((100, 120, 3), np.uint8)
    dot[41, 57] = 255
    crop = crop_image(dot, (60.0, 45.0), 50.0, 224)
    q = points_to_crop(torch.tensor([[[57.0, 41.0]]]), torch.tensor([[60.0, 45.0]]), torch.tensor([50.0]), 224)[0, 0]
    np.testing.assert_allclose(_centroid(crop), q.numpy(), atol=0.01)  # cv2 samples at 1/32 px


def test_inverse_and_normalised_coordinates() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.rand(3, 7, 2, generator=g, dtype=torch.float64) * 500
    center = torch.rand(3, 2, generator=g, dtype=torch.float64) * 500
    size = torch.rand(3, generator=g, dtype=torch.float64) * 200 + 50
    rot = torch.tensor([0.0, 40.0, -170.0], dtype=torch.float64)
    q = points_to_crop(p, center, size, 224, rot)
    torch.testing.assert_close(points_from_crop(q, center, size, 224, rot), p)
    # Normalised coordinates do not depend on the crop resolution: n = 2 Rot (p - c) / size.
    n224 = crop_to_normalized(q, 224)
    n56 = crop_to_normalized(points_to_crop(p, center, size, 56, rot), 56)
    torch.testing.assert_close(n224, n56)
    a = torch.deg2rad(rot).view(3, 1)
    d = (p - center.unsqueeze(1)) * 2 / size.view(3, 1, 1)
    by_hand = torch.stack((torch.cos(a) * d[..., 0] + torch.sin(a) * d[..., 1],
                           -torch.sin(a) * d[..., 0] + torch.cos(a) * d[..., 1]), -1)
    torch.testing.assert_close(n224, by_hand)
    edges = torch.tensor([-0.5, 111.5, 223.5])
    torch.testing.assert_close(crop_to_normalized(edges, 224), torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(normalized_to_crop(torch.tensor([-1.0, 0.0, 1.0]), 224), edges)


def test_crop_image_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        crop_image(np.zeros((10, 10, 3), np.float32), (5, 5), 4.0, 8)
    with pytest.raises(ValueError, match="positive"):
        crop_affine((5, 5), 0.0, 8)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        points_to_crop(torch.zeros(2, 3, 2), torch.zeros(3, 2), torch.ones(2), 224)
