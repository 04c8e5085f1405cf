"""``mpt-eval``: MPJPE / PA-MPJPE / PVE on a METRO TSV set, measured as METRO's run_validate measures them.

Protocol (printed with every result, see :func:`protocol`): joints regressed from the predicted 6890-vertex mesh
with the Human3.6M regressor, minus its pelvis, the 14 evaluation joints, against the set's 3D joint labels minus
their J24 pelvis; MPJPE after centring both skeletons on the hip midpoint, PA-MPJPE after a per-sample similarity
Procrustes; millimetres; averaged over the samples that have 3D joints (METRO's run_validate skips rows with
has_3d_joints = 0). Beside them the global-rotation error, the angle of PA-MPJPE's Procrustes rotation in degrees
(ours). PVE (when ground-truth SMPL is present): the ground-truth mesh is SMPL(pose, betas) with the neutral model
for every row as METRO builds it (``eval.gt_body=neutral``), or with each row's male / female model
(``eval.gt_body=gendered``, as many later 3DPW evaluations do); both meshes minus their own regressed pelvis,
averaged over the samples with SMPL labels (microsoft/MeshTransformer metro/tools/run_metro_bodymesh.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from mpt.atomic import write_json_atomic
from mpt.body import GENDER_CODES, BodyModel, find_smpl_file
from mpt.engine.builders import body_checks, check_inputs, load_image_model
from mpt.engine.checkpoint import load_exported
from mpt.engine.distributed import all_reduce_sum, setup_distributed
from mpt.engine.image_batches import build_image_set, eval_loader, to_device
from mpt.errors import MptError
from mpt.metrics import h36m_p2_errors, h36m_pve

# The ground-truth body of PVE (eval.gt_body): how each row's SMPL labels become a mesh.
GT_BODIES = {
    "neutral": "SMPL(pose, betas) with the neutral model for every row (METRO)",
    "gendered": "SMPL(pose, betas) with each row's male / female model (neutral where a row names none)",
}
GT_GENDERS = ("neutral", "male", "female")  # models loaded for eval.gt_body=gendered


def protocol(data: DictConfig, gt_body: str) -> str:
    """The protocol line printed with a result and stored in eval.json: the set, the joints, the ground-truth body."""
    what = data.get("description") or f"set {data.name} ({data.tsv}, split {data.split})"
    return (f"{what}; 14 joints regressed from the predicted mesh (J_regressor_h36m) against the set's 3D joint "
            "labels; MPJPE after hip-midpoint centring, PA-MPJPE after per-sample similarity Procrustes, rotation "
            "error = angle of that Procrustes rotation (degrees), over rows with 3D joints; PVE over rows with SMPL "
            f"labels against {GT_BODIES[gt_body]}, each mesh minus its own regressed pelvis; mm")  # fmt: skip


@torch.no_grad()
def mesh_errors(model: torch.nn.Module, loader: Any, body: Any, device: torch.device,
                dtype: torch.dtype = torch.float32, max_batches: int | None = None,
                predict: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
                gt_body: BodyModel | None = None) -> dict[str, Any]:  # fmt: skip
    """Summed per-sample errors over this rank's loader, reduced over ranks -> means (mm, degrees) and the count.

    MPJPE / PA-MPJPE / rotation error average the samples with 3D joints (``count``; METRO drops rows with
    has_3d_joints = 0), PVE those with SMPL labels. ``predict``: the model's outputs for a batch, for batches
    without images (default: ``model(batch["image"])``). ``gt_body``: the body model that poses the ground-truth
    meshes (default ``body``, neutral); one holding several genders poses each row with its ``gender``, and the
    result then counts the rows per model in ``gt_genders``.
    """
    gendered = gt_body is not None and len(gt_body.genders) > 1
    gt_body = body if gt_body is None else gt_body
    # mpjpe, pa_mpjpe, rotation error, pve, n_with_smpl, then rows with SMPL posed by each GT_GENDERS model
    sums = torch.zeros(5 + len(GT_GENDERS), dtype=torch.float64, device=device)
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
            sums[2] += err["rotation_error_deg"].sum()
            count += has_3d.sum()
        has_smpl = batch["has_smpl"] > 0
        if has_smpl.any():
            gender = batch["gender"][has_smpl] if gendered else None
            gt = gt_body(batch["pose"][has_smpl].float(), batch["betas"][has_smpl].float(), gender).vertices
            sums[3] += h36m_pve(vertices[has_smpl], gt, body.h36m_regressor).sum()
            sums[4] += has_smpl.sum()
            for k, g in enumerate(GT_GENDERS if gendered else ()):
                sums[5 + k] += (gender == GENDER_CODES[g]).sum()
    sums, count = all_reduce_sum(sums), all_reduce_sum(count)
    n = count.item()
    nan = float("nan")  # no sample with 3D joints: no number rather than a misleading 0
    out: dict[str, Any] = {"mpjpe": sums[0].item() / n if n else nan, "pa_mpjpe": sums[1].item() / n if n else nan,
                           "rotation_error_deg": sums[2].item() / n if n else nan, "count": int(n)}  # fmt: skip
    if sums[4] > 0:
        out["pve"] = sums[3].item() / sums[4].item()
        if gendered:
            out["gt_genders"] = {g: int(sums[5 + k].item()) for k, g in enumerate(GT_GENDERS)}
    return out


COLUMNS = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "pve": "PVE", "rotation_error_deg": "rotation error (deg)"}


def format_table(name: str, metrics: dict[str, Any]) -> str:
    cols = [c for c in COLUMNS if c in metrics]
    head = "| set | samples | " + " | ".join(COLUMNS[c] for c in cols) + " |"
    rule = "|" + " --- |" * (len(cols) + 2)
    row = f"| {name} | {metrics['count']} | " + " | ".join(f"{metrics[c]:.1f}" for c in cols) + " |"
    return "\n".join([head, rule, row])


def _gt_body_checks(cfg: DictConfig) -> tuple[Callable[[], object], ...]:
    """eval.gt_body is known; gendered: the male and female SMPL files exist (each error names the file)."""
    if cfg.eval.gt_body not in GT_BODIES:
        raise MptError(f"eval.gt_body must be one of {sorted(GT_BODIES)}, got {cfg.eval.gt_body!r}")
    if cfg.eval.gt_body == "neutral":
        return ()

    def check(gender: str) -> Callable[[], object]:
        def run() -> object:
            try:
                return find_smpl_file(cfg.paths.smpl, gender)
            except MptError as exc:
                raise MptError(f"eval.gt_body=gendered poses each row's ground truth with its own SMPL model, and "
                               f"the {gender} model is missing: {exc}") from None  # fmt: skip

        return run

    return tuple(check(g) for g in GT_GENDERS[1:])


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.checkpoint`` (an exported model folder) on ``cfg.data``; print a table, write JSON."""
    *_, export = check_inputs(*body_checks(cfg), *_gt_body_checks(cfg), lambda: load_exported(cfg.checkpoint))
    # crops of the side the model (and its pose network) was trained on: the export's input.crop_size
    (dataset,) = check_inputs(lambda: build_image_set(cfg.data, train=False, seed=cfg.seed,
                                                      img_size=int(export.config.input.crop_size)))  # fmt: skip
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
    gt_body = None
    if cfg.eval.gt_body == "gendered":
        gt_body = BodyModel(cfg.paths.smpl, genders=GT_GENDERS, num_betas=mcfg.body.num_betas).to(dist.device)
    metrics = mesh_errors(model, loader, body, dist.device, predict=None if lifted is None else lifted.predict,
                          gt_body=gt_body)  # fmt: skip
    if metrics["count"] == 0:
        raise MptError(f"{cfg.data.tsv}/{cfg.data.split}: no row has 3D joints (has_3d_joints = 0 everywhere), so "
                       "there is nothing to measure MPJPE on; evaluate on a set with 3D labels (e.g. Human3.6M "
                       "valid_protocol2)")  # fmt: skip
    line = protocol(cfg.data, cfg.eval.gt_body)
    result = {"set": cfg.data.name, "split": cfg.data.split, "protocol": line, "gt_body": cfg.eval.gt_body,
              "metrics": metrics,
              "checkpoint": str(Path(cfg.checkpoint).resolve()),
              "checkpoint_sha256": export.sha256,
              "backbone": mcfg.backbone.name, "pretrain_only": export.config.backbone.name == "none"}  # fmt: skip
    if lifted is not None:
        result.update(backbone="none (2D keypoints lifted)", keypoints=lifted.summary)
    if dist.is_main:
        out = Path(cfg.paths.output_dir) / "eval.json"
        write_json_atomic(out, result)
        print(line)
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

