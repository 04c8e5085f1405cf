"""mpt-eval on the demo's 3DPW-like set (tools/standin/pw3d.py), METRO's layout: PVE and MPJPE against a hand
computation for both ground-truth bodies, the protocol line, and the error naming a missing gendered SMPL file.

The hand computation is independent of mpt's body and metric code: the ground-truth meshes come from smplx's own
SMPL class loading the SMPL_{NEUTRAL,MALE,FEMALE}.pkl files, and the errors follow METRO's run_validate
(microsoft/MeshTransformer metro/tools/run_metro_bodymesh.py) written out in numpy here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import smplx
import torch

from mpt.body import BodyModel
from mpt.config import compose_config
from mpt.data.image_dataset import MeshTSVDataset
from mpt.data.tsv import TSVFile
from mpt.engine.evaluate import GT_BODIES, evaluate, mesh_errors, protocol
from mpt.engine.image_batches import eval_loader
from mpt.errors import MptError

# METRO's index lists (metro/modeling/data/config.py): H36M_J17_TO_J14, J24_TO_J14 and the J24 pelvis.
H36M_TO_J14 = [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]
J24_TO_J14 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18]
J24_PELVIS = 14
SMPL_FILES = {"m": "SMPL_MALE.pkl", "f": "SMPL_FEMALE.pkl", "neutral": "SMPL_NEUTRAL.pkl"}


class FixedMesh(torch.nn.Module):
    """A stand-in model predicting the same mesh for every image."""

    def __init__(self, vertices: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mesh", vertices)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"vertices": self.mesh.expand(images.shape[0], -1, -1)}


def _hand_errors(labels: list[dict], pred: np.ndarray, smpl_dir: Path, regressor: np.ndarray, gendered: bool
                 ) -> dict[str, float]:  # fmt: skip
    """METRO's numbers for a constant prediction ``pred`` (6890, 3) over label dicts, in mm (module docstring)."""
    models = {k: smplx.SMPL(model_path=str(smpl_dir / f)) for k, f in SMPL_FILES.items()}
    pred_h36m = regressor @ pred
    pred_j14 = pred_h36m[H36M_TO_J14] - pred_h36m[0]
    pred_centred = pred - pred_h36m[0]
    mpjpe, pve = [], []
    for person in labels:
        j3d = np.asarray(person["3d_joints"])[:, :3]
        gt_j14 = j3d[J24_TO_J14] - j3d[J24_PELVIS]
        a = pred_j14 - (pred_j14[2] + pred_j14[3]) / 2  # both re-centred on their hips' midpoint
        b = gt_j14 - (gt_j14[2] + gt_j14[3]) / 2
        mpjpe.append(np.linalg.norm(a - b, axis=1).mean() * 1000)
        pose = torch.tensor([person["pose"]], dtype=torch.float32)
        model = models[person["gender"] if gendered else "neutral"]
        with torch.no_grad():
            gt = model(global_orient=pose[:, :3], body_pose=pose[:, 3:],
                       betas=torch.tensor([person["betas"]], dtype=torch.float32)).vertices[0].double().numpy()
        gt = gt - (regressor @ gt)[0]
        pve.append(np.linalg.norm(pred_centred - gt, axis=1).mean() * 1000)
    return {"mpjpe": float(np.mean(mpjpe)), "pve": float(np.mean(pve))}


@pytest.fixture(scope="module")
def test_set(demo_tsv):
    """The demo's 3DPW-like test split: its folder and label dicts."""
    folder = demo_tsv / "3dpw"
    labels = TSVFile(folder / "has_gender" / "test.label.tsv")
    return folder, [json.loads(labels[i][1])[0] for i in range(len(labels))]


def test_pve_and_mpjpe_match_a_hand_computation_for_both_ground_truth_bodies(demo_assets, demo_body, test_set):
    folder, labels = test_set
    assert {p["gender"] for p in labels} == {"m", "f"} and all(p["has_smpl"] == 1 for p in labels)
    rng = np.random.default_rng(0)
    pred = demo_body.template.double().numpy() + rng.normal(scale=0.02, size=(6890, 3))
    model = FixedMesh(torch.from_numpy(pred).float()[None])
    loader = eval_loader(MeshTSVDataset(folder, "test_has_gender"), 3, 0, 1, 0)
    regressor = np.load(demo_assets.h36m_regressor)
    neutral = mesh_errors(model, loader, demo_body, torch.device("cpu"))
    gendered_body = BodyModel(demo_assets.smpl_dir, genders=("neutral", "male", "female"))
    gendered = mesh_errors(model, loader, demo_body, torch.device("cpu"), gt_body=gendered_body)
    pred32 = pred.astype(np.float32).astype(np.float64)
    for out, is_gendered in ((neutral, False), (gendered, True)):
        hand = _hand_errors(labels, pred32, demo_assets.smpl_dir, regressor, is_gendered)
        assert out["count"] == len(labels)
        assert out["mpjpe"] == pytest.approx(hand["mpjpe"], abs=1e-3)
        assert out["pve"] == pytest.approx(hand["pve"], abs=1e-2)
    # The male / female bodies differ from the neutral one: only PVE sees the ground-truth body (MPJPE uses the
    # rows' joint labels, METRO's neutral ones).
    assert abs(gendered["pve"] - neutral["pve"]) > 1.0 and gendered["mpjpe"] == pytest.approx(neutral["mpjpe"])
    n_male = sum(p["gender"] == "m" for p in labels)
    assert gendered["gt_genders"] == {"neutral": 0, "male": n_male, "female": len(labels) - n_male}
    assert "gt_genders" not in neutral


def _config(assets, export_dir, tsv, out, *extra):
    return compose_config("eval", [f"checkpoint={export_dir}", "data=3dpw_test", f"paths.tsv={tsv}", "device=cpu",
                                   f"paths.smpl={assets.smpl_dir}", f"paths.h36m_regressor={assets.h36m_regressor}",
                                   f"paths.cache={Path(export_dir).parent / 'cache'}", f"paths.output_dir={out}",
                                   *extra])  # fmt: skip


def test_mpt_eval_on_3dpw_prints_the_protocol_and_every_metric(demo_assets, export_dir, demo_tsv, tmp_path, capsys):
    """One run (the pose network makes each run cost seconds): the gendered ground truth, whose protocol line and
    metrics differ from the default's only where the ground-truth body is named."""
    cfg = _config(demo_assets, export_dir, demo_tsv, tmp_path / "gendered", "eval.gt_body=gendered")
    result = evaluate(cfg)
    printed = capsys.readouterr().out
    assert result["set"] == "3dpw_test" and result["gt_body"] == "gendered"
    assert result["protocol"].startswith("3DPW test set (METRO 3dpw/test_has_gender)")
    assert "each row's male / female model" in result["protocol"] and result["protocol"] in printed
    assert "| set | samples | MPJPE | PA-MPJPE | PVE | rotation error (deg) |" in printed
    metrics = result["metrics"]
    assert all(np.isfinite(metrics[k]) for k in ("mpjpe", "pa_mpjpe", "pve", "rotation_error_deg"))
    assert sum(metrics["gt_genders"].values()) == metrics["count"] == 6
    assert json.loads((tmp_path / "gendered" / "eval.json").read_text()) == result
    neutral = protocol(cfg.data, "neutral")  # the default's line: the same but for the body
    assert neutral.replace(GT_BODIES["neutral"], GT_BODIES["gendered"]) == result["protocol"] != neutral
    assert "neutral model for every row (METRO)" in neutral


def test_gendered_ground_truth_without_the_male_file_names_it(demo_assets, export_dir, demo_tsv, tmp_path):
    smpl = tmp_path / "smpl"
    smpl.mkdir()
    for name in ("SMPL_NEUTRAL.pkl", "SMPL_FEMALE.pkl"):
        shutil.copy(demo_assets.smpl_dir / name, smpl / name)
    cfg = _config(demo_assets, export_dir, demo_tsv, tmp_path / "out", "eval.gt_body=gendered", f"paths.smpl={smpl}")
    with pytest.raises(MptError, match="eval.gt_body=gendered") as err:
        evaluate(cfg)
    assert "male model is missing" in str(err.value) and str(smpl / "SMPL_MALE.pkl") in str(err.value)
    with pytest.raises(MptError, match="eval.gt_body must be one of"):
        evaluate(_config(demo_assets, export_dir, demo_tsv, tmp_path / "out", "eval.gt_body=female"))
