"""prepare_amass's validation datasets under both AMASS spellings: the AMASS code's MPI_HDM05 / MPI_mosh and the
current downloads' HDM05 / MoSh name the same datasets, so either spelling in --val-datasets selects either folder."""

from __future__ import annotations

import shutil

import pytest

from mpt.data.prepare_amass import AMASS_DNN_VAL_DATASETS, assign_split


@pytest.mark.parametrize("folder", ["MPI_HDM05", "HDM05", "hdm05", "MPI_mosh", "MoSh", "HumanEva", "SFU"])
def test_the_amass_dnn_validation_sets_under_either_spelling(folder):
    rel = f"{folder}/subject/motion_poses.npz"
    assert assign_split(rel, 0, 0.0, AMASS_DNN_VAL_DATASETS) == "val"
    assert assign_split(rel, 0, 0.0, ["HumanEva", "HDM05", "SFU", "MoSh"]) == "val"  # the current spellings
    assert assign_split("CMU/01/01_01_poses.npz", 0, 1.0, ["HumanEva", "HDM05", "SFU", "MoSh"]) == "train"


def test_other_names_stay_apart():
    assert assign_split("MPI_Limits/s/m_poses.npz", 0, 0.0, AMASS_DNN_VAL_DATASETS) == "train"
    assert assign_split("HDM05_extra/s/m_poses.npz", 0, 0.0, ["HDM05"]) == "train"


def test_prepare_amass_finds_the_current_folder_names(demo_assets, tmp_path):
    """A tree laid out as a current AMASS download (MoSh/...) prepared with the notebook's names (MPI_mosh)."""
    from mpt.data.prepare_amass import prepare_amass

    tree = tmp_path / "amass"
    shutil.copytree(demo_assets.amass_dir / "DemoMocapA", tree / "CMU")
    shutil.copytree(demo_assets.amass_dir / "DemoMocapB", tree / "MoSh")
    manifest = prepare_amass(tree, tmp_path / "cache", val_datasets=list(AMASS_DNN_VAL_DATASETS), target_fps=10.0)
    splits = {s["dataset"]: s["split"] for s in manifest["sequences"]}
    assert splits == {"CMU": "train", "MoSh": "val"}
