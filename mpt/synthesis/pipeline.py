"""Pre-training samples without images: pose SMPL bodies, film them with virtual cameras, draw the pose maps.

For a batch of AMASS poses (a :class:`mpt.data.motion_cache.MotionCache` batch), all on the body's device:

1. SMPL forward (per-sample gender when the body model has several);
2. placement in the Human3.6M capture volume: the body keeps its AMASS global orientation (the paper's virtual
   cameras film the bodies as they are); only with the ``random_heading`` option (training only, an augmentation
   of ours, off in the paper's rows) is it first turned by a random angle about the world vertical (z, the AMASS
   and Human3.6M worlds are both z-up) through the SMPL pelvis joint; then the pelvis is moved to the
   capture-volume centre in x, y and keeps its height (AMASS ``trans`` puts the feet on the floor);
3. one camera per sample (uniform in training, ``camera_idx`` when given, else ``i % n_cameras``), world->camera;
4. projection (OpenCV lens model when ``distortion``) of COCO-17 keypoints, J14 joints and all vertices;
5. a square person box around the projected vertices, ``crop_scale`` times their extent, scale/centre jitter in
   training only (:func:`mpt.geometry.crop.jitter_boxes`);
6. the maps: 17 Gaussian keypoint heatmaps, or a 1-channel binary silhouette (``kind="mask"``);
7. masked heatmap modeling in training only: random maps per sample are zeroed, ``int(u * mask_joint_ratio * 17)``
   of them with ``u ~ U[0, 1)`` (``mask_joint_count="up_to"``, METRO's masking scheme) or exactly
   ``round(mask_joint_ratio * 17)`` (``"exact"``); see :mod:`mpt.masking`.

Every random number is drawn by :meth:`Synthesizer.sample_params` into a :class:`ViewParams`, so the batched
synthesis and the per-sample numpy reference (tests/synthesis/reference.py, for the benchmark and tests only)
can be run on the same draws and compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from mpt.body import BodyModel, h36m_to_j14
from mpt.body import joints as J
from mpt.geometry import (
    CameraSet,
    capture_volume_center,
    crop_to_normalized,
    h36m_s1_cameras,
    jitter_boxes,
    points_to_crop,
    project_points,
    rotation_about_axis,
    square_box,
)
from mpt.masking import COUNTS, random_uniform
from mpt.synthesis.heatmaps import inside_map, person_heatmaps
from mpt.synthesis.masking import keep_masks
from mpt.synthesis.masks import rasterize_mask

__all__ = ["SynthesisOptions", "Synthesizer", "ViewParams"]

NUM_KEYPOINTS = len(J.COCO_KEYPOINT_NAMES)  # 17 heatmap channels, COCO order
KINDS = ("heatmap", "mask")
MIN_BODY_DEPTH = 0.05  # metres: a body closer to (or behind) its camera than this is a configuration error


@dataclass(frozen=True)
class SynthesisOptions:
    """How maps are made; the defaults are configs/input/heatmap.yaml (224 maps for a 224 crop).

    sigma is in pixels of the ``size`` map: 8 at 224 is SimpleBaseline's SIGMA 2 on its 1/4-resolution maps
    (leoxiaobin/deep-high-resolution-net.pytorch, experiments/coco/resnet/res101_256x192_d256x3_adam_lr1e-3.yaml)
    scaled to the crop; HigherHRNet's sigma 2 on its 1/2-resolution head would be 4 (HigherHRNet
    experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml), so it is an option.

    crop_scale is the crop side over the longer side of the person's silhouette box (the projected vertices'
    extent). 1.0 frames people as METRO's Human3.6M sets do: METRO's tsv_demo_h36m.py copies ``center`` and
    ``scale`` from GraphCMR's datasets/preprocess/h36m.py, where scale = longer side of the subject's ground-truth
    box / 200 (no margin), and crops ``scale * 200`` pixels (metro/datasets/human_mesh_tsv.py). METRO's 1.2
    scaleFactor applies to annotated COCO / 3DPW person boxes instead. scale_jitter multiplies the box side,
    center_jitter shifts the box centre by up to that fraction of its side per axis (training only; our choices,
    MPT does not publish them).

    mask_joint_ratio / mask_joint_count: masked heatmap modeling (see :mod:`mpt.masking`). The paper gives no
    ratio; the default follows METRO's masking, which MPT's authors extend to heatmaps: up to 30% per sample
    (``int(u * 0.3 * 17)``, 2.05 maps on average).
    random_heading: our augmentation, off by default (module docstring, step 2).
    """

    kind: str = "heatmap"
    size: int = 224
    sigma: float = 8.0
    crop_size: int = 224
    crop_scale: float = 1.0
    scale_jitter: tuple[float, float] = (0.9, 1.1)
    center_jitter: float = 0.05
    mask_joint_ratio: float = 0.3
    mask_joint_count: str = "up_to"
    random_heading: bool = False
    distortion: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"input kind must be one of {KINDS}, got {self.kind!r}")
        if self.size <= 0 or self.crop_size <= 0:
            raise ValueError(f"size and crop_size must be positive pixels, got {self.size} and {self.crop_size}")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0 pixels at the map size, got {self.sigma}")
        if not self.crop_scale > 0:
            raise ValueError(f"crop_scale must be > 0, got {self.crop_scale}")
        lo, hi = (float(x) for x in self.scale_jitter)
        if not 0 < lo <= hi:
            raise ValueError(f"scale_jitter must be (low, high) with 0 < low <= high, got {self.scale_jitter}")
        object.__setattr__(self, "scale_jitter", (lo, hi))
        if self.center_jitter < 0:
            raise ValueError(f"center_jitter must be >= 0, got {self.center_jitter}")
        if not 0.0 <= self.mask_joint_ratio <= 1.0:
            raise ValueError(f"mask_joint_ratio must be in [0, 1], got {self.mask_joint_ratio}")
        if self.mask_joint_count not in COUNTS:
            raise ValueError(f"mask_joint_count must be one of {COUNTS}, got {self.mask_joint_count!r}")

    @property
    def channels(self) -> int:
        """Channels of the maps: 17 heatmaps or 1 mask."""
        return NUM_KEYPOINTS if self.kind == "heatmap" else 1

    @classmethod
    def from_config(cls, input_cfg: Any, **extra: Any) -> SynthesisOptions:
        """From an ``input`` config node (mpt.config.schema.InputConfig) plus fields it lacks (distortion, ...).

        Unknown keys are an error, so a renamed config field cannot be silently ignored.
        """
        names = {f.name for f in fields(cls)}
        values = {k: input_cfg[k] for k in input_cfg} if hasattr(input_cfg, "keys") else vars(input_cfg)
        values = {**values, **extra}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown synthesis option(s) {unknown}; known: {sorted(names)}")
        if "scale_jitter" in values:
            values["scale_jitter"] = tuple(values["scale_jitter"])
        return cls(**values)


@dataclass
class ViewParams:
    """Every random choice of one synthesis call, per sample.

    camera_idx (B,) long; heading (B,) radians about world z; box_scale (B,) factor on the box side;
    box_shift (B, 2) centre shift in units of the box side; kept (B, 17) bool, False where masked heatmap
    modeling removes a keypoint's map.
    """

    camera_idx: torch.Tensor
    heading: torch.Tensor
    box_scale: torch.Tensor
    box_shift: torch.Tensor
    kept: torch.Tensor

    def to(self, device: torch.device | str) -> ViewParams:
        return ViewParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def __len__(self) -> int:
        return int(self.camera_idx.shape[0])


def _check_batch(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The pose/betas/trans/gender tensors of a motion-cache batch, checked, on ``device``."""
    hint = "pass a dict like MotionCache.batch(indices): pose (B,72), betas (B,10), trans (B,3), gender (B,)"
    for key in ("pose", "trans"):
        if key not in batch:
            raise KeyError(f"synthesis batch lacks {key!r}; {hint}")
    pose = torch.as_tensor(batch["pose"])  # its batch size only
    b = pose.shape[0] if pose.dim() == 2 else -1
    want = {"pose": (b, 72), "trans": (b, 3), "betas": (b, None), "gender": (b,)}
    out = {}
    for key, shape in want.items():
        if key not in batch or batch[key] is None:
            continue
        # Checked where the batch is: a motion-cache batch comes from the CPU, so the check waits for no GPU.
        value = torch.as_tensor(batch[key])
        value = value.long() if key == "gender" else value.float()
        if value.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, value.shape)):
            raise ValueError(f"synthesis batch[{key!r}] has shape {tuple(value.shape)}; {hint}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            rows = torch.nonzero(~torch.isfinite(value).reshape(b, -1).all(dim=1)).flatten().tolist()
            raise ValueError(f"synthesis batch[{key!r}] has NaN/inf in samples {rows[:10]}; rebuild the motion cache")
        out[key] = value.to(device, non_blocking=True)
    return out


class Synthesizer:
    """Batched pre-training sample synthesis (module docstring) for one body model and one camera set.

    Args:
        body: the SMPL body model (its device is where everything runs); needs its H36M regressor.
        cameras: the virtual cameras (e.g. ``mpt.geometry.virtual_cameras(8)``).
        options: map options; keyword overrides may be given instead of / on top of it.
        volume_center: world point (3,) whose x, y the pelvis is moved to. Default: the capture-volume centre of
            the 4 Human3.6M S1 cameras, shared by every view subset (1 or 2 cameras have no well-defined one).
    """

    def __init__(
        self,
        body: BodyModel,
        cameras: CameraSet,
        options: SynthesisOptions | None = None,
        volume_center: torch.Tensor | None = None,
        **overrides: Any,
    ) -> None:
        if getattr(body, "h36m_regressor", None) is None:
            raise ValueError(
                "Synthesizer needs a BodyModel built with its h36m_regressor (J_regressor_h36m_correct.npy)"
            )
        if len(cameras) < 1:
            raise ValueError("Synthesizer needs at least one camera")
        self.body = body
        self.options = replace(options or SynthesisOptions(), **overrides)
        centre = capture_volume_center(h36m_s1_cameras(torch.float64)) if volume_center is None else volume_center
        centre = torch.as_tensor(centre, dtype=torch.float32).flatten()
        if centre.shape != (3,) or not bool(torch.isfinite(centre).all()):
            raise ValueError(f"volume_center must be 3 finite numbers (metres, world), got {centre.tolist()}")
        self._cameras = cameras.to(dtype=torch.float32)
        self._zero_skew = bool((cameras.K[:, 0, 1] == 0).all()) and bool((cameras.K[:, 0, 0] > 0).all()) and bool(
            (cameras.K[:, 1, 1] > 0).all()
        )
        self._centre = centre
        self._on: tuple[torch.device, CameraSet, torch.Tensor] | None = None

    @property
    def device(self) -> torch.device:
        return self.body.faces.device

    @property
    def n_cameras(self) -> int:
        return len(self._cameras)

    @property
    def cameras(self) -> CameraSet:
        """The cameras on the body's current device (float32)."""
        return self._placed()[0]

    @property
    def volume_center(self) -> torch.Tensor:
        return self._placed()[1]

    def _placed(self) -> tuple[CameraSet, torch.Tensor]:
        dev = self.device
        if self._on is None or self._on[0] != dev:
            self._on = (dev, self._cameras.to(device=dev), self._centre.to(dev))
        return self._on[1], self._on[2]

    def to(self, device: torch.device | str) -> Synthesizer:
        """Move the body model (and with it the synthesis) to ``device``."""
        self.body.to(device)
        return self

    # ------------------------------------------------------------------ random draws
    def sample_params(
        self,
        batch_size: int,
        generator: torch.Generator | None,
        train: bool,
        camera_idx: torch.Tensor | None = None,
    ) -> ViewParams:
        """Draw the per-sample random choices (identity choices when not training) on the body's device."""
        dev = self.device
        gdev = generator.device if generator is not None else dev
        opt = self.options
        n = self.n_cameras
        if camera_idx is not None:
            cam = torch.as_tensor(camera_idx, dtype=torch.long, device=dev).flatten()
            if cam.shape != (batch_size,):
                raise ValueError(f"camera_idx must have shape ({batch_size},), got {tuple(cam.shape)}")
            if batch_size and (int(cam.min()) < 0 or int(cam.max()) >= n):
                raise ValueError(f"camera_idx must be in 0..{n - 1} for {n} cameras, got {cam.tolist()[:10]}")
        elif train:
            cam = torch.randint(n, (batch_size,), generator=generator, device=gdev).to(dev)
        else:
            cam = torch.arange(batch_size, device=dev) % n
        if train and opt.random_heading:
            heading = random_uniform((batch_size,), generator, dev) * (2 * math.pi)
        else:
            heading = torch.zeros(batch_size, device=dev)
        if train:
            # jitter of a unit box at the origin: its new centre and size are the relative shift and scale
            unit_c, unit_s = torch.zeros(batch_size, 2, device=gdev), torch.ones(batch_size, device=gdev)
            shift, scale = jitter_boxes(unit_c, unit_s, opt.scale_jitter, opt.center_jitter, generator)
            shift, scale = shift.to(dev), scale.to(dev)
        else:
            shift, scale = torch.zeros(batch_size, 2, device=dev), torch.ones(batch_size, device=dev)
        if train and opt.kind == "heatmap":
            kept = keep_masks(batch_size, NUM_KEYPOINTS, opt.mask_joint_ratio, generator, dev, opt.mask_joint_count)
        else:
            kept = torch.ones(batch_size, NUM_KEYPOINTS, dtype=torch.bool, device=dev)
        return ViewParams(camera_idx=cam, heading=heading, box_scale=scale, box_shift=shift, kept=kept)

    # ------------------------------------------------------------------ synthesis
    def pose_bodies(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """SMPL forward of a motion-cache batch in the AMASS world: vertices (B, 6890, 3), joints (B, 24, 3)."""
        data = _check_batch(batch, self.device)
        out = self.body(data["pose"], data.get("betas"), data.get("gender"), transl=data["trans"])
        return out.vertices, out.joints

    def __call__(
        self,
        batch: dict[str, torch.Tensor],
        generator: torch.Generator | None,
        train: bool,
        camera_idx: torch.Tensor | None = None,
        out: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """One synthesised batch (see :meth:`render` for the returned keys and ``out``)."""
        vertices, joints = self.pose_bodies(batch)
        params = self.sample_params(vertices.shape[0], generator, train, camera_idx)
        return self.render(vertices, joints, params, out=out)

    def render(
        self, vertices: torch.Tensor, joints: torch.Tensor, params: ViewParams, out: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Place, film and draw posed bodies (AMASS world, metres): (B, V, 3), (B, 24, 3).

        ``out``: an optional float32 (B, channels, S, S) tensor on the body's device that receives ``inputs``,
        for a loop that draws batch after batch: on CPU a fresh 873 MB map (batch 256 at 224) costs about as
        much in page faults as drawing it (scripts/bench/bench_synthesis.py). The caller must be done with the
        previous batch's ``inputs`` (the pre-training loop is: its backward has run).

        Returns float32 tensors on the body's device:
          inputs (B, 17 | 1, S, S) heatmaps or mask; joints3d (B, 14, 3) J14 and vertices (B, V, 3) in the
          camera frame minus the Human3.6M pelvis (metres); joints2d (B, 14, 2) and keypoints2d (B, 17, 2)
          projected and normalised to [-1, 1] of the crop; keypoints_px (B, 17, 2) the same COCO keypoints in
          camera image pixels (what a 2D detector would report); visible (B, 17) bool (in front of the camera, inside
          its image and inside the crop); kept (B, 17) bool (masked heatmap modeling); camera_idx (B,);
          and, for re-projection and drawing: pelvis (B, 3) camera frame, K (B, 3, 3), box_center (B, 2) and
          box_size (B,) in camera image pixels.
        """
        if vertices.dim() != 3 or vertices.shape[-1] != 3 or joints.shape != (vertices.shape[0], 24, 3):
            raise ValueError(
                f"need vertices (B, V, 3) and joints (B, 24, 3), got {tuple(vertices.shape)}, {tuple(joints.shape)}"
            )
        if len(params) != vertices.shape[0]:
            raise ValueError(f"ViewParams are for {len(params)} samples, the bodies for {vertices.shape[0]}")
        opt = self.options
        cams, centre = self._placed()
        dev = cams.K.device
        want = (len(params), opt.channels, opt.size, opt.size)
        if out is not None and (tuple(out.shape) != want or out.dtype != torch.float32 or out.device != dev):
            raise ValueError(f"out must be a float32 {want} tensor on {dev}, got {out.dtype} {tuple(out.shape)} "
                             f"on {out.device}")  # fmt: skip
        vertices, joints = vertices.to(dev, torch.float32), joints.to(dev, torch.float32)
        idx = params.camera_idx
        R, t, K = cams.R[idx], cams.t[idx], cams.K[idx]  # (B, 3, 3), (B, 3), (B, 3, 3)
        dist = cams.dist[idx] if opt.distortion else None
        # world -> camera in one affine map: X_cam = R (Rz (X - p) + [c_x, c_y, p_z]) + t = A X + b
        root = joints[:, 0]  # (B, 3) SMPL pelvis joint
        Rz = rotation_about_axis(params.heading.to(vertices.dtype), "z")  # (B, 3, 3)
        A = R @ Rz
        anchor = torch.cat((centre[:2].to(root.dtype).expand(root.shape[0], 2), root[:, 2:]), dim=-1)  # (B, 3)
        offset = anchor - torch.einsum("bij,bj->bi", Rz, root)
        b = torch.einsum("bij,bj->bi", R, offset) + t  # (B, 3)
        # Vertices go through the camera channels-first: (B, 3, 3) @ (B, 3, V) is a GEMM with a long N (BLAS
        # reads the transposed input in place), and the depth / x/z / y/z reductions below then run over
        # contiguous rows. Measured at B = 256 on one CPU thread: 18 ms for transform, depth check, box and
        # output, against 32 ms with (B, V, 3) @ (B, 3, 3).
        cam_t = torch.baddbmm(b.unsqueeze(2), A, vertices.transpose(1, 2))  # (B, 3, V)
        verts_cam = cam_t.transpose(1, 2)  # (B, V, 3) view
        joints_cam = torch.baddbmm(b.unsqueeze(1), joints, A.transpose(1, 2))  # (B, 24, 3)
        h36m = self.body.h36m_joints(verts_cam)  # (B, 17, 3)
        pelvis = h36m[:, J.H36M_PELVIS]  # (B, 3)
        j14 = h36m_to_j14(h36m)  # (B, 14, 3)
        coco = self.body.coco_keypoints(verts_cam, joints_cam)  # (B, 17, 3)

        near = cam_t[:, 2].amin(dim=-1)  # (B,) closest vertex depth
        if bool((near <= MIN_BODY_DEPTH).any()):
            rows = torch.nonzero(near <= MIN_BODY_DEPTH).flatten().tolist()
            raise ValueError(
                f"samples {rows[:10]} have vertices less than {MIN_BODY_DEPTH} m in front of their camera "
                f"(cameras {idx[rows[:10]].tolist()}): the camera set or volume_center does not look at the body"
            )
        pix_kp = project_points(torch.cat((coco, j14), dim=1), K, dist)  # (B, 31, 2)
        # The box: mpt.geometry.crop.square_box of the projected vertices' extent (its middle, crop_scale x its
        # longer side); every vertex is valid here (checked above).
        if dist is None and opt.kind == "heatmap" and self._zero_skew:
            # A pinhole without skew is increasing in x/z (u = fx x/z + cx) and in y/z: project only the extremes.
            # Saves ~6 passes over (B, V) per batch (the maps then need no per-vertex pixels).
            pix_v = None
            q = cam_t[:, :2] / cam_t[:, 2:]  # (B, 2, V) x/z, y/z
            q_lo, q_hi = q.amin(dim=-1), q.amax(dim=-1)  # (B, 2) each (torch.aminmax is ~25x slower here)
            f, c = torch.diagonal(K[:, :2, :2], dim1=1, dim2=2), K[:, :2, 2]  # (B, 2) focal, principal point
            lo, hi = f * q_lo + c, f * q_hi + c
        else:
            pix_v = project_points(verts_cam, K, dist)  # (B, V, 2) camera image pixels
            lo, hi = pix_v.amin(dim=1), pix_v.amax(dim=1)  # (B, 2) each
        box_c, box_s = square_box(lo, hi, opt.crop_scale)
        box_c = box_c + params.box_shift * box_s.unsqueeze(-1)
        box_s = box_s * params.box_scale
        kp_n = crop_to_normalized(points_to_crop(pix_kp, box_c, box_s, opt.crop_size), opt.crop_size)  # (B, 31, 2)
        keypoints2d, joints2d = kp_n[:, :NUM_KEYPOINTS], kp_n[:, NUM_KEYPOINTS:]

        wh = cams.image_size[idx].to(pix_kp.dtype)  # (B, 2)
        pix_coco = pix_kp[:, :NUM_KEYPOINTS]
        in_image = ((pix_coco >= -0.5) & (pix_coco < wh.unsqueeze(1) - 0.5)).all(dim=-1)
        seen = (coco[..., 2] > 0) & in_image  # (B, 17) in front of the camera and inside its image
        if opt.kind == "heatmap":
            inputs, kp_map = person_heatmaps(pix_coco, box_c, box_s, seen & params.kept, opt.size, opt.sigma, out=out)
        else:
            assert pix_v is not None
            kp_map = points_to_crop(pix_coco, box_c, box_s, opt.size)  # (B, 17, 2) map pixels
            v_map = points_to_crop(pix_v, box_c, box_s, opt.size)  # (B, V, 2)
            inputs = rasterize_mask(v_map, self.body.faces, opt.size)
            inputs = inputs if out is None else out.copy_(inputs)
        visible = seen & inside_map(kp_map, opt.size)
        return {
            "inputs": inputs,
            "joints3d": j14 - pelvis.unsqueeze(1),
            "vertices": torch.sub(verts_cam, pelvis.unsqueeze(1), out=torch.empty(vertices.shape, device=dev)),
            "joints2d": joints2d,
            "keypoints2d": keypoints2d,
            "keypoints_px": pix_coco,
            "visible": visible,
            "kept": params.kept,
            "camera_idx": idx,
            "pelvis": pelvis,
            "K": K,
            "box_center": box_c,
            "box_size": box_s,
        }
