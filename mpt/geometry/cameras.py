"""Camera sets: the Human3.6M S1 cameras and the virtual views MPT pre-trains with.

The paper renders AMASS meshes through the 4 Human3.6M cameras of subject S1 and, for its 8-view
setting, through 4 more cameras interpolated between angular neighbours around the capture volume
(paper Figure 1). World frame: Human3.6M's, z-up, in METRES (the source files use millimetres).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp

from .rotations import quaternion_to_matrix

__all__ = [
    "CameraSet",
    "H36M_CAMERA_IDS",
    "h36m_s1_cameras",
    "capture_volume_center",
    "interpolate_cameras",
    "virtual_cameras",
]

H36M_CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
"""Standard Human3.6M camera order (index 3, 60457274, is the frontal camera of protocol 2)."""

# Source: facebookresearch/VideoPose3D common/h36m_dataset.py (commit 11e90ad9), entries
# h36m_cameras_intrinsic_params and h36m_cameras_extrinsic_params['S1'].
# Intrinsics (shared by all subjects): focal (fx, fy), centre (cx, cy), radial (k1, k2, k3),
# tangential (p1, p2), resolution (width, height), all in pixels.
_H36M_INTRINSICS: tuple[dict[str, tuple[float, ...]], ...] = (
    dict(
        focal=(1145.0494384765625, 1143.7811279296875),
        center=(512.54150390625, 515.4514770507812),
        radial=(-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
        tangential=(-0.0009756988729350269, -0.00142447161488235),
        res=(1000, 1002),
    ),
    dict(
        focal=(1149.6756591796875, 1147.5916748046875),
        center=(508.8486328125, 508.0649108886719),
        radial=(-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
        tangential=(-0.0016190266469493508, -0.0027408944442868233),
        res=(1000, 1000),
    ),
    dict(
        focal=(1149.1407470703125, 1148.7989501953125),
        center=(519.8158569335938, 501.40264892578125),
        radial=(-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
        tangential=(0.0014843869721516967, -0.0007599993259645998),
        res=(1000, 1000),
    ),
    dict(
        focal=(1145.5113525390625, 1144.77392578125),
        center=(514.9682006835938, 501.88201904296875),
        radial=(-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
        tangential=(-0.0005872055771760643, -0.0018133620033040643),
        res=(1000, 1002),
    ),
)
# S1 extrinsics: orientation = camera->world quaternion [w, x, y, z]; translation = camera centre
# in world coordinates, millimetres (VideoPose3D common/camera.py: world_to_camera(X) =
# qrot(qinverse(q), X - t)).
_H36M_S1_EXTRINSICS: tuple[dict[str, tuple[float, ...]], ...] = (
    dict(
        orientation=(0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
        translation=(1841.1070556640625, 4955.28466796875, 1563.4454345703125),
    ),
    dict(
        orientation=(0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
        translation=(1761.278564453125, -5078.0068359375, 1606.2650146484375),
    ),
    dict(
        orientation=(0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
        translation=(-1846.7777099609375, 5215.04638671875, 1491.972412109375),
    ),
    dict(
        orientation=(0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
        translation=(-1794.7896728515625, -3722.698974609375, 1574.8927001953125),
    ),
)


@dataclass(frozen=True, eq=False)
class CameraSet:
    """N pinhole cameras with OpenCV lens distortion, stored as batched tensors.

    K (N,3,3) intrinsics in pixels; dist (N,5) OpenCV (k1, k2, p1, p2, k3); R (N,3,3) world->camera
    rotation and t (N,3) world->camera translation in metres, ``X_cam = R @ X_world + t``;
    image_size (N,2) int64 (width, height) in pixels; names, one per camera.
    """

    K: torch.Tensor
    dist: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor
    image_size: torch.Tensor
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.names)
        expected = {"K": (n, 3, 3), "dist": (n, 5), "R": (n, 3, 3), "t": (n, 3), "image_size": (n, 2)}
        for field, shape in expected.items():
            value = getattr(self, field)
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"CameraSet.{field} must be a torch.Tensor, got {type(value).__name__}")
            if tuple(value.shape) != shape:
                raise ValueError(
                    f"CameraSet.{field} must have shape {shape} for {n} camera names, got {tuple(value.shape)}"
                )
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise ValueError(f"CameraSet.{field} contains NaN or inf values")
        if self.image_size.is_floating_point():
            raise TypeError("CameraSet.image_size must be an integer tensor (width, height in pixels)")
        if n and bool((self.image_size <= 0).any()):
            raise ValueError(f"CameraSet.image_size must be positive, got {self.image_size.tolist()}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def centers(self) -> torch.Tensor:
        """Camera centres in world coordinates (N, 3): ``-R^T t``."""
        return -(self.R.transpose(-1, -2) @ self.t.unsqueeze(-1)).squeeze(-1)

    @property
    def optical_axes(self) -> torch.Tensor:
        """Unit viewing directions (camera +z) in world coordinates (N, 3): the rows R[:, 2]."""
        return self.R[:, 2, :]

    def select(self, idx: int | Sequence[int] | torch.Tensor) -> CameraSet:
        """Subset (or reordering) of the cameras; an int gives a one-camera set."""
        index = torch.as_tensor([idx] if isinstance(idx, int) else idx, dtype=torch.long)
        if index.dim() != 1:
            raise ValueError(f"camera index must be an int or a 1-D sequence, got shape {tuple(index.shape)}")
        n = len(self)
        if index.numel() and (int(index.min()) < -n or int(index.max()) >= n):
            raise IndexError(f"camera index {index.tolist()} out of range for {n} cameras {self.names}")
        index = index % max(n, 1)
        dev = self.K.device
        return CameraSet(
            K=self.K[index.to(dev)],
            dist=self.dist[index.to(dev)],
            R=self.R[index.to(dev)],
            t=self.t[index.to(dev)],
            image_size=self.image_size[index.to(self.image_size.device)],
            names=tuple(self.names[i] for i in index.tolist()),
        )

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CameraSet:
        """Copy to a device and/or floating dtype (image_size stays int64)."""
        return CameraSet(
            K=self.K.to(device=device, dtype=dtype),
            dist=self.dist.to(device=device, dtype=dtype),
            R=self.R.to(device=device, dtype=dtype),
            t=self.t.to(device=device, dtype=dtype),
            image_size=self.image_size.to(device=device),
            names=self.names,
        )


def _intrinsic_matrix(fx: float, fy: float, cx: float, cy: float) -> list[list[float]]:
    return [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]


def h36m_s1_cameras(dtype: torch.dtype = torch.float32) -> CameraSet:
    """The 4 Human3.6M cameras of subject S1 (order H36M_CAMERA_IDS), metres, world z-up.

    Extrinsics follow VideoPose3D's convention (quaternion = camera->world rotation, translation =
    camera centre in mm), converted to ``R = R_c2w^T`` and ``t = -R @ centre / 1000``. Everything
    is computed in float64, then cast to ``dtype``.

    Distortion: Human3.6M's own model (3d-pose-baseline src/cameras.py project_point_radial;
    VideoPose3D common/camera.py project_to_2d) shares OpenCV's radial polynomial but writes the
    tangential terms differently (no factor 2, and the two public copies even disagree on which p
    multiplies which term). We use OpenCV's model with dist = (k1, k2, p1, p2, k3) from the
    published k and p, so cv2.projectPoints, cv2.undistortPoints and our torch projection agree
    exactly. Measured on camera 54138969 over its whole 1000x1002 image (every pixel taken as an
    undistorted point): OpenCV vs 3d-pose-baseline's formula differ by at most 0.78 px (mean
    0.16 px), vs VideoPose3D's by at most 0.84 px (mean 0.24 px); dropping the tangential terms
    altogether would move points by up to 2.35 px. Over all 4 cameras the maxima are 1.39 px
    (3d-pose-baseline) and 3.57 px (VideoPose3D, 58860488, image corner); inside the central
    500x500 px, where the person is, they are at most 0.33 px and 0.86 px.
    """
    K, dist, R, t = [], [], [], []
    for intr, extr in zip(_H36M_INTRINSICS, _H36M_S1_EXTRINSICS, strict=True):
        K.append(_intrinsic_matrix(*intr["focal"], *intr["center"]))
        k1, k2, k3 = intr["radial"]
        p1, p2 = intr["tangential"]
        dist.append([k1, k2, p1, p2, k3])
        q = torch.tensor(extr["orientation"], dtype=torch.float64)
        r_w2c = quaternion_to_matrix(q).T
        centre_m = torch.tensor(extr["translation"], dtype=torch.float64) / 1000.0
        R.append(r_w2c)
        t.append(-r_w2c @ centre_m)
    return CameraSet(
        K=torch.tensor(K, dtype=torch.float64).to(dtype),
        dist=torch.tensor(dist, dtype=torch.float64).to(dtype),
        R=torch.stack(R).to(dtype),
        t=torch.stack(t).to(dtype),
        image_size=torch.tensor([intr["res"] for intr in _H36M_INTRINSICS], dtype=torch.long),
        names=H36M_CAMERA_IDS,
    )


def capture_volume_center(cams: CameraSet) -> torch.Tensor:
    """Least-squares point closest to all optical axes (3,), in the cameras' dtype.

    Minimises sum_i |(I - d_i d_i^T)(p - c_i)|^2 over p, for centres c_i and unit axes d_i;
    needs at least two non-parallel axes. For the S1 cameras it is (-0.059, 0.320, 0.412) m: the
    cameras tilt 11-16 degrees down, so their axes meet below a standing person's centre.
    """
    if len(cams) < 2:
        raise ValueError(f"capture_volume_center needs at least 2 cameras, got {len(cams)}")
    c = cams.centers.double()  # (N, 3)
    d = cams.optical_axes.double()
    d = d / d.norm(dim=-1, keepdim=True)
    proj = torch.eye(3, dtype=torch.float64, device=c.device) - d.unsqueeze(-1) * d.unsqueeze(-2)  # (N, 3, 3)
    A = proj.sum(0)
    b = (proj @ c.unsqueeze(-1)).sum(0).squeeze(-1)
    if float(torch.linalg.cond(A)) > 1e8:
        raise ValueError(f"optical axes of cameras {cams.names} are (nearly) parallel: no closest point")
    return torch.linalg.solve(A, b).to(cams.R.dtype)


def _rot_z(angle: float) -> np.ndarray:
    """3x3 rotation about world z (the vertical) by angle radians."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _aim_at(c2w: np.ndarray, centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotate a camera->world matrix by the minimal rotation turning its axis towards target."""
    axis = c2w[:, 2]
    want = target - centre
    want = want / np.linalg.norm(want)
    cross = np.cross(axis, want)
    sin, cos = np.linalg.norm(cross), float(axis @ want)
    if sin < 1e-12:
        if cos < 0:
            raise ValueError("interpolated camera looks away from the capture volume; cannot re-aim it")
        return c2w
    fix = Rotation.from_rotvec(cross / sin * math.atan2(sin, cos)).as_matrix()
    return fix @ c2w


def interpolate_cameras(cams: CameraSet, n_between: int = 1) -> CameraSet:
    """The input cameras plus ``n_between`` cameras between each pair of azimuthal neighbours.

    Cameras are sorted by azimuth about the vertical (world z) axis through the capture volume
    centre (paper Figure 1). For neighbours i -> j (counter-clockwise, wrapping around) and
    s = k / (n_between + 1):
      - centre: on the arc about the volume centre; azimuth, horizontal radius and height linear in s;
      - rotation: scipy Slerp between the two orientations expressed relative to each camera's own
        azimuth (R_z(-az) @ R_c2w), then turned back by R_z(az_s). For neighbours less than 180
        degrees apart this is the plain slerp of the two rotations to within the cameras' tilt
        differences; it also handles gaps of 180 degrees or more, where plain slerp would swing
        the short way round;
      - aim: the minimal rotation that turns the optical axis onto the volume centre (keeps roll).
        For the 4 S1 cameras the slerped axes miss the centre by 10-16 cm and the re-aim turns
        them by 1.1-1.8 degrees;
      - K, dist and image size: linear in s (size rounded). Distortion is interpolated, not zeroed,
        so every virtual view keeps a Human3.6M-like lens and the 8-view set stays homogeneous.
    Order of the result: the input cameras first, unchanged (the same tensors' values), then the
    interpolated ones in azimuth order of their left neighbour. Names are "<i>+<j>@<s>".
    """
    if n_between < 0:
        raise ValueError(f"n_between must be >= 0, got {n_between}")
    if n_between == 0:
        return cams
    if len(cams) < 2:
        raise ValueError(f"interpolate_cameras needs at least 2 cameras, got {len(cams)}")
    centre_v = capture_volume_center(cams).double().cpu().numpy()
    C = cams.centers.double().cpu().numpy()  # (N, 3)
    c2w = cams.R.double().cpu().numpy().transpose(0, 2, 1)  # (N, 3, 3)
    K = cams.K.double().cpu().numpy()
    dist = cams.dist.double().cpu().numpy()
    size = cams.image_size.double().cpu().numpy()
    rel = C - centre_v
    az = np.arctan2(rel[:, 1], rel[:, 0])
    radius = np.hypot(rel[:, 0], rel[:, 1])
    order = np.argsort(az, kind="stable")
    steps = np.arange(1, n_between + 1) / (n_between + 1)  # (n_between,)

    new_K, new_dist, new_R, new_t, new_size, new_names = [], [], [], [], [], []
    for pos, i in enumerate(order):
        j = order[(pos + 1) % len(order)]
        gap = (az[j] - az[i]) % (2 * math.pi)
        if gap < 1e-9:
            raise ValueError(f"cameras {cams.names[i]} and {cams.names[j]} share an azimuth; cannot interpolate")
        local = Rotation.from_matrix(np.stack([_rot_z(-az[i]) @ c2w[i], _rot_z(-az[j]) @ c2w[j]]))
        slerped = Slerp([0.0, 1.0], local)(steps).as_matrix()  # (n_between, 3, 3)
        for s, r_local in zip(steps, slerped, strict=True):
            a = az[i] + s * gap
            rad = (1 - s) * radius[i] + s * radius[j]
            height = (1 - s) * rel[i, 2] + s * rel[j, 2]
            centre = centre_v + np.array([rad * math.cos(a), rad * math.sin(a), height])
            r_c2w = _aim_at(_rot_z(a) @ r_local, centre, centre_v)
            r_w2c = r_c2w.T
            new_R.append(r_w2c)
            new_t.append(-r_w2c @ centre)
            new_K.append((1 - s) * K[i] + s * K[j])
            new_dist.append((1 - s) * dist[i] + s * dist[j])
            new_size.append(np.rint((1 - s) * size[i] + s * size[j]))
            new_names.append(f"{cams.names[i]}+{cams.names[j]}@{s:.2f}")

    def _cat(old: torch.Tensor, new: list[np.ndarray]) -> torch.Tensor:
        return torch.cat([old, torch.as_tensor(np.stack(new), dtype=old.dtype, device=old.device)])

    return CameraSet(
        K=_cat(cams.K, new_K),
        dist=_cat(cams.dist, new_dist),
        R=_cat(cams.R, new_R),
        t=_cat(cams.t, new_t),
        image_size=_cat(cams.image_size, new_size),
        names=cams.names + tuple(new_names),
    )


def virtual_cameras(n: int, indices: Sequence[int] | None = None, dtype: torch.dtype = torch.float32) -> CameraSet:
    """The paper's virtual view sets: n in {1, 2, 4, 8}.

    n = 1, 2, 4: the Human3.6M S1 cameras ``indices`` (default: the first n in H36M_CAMERA_IDS order);
    n = 8: the 4 S1 cameras (in ``indices`` order if given) followed by one camera interpolated
    between each pair of azimuthal neighbours.
    """
    if n not in (1, 2, 4, 8):
        raise ValueError(f"virtual_cameras supports n in {{1, 2, 4, 8}} (the paper's settings), got n={n}")
    n_orig = 4 if n == 8 else n
    idx = list(range(n_orig)) if indices is None else [int(i) for i in indices]
    if len(idx) != n_orig or len(set(idx)) != n_orig or not all(0 <= i < 4 for i in idx):
        raise ValueError(
            f"indices must be {n_orig} distinct camera indices in 0..3 (order {H36M_CAMERA_IDS}) "
            f"for n={n}, got {indices}"
        )
    cams = h36m_s1_cameras(dtype=torch.float64).select(idx)
    if n == 8:
        cams = interpolate_cameras(cams, n_between=1)
    return cams.to(dtype=dtype)
