"""``mpt-eval``: Human3.6M protocol 2 as METRO measures it (also 3DPW-style PVE when the set has SMPL labels).

Protocol (printed with every result): subjects S9 and S11, frontal camera 60457274, every 5th frame (the
METRO/GraphCMR valid.protocol2 set); joints regressed from the predicted 6890-vertex mesh with the Human3.6M
regressor, the 14 evaluation joints, MPJPE after centring both skeletons on the hip midpoint, PA-MPJPE after a
per-sample similarity Procrustes; millimetres; averaged over the samples that have 3D joints (METRO's
run_validate skips rows with has_3d_joints = 0). PVE (when ground-truth SMPL is present): both meshes minus their
own regressed pelvis, averaged over the samples with SMPL labels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mpt.atomic import write_json_atomic
from mpt.engine.builders import body_checks, check_inputs, load_image_model
from mpt.engine.checkpoint import load_exported
from mpt.engine.distributed import all_reduce_sum, setup_distributed
from mpt.engine.image_batches import build_image_set, eval_loader, to_device
from mpt.errors import MptError
from mpt.metrics import h36m_p2_errors, h36m_pve

PROTOCOL = ("Human3.6M protocol 2 (METRO): S9+S11, camera 60457274, every 5th frame; 14 joints regressed from the "
            "predicted mesh (J_regressor_h36m); MPJPE after hip-midpoint centring, PA-MPJPE after per-sample "
            "similarity Procrustes; mm")  # fmt: skip


@torch.no_grad()
def mesh_errors(model: torch.nn.Module, loader: Any, body: Any, device: torch.device,
                dtype: torch.dtype = torch.float32, max_batches: int | None = None,
                predict: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
                ) -> dict[str, float]:  # fmt: skip
    """Summed per-sample errors over this rank's loader, reduced over ranks -> means (mm) and the count.

    MPJPE / PA-MPJPE average the samples with 3D joints (``count``; METRO drops rows with has_3d_joints = 0), PVE
    those with SMPL labels. ``predict``: the model's outputs for a batch, for batches without images (default:
    ``model(batch["image"])``).
    """
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # mpjpe, pa_mpjpe, pve, n_with_smpl
    count = torch.zeros(1, dtype=torch.float64, device=device)  # samples with 3D joints
    model.eval()
    for b, batch in enumerate(loader):
        if max_batches is not None and b >= max_batches:
            break
        batch = to_device(batch, device)
        pred = model(batch["image"].to(dtype)) if predict is None else predict(batch)
        vertices = pred["vertices"].float()
        has_3d = batch["has_3d"] > 0
        if has_3d.any():
            err = h36m_p2_errors(vertices[has_3d], batch["joints3d"][has_3d].float(), body.h36m_regressor)
            sums[0] += err["mpjpe"].sum()
            sums[1] += err["pa_mpjpe"].sum()
            count += has_3d.sum()
        has_smpl = batch["has_smpl"] > 0
        if has_smpl.any():
            gt = body(batch["pose"][has_smpl].float(), batch["betas"][has_smpl].float()).vertices
            sums[2] += h36m_pve(vertices[has_smpl], gt, body.h36m_regressor).sum()
            sums[3] += has_smpl.sum()
    sums, count = all_reduce_sum(sums), all_reduce_sum(count)
    n = count.item()
    nan = float("nan")  # no sample with 3D joints: no number rather than a misleading 0
    out = {"mpjpe": sums[0].item() / n if n else nan, "pa_mpjpe": sums[1].item() / n if n else nan, "count": int(n)}
    if sums[3] > 0:
        out["pve"] = sums[2].item() / sums[3].item()
    return out


def format_table(name: str, metrics: dict[str, float]) -> str:
    cols = ["mpjpe", "pa_mpjpe"] + (["pve"] if "pve" in metrics else [])
    head = "| set | samples | " + " | ".join(c.upper().replace("_", "-") for c in cols) + " |"
    rule = "|" + " --- |" * (len(cols) + 2)
    row = f"| {name} | {metrics['count']} | " + " | ".join(f"{metrics[c]:.1f}" for c in cols) + " |"
    return "\n".join([head, rule, row])


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.checkpoint`` (an exported model folder) on ``cfg.data``; print a table, write JSON."""
    *_, export, dataset = check_inputs(*body_checks(cfg), lambda: load_exported(cfg.checkpoint),
                                       lambda: build_image_set(cfg.data, train=False, seed=cfg.seed))  # fmt: skip
    dist = setup_distributed(cfg.device)
    lifted = None
    if cfg.keypoints is None:
        model, body, mcfg = load_image_model(cfg, dist.device, export)
    else:  # 2D keypoints drawn as pre-training draws them, no pose network (mpt.inference.rows)
        from mpt.inference.rows import LiftedRows

        model, body, mcfg = load_image_model(cfg, dist.device, export, pose_network=False)
        lifted = LiftedRows(cfg, mcfg, model, dataset, dist.device)
    rows = dataset if lifted is None else lifted.rows
    loader = eval_loader(rows, cfg.batch_size, dist.rank, dist.world_size, mcfg.train.num_workers)
    metrics = mesh_errors(model, loader, body, dist.device, predict=None if lifted is None else lifted.predict)
    if metrics["count"] == 0:
        raise MptError(f"{cfg.data.tsv}/{cfg.data.split}: no row has 3D joints (has_3d_joints = 0 everywhere), so "
                       "there is nothing to measure MPJPE on; evaluate on a set with 3D labels (e.g. Human3.6M "
                       "valid_protocol2)")  # fmt: skip
    result = {"set": cfg.data.name, "split": cfg.data.split, "protocol": PROTOCOL, "metrics": metrics,
              "checkpoint": str(Path(cfg.checkpoint).resolve()),
              "checkpoint_sha256": export.sha256,
              "backbone": mcfg.backbone.name, "pretrain_only": export.config.backbone.name == "none"}  # fmt: skip
    if lifted is not None:
        result.update(backbone="none (2D keypoints lifted)", keypoints=lifted.summary)
    if dist.is_main:
        out = Path(cfg.paths.output_dir) / "eval.json"
        write_json_atomic(out, result)
        print(PROTOCOL)
        if lifted is not None:
            print(f"2D keypoints: {cfg.keypoints}, lifted without a pose network, each row cropped with the set's box; "
                  f"{lifted.summary['rows']} rows, left out: {lifted.summary['skipped'] or 'none'}")  # fmt: skip
        print(format_table(cfg.data.name, metrics))
        print(f"wrote {out}")
        if cfg.vis > 0 and lifted is not None:
            lifted.write_overlays(body, Path(cfg.paths.output_dir) / "vis", cfg.vis)
        elif cfg.vis > 0:
            from mpt.engine.visualize import write_overlays

            write_overlays(model, dataset, body, Path(cfg.paths.output_dir) / "vis", cfg.vis, dist.device)
    return result

