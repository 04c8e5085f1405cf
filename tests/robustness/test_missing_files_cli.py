"""The command-line programs pointed at an empty folder (no real data in place): one message on stderr naming what
is missing and where it goes, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_clear_error, clean_env, run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_pretrain_without_smpl_says_where_to_put_it(demo_cache, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli(["mpt.cli.pretrain", "model=tiny", "input=heatmap56", "device=cpu", f"paths.data_root={empty}",
                   f"paths.motion_cache={demo_cache}", f"paths.output_dir={tmp_path}/out"], tmp_path)  # fmt: skip
    # the folders it looked in, the official file names, and the config key that moves them
    assert_clear_error(res, f"{empty}/body_models/smpl", "SMPL_NEUTRAL.pkl", "paths.smpl",
                        f"{empty}/body_models/J_regressor_h36m_correct.npy")  # fmt: skip


def test_finetune_without_image_sets_says_what_they_look_like(tmp_path):
    res = run_cli(["mpt.cli.finetune", "device=cpu", f"paths.data_root={tmp_path}",
                   f"paths.output_dir={tmp_path}/out"], tmp_path)  # fmt: skip
    # fine-tuning's default data is METRO's composite (data=metro_mix)
    assert_clear_error(res, f"{tmp_path}/tsv/Tax-H36m-coco40k-Muco-UP-Mpii", ".img.tsv", ".label.tsv", ".lineidx",
                       "composite: true")  # fmt: skip


@pytest.mark.parametrize("which", ["empty", "missing"])
def test_prepare_amass_on_an_empty_folder(tmp_path, which):
    root = tmp_path / "amass"
    if which == "empty":
        root.mkdir()
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "prepare_amass.py"), "--amass-root", str(root),
                          "--out", str(tmp_path / "cache")], cwd=tmp_path, env=clean_env(), capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert_clear_error(res, str(root), "AMASS")


def test_convert_smpl_of_a_missing_file(tmp_path):
    src = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_smpl.py"), str(src), "--out",
                          str(tmp_path / "SMPL_NEUTRAL.npz")], cwd=ROOT, env=clean_env(), capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert_clear_error(res, str(src), "smpl.is.tue.mpg.de")
    assert not (tmp_path / "SMPL_NEUTRAL.npz").exists()
