"""Truncated and corrupt inputs of every kind: each gives one clear error naming the file, or a counted skip.

SMPL model files, AMASS npz files, TSV rows and their JPEGs, exported weights and DeepSpeed checkpoints are damaged
here the way real files get damaged (cut short by a failed copy, overwritten, NaN inside), starting from the demo
files, which are in the real formats."""

from __future__ import annotations

import base64
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mpt.body.smpl_file import SmplFileError, load_smpl_file
from mpt.data.amass import find_amass_files
from mpt.data.image_dataset import ImageSetError, MeshTSVDataset
from mpt.data.prepare_amass import prepare_amass
from mpt.engine.checkpoint import export_model, latest_tag, load_exported
from mpt.engine.distributed import setup_distributed
from mpt.engine.trainer import train
from mpt.errors import MptError
from tests.helpers import LinearTask, trainer_cfg

# ---------------------------------------------------------------------------------------------------------------
# SMPL


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.999])
def test_truncated_smpl_pickle_is_one_error_naming_the_file(demo_assets, tmp_path, keep):
    src = demo_assets.smpl_dir / "SMPL_NEUTRAL.pkl"
    bad = tmp_path / "SMPL_NEUTRAL.pkl"
    data = src.read_bytes()
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(SmplFileError) as info:
        load_smpl_file(bad)
    assert str(bad) in str(info.value)
    assert isinstance(info.value, MptError)  # the CLIs print it as one line and exit 2


def test_smpl_file_of_another_kind_is_named(tmp_path):
    bad = tmp_path / "SMPL_MALE.pkl"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))  # e.g. a picture saved under the model's name
    with pytest.raises(SmplFileError, match=str(bad)):
        load_smpl_file(bad)
    npz = tmp_path / "SMPL_FEMALE.npz"
    np.savez(npz, v_template=np.zeros((6890, 3)))
    npz.write_bytes(npz.read_bytes()[:100])
    with pytest.raises(SmplFileError, match=str(npz)):
        load_smpl_file(npz)


# ---------------------------------------------------------------------------------------------------------------
# AMASS


def test_corrupt_amass_files_are_skipped_counted_and_named(demo_assets, tmp_path, caplog):
    tree = tmp_path / "amass"
    shutil.copytree(demo_assets.amass_dir, tree)
    motions = [p for p in find_amass_files(tree) if p.name.endswith("_poses.npz")]
    truncated, garbage, with_nan = motions[1], motions[4], motions[7]
    data = (tree / truncated).read_bytes()
    (tree / truncated).write_bytes(data[: len(data) // 2])
    (tree / garbage).write_bytes(b"this is not an npz file\n" * 10)
    with np.load(tree / with_nan) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["poses"] = arrays["poses"].copy()
    arrays["poses"][3, 7] = np.nan
    np.savez(tree / with_nan, **arrays)

    clean = tmp_path / "amass_clean"  # the reference: the same tree without the three damaged files
    shutil.copytree(demo_assets.amass_dir, clean)
    for rel in (truncated, garbage, with_nan):
        (clean / rel).unlink()

    with caplog.at_level(logging.WARNING, logger="mpt.data.prepare_amass"):
        got = prepare_amass(tree, tmp_path / "cache", val_datasets=["DemoMocapB"], target_fps=30.0)
    want = prepare_amass(clean, tmp_path / "cache_clean", val_datasets=["DemoMocapB"], target_fps=30.0)

    assert got["counts"]["skipped"] == 3 and got["counts"]["files"] == 15
    assert sorted(s["path"] for s in got["skipped"]) == sorted(p.as_posix() for p in (truncated, garbage, with_nan))
    reasons = {s["path"]: s["reason"] for s in got["skipped"]}
    assert "NaN" in reasons[with_nan.as_posix()]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for rel in (truncated, garbage, with_nan):
        assert str(tree / rel) in warned
    assert got["splits"] == want["splits"] and got["counts"]["samples"] == want["counts"]["samples"]
    for split in ("train", "val"):
        for name in ("pose", "trans", "seq", "frame", "betas", "gender"):
            a = np.load(tmp_path / "cache" / split / f"{name}.npy")
            b = np.load(tmp_path / "cache_clean" / split / f"{name}.npy")
            assert np.array_equal(a, b), (split, name)


# ---------------------------------------------------------------------------------------------------------------
# TSV image sets


def _write_set(folder: Path, split: str, img_rows: list[str], label_rows: list[str]) -> None:
    """TSV files and their .lineidx (byte offset of each line), written here without mpt.data.tsv."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, rows in (("img", img_rows), ("label", label_rows)):
        blob = "".join(r + "\n" for r in rows).encode()
        (folder / f"{split}.{kind}.tsv").write_bytes(blob)
        offsets = np.concatenate([[0], np.cumsum([len((r + "\n").encode()) for r in rows])[:-1]])
        (folder / f"{split}.{kind}.lineidx").write_text("".join(f"{o}\n" for o in offsets))


def _read_rows(path: Path) -> list[str]:
    return path.read_text().rstrip("\n").split("\n")


def test_corrupt_tsv_rows_and_jpegs_are_skipped_with_a_warning(demo_tsv, tmp_path, caplog):
    src = demo_tsv / "human3.6m"
    imgs, labels = _read_rows(src / "train.img.tsv"), _read_rows(src / "train.label.tsv")
    name = [r.split("\t")[0] for r in imgs]
    jpeg = [base64.b64decode(r.split("\t")[1]) for r in imgs]
    rng = np.random.default_rng(0)
    imgs[2] = f"{name[2]}\t{base64.b64encode(rng.bytes(4000)).decode()}"  # bytes that are no image
    imgs[4] = f"{name[4]}\t{base64.b64encode(jpeg[4][: len(jpeg[4]) // 2]).decode()}"  # JPEG cut in half
    imgs[6] = f"{name[6]}\t{imgs[6].split(chr(9))[1][:-7]}%%%"  # not base64 at all
    labels[8] = f'{name[8]}\t[{{"center": [1.0, 2.0], "scale": '  # label JSON cut short
    bad_rows = (2, 4, 6, 8)
    folder = tmp_path / "human3.6m"
    _write_set(folder, "train", imgs, labels)

    reference = MeshTSVDataset(src, "train")
    ds = MeshTSVDataset(folder, "train")
    assert len(ds) == len(imgs)
    with caplog.at_level(logging.WARNING, logger="mpt.data.image_dataset"):
        items = [ds[i] for i in range(len(ds))] + [ds[i] for i in bad_rows]  # bad rows asked for twice
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == len(bad_rows)  # one warning per bad row, however often it is asked for
    for row, message in zip(bad_rows, warnings):
        assert f"skipping row {row} " in message and name[row] in message and str(folder) in message
    for i in range(len(ds)):
        # a bad row is replaced by the next row; every good row is exactly the untouched set's row
        source = i + 1 if i in bad_rows else i
        assert torch.equal(items[i]["image"], reference[source]["image"]), i
        assert torch.equal(items[i]["joints3d"], reference[source]["joints3d"]), i


def test_truncated_tsv_file(demo_tsv, tmp_path, caplog):
    src = demo_tsv / "human3.6m"
    imgs, labels = _read_rows(src / "train.img.tsv"), _read_rows(src / "train.label.tsv")
    folder = tmp_path / "human3.6m"
    _write_set(folder, "train", imgs, labels)
    tsv = folder / "train.img.tsv"
    full = tsv.read_bytes()
    last_start = len(full) - len(imgs[-1]) - 1

    # cut inside the last row: the .lineidx still fits, the torn row is skipped like any corrupt row
    tsv.write_bytes(full[: last_start + len(imgs[-1]) // 2])
    with caplog.at_level(logging.WARNING, logger="mpt.data.image_dataset"):
        item = MeshTSVDataset(folder, "train")[len(imgs) - 1]
    assert f"skipping row {len(imgs) - 1} " in caplog.text
    assert torch.equal(item["image"], MeshTSVDataset(src, "train")[0]["image"])  # wraps to row 0

    # cut before the last row starts: the index no longer matches the file, named with the fix
    tsv.write_bytes(full[: last_start - 100])
    with pytest.raises(ImageSetError) as info:
        MeshTSVDataset(folder, "train")
    assert str(tsv) in str(info.value) and "lineidx" in str(info.value)


# ---------------------------------------------------------------------------------------------------------------
# Exported weights and DeepSpeed checkpoints


def test_truncated_export_fails_its_sha256_check(tmp_path):
    export_model(torch.nn.Linear(3, 1), trainer_cfg(tmp_path, 4), tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(MptError) as info:
        load_exported(tmp_path)
    assert str(weights) in str(info.value) and "sha256" in str(info.value) and "truncated" in str(info.value)
    # an export without its recorded digest is refused outright
    (tmp_path / "model.sha256").unlink()
    with pytest.raises(MptError, match="model.sha256 not found"):
        load_exported(tmp_path)


def _damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_delete(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_delete], ids=["truncated", "missing"])
def test_damaged_deepspeed_checkpoint_on_resume_is_one_error_naming_it(tmp_path, damage):
    dist = setup_distributed("cpu")
    train(trainer_cfg(tmp_path, 4), dist, torch.nn.Linear(3, 1), LinearTask())
    ckpt = tmp_path / "checkpoints"
    assert latest_tag(ckpt) == "step00000004"
    damage(ckpt / "step00000004" / "mp_rank_00_model_states.pt")
    with pytest.raises(MptError) as info:
        train(trainer_cfg(tmp_path, 4, resume=True), dist, torch.nn.Linear(3, 1), LinearTask())
    assert str(ckpt / "step00000004") in str(info.value)


def test_latest_naming_a_deleted_checkpoint_folder_is_explained(tmp_path):
    dist = setup_distributed("cpu")
    train(trainer_cfg(tmp_path, 4), dist, torch.nn.Linear(3, 1), LinearTask())
    ckpt = tmp_path / "checkpoints"
    shutil.rmtree(ckpt / "step00000004")
    with pytest.raises(MptError, match=r"names checkpoint 'step00000004', which is missing; delete .*latest"):
        train(trainer_cfg(tmp_path, 4, resume=True), dist, torch.nn.Linear(3, 1), LinearTask())
    assert (ckpt / "latest").read_text().strip() == "step00000004"  # the pointer is reported, not rewritten
